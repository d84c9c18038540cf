// Tests of src/core/training_set.hpp: provenance-weighted shares and ages.

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include <Eigen/Core>

#include "core/training_set.hpp"

using namespace collapse;

namespace {
Corpus sentences_of_lengths(const std::vector<std::size_t>& lengths) {
  Corpus c;
  TokenId next = 0;
  for (auto len : lengths) {
    std::vector<TokenId> s(len);
    for (auto& t : s) t = next++;
    c.add_sentence(s);
  }
  return c;
}
}  // namespace

TEST_SUITE("core/training_set") {

TEST_CASE("add: appends data and one origin per example") {
  TrainingSet<Corpus> t;
  t.add(sentences_of_lengths({3, 1}), kReal);
  t.add(sentences_of_lengths({6}), 0);
  CHECK(t.origin == std::vector<Origin>{kReal, kReal, 0});
  CHECK(t.origin.size() == num_examples(t.data));
  CHECK(t.data.num_tokens() == 10);
}

TEST_CASE("real_fraction and mean_synthetic_age: a corpus is weighted by tokens, not sentences") {
  // Real: sentences of 3 and 1 tokens. Synthetic: 6 tokens from generation 0, 2 tokens from generation 2.
  TrainingSet<Corpus> t;
  t.add(sentences_of_lengths({3, 1}), kReal);
  t.add(sentences_of_lengths({6}), 0);
  t.add(sentences_of_lengths({2}), 2);
  // By tokens: 4 real of 12 = 1/3 (by sentences it would be 2/4).
  CHECK(t.real_fraction() == doctest::Approx(4.0 / 12.0).epsilon(1e-15));
  // At generation 3: ages 3 (6 tokens) and 1 (2 tokens): (18 + 2) / 8 = 2.5 (by sentences: 2).
  CHECK(t.mean_synthetic_age(3) == doctest::Approx(2.5).epsilon(1e-15));
}

TEST_CASE("real_fraction and mean_synthetic_age: a matrix is weighted by rows") {
  TrainingSet<Eigen::MatrixXd> t;
  t.add(Eigen::MatrixXd::Zero(3, 2), kReal);
  t.add(Eigen::MatrixXd::Ones(1, 2), 1);
  t.add(Eigen::MatrixXd::Ones(4, 2), 4);
  CHECK(t.origin.size() == 8);
  CHECK(t.real_fraction() == doctest::Approx(3.0 / 8.0).epsilon(1e-15));
  // At generation 5: one row of age 4, four rows of age 1: (4 + 4) / 5 = 1.6.
  CHECK(t.mean_synthetic_age(5) == doctest::Approx(1.6).epsilon(1e-15));
}

TEST_CASE("mean_synthetic_age: exactly 1 under replace; real_fraction 0") {
  TrainingSet<Eigen::MatrixXd> t;
  t.add(Eigen::MatrixXd::Ones(10, 1), 6);  // training set of generation 7, produced by model 6
  CHECK(t.mean_synthetic_age(7) == 1.0);
  CHECK(t.real_fraction() == 0.0);
}

TEST_CASE("mean_synthetic_age: NaN when there is no synthetic data; real_fraction NaN when empty") {
  TrainingSet<Corpus> all_real;
  all_real.add(sentences_of_lengths({2, 5}), kReal);
  CHECK(std::isnan(all_real.mean_synthetic_age(3)));
  CHECK(all_real.real_fraction() == 1.0);

  const TrainingSet<Eigen::MatrixXd> empty;
  CHECK(std::isnan(empty.real_fraction()));
  CHECK(std::isnan(empty.mean_synthetic_age(0)));
}

}  // TEST_SUITE
