// Tests of src/sources/zipf.hpp and the AliasTable of src/sources/text_corpus.hpp: exact Zipf and
// Zipf–Mandelbrot probabilities, exact alias tables, fresh iid draws in fixed-length sentences.

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include <boost/math/distributions/chi_squared.hpp>

#include "core/rng.hpp"
#include "sources/text_corpus.hpp"
#include "sources/zipf.hpp"
#include "test_support.hpp"

using namespace collapse;
using collapse::testing::contains;
using collapse::testing::invalid_argument_message;

namespace {

double sum_of(const std::vector<double>& p) { return std::accumulate(p.begin(), p.end(), 0.0); }

/// Max |a − b| over equal-length vectors.
double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}

/// Pearson chi-square of `counts` against `p` · total; fails with a per-bucket table if it exceeds the
/// critical value at false-alarm rate `alpha` (df = buckets − 1).
void check_chi_square(const std::vector<std::size_t>& counts, const std::vector<double>& p, double alpha) {
  const double total = static_cast<double>(std::accumulate(counts.begin(), counts.end(), std::size_t{0}));
  double chi2 = 0;
  std::ostringstream table;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    const double e = p[i] * total;
    chi2 += (static_cast<double>(counts[i]) - e) * (static_cast<double>(counts[i]) - e) / e;
    table << "  type " << i << ": observed " << counts[i] << ", expected " << e << "\n";
  }
  const double critical = boost::math::quantile(
      boost::math::complement(boost::math::chi_squared(static_cast<double>(counts.size() - 1)), alpha));
  INFO("per-type counts:\n" << table.str());
  INFO("chi-square = " << chi2 << ", critical (alpha " << alpha << ") = " << critical);
  CHECK(chi2 < critical);
}

}  // namespace

TEST_SUITE("sources/zipf") {

TEST_CASE("zipf_mandelbrot_pmf: hand values for V = 3") {
  // Zipf s = 1: (1, 1/2, 1/3) / (11/6).
  const auto z1 = zipf_mandelbrot_pmf(3, 1.0, 0.0);
  REQUIRE(z1.size() == 3);
  CHECK(z1[0] == doctest::Approx(6.0 / 11).epsilon(1e-15));
  CHECK(z1[1] == doctest::Approx(3.0 / 11).epsilon(1e-15));
  CHECK(z1[2] == doctest::Approx(2.0 / 11).epsilon(1e-15));
  // Zipf s = 2: (1, 1/4, 1/9) / (49/36).
  const auto z2 = zipf_mandelbrot_pmf(3, 2.0, 0.0);
  CHECK(z2[0] == doctest::Approx(36.0 / 49).epsilon(1e-15));
  CHECK(z2[1] == doctest::Approx(9.0 / 49).epsilon(1e-15));
  CHECK(z2[2] == doctest::Approx(4.0 / 49).epsilon(1e-15));
  // Zipf–Mandelbrot a = 1, b = 1: (1/2, 1/3, 1/4) / (13/12).
  const auto zm = zipf_mandelbrot_pmf(3, 1.0, 1.0);
  CHECK(zm[0] == doctest::Approx(6.0 / 13).epsilon(1e-15));
  CHECK(zm[1] == doctest::Approx(4.0 / 13).epsilon(1e-15));
  CHECK(zm[2] == doctest::Approx(3.0 / 13).epsilon(1e-15));
  // Zipf–Mandelbrot a = 2, b = −0.5: (1/0.25, 1/2.25, 1/6.25) = (4, 4/9, 4/25), sum 1036/225.
  const auto zn = zipf_mandelbrot_pmf(3, 2.0, -0.5);
  CHECK(zn[0] == doctest::Approx(900.0 / 1036).epsilon(1e-15));
  CHECK(zn[1] == doctest::Approx(100.0 / 1036).epsilon(1e-15));
  CHECK(zn[2] == doctest::Approx(36.0 / 1036).epsilon(1e-15));
  // V = 1: a point mass.
  CHECK(zipf_mandelbrot_pmf(1, 1.5, 0.0) == std::vector<double>{1.0});
}

TEST_CASE("zipf_mandelbrot_pmf: sums to 1 and is non-increasing, also for extreme parameters") {
  for (const auto& [v, a, b] : std::vector<std::tuple<std::size_t, double, double>>{
           {10000, 1.1, 0.0}, {100000, 0.5, 2.7}, {1000, 100.0, -0.999999}, {50, 1e-6, 0.0}, {2000, 3.0, 1e6}}) {
    CAPTURE(v);
    CAPTURE(a);
    CAPTURE(b);
    const auto p = zipf_mandelbrot_pmf(v, a, b);
    REQUIRE(p.size() == v);
    CHECK(sum_of(p) == doctest::Approx(1.0).epsilon(1e-13));
    bool finite = true, monotone = true;
    for (std::size_t i = 0; i < v; ++i) {
      finite = finite && std::isfinite(p[i]) && p[i] >= 0;
      if (i) monotone = monotone && p[i] <= p[i - 1];
    }
    CHECK(finite);
    CHECK(monotone);
  }
}

TEST_CASE("AliasTable: probabilities reconstructed from the table equal the pmf to 1e-12") {
  std::vector<std::vector<double>> pmfs = {
      zipf_mandelbrot_pmf(1000, 1.1, 0.0), zipf_mandelbrot_pmf(100000, 1.0, 0.0),
      zipf_mandelbrot_pmf(5000, 0.7, 3.5), zipf_mandelbrot_pmf(200, 4.0, -0.9),
      std::vector<double>(17, 1.0 / 17), {1.0}, {0.2, 0.0, 0.5, 0.0, 0.3}};
  for (std::size_t k = 0; k < pmfs.size(); ++k) {
    CAPTURE(k);
    const auto& p = pmfs[k];
    const AliasTable table(p);
    REQUIRE(table.size() == p.size());
    CHECK(max_abs_diff(table.probabilities(), p) <= 1e-12);
    bool valid = true;
    for (std::size_t i = 0; i < p.size(); ++i)
      valid = valid && table.acceptance()[i] >= 0 && table.acceptance()[i] <= 1 && table.alias()[i] < p.size();
    CHECK(valid);
    // A type of probability 0 is never reachable: acceptance 0 in its own column, nobody's alias.
    for (std::size_t i = 0; i < p.size(); ++i) {
      if (p[i] != 0) continue;
      CAPTURE(i);
      CHECK(table.acceptance()[i] == 0.0);
      for (std::size_t j = 0; j < p.size(); ++j)
        if (table.acceptance()[j] < 1) CHECK(table.alias()[j] != i);
    }
  }
}

TEST_CASE("AliasTable: weights need not be normalised; bad weights name the key") {
  const AliasTable t(std::vector<double>{2.0, 6.0, 0.0, 2.0}, "truth.weights");
  CHECK(max_abs_diff(t.probabilities(), {0.2, 0.6, 0.0, 0.2}) <= 1e-15);
  const auto m1 = invalid_argument_message([] { AliasTable(std::vector<double>{}, "truth.weights"); });
  CHECK(contains(m1, "truth.weights"));
  CHECK(contains(m1, "empty"));
  const auto m2 = invalid_argument_message([] { AliasTable(std::vector<double>{0.5, -0.1}, "truth.weights"); });
  CHECK(contains(m2, "truth.weights[1] = -0.1"));
  const auto m3 = invalid_argument_message(
      [] { AliasTable(std::vector<double>{std::numeric_limits<double>::infinity()}, "truth.weights"); });
  CHECK(contains(m3, "truth.weights[0] = inf"));
  const auto m4 = invalid_argument_message([] { AliasTable(std::vector<double>{0.0, 0.0}, "truth.weights"); });
  CHECK(contains(m4, "truth.weights sums to 0"));
}

TEST_CASE("make_zipf_truth: exact pmf, ranks as ids, words w1..wV, no training text, no memorization index") {
  const auto t = make_zipf_truth(3, 1.0, 4, 10, 7);
  REQUIRE(t->vocab_size() == 3);
  REQUIRE(t->analytic.has_value());
  CHECK(t->is_analytic());
  CHECK(t->unigram == zipf_mandelbrot_pmf(3, 1.0, 0.0));
  CHECK(t->word(0) == "w1");
  CHECK(t->word(1) == "w2");
  CHECK(t->word(2) == "w3");
  CHECK_THROWS_AS(t->word(3), std::out_of_range);
  CHECK(t->vocabulary.size() == 0);  // no string table for analytic truths
  CHECK(t->train.num_tokens() == 0);
  CHECK(t->train.num_sentences() == 0);
  CHECK(t->verbatim == nullptr);
  CHECK(t->sentence_length == 4);
  CHECK(contains(t->description, "zipf"));
  const auto big = make_zipf_truth(25, 1.2, 5, 100, 1);
  CHECK(big->vocab_size() == 25);
  CHECK(big->word(24) == "w25");
  CHECK(max_abs_diff(big->analytic->probabilities(), big->unigram) <= 1e-15);
}

TEST_CASE("make_zipf_mandelbrot_truth: exact pmf p(r) ∝ (r + b)^(−a)") {
  const auto t = make_zipf_mandelbrot_truth(3, 1.0, 1.0, 2, 5, 3);
  CHECK(t->unigram[0] == doctest::Approx(6.0 / 13).epsilon(1e-15));
  CHECK(t->unigram[1] == doctest::Approx(4.0 / 13).epsilon(1e-15));
  CHECK(t->unigram[2] == doctest::Approx(3.0 / 13).epsilon(1e-15));
  CHECK(contains(t->description, "zipf_mandelbrot"));
}

TEST_CASE("analytic draw: exactly n tokens in sentences of sentence_length, the last one cut; ids < V") {
  const std::size_t len = 7, v = 40;
  const auto t = make_zipf_truth(v, 1.1, len, 100, 11);
  Rng rng = stream_rng(5, 0, Stream::mix);
  for (std::size_t n : {0, 1, 6, 7, 8, 21, 23, 1000}) {
    CAPTURE(n);
    const Corpus c = t->draw(n, rng);
    CHECK(c.num_tokens() == n);
    CHECK(c.num_sentences() == (n + len - 1) / len);
    for (std::size_t i = 0; i < c.num_sentences(); ++i) {
      CAPTURE(i);
      const std::size_t expected = (i + 1 < c.num_sentences()) ? len : n - len * i;
      CHECK(c.sentence_length(i) == expected);
    }
    bool in_range = true;
    for (TokenId id : c.tokens) in_range = in_range && id < v;
    CHECK(in_range);
  }
}

TEST_CASE("analytic draw: the held-out set has heldout_tokens tokens in sentences, and depends only on the seed") {
  const auto a = make_zipf_truth(100, 1.1, 10, 95, 42);
  const auto b = make_zipf_truth(100, 1.1, 10, 95, 42);
  const auto c = make_zipf_truth(100, 1.1, 10, 95, 43);
  CHECK(a->heldout.num_tokens() == 95);
  CHECK(a->heldout.num_sentences() == 10);
  CHECK(a->heldout.sentence_length(9) == 5);
  CHECK(a->heldout.tokens == b->heldout.tokens);
  CHECK(a->heldout.offsets == b->heldout.offsets);
  CHECK(a->heldout.tokens != c->heldout.tokens);
  // Draws are fresh: two draws from one engine differ, equal engines give equal draws.
  Rng r1(9), r2(9);
  const Corpus d1 = a->draw(500, r1), d2 = a->draw(500, r2), d3 = a->draw(500, r1);
  CHECK(d1.tokens == d2.tokens);
  CHECK(d1.tokens != d3.tokens);
}

TEST_CASE("analytic draw: token frequencies fit the Zipf pmf (chi-square, false alarm 1e-4)") {
  // H0: 200 000 iid draws from Zipf(1.1) on V = 50; the statistic is ~ chi-square(49) (smallest
  // expected count ≈ 680, so the approximation is good); critical value at alpha = 1e-4.
  const auto t = make_zipf_truth(50, 1.1, 20, 10, 3);
  Rng rng = stream_rng(17, 2, Stream::sample);
  const Corpus c = t->draw(200000, rng);
  std::vector<std::size_t> counts(50, 0);
  for (TokenId id : c.tokens) ++counts[id];
  check_chi_square(counts, t->unigram, 1e-4);
}

TEST_CASE("analytic draw: Zipf–Mandelbrot token frequencies fit its pmf (chi-square, false alarm 1e-4)") {
  // 300 000 draws, V = 30 (smallest expected count ≈ 860), chi-square(29) at alpha = 1e-4.
  const auto t = make_zipf_mandelbrot_truth(30, 2.0, 2.5, 9, 10, 3);
  Rng rng = stream_rng(18, 4, Stream::sample);
  const Corpus c = t->draw(300000, rng);
  std::vector<std::size_t> counts(30, 0);
  for (TokenId id : c.tokens) ++counts[id];
  check_chi_square(counts, t->unigram, 1e-4);
}

TEST_CASE("AliasTable: single draws fit a pmf with zeros and uneven mass (chi-square over the support, false alarm 1e-4)") {
  const std::vector<double> p = {0.05, 0.0, 0.6, 0.1, 0.0, 0.25};
  const AliasTable table(p);
  Rng rng(2024);
  std::vector<std::size_t> all(p.size(), 0);
  for (int k = 0; k < 100000; ++k) ++all[table(rng)];
  CHECK(all[1] == 0);
  CHECK(all[4] == 0);
  check_chi_square({all[0], all[2], all[3], all[5]}, {0.05, 0.6, 0.1, 0.25}, 1e-4);
}

TEST_CASE("make_zipf_truth / make_zipf_mandelbrot_truth: bad inputs name the key, the value and what is allowed") {
  auto zipf = [](std::size_t v, double s, std::size_t len, std::size_t held) {
    return invalid_argument_message([&] { make_zipf_truth(v, s, len, held, 1); });
  };
  auto zm = [](double a, double b) {
    return invalid_argument_message([&] { make_zipf_mandelbrot_truth(10, a, b, 5, 10, 1); });
  };
  CHECK(contains(zipf(0, 1.1, 5, 10), "truth.vocab_size = 0, but must be in [1, 10000000]"));
  CHECK(contains(zipf(10000001, 1.1, 5, 10), "truth.vocab_size = 10000001, but must be in [1, 10000000]"));
  CHECK(contains(zipf(10, 0.0, 5, 10), "truth.exponent = 0, but must be > 0 and finite"));
  CHECK(contains(zipf(10, -1.5, 5, 10), "truth.exponent = -1.5, but must be > 0"));
  CHECK(contains(zipf(10, std::numeric_limits<double>::quiet_NaN(), 5, 10), "truth.exponent = nan"));
  CHECK(contains(zipf(10, std::numeric_limits<double>::infinity(), 5, 10), "truth.exponent = inf"));
  CHECK(contains(zipf(10, 1.1, 0, 10), "truth.sentence_length = 0, but must be ≥ 1"));
  CHECK(contains(zipf(10, 1.1, 5, 0), "truth.heldout_tokens = 0, but must be in [1, 100000000]"));
  CHECK(contains(zipf(10, 1.1, 5, 100000001), "truth.heldout_tokens = 100000001, but must be in [1, 100000000]"));
  CHECK(contains(zm(0.0, 1.0), "truth.exponent = 0"));
  CHECK(contains(zm(1.0, -1.0), "truth.offset = -1, but must be > -1 and finite"));
  CHECK(contains(zm(1.0, -3.0), "truth.offset = -3"));
  CHECK(contains(zm(1.0, std::numeric_limits<double>::infinity()), "truth.offset = inf"));
  CHECK(zm(1.0, -0.5).empty());
}

}  // TEST_SUITE
