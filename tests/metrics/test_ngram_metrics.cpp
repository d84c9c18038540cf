// Tests of src/metrics/ngram_metrics.hpp on hand-made corpora and distributions.

#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "metrics/ngram_metrics.hpp"

using namespace collapse;
using namespace collapse::metrics;

namespace {
Corpus make_corpus(const std::vector<std::vector<TokenId>>& sentences) {
  Corpus c;
  for (const auto& s : sentences) c.add_sentence(s);
  return c;
}
}  // namespace

TEST_SUITE("metrics/ngram_metrics") {

TEST_CASE("distinct_types: counts types across all sentences") {
  CHECK(distinct_types(make_corpus({{5, 1, 5}, {2, 1}, {9}})) == 4);
  CHECK(distinct_types(make_corpus({{7, 7, 7}})) == 1);
  CHECK(distinct_types(Corpus{}) == 0);
}

TEST_CASE("distinct_n: hand values; n-grams do not cross sentence boundaries") {
  // Sentences "1 2 1 2" and "1 2".
  const Corpus c = make_corpus({{1, 2, 1, 2}, {1, 2}});
  // Unigrams: 6 tokens, 2 types.
  CHECK(distinct_n(c, 1) == doctest::Approx(2.0 / 6.0));
  // Bigrams within sentences: (1,2) (2,1) (1,2) | (1,2): 2 distinct of 4. Across the boundary there would
  // be a fifth, (2,1), giving 2/5.
  CHECK(distinct_n(c, 2) == doctest::Approx(2.0 / 4.0));
  // Trigrams: (1,2,1) (2,1,2) | none: 2 of 2 (across the boundary: 2 of 4).
  CHECK(distinct_n(c, 3) == doctest::Approx(1.0));
  // 4-grams: only (1,2,1,2).
  CHECK(distinct_n(c, 4) == doctest::Approx(1.0));

  // Repeated sentence: every n-gram occurs twice.
  const Corpus twice = make_corpus({{3, 4, 5}, {3, 4, 5}});
  CHECK(distinct_n(twice, 1) == doctest::Approx(0.5));
  CHECK(distinct_n(twice, 2) == doctest::Approx(0.5));
  CHECK(distinct_n(twice, 3) == doctest::Approx(0.5));
}

TEST_CASE("distinct_n: n-grams are compared exactly, also for ids near 2^32") {
  constexpr TokenId hi = 0xFFFFFFFFu, hi1 = 0xFFFFFFFEu;
  // 4-grams (hi,hi,hi,hi1), (hi,hi,hi1,hi), (hi,hi1,hi,0): all distinct.
  const Corpus c = make_corpus({{hi, hi, hi, hi1, hi, 0}});
  CHECK(distinct_n(c, 4) == doctest::Approx(1.0));
  // 4-grams that share their last two ids (a 64-bit key would keep only those) are still distinct.
  const Corpus e = make_corpus({{1, 2, 7, 8}, {3, 4, 7, 8}, {1, 2, 7, 8}});
  CHECK(distinct_n(e, 4) == doctest::Approx(2.0 / 3.0));
  // Bigrams (0, 1) and (1, 0) must not be confused; (hi, hi) twice.
  const Corpus d = make_corpus({{0, 1, 0}, {hi, hi, hi}});
  CHECK(distinct_n(d, 2) == doctest::Approx(3.0 / 4.0));
}

TEST_CASE("distinct_n: NaN when the sample has no n-gram of that order") {
  CHECK(std::isnan(distinct_n(Corpus{}, 1)));
  CHECK(std::isnan(distinct_n(make_corpus({{1}, {2}, {3}}), 2)));  // no bigram inside any sentence
  CHECK(std::isnan(distinct_n(make_corpus({{1, 2, 3}}), 4)));
  CHECK(distinct_n(make_corpus({{1}, {2}, {3}}), 1) == doctest::Approx(1.0));
}

TEST_CASE("distinct_n: n outside [1, 4] throws") {
  const Corpus c = make_corpus({{1, 2, 3, 4, 5}});
  CHECK_THROWS_AS(distinct_n(c, 0), std::invalid_argument);
  CHECK_THROWS_AS(distinct_n(c, 5), std::invalid_argument);
}

TEST_CASE("entropy_bits: uniform over 8 is 3 bits; hand values; 0 log 0 = 0") {
  CHECK(entropy_bits(std::vector<double>(8, 1.0 / 8)) == doctest::Approx(3.0).epsilon(1e-14));
  CHECK(entropy_bits({1.0}) == 0.0);
  CHECK(entropy_bits({0.5, 0.5, 0.0}) == doctest::Approx(1.0).epsilon(1e-14));
  CHECK(entropy_bits({0.5, 0.25, 0.25}) == doctest::Approx(1.5).epsilon(1e-14));
  // Non-dyadic: −(0.9 log2 0.9 + 0.1 log2 0.1).
  CHECK(entropy_bits({0.9, 0.1}) == doctest::Approx(-(0.9 * std::log2(0.9) + 0.1 * std::log2(0.1))).epsilon(1e-14));
}

TEST_CASE("gini_simpson: hand values") {
  CHECK(gini_simpson({1.0}) == 0.0);
  CHECK(gini_simpson({0.25, 0.25, 0.25, 0.25}) == doctest::Approx(0.75));
  CHECK(gini_simpson({0.5, 0.25, 0.25}) == doctest::Approx(0.625));  // 1 − (0.25 + 0.0625 + 0.0625)
  CHECK(gini_simpson({0.9, 0.1, 0.0}) == doctest::Approx(0.18));      // 1 − (0.81 + 0.01)
}

TEST_CASE("missing_mass: real probability of the types the model gives 0") {
  const std::vector<double> real = {0.4, 0.3, 0.2, 0.1};
  CHECK(missing_mass({0.5, 0.0, 0.5, 0.0}, real) == doctest::Approx(0.3 + 0.1));
  CHECK(missing_mass({0.25, 0.25, 0.25, 0.25}, real) == 0.0);
  CHECK(missing_mass({0.0, 0.0, 0.0, 1.0}, real) == doctest::Approx(0.9));
  // A model shorter than the real vocabulary cannot produce the types it lacks.
  CHECK(missing_mass({1.0}, {0.7, 0.3}) == doctest::Approx(0.3));
}

TEST_CASE("tail_mass_beyond_rank: model mass of ids ≥ r") {
  const std::vector<double> model = {0.4, 0.3, 0.2, 0.1};
  CHECK(tail_mass_beyond_rank(model, 0) == doctest::Approx(1.0));
  CHECK(tail_mass_beyond_rank(model, 2) == doctest::Approx(0.3));
  CHECK(tail_mass_beyond_rank(model, 3) == doctest::Approx(0.1));
  CHECK(tail_mass_beyond_rank(model, 4) == 0.0);
  CHECK(tail_mass_beyond_rank(model, 1000) == 0.0);
}

}  // TEST_SUITE
