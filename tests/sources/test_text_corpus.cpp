// Tests of src/sources/text_corpus.hpp: reading sentences, frequency-rank ids, drawing real text.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/math/distributions/chi_squared.hpp>

#include "core/rng.hpp"
#include "models/vocabulary.hpp"
#include "sources/text_corpus.hpp"
#include "test_support.hpp"

using namespace collapse;
// A missing exception gives "", which fails every contains(...) check on the message.
using collapse::testing::contains;
using collapse::testing::invalid_argument_message;
using collapse::testing::TempDir;

namespace {

using Sentence = std::vector<TokenId>;

std::vector<Sentence> sentences_of(const Corpus& c) {
  std::vector<Sentence> out;
  for (std::size_t i = 0; i < c.num_sentences(); ++i) {
    const auto s = c.sentence(i);
    out.emplace_back(s.begin(), s.end());
  }
  return out;
}

// Counts: the 2, cat 2, sat 2, dog 1, down 1, a 1 (9 tokens). Frequency ranks with ties by byte order:
// cat 0, sat 1, the 2, a 3, dog 4, down 5.
constexpr const char* kTrain = "the cat sat\n\nthe dog sat down\n   \na cat\n";
constexpr TokenId kCat = 0, kSat = 1, kThe = 2, kA = 3, kDog = 4, kDown = 5;

/// 30 distinct training sentences of 1..6 tokens ("wI_J" words), one per line.
std::string many_sentences() {
  std::ostringstream os;
  for (int i = 0; i < 30; ++i) {
    for (int j = 0; j <= i % 6; ++j) os << (j ? " " : "") << "w" << (i + j) % 11 << "_" << j;
    os << "\n";
  }
  return os.str();
}

}  // namespace

TEST_SUITE("sources/text_corpus") {

TEST_CASE("read_sentences: one sentence per non-blank line, split on any whitespace") {
  TempDir dir;
  const auto path = dir.write("s.txt", "a  b\tc\r\n\n   \r\nd\n  e f  \n");
  const auto s = read_sentences("truth.train", path);
  REQUIRE(s.size() == 3);
  CHECK(s[0] == std::vector<std::string>{"a", "b", "c"});
  CHECK(s[1] == std::vector<std::string>{"d"});
  CHECK(s[2] == std::vector<std::string>{"e", "f"});
}

TEST_CASE("read_sentences: an empty corpus is an error naming the key, the path and 'empty'") {
  TempDir dir;
  const auto path = dir.write("blank.txt", "\n  \n\t\n");
  const auto msg = invalid_argument_message([&] { read_sentences("truth.heldout", path); });
  CHECK(contains(msg, "truth.heldout"));
  CHECK(contains(msg, path));
  CHECK(contains(msg, "empty"));
  const auto empty = dir.write("empty.txt", "");
  CHECK(contains(invalid_argument_message([&] { read_sentences("truth.train", empty); }), "empty"));
}

TEST_CASE("read_sentences: a missing file is an error naming the key and the path") {
  TempDir dir;
  const std::string path = (dir.path() / "missing.txt").string();
  const auto msg = invalid_argument_message([&] { read_sentences("truth.train", path); });
  CHECK(contains(msg, "truth.train"));
  CHECK(contains(msg, path));
}

TEST_CASE("make_text_truth: ids are frequency ranks; held-out words outside the vocabulary are kUnknown") {
  TempDir dir;
  const auto train = dir.write("train.txt", kTrain);
  const auto heldout = dir.write("heldout.txt", "the bird sat\n\n a   dog \n");
  const auto t = make_text_truth(train, heldout);
  REQUIRE(t->vocab_size() == 6);
  CHECK(t->vocabulary.word(kCat) == "cat");
  CHECK(t->vocabulary.word(kSat) == "sat");
  CHECK(t->vocabulary.word(kThe) == "the");
  CHECK(t->vocabulary.word(kA) == "a");
  CHECK(t->vocabulary.word(kDog) == "dog");
  CHECK(t->vocabulary.word(kDown) == "down");
  for (TokenId id = 1; id < t->vocab_size(); ++id) CHECK(t->vocabulary.count(id - 1) >= t->vocabulary.count(id));

  CHECK(sentences_of(t->train) == std::vector<Sentence>{{kThe, kCat, kSat}, {kThe, kDog, kSat, kDown}, {kA, kCat}});
  CHECK(sentences_of(t->heldout) == std::vector<Sentence>{{kThe, Vocabulary::kUnknown, kSat}, {kA, kDog}});
  CHECK(contains(t->description, train));
}

TEST_CASE("make_text_truth: the unigram is counts / tokens and sums to 1") {
  TempDir dir;
  const auto t = make_text_truth(dir.write("train.txt", kTrain), dir.write("heldout.txt", "cat\n"));
  REQUIRE(t->unigram.size() == 6);
  const std::vector<double> expected = {2.0 / 9, 2.0 / 9, 2.0 / 9, 1.0 / 9, 1.0 / 9, 1.0 / 9};
  double sum = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CHECK(t->unigram[i] == doctest::Approx(expected[i]).epsilon(1e-15));
    sum += t->unigram[i];
  }
  CHECK(sum == doctest::Approx(1.0).epsilon(1e-14));
}

TEST_CASE("make_text_truth: an empty training or held-out file names its key") {
  TempDir dir;
  const auto good = dir.write("good.txt", kTrain);
  const auto blank = dir.write("blank.txt", "\n\n");
  const auto m1 = invalid_argument_message([&] { make_text_truth(blank, good); });
  CHECK(contains(m1, "truth.train"));
  CHECK(contains(m1, "empty"));
  const auto m2 = invalid_argument_message([&] { make_text_truth(good, blank); });
  CHECK(contains(m2, "truth.heldout"));
  CHECK(contains(m2, "empty"));
}

TEST_CASE("TextTruth::draw: exactly n tokens of whole training sentences, the last possibly cut") {
  TempDir dir;
  const auto t = make_text_truth(dir.write("train.txt", many_sentences()), dir.write("heldout.txt", "w1_0\n"));
  const auto train = sentences_of(t->train);
  REQUIRE(train.size() == 30);
  const std::size_t total = t->train.num_tokens();
  Rng rng = stream_rng(3, 1, Stream::mix);
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{20}, std::size_t{50}, total - 1,
                        total}) {
    CAPTURE(n);
    const Corpus d = t->draw(n, rng);
    CHECK(d.num_tokens() == n);
    const auto drawn = sentences_of(d);
    std::map<Sentence, int> uses;
    for (std::size_t i = 0; i < drawn.size(); ++i) {
      CAPTURE(i);
      CHECK(!drawn[i].empty());
      if (i + 1 < drawn.size()) {
        CHECK(std::find(train.begin(), train.end(), drawn[i]) != train.end());
        CHECK(++uses[drawn[i]] == 1);  // without replacement (training sentences are distinct)
      } else {
        // The last sentence is a (possibly whole) prefix of a training sentence.
        CHECK(std::any_of(train.begin(), train.end(), [&](const Sentence& s) {
          return s.size() >= drawn[i].size() && std::equal(drawn[i].begin(), drawn[i].end(), s.begin());
        }));
      }
    }
  }
  // The whole budget is every training sentence once, in some order.
  auto all = sentences_of(t->draw(total, rng));
  auto sorted_train = train;
  std::sort(all.begin(), all.end());
  std::sort(sorted_train.begin(), sorted_train.end());
  CHECK(all == sorted_train);
}

TEST_CASE("TextTruth::draw: more tokens than the training text is an error naming loop.samples_per_generation") {
  TempDir dir;
  const auto t = make_text_truth(dir.write("train.txt", kTrain), dir.write("heldout.txt", "cat\n"));
  Rng rng(1);
  const auto msg = invalid_argument_message([&] { t->draw(10, rng); });
  CHECK(contains(msg, "loop.samples_per_generation = 10"));
  CHECK(contains(msg, "9"));
  CHECK(t->draw(9, rng).num_tokens() == 9);
}

TEST_CASE("TextTruth::draw: the first sentence drawn is uniform over training sentences (chi-square, false alarm 1e-4)") {
  // H0: each of the S = 30 sentences comes first with probability 1/S, whatever its length. With 30000
  // draws the statistic is ~ chi-square(29); critical value at alpha = 1e-4 ≈ 66.15.
  TempDir dir;
  const auto t = make_text_truth(dir.write("train.txt", many_sentences()), dir.write("heldout.txt", "w1_0\n"));
  const auto train = sentences_of(t->train);
  std::map<Sentence, std::size_t> index;
  for (std::size_t i = 0; i < train.size(); ++i) index[train[i]] = i;
  constexpr std::size_t draws = 30000;
  std::vector<std::size_t> counts(train.size(), 0);
  Rng rng = stream_rng(8, 0, Stream::mix);
  for (std::size_t k = 0; k < draws; ++k) {
    const Corpus d = t->draw(6, rng);  // ≥ the longest sentence: the first one is never cut
    const auto first = d.sentence(0);
    ++counts[index.at(Sentence(first.begin(), first.end()))];
  }
  const double expected = static_cast<double>(draws) / static_cast<double>(counts.size());
  double chi2 = 0;
  std::ostringstream table;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    chi2 += (static_cast<double>(counts[i]) - expected) * (static_cast<double>(counts[i]) - expected) / expected;
    table << "  sentence " << i << " (" << train[i].size() << " tokens): " << counts[i] << "\n";
  }
  const double critical = boost::math::quantile(
      boost::math::complement(boost::math::chi_squared(static_cast<double>(counts.size() - 1)), 1e-4));
  INFO("observed first-sentence counts (expected " << expected << " each):\n" << table.str());
  INFO("chi-square = " << chi2 << ", critical = " << critical);
  CHECK(chi2 < critical);
}

}  // TEST_SUITE
