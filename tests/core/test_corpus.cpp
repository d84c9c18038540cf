// Tests of src/core/corpus.hpp: the generic data operations for both data types.

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "core/corpus.hpp"

using namespace collapse;

namespace {

Corpus make_corpus(const std::vector<std::vector<TokenId>>& sentences) {
  Corpus c;
  for (const auto& s : sentences) c.add_sentence(s);
  return c;
}

std::vector<std::vector<TokenId>> sentences_of(const Corpus& c) {
  std::vector<std::vector<TokenId>> out;
  for (std::size_t i = 0; i < c.num_sentences(); ++i) {
    const auto s = c.sentence(i);
    out.emplace_back(s.begin(), s.end());
  }
  return out;
}

/// offsets.front() == 0, non-decreasing, offsets.back() == tokens.size().
bool invariant_holds(const Corpus& c) {
  if (c.offsets.empty() || c.offsets.front() != 0 || c.offsets.back() != c.tokens.size()) return false;
  for (std::size_t i = 1; i < c.offsets.size(); ++i)
    if (c.offsets[i] < c.offsets[i - 1]) return false;
  return true;
}

// Sentences of lengths 3, 2, 4: offsets {0, 3, 5, 9}.
Corpus three_sentences() { return make_corpus({{1, 2, 3}, {4, 5}, {6, 7, 8, 9}}); }

Eigen::MatrixXd rows_matrix(int rows, int cols) {
  Eigen::MatrixXd m(rows, cols);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) m(i, j) = 10.0 * i + j;
  return m;
}

}  // namespace

TEST_SUITE("core/corpus") {

TEST_CASE("Corpus: a default corpus is empty and valid") {
  const Corpus c;
  CHECK(c.num_sentences() == 0);
  CHECK(c.num_tokens() == 0);
  CHECK(c.offsets == std::vector<std::size_t>{0});
  CHECK(invariant_holds(c));
}

TEST_CASE("Corpus: add_sentence stores tokens flat with offsets") {
  const Corpus c = three_sentences();
  CHECK(c.tokens == std::vector<TokenId>{1, 2, 3, 4, 5, 6, 7, 8, 9});
  CHECK(c.offsets == std::vector<std::size_t>{0, 3, 5, 9});
  CHECK(c.num_sentences() == 3);
  CHECK(c.sentence_length(1) == 2);
  CHECK(sentences_of(c)[2] == std::vector<TokenId>{6, 7, 8, 9});
}

TEST_CASE("num_examples / example_size / total_size: sentences and tokens; rows and 1") {
  const Corpus c = three_sentences();
  CHECK(num_examples(c) == 3);
  CHECK(example_size(c, 0) == 3);
  CHECK(example_size(c, 2) == 4);
  CHECK(total_size(c) == 9);

  const Eigen::MatrixXd x = rows_matrix(5, 2);
  CHECK(num_examples(x) == 5);
  CHECK(example_size(x, 3) == 1);
  CHECK(total_size(x) == 5);
}

TEST_CASE("select(Corpus): sentences in index order, repeats allowed") {
  const Corpus c = three_sentences();
  const std::vector<std::size_t> idx = {2, 0, 2};
  const Corpus s = select(c, idx);
  CHECK(sentences_of(s) == std::vector<std::vector<TokenId>>{{6, 7, 8, 9}, {1, 2, 3}, {6, 7, 8, 9}});
  CHECK(s.offsets == std::vector<std::size_t>{0, 4, 7, 11});
  CHECK(invariant_holds(s));

  const Corpus none = select(c, std::vector<std::size_t>{});
  CHECK(none.num_sentences() == 0);
  CHECK(invariant_holds(none));
}

TEST_CASE("append(Corpus): shifts the appended offsets") {
  Corpus a = make_corpus({{1, 2}});
  append(a, make_corpus({{3}, {4, 5, 6}}));
  CHECK(sentences_of(a) == std::vector<std::vector<TokenId>>{{1, 2}, {3}, {4, 5, 6}});
  CHECK(a.offsets == std::vector<std::size_t>{0, 2, 3, 6});
  CHECK(invariant_holds(a));

  Corpus empty;
  append(empty, three_sentences());
  CHECK(empty.tokens == three_sentences().tokens);
  CHECK(empty.offsets == three_sentences().offsets);

  Corpus b = three_sentences();
  append(b, Corpus{});
  CHECK(b.offsets == three_sentences().offsets);
  CHECK(invariant_holds(b));
}

TEST_CASE("truncate_to_size(Corpus): cut inside a sentence keeps its prefix") {
  Corpus c = three_sentences();
  truncate_to_size(c, 4);
  CHECK(sentences_of(c) == std::vector<std::vector<TokenId>>{{1, 2, 3}, {4}});
  CHECK(c.offsets == std::vector<std::size_t>{0, 3, 4});
  CHECK(invariant_holds(c));

  Corpus d = three_sentences();
  truncate_to_size(d, 1);
  CHECK(sentences_of(d) == std::vector<std::vector<TokenId>>{{1}});
  CHECK(invariant_holds(d));

  Corpus e = three_sentences();
  truncate_to_size(e, 8);
  CHECK(sentences_of(e) == std::vector<std::vector<TokenId>>{{1, 2, 3}, {4, 5}, {6, 7, 8}});
  CHECK(invariant_holds(e));
}

TEST_CASE("truncate_to_size(Corpus): a cut exactly at a boundary leaves no empty sentence") {
  Corpus c = three_sentences();
  truncate_to_size(c, 5);
  CHECK(sentences_of(c) == std::vector<std::vector<TokenId>>{{1, 2, 3}, {4, 5}});
  CHECK(c.offsets == std::vector<std::size_t>{0, 3, 5});

  Corpus d = three_sentences();
  truncate_to_size(d, 3);
  CHECK(d.offsets == std::vector<std::size_t>{0, 3});
  CHECK(invariant_holds(d));
}

TEST_CASE("truncate_to_size(Corpus): size 0 empties; size ≥ tokens is a no-op; an empty corpus stays empty") {
  Corpus c = three_sentences();
  truncate_to_size(c, 0);
  CHECK(c.num_sentences() == 0);
  CHECK(c.num_tokens() == 0);
  CHECK(invariant_holds(c));

  for (std::size_t size : {9u, 10u, 1000u}) {
    Corpus d = three_sentences();
    truncate_to_size(d, size);
    CHECK(d.tokens == three_sentences().tokens);
    CHECK(d.offsets == three_sentences().offsets);
  }

  Corpus e;
  truncate_to_size(e, 0);
  truncate_to_size(e, 5);
  CHECK(e.num_sentences() == 0);
  CHECK(invariant_holds(e));
}

TEST_CASE("select(MatrixXd): rows in index order, repeats allowed, columns kept") {
  const Eigen::MatrixXd x = rows_matrix(4, 3);
  const std::vector<std::size_t> idx = {3, 1, 3};
  const Eigen::MatrixXd s = select(x, idx);
  REQUIRE(s.rows() == 3);
  REQUIRE(s.cols() == 3);
  CHECK(s.row(0) == x.row(3));
  CHECK(s.row(1) == x.row(1));
  CHECK(s.row(2) == x.row(3));

  const Eigen::MatrixXd none = select(x, std::vector<std::size_t>{});
  CHECK(none.rows() == 0);
  CHECK(none.cols() == 3);
}

TEST_CASE("append(MatrixXd): stacks rows; an empty side is neutral; column mismatch throws") {
  Eigen::MatrixXd a = rows_matrix(2, 2);
  const Eigen::MatrixXd b = rows_matrix(3, 2) * -1.0;
  append(a, b);
  REQUIRE(a.rows() == 5);
  CHECK(a.topRows(2) == rows_matrix(2, 2));
  CHECK(a.bottomRows(3) == b);

  Eigen::MatrixXd empty;  // 0 × 0 adopts b's shape
  append(empty, b);
  CHECK(empty == b);

  Eigen::MatrixXd c = rows_matrix(2, 2);
  append(c, Eigen::MatrixXd(0, 5));  // no rows: no-op even if the column count differs
  CHECK(c == rows_matrix(2, 2));

  Eigen::MatrixXd d = rows_matrix(2, 2);
  try {
    append(d, rows_matrix(1, 3));
    FAIL("append with different column counts did not throw");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()) == "append: column counts differ (2 vs 3)");
  }
}

TEST_CASE("truncate_to_size(MatrixXd): keeps the first rows") {
  Eigen::MatrixXd x = rows_matrix(5, 2);
  truncate_to_size(x, 3);
  CHECK(x == rows_matrix(3, 2));
  truncate_to_size(x, 10);
  CHECK(x == rows_matrix(3, 2));
  truncate_to_size(x, 0);
  CHECK(x.rows() == 0);
  CHECK(x.cols() == 2);
}

}  // TEST_SUITE
