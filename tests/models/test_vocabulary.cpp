#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <unordered_map>

#include "models/vocabulary.hpp"

using namespace collapse;

TEST_SUITE("models/vocabulary") {
  TEST_CASE("from_counts: ids are frequency ranks, ties broken by byte order") {
    const Vocabulary v = Vocabulary::from_counts({{"the", 5}, {"a", 3}, {"b", 3}, {"zebra", 1}, {"B", 3}});
    REQUIRE(v.size() == 5);
    CHECK(v.id("the") == 0);
    CHECK(v.id("B") == 1);  // 'B' = 0x42 < 'a' = 0x61 < 'b' = 0x62
    CHECK(v.id("a") == 2);
    CHECK(v.id("b") == 3);
    CHECK(v.id("zebra") == 4);
    for (TokenId i = 0; i < v.size(); ++i) CHECK(v.id(v.word(i)) == i);
    CHECK(v.count(0) == 5);
    CHECK(v.count(1) == 3);
    CHECK(v.count(4) == 1);
  }

  TEST_CASE("from_counts: byte order treats bytes as unsigned (UTF-8 after ASCII)") {
    // "é" starts with byte 0xC3, which is negative as a signed char; byte order puts it after "z".
    const Vocabulary v = Vocabulary::from_counts({{"\xC3\xA9", 2}, {"z", 2}});
    CHECK(v.id("z") == 0);
    CHECK(v.id("\xC3\xA9") == 1);
  }

  TEST_CASE("id: unknown words get kUnknown") {
    const Vocabulary v = Vocabulary::from_counts({{"x", 1}});
    CHECK(v.id("y") == Vocabulary::kUnknown);
    CHECK(v.id("") == Vocabulary::kUnknown);
    CHECK(Vocabulary{}.id("x") == Vocabulary::kUnknown);
    CHECK(Vocabulary{}.size() == 0);
  }

  TEST_CASE("word and count: out-of-range ids throw std::out_of_range") {
    const Vocabulary v = Vocabulary::from_counts({{"x", 1}, {"y", 2}});
    CHECK_THROWS_AS(v.word(2), std::out_of_range);
    CHECK_THROWS_WITH_AS(v.word(Vocabulary::kUnknown), "vocabulary: id 4294967295 is out of range [0, 2)",
                         std::out_of_range);
    CHECK_THROWS_AS(v.count(2), std::out_of_range);
  }

  TEST_CASE("from_counts: a zero count is rejected") {
    CHECK_THROWS_WITH_AS(Vocabulary::from_counts({{"x", 0}}), "vocabulary: count of \"x\" = 0, but must be > 0",
                         std::invalid_argument);
  }
}
