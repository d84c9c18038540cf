// Tests of src/metrics/ngram_metrics.hpp on hand-made corpora and distributions.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <string>
#include <stdexcept>
#include <vector>

#include <boost/random/uniform_01.hpp>

#include "core/rng.hpp"
#include "metrics/ngram_metrics.hpp"
#include "sources/text_corpus.hpp"
#include "sources/verbatim_index.hpp"
#include "sources/zipf.hpp"
#include "test_support.hpp"

using namespace collapse;
using namespace collapse::metrics;

namespace {
Corpus make_corpus(const std::vector<std::vector<TokenId>>& sentences) {
  Corpus c;
  for (const auto& s : sentences) c.add_sentence(s);
  return c;
}

constexpr double kInf = std::numeric_limits<double>::infinity();

/// A pseudo-random pmf over v types, about a third of them 0 when `sparse`.
std::vector<double> random_pmf(std::size_t v, Rng& rng, bool sparse) {
  boost::random::uniform_01<double> u;
  std::vector<double> p(v);
  double sum = 0;
  for (auto& x : p) {
    x = (sparse && u(rng) < 0.33) ? 0.0 : u(rng);
    sum += x;
  }
  if (sum == 0) p[0] = sum = 1;
  for (auto& x : p) x /= sum;
  return p;
}

/// Reference distinct-n by sorting vectors of ids.
double distinct_n_reference(const Corpus& c, std::size_t n) {
  std::vector<std::vector<TokenId>> grams;
  for (std::size_t s = 0; s < c.num_sentences(); ++s) {
    const auto sent = c.sentence(s);
    for (std::size_t i = 0; i + n <= sent.size(); ++i) grams.emplace_back(sent.begin() + i, sent.begin() + i + n);
  }
  const double total = static_cast<double>(grams.size());
  std::sort(grams.begin(), grams.end());
  return static_cast<double>(std::unique(grams.begin(), grams.end()) - grams.begin()) / total;
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

TEST_CASE("distinct_n: equals a sort-based reference on a pseudo-random corpus, n = 1..4") {
  // 3000 sentences of 1..30 tokens over 7 types: many repeated n-grams of every order.
  Corpus c;
  Rng rng(99);
  std::vector<TokenId> s;
  for (int k = 0; k < 3000; ++k) {
    s.resize(1 + rng() % 30);
    for (auto& t : s) t = static_cast<TokenId>(rng() % 7);
    c.add_sentence(s);
  }
  for (int n = 1; n <= 4; ++n) {
    CAPTURE(n);
    const double ref = distinct_n_reference(c, static_cast<std::size_t>(n));
    CHECK(ref < 1.0);
    CHECK(distinct_n(c, n) == ref);  // same integers divided: exactly equal
  }
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

// ---- Distances ---------------------------------------------------------------------------------

TEST_CASE("kl_divergence_bits: hand values (scipy.stats.entropy base 2) and the +inf case") {
  // 0.5 log2(0.5/0.25) + 0.5 log2(0.5/0.75) = 1 − ½ log2 3.
  CHECK(kl_divergence_bits({0.5, 0.5}, {0.25, 0.75}) == doctest::Approx(1 - 0.5 * std::log2(3.0)).epsilon(1e-14));
  CHECK(kl_divergence_bits({0.1, 0.2, 0.7}, {0.3, 0.3, 0.4}) == doctest::Approx(0.2896596952239759).epsilon(1e-13));
  CHECK(kl_divergence_bits({0.25, 0.25, 0.5}, {0.25, 0.25, 0.5}) == 0.0);
  // The model's support inside the truth's: finite (a collapsed model), log2(1/0.25) = 2 bits.
  CHECK(kl_divergence_bits({1.0, 0.0}, {0.25, 0.75}) == doctest::Approx(2.0).epsilon(1e-15));
  // Model mass where the truth has none: +inf.
  CHECK(kl_divergence_bits({0.5, 0.5}, {1.0, 0.0}) == kInf);
  // Missing entries count as 0: a short model is a model with 0 mass on the rest.
  CHECK(kl_divergence_bits({1.0}, {0.5, 0.5}) == doctest::Approx(1.0).epsilon(1e-15));
  CHECK(kl_divergence_bits({0.5, 0.5}, {1.0}) == kInf);
  // An all-zero (empty) model has no distribution.
  CHECK(std::isnan(kl_divergence_bits({0.0, 0.0}, {0.5, 0.5})));
}

TEST_CASE("js_divergence_bits: hand values (scipy jensenshannon² base 2), 0 for equal, 1 for disjoint supports") {
  CHECK(js_divergence_bits({1.0, 0.0}, {0.5, 0.5}) == doctest::Approx(0.31127812445913283).epsilon(1e-13));
  CHECK(js_divergence_bits({0.1, 0.2, 0.7}, {0.3, 0.3, 0.4}) == doctest::Approx(0.07489355896415406).epsilon(1e-12));
  CHECK(js_divergence_bits({0.2, 0.8}, {0.2, 0.8}) == 0.0);
  CHECK(js_divergence_bits({0.5, 0.5, 0.0, 0.0}, {0.0, 0.0, 0.3, 0.7}) == doctest::Approx(1.0).epsilon(1e-15));
  CHECK(js_divergence_bits({1.0}, {0.0, 1.0}) == doctest::Approx(1.0).epsilon(1e-15));
  CHECK(std::isnan(js_divergence_bits({}, {1.0})));
}

TEST_CASE("total_variation: hand values") {
  CHECK(total_variation({0.5, 0.5}, {0.25, 0.75}) == doctest::Approx(0.25));
  CHECK(total_variation({0.1, 0.2, 0.7}, {0.3, 0.3, 0.4}) == doctest::Approx(0.3));
  CHECK(total_variation({1.0, 0.0}, {0.0, 1.0}) == doctest::Approx(1.0));
  CHECK(total_variation({0.3, 0.7}, {0.3, 0.7}) == 0.0);
  CHECK(total_variation({1.0}, {0.6, 0.4}) == doctest::Approx(0.4));
  CHECK(std::isnan(total_variation({0.0}, {1.0})));
}

TEST_CASE("distances: invariants on pseudo-random pmfs (KL ≥ 0, JS symmetric in [0, 1], TV in [0, 1], JS ≤ TV, Pinsker)") {
  Rng rng(5);
  for (int k = 0; k < 500; ++k) {
    CAPTURE(k);
    const std::size_t v = 2 + static_cast<std::size_t>(rng() % 40);
    const auto p = random_pmf(v, rng, k % 2 == 1), q = random_pmf(v, rng, k % 3 == 1);
    const double kl = kl_divergence_bits(p, q), js = js_divergence_bits(p, q), tv = total_variation(p, q);
    CHECK(kl >= 0);
    CHECK(kl_divergence_bits(p, p) == 0.0);
    CHECK(js >= 0);
    CHECK(js <= 1);
    CHECK(js == doctest::Approx(js_divergence_bits(q, p)).epsilon(1e-12));
    CHECK(js_divergence_bits(p, p) == 0.0);
    CHECK(tv >= 0);
    CHECK(tv <= 1);
    CHECK(tv == total_variation(q, p));
    CHECK(js <= tv + 1e-12);  // JS (bits) ≤ TV (Lin 1991, Theorem 3)
    // Pinsker: TV ≤ sqrt(KL_nats / 2).
    if (std::isfinite(kl)) CHECK(tv <= std::sqrt(kl * std::log(2.0) / 2) + 1e-12);
  }
}

// ---- Rank–frequency --------------------------------------------------------------------------------

TEST_CASE("rank_counts: sample counts sorted descending, also for ids near 2^32") {
  CHECK(rank_counts(make_corpus({{5, 5, 5, 2}, {2, 7}})) == std::vector<std::uint64_t>{3, 2, 1});
  CHECK(rank_counts(Corpus{}).empty());
  constexpr TokenId hi = 0xFFFFFFFFu;
  CHECK(rank_counts(make_corpus({{hi, 0, hi}, {3, hi, 0}})) == std::vector<std::uint64_t>{3, 2, 1});
}

TEST_CASE("zipf_exponent_mle: exact expected Zipf counts give back the exponent to 1e-6") {
  for (double s : {0.5, 1.1, 2.0, 3.5}) {
    CAPTURE(s);
    const auto p = zipf_mandelbrot_pmf(1000, s, 0.0);
    std::vector<double> expected(p.size());
    for (std::size_t i = 0; i < p.size(); ++i) expected[i] = 1e6 * p[i];
    CHECK(zipf_exponent_mle(std::span<const double>(expected)) == doctest::Approx(s).epsilon(1e-6));
  }
  // Integer counts of a big sample rounded from 10^9 · p: within 1e-4.
  const auto p = zipf_mandelbrot_pmf(500, 1.1, 0.0);
  Corpus c;
  std::vector<TokenId> tokens;
  for (std::size_t i = 0; i < p.size(); ++i) tokens.insert(tokens.end(), static_cast<std::size_t>(std::llround(2e6 * p[i])), static_cast<TokenId>(i));
  c.add_sentence(tokens);
  CHECK(zipf_exponent_mle(c) == doctest::Approx(1.1).epsilon(1e-4));
}

TEST_CASE("zipf_exponent_mle: a fixed-seed Zipf(1.1) sample (10^5 tokens, V = 1000) gives 1.1 ± 0.01") {
  // Offline (numpy, 20 multinomial samples): mean 1.1007, sd 0.0014 at this size; 0.01 ≈ 7 sd.
  const auto t = make_zipf_truth(1000, 1.1, 25, 10, 1);
  Rng rng = stream_rng(123, 0, Stream::sample);
  const Corpus sample = t->draw(100000, rng);
  CHECK(zipf_exponent_mle(sample) == doctest::Approx(1.1).epsilon(0.01 / 1.1));
}

TEST_CASE("zipf_exponent_mle: boundaries and degenerate samples") {
  // Equal counts: the likelihood decreases in s, maximum at s = 0.
  CHECK(zipf_exponent_mle(make_corpus({{1, 2, 3, 4}, {4, 3, 2, 1}})) == 0.0);
  // One dominant type: the root lies beyond 10, the maximum on [0, 10] is at 10.
  const std::vector<double> steep = {1e12, 1.0};
  CHECK(zipf_exponent_mle(std::span<const double>(steep)) == 10.0);
  // Two types, counts (4, 1): 2^−s / (1 + 2^−s) = 1/5, so s = 2 exactly.
  CHECK(zipf_exponent_mle(make_corpus({{7, 7, 7, 7, 9}})) == doctest::Approx(2.0).epsilon(1e-12));
  // Fewer than two types: NaN.
  CHECK(std::isnan(zipf_exponent_mle(Corpus{})));
  CHECK(std::isnan(zipf_exponent_mle(make_corpus({{3, 3, 3}}))));
  const std::vector<double> bad = {3.0, -1.0};
  CHECK(testing::contains(testing::invalid_argument_message([&] { zipf_exponent_mle(std::span<const double>(bad)); }),
                          "counts[1] = -1"));
}

TEST_CASE("rank_frequency: relative frequency at each sample rank, 0 beyond the observed types") {
  // Counts 3 (id 5), 2 (id 2), 1 (id 7); N = 6.
  const Corpus c = make_corpus({{5, 5, 5, 2}, {2, 7}});
  const auto f = rank_frequency(c, {1, 2, 3, 4, 10});
  REQUIRE(f.size() == 5);
  CHECK(f[0] == doctest::Approx(0.5));
  CHECK(f[1] == doctest::Approx(2.0 / 6));
  CHECK(f[2] == doctest::Approx(1.0 / 6));
  CHECK(f[3] == 0.0);
  CHECK(f[4] == 0.0);
  const auto e = rank_frequency(Corpus{}, {1, 2});
  CHECK(std::isnan(e[0]));
  CHECK(std::isnan(e[1]));
  CHECK(testing::contains(testing::invalid_argument_message([&] { rank_frequency(c, {1, 0}); }), "ranks[1] = 0"));
}

// ---- Memorization -------------------------------------------------------------------------------

TEST_CASE("verbatim rates: 1 on the training text itself, 0 on unseen ids, NaN without sentences / 8-grams") {
  const Corpus train = make_corpus({{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, {11, 12, 13}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}});
  const VerbatimIndex index(train);
  CHECK(verbatim_sentence_rate(train, index) == 1.0);
  CHECK(verbatim_ngram_rate(train, index) == 1.0);
  const Corpus unseen = make_corpus({{100, 101, 102, 103, 104, 105, 106, 107, 108}, {200}});
  CHECK(verbatim_sentence_rate(unseen, index) == 0.0);
  CHECK(verbatim_ngram_rate(unseen, index) == 0.0);
  CHECK(std::isnan(verbatim_sentence_rate(Corpus{}, index)));
  CHECK(std::isnan(verbatim_ngram_rate(Corpus{}, index)));
  CHECK(std::isnan(verbatim_ngram_rate(make_corpus({{1, 2, 3}, {11, 12, 13}}), index)));
  CHECK(verbatim_sentence_rate(make_corpus({{1, 2, 3}, {11, 12, 13}}), index) == 0.5);
}

TEST_CASE("verbatim rates: hand values; 8-grams are counted inside sentences only") {
  const VerbatimIndex index(make_corpus({{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, {20, 21, 22, 23}, {24, 25, 26, 27}}));
  // Sentences: only the third is a training sentence → 1/4.
  // 8-grams: (1..8) hit | (3..10) hit | (1..8) (2..9) (3..10) hit | (2..9) hit, (3..9, 99) miss → 6/7.
  const Corpus g = make_corpus({{1, 2, 3, 4, 5, 6, 7, 8}, {3, 4, 5, 6, 7, 8, 9, 10}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
                                {2, 3, 4, 5, 6, 7, 8, 9, 99}});
  CHECK(verbatim_sentence_rate(g, index) == doctest::Approx(0.25));
  CHECK(verbatim_ngram_rate(g, index) == doctest::Approx(6.0 / 7.0));
  // An 8-gram made of two training sentences back to back is not in the training text.
  CHECK(verbatim_ngram_rate(make_corpus({{20, 21, 22, 23, 24, 25, 26, 27}}), index) == 0.0);
  // Generated sentences do not join either: (.., 7, 8) | (9, 10) gives no 8-gram with 9 or 10.
  CHECK(verbatim_ngram_rate(make_corpus({{1, 2, 3, 4, 5, 6, 7, 8}, {9, 10}}), index) == 1.0);
}

}  // TEST_SUITE

TEST_SUITE("metrics/ngram_metrics slow") {

TEST_CASE("Brown: verbatim rates of the training text are 1 and of the held-out text small; Zipf exponent near 1") {
  const auto brown = collapse::testing::brown_paths();
  if (!brown) {
    MESSAGE("Brown corpus not found (run scripts/setup.sh); skipped");
    return;
  }
  const auto t = make_text_truth(brown->train, brown->heldout);
  REQUIRE(t->verbatim != nullptr);
  CHECK(verbatim_sentence_rate(t->train, *t->verbatim) == 1.0);
  CHECK(verbatim_ngram_rate(t->train, *t->verbatim) == 1.0);
  const double s_rate = verbatim_sentence_rate(t->heldout, *t->verbatim);
  const double g_rate = verbatim_ngram_rate(t->heldout, *t->verbatim);
  const double s = zipf_exponent_mle(t->train);
  MESSAGE("Brown held-out: verbatim sentence rate " << s_rate << ", verbatim 8-gram rate " << g_rate
                                                    << "; Zipf exponent MLE of train " << s
                                                    << "; distinct-4 of train " << distinct_n(t->train, 4));
  CHECK(s_rate < 0.05);
  CHECK(g_rate < 0.05);
  CHECK(s > 0.8);
  CHECK(s < 1.3);
}

}  // TEST_SUITE
