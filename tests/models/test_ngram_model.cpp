#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/math/distributions/chi_squared.hpp>
#include <boost/random/uniform_int_distribution.hpp>
#include <boost/random/uniform_real_distribution.hpp>

#include "models/ngram_model.hpp"
#include "models/vocabulary.hpp"

using namespace collapse;

namespace {

using Context = std::vector<TokenId>;  // the preceding tokens of the sentence (no BOS), as prob() takes them

/// Appends every context a corpus predicts from: each sentence's prefixes, from empty to whole.
void add_corpus_contexts(const Corpus& corpus, std::vector<Context>& contexts) {
  for (std::size_t i = 0; i < corpus.num_sentences(); ++i) {
    Context h;
    for (TokenId w : corpus.sentence(i)) {
      contexts.push_back(h);
      h.push_back(w);
    }
    contexts.push_back(h);
  }
}

Corpus make_corpus(const std::vector<std::vector<TokenId>>& sentences) {
  Corpus c;
  for (const auto& s : sentences) c.add_sentence(s);
  return c;
}

NgramModel fitted(int order, std::size_t v, const Corpus& c, Smoothing smoothing = Smoothing::mle, double k = 0) {
  NgramModel m(NgramOptions{order, smoothing, k}, v);
  Rng rng(1);
  m.fit(c, rng);
  return m;
}

double p(const NgramModel& m, const Context& h, TokenId w) { return m.prob(h, w); }

Context last(const Context& c, int n) {
  const std::size_t keep = std::min<std::size_t>(c.size(), static_cast<std::size_t>(n));
  return Context(c.end() - static_cast<std::ptrdiff_t>(keep), c.end());
}

// a, b, c = 0, 1, 2: sentences "a b", "a c", "a b b".
constexpr TokenId a = 0, b = 1, c = 2;
const Corpus kTiny = make_corpus({{a, b}, {a, c}, {a, b, b}});

/// Observed transitions (context of the last order−1 tokens → next token → count) in a sample.
/// Every drawn token is observed; an EOS draw is observed for every sentence except the last one
/// (sampling stops at the budget before drawing its end) and those cut at max_length.
/// Precondition: the model cannot draw EOS at a sentence start (empty sentences are invisible).
using Transitions = std::map<Context, std::map<TokenId, std::uint64_t>>;
Transitions count_transitions(const Corpus& s, int order, TokenId eos, int max_length) {
  Transitions t;
  for (std::size_t i = 0; i < s.num_sentences(); ++i) {
    Context ctx;
    for (TokenId w : s.sentence(i)) {
      ++t[last(ctx, order - 1)][w];
      ctx.push_back(w);
    }
    if (i + 1 < s.num_sentences() && s.sentence_length(i) < static_cast<std::size_t>(max_length))
      ++t[last(ctx, order - 1)][eos];
  }
  return t;
}

/// Pearson chi-square goodness of fit of the observed next-token counts of every context against
/// `expected(h, w)` over the outcomes 0..V (V = EOS). False-alarm rate `alpha` per context; contexts
/// whose smallest expected count is < 5 are skipped (the χ² approximation needs it). An observed
/// outcome with expected probability 0 fails outright. On failure prints the per-bucket counts.
/// @return the number of contexts tested.
int check_goodness_of_fit(const Transitions& t, std::size_t v,
                          const std::function<double(const Context&, TokenId)>& expected, double alpha = 1e-4) {
  int tested = 0;
  for (const auto& [h, observed] : t) {
    std::uint64_t n = 0;
    for (const auto& [w, count] : observed) n += count;
    std::vector<std::pair<TokenId, double>> support;
    for (TokenId w = 0; w <= v; ++w)
      if (double q = expected(h, w); q > 0) support.emplace_back(w, q);
    std::ostringstream buckets;
    buckets << "context [";
    for (TokenId x : h) buckets << ' ' << x;
    buckets << " ], n = " << n << "; (token: observed / expected)";
    for (const auto& [w, q] : support) {
      const auto it = observed.find(w);
      buckets << "  " << w << ": " << (it == observed.end() ? 0 : it->second) << " / " << q * static_cast<double>(n);
    }
    for (const auto& [w, count] : observed) {
      const bool in_support = std::any_of(support.begin(), support.end(), [&](const auto& s) { return s.first == w; });
      CHECK_MESSAGE(in_support, "token " << w << " drawn " << count << " times outside the support; " << buckets.str());
    }
    REQUIRE(!support.empty());
    double min_expected = 1e300;
    for (const auto& [w, q] : support) min_expected = std::min(min_expected, q * static_cast<double>(n));
    if (support.size() == 1 || min_expected < 5) continue;
    double chi2 = 0;
    for (const auto& [w, q] : support) {
      const auto it = observed.find(w);
      const double o = it == observed.end() ? 0.0 : static_cast<double>(it->second);
      const double e = q * static_cast<double>(n);
      chi2 += (o - e) * (o - e) / e;
    }
    const double df = static_cast<double>(support.size() - 1);
    const double critical = boost::math::quantile(boost::math::complement(boost::math::chi_squared(df), alpha));
    CHECK_MESSAGE(chi2 < critical, "chi2 = " << chi2 << " ≥ critical " << critical << " (df " << df << ", alpha "
                                             << alpha << "); " << buckets.str());
    ++tested;
  }
  return tested;
}

/// p_τ(w|h) = p(w|h)^(1/τ) / Σ_w' p(w'|h)^(1/τ) over the outcomes 0..V — the reference for tempered sampling.
double tempered(const NgramModel& m, const Context& h, TokenId w, double tau) {
  double z = 0;
  for (TokenId x = 0; x <= m.eos(); ++x) z += std::pow(m.prob(h, x), 1 / tau);
  return std::pow(m.prob(h, w), 1 / tau) / z;
}

/// A corpus of `sentences` random sentences over V types (lengths 1..max_len), no empty sentences.
Corpus random_corpus(std::size_t v, int sentences, int max_len, std::uint64_t seed) {
  Rng rng(seed);
  Corpus out;
  std::vector<TokenId> s;
  for (int i = 0; i < sentences; ++i) {
    s.resize(boost::random::uniform_int_distribution<std::size_t>(1, static_cast<std::size_t>(max_len))(rng));
    for (auto& w : s) {
      // skewed: half the mass on the first type, so that contexts have uneven continuations
      const auto u = boost::random::uniform_int_distribution<TokenId>(0, static_cast<TokenId>(2 * v - 1))(rng);
      w = u < v ? 0 : u - static_cast<TokenId>(v);
    }
    out.add_sentence(s);
  }
  return out;
}

void check_corpus_invariants(const Corpus& s, std::size_t n_tokens, int max_length) {
  CHECK(s.num_tokens() == n_tokens);
  REQUIRE(s.offsets.front() == 0);
  REQUIRE(s.offsets.back() == s.tokens.size());
  for (std::size_t i = 0; i < s.num_sentences(); ++i) {
    CHECK(s.sentence_length(i) >= 1);
    CHECK(s.sentence_length(i) <= static_cast<std::size_t>(max_length));
  }
}


/// The reference next-token distribution after the controls' pipeline over the outcomes 0..V:
/// p^(1/τ), ranked by (p desc, id asc), then top_k, top_p (smallest prefix with cumulative ≥ top_p of the
/// renormalised rest) and min_p (≥ min_p · max), renormalised.
std::vector<double> truncated(const NgramModel& m, const Context& h, const SamplingControls& sc) {
  const std::size_t n = m.eos() + 1;
  std::vector<double> p(n), q(n, 0.0);
  std::vector<TokenId> rank(n);
  for (TokenId w = 0; w < n; ++w) {
    p[w] = m.prob(h, w);
    rank[w] = w;
  }
  std::stable_sort(rank.begin(), rank.end(), [&](TokenId x, TokenId y) { return p[x] > p[y]; });
  std::vector<double> t(n);
  for (std::size_t i = 0; i < n; ++i) t[i] = std::pow(p[rank[i]], 1 / sc.temperature);
  std::size_t len = n;
  while (len > 0 && t[len - 1] == 0) --len;
  if (sc.top_k > 0) len = std::min(len, static_cast<std::size_t>(sc.top_k));
  if (sc.top_p < 1) {
    double z = 0, acc = 0;
    for (std::size_t i = 0; i < len; ++i) z += t[i];
    std::size_t i = 0;
    while (i < len) {
      acc += t[i++];
      if (acc >= sc.top_p * z) break;
    }
    len = i;
  }
  if (sc.min_p > 0) {
    std::size_t i = 0;
    while (i < len && t[i] >= sc.min_p * t[0]) ++i;
    len = i;
  }
  double z = 0;
  for (std::size_t i = 0; i < len; ++i) z += t[i];
  for (std::size_t i = 0; i < len; ++i) q[rank[i]] = t[i] / z;
  return q;
}

/// A uniform integer in [0, n) for building test corpora.
std::size_t bounded_for_test(Rng& rng, std::size_t n) {
  return static_cast<std::size_t>(boost::random::uniform_int_distribution<std::size_t>(0, n - 1)(rng));
}

/// Sum of p(w|h) over the V+1 outcomes.
double total_prob(const NgramModel& m, const Context& h) {
  double total = 0;
  for (TokenId w = 0; w <= m.eos(); ++w) total += m.prob(h, w);
  return total;
}

// Kneser–Ney reference corpus (V = 6): its bigram and trigram count-of-counts give genuine Chen & Goodman
// discounts at orders 2 and 3 (order 1 falls back). Reference values from an independent Python
// implementation of interpolated modified KN, run offline (see the test comments).
const Corpus kKn = make_corpus({{0, 2, 0, 0, 0, 2}, {0, 0, 0, 0, 1}, {1}, {1, 1, 0, 1, 2, 0}, {1, 0}, {0, 2}, {0}, {0},
                                {1, 2, 2}, {0, 4, 0, 0, 1}});
}  // namespace

TEST_SUITE("models/ngram_model") {
  // ---- Options and errors --------------------------------------------------------------------------

  TEST_CASE("IsValid: names the field, the value and the allowed range") {
    std::string error;
    CHECK(NgramOptions{}.IsValid(&error));
    CHECK_FALSE(NgramOptions{7, Smoothing::mle, 0}.IsValid(&error));
    CHECK(error == "model.order = 7, but must be in [1, 5]");
    CHECK_FALSE(NgramOptions{0, Smoothing::mle, 0}.IsValid(nullptr));
    CHECK_FALSE(NgramOptions{2, Smoothing::add_k, 0}.IsValid(&error));
    CHECK(error == "model.add_k = 0, but must be > 0 when model.smoothing = add_k");
    CHECK_FALSE(NgramOptions{2, Smoothing::mle, -1}.IsValid(&error));
    CHECK(error == "model.add_k = -1, but must be finite and ≥ 0");
    CHECK_FALSE(NgramOptions{2, Smoothing::add_k, std::nan("")}.IsValid(&error));
    CHECK(NgramOptions{5, Smoothing::add_k, 0.01}.IsValid(&error));
  }

  TEST_CASE("constructor: rejects invalid options, V = 0 and keys wider than 128 bits") {
    CHECK_THROWS_WITH_AS(NgramModel(NgramOptions{7, Smoothing::mle, 0}, 10), "model.order = 7, but must be in [1, 5]",
                         std::invalid_argument);
    CHECK_THROWS_AS(NgramModel(NgramOptions{}, 0), std::invalid_argument);
    CHECK_NOTHROW(NgramModel(NgramOptions{5, Smoothing::mle, 0}, 33554430));  // 25 bits × 5 = 125
    CHECK_THROWS_AS(NgramModel(NgramOptions{5, Smoothing::mle, 0}, 33554431), std::invalid_argument);
    CHECK_NOTHROW(NgramModel(NgramOptions{4, Smoothing::mle, 0}, 4294967293ull));  // 32 bits × 4
  }

  TEST_CASE("fit: a token id ≥ V is rejected with its value and position") {
    NgramModel m(NgramOptions{}, 5);
    Rng rng(1);
    const Corpus bad = make_corpus({{0, 1}, {2, 3, 7}});
    CHECK_THROWS_WITH_AS(m.fit(bad, rng), "ngram fit: token id 7 at position 4 ≥ vocabulary size 5",
                         std::invalid_argument);
    const Corpus unknown = make_corpus({{Vocabulary::kUnknown}});
    CHECK_THROWS_AS(m.fit(unknown, rng), std::invalid_argument);
  }

  // ---- Exact probabilities -------------------------------------------------------------------------

  TEST_CASE("MLE: probabilities equal hand-computed counts for orders 1, 2, 3") {
    const std::size_t v = 3;
    const TokenId eos = 3;
    SUBCASE("order 1: 10 predictions, a 3, b 3, c 1, EOS 3") {
      const NgramModel m = fitted(1, v, kTiny);
      CHECK(m.num_contexts() == 1);
      CHECK(p(m, {}, a) == doctest::Approx(0.3).epsilon(1e-15));
      CHECK(p(m, {}, b) == doctest::Approx(0.3).epsilon(1e-15));
      CHECK(p(m, {}, c) == doctest::Approx(0.1).epsilon(1e-15));
      CHECK(p(m, {}, eos) == doctest::Approx(0.3).epsilon(1e-15));
      CHECK(p(m, {a, b, c}, b) == doctest::Approx(0.3).epsilon(1e-15));  // the context is ignored
    }
    SUBCASE("order 2: contexts BOS, a, b, c") {
      const NgramModel m = fitted(2, v, kTiny);
      CHECK(m.num_contexts() == 4);
      CHECK(p(m, {}, a) == 1.0);  // BOS → a three times
      CHECK(p(m, {}, b) == 0.0);
      CHECK(p(m, {}, eos) == 0.0);
      CHECK(p(m, {a}, b) == doctest::Approx(2.0 / 3).epsilon(1e-15));
      CHECK(p(m, {a}, c) == doctest::Approx(1.0 / 3).epsilon(1e-15));
      CHECK(p(m, {a}, eos) == 0.0);
      CHECK(p(m, {b}, b) == doctest::Approx(1.0 / 3).epsilon(1e-15));
      CHECK(p(m, {b}, eos) == doctest::Approx(2.0 / 3).epsilon(1e-15));
      CHECK(p(m, {c}, eos) == 1.0);
      CHECK(p(m, {a, b, b}, eos) == doctest::Approx(2.0 / 3).epsilon(1e-15));  // only the last token is used
      CHECK(p(m, {a}, 4) == 0.0);  // BOS is not an outcome
    }
    SUBCASE("order 3: contexts (BOS BOS), (BOS a), (a b), (a c), (b b)") {
      const NgramModel m = fitted(3, v, kTiny);
      CHECK(m.num_contexts() == 5);
      CHECK(p(m, {}, a) == 1.0);
      CHECK(p(m, {a}, b) == doctest::Approx(2.0 / 3).epsilon(1e-15));  // (BOS a)
      CHECK(p(m, {a}, c) == doctest::Approx(1.0 / 3).epsilon(1e-15));
      CHECK(p(m, {a, b}, eos) == 0.5);
      CHECK(p(m, {a, b}, b) == 0.5);
      CHECK(p(m, {a, c}, eos) == 1.0);
      CHECK(p(m, {a, b, b}, eos) == 1.0);
      CHECK(p(m, {b, b}, eos) == 1.0);  // (b b) was seen, though not at a sentence start
      CHECK(p(m, {b}, eos) == 0.0);     // (BOS b) was never seen: MLE gives 0
      CHECK(p(m, {c, a, b}, eos) == 0.5);
    }
  }

  TEST_CASE("fit: FitReport is closed form, lower_bound = mean training ln p per prediction") {
    NgramModel m(NgramOptions{2, Smoothing::mle, 0}, 3);
    Rng rng(1);
    const FitReport report = m.fit(kTiny, rng);
    CHECK(report.iterations == 0);
    CHECK(report.converged);
    CHECK(report.events.empty());
    // 10 predictions: BOS→a ×3 (p 1), a→b ×2 (2/3), a→c (1/3), b→b (1/3), b→EOS ×2 (2/3), c→EOS (1).
    CHECK(report.lower_bound == doctest::Approx((4 * std::log(2.0 / 3) + 2 * std::log(1.0 / 3)) / 10).epsilon(1e-14));
    // add-1, V = 3: denominators c(h) + 4; BOS: (3+1)/7; a: 3/7, 2/7; b: 2/7, 3/7; c: 2/5.
    NgramModel add(NgramOptions{2, Smoothing::add_k, 1.0}, 3);
    const double expected = (3 * std::log(4.0 / 7) + 2 * std::log(3.0 / 7) + std::log(2.0 / 7) + std::log(2.0 / 7) +
                             2 * std::log(3.0 / 7) + std::log(2.0 / 5)) / 10;
    CHECK(add.fit(kTiny, rng).lower_bound == doctest::Approx(expected).epsilon(1e-14));
  }

  TEST_CASE("add-k: probabilities equal hand-computed values, unseen contexts are uniform over V+1") {
    // V = 3, k = 0.5: p(w|h) = (c(h,w) + 0.5) / (c(h) + 2).
    const NgramModel m = fitted(2, 3, kTiny, Smoothing::add_k, 0.5);
    CHECK(p(m, {a}, b) == doctest::Approx(2.5 / 5).epsilon(1e-15));
    CHECK(p(m, {a}, c) == doctest::Approx(1.5 / 5).epsilon(1e-15));
    CHECK(p(m, {a}, a) == doctest::Approx(0.5 / 5).epsilon(1e-15));
    CHECK(p(m, {a}, 3) == doctest::Approx(0.5 / 5).epsilon(1e-15));
    CHECK(p(m, {}, a) == doctest::Approx(3.5 / 5).epsilon(1e-15));
    CHECK(p(m, {c}, 3) == doctest::Approx(1.5 / 3).epsilon(1e-15));
    CHECK(p(m, {Vocabulary::kUnknown}, a) == doctest::Approx(0.25).epsilon(1e-15));
    CHECK(p(m, {Vocabulary::kUnknown}, 3) == doctest::Approx(0.25).epsilon(1e-15));
    CHECK(p(m, {a}, 4) == 0.0);
    CHECK(p(m, {a}, Vocabulary::kUnknown) == 0.0);
    // order 3: (a a) was never seen.
    const NgramModel m3 = fitted(3, 3, kTiny, Smoothing::add_k, 2.0);
    CHECK(p(m3, {a, a}, c) == doctest::Approx(0.25).epsilon(1e-15));
    CHECK(p(m3, {a, b}, b) == doctest::Approx(3.0 / 10).epsilon(1e-15));  // (1 + 2) / (2 + 8)
  }

  TEST_CASE("prob: the distribution of every seen context (and an unseen one under add-k) sums to 1") {
    const Corpus corpus = random_corpus(6, 40, 7, 11);
    for (int order = 1; order <= 5; ++order) {
      for (Smoothing s : {Smoothing::mle, Smoothing::add_k}) {
        const NgramModel m = fitted(order, 6, corpus, s, s == Smoothing::add_k ? 0.3 : 0.0);
        std::vector<Context> contexts;
        add_corpus_contexts(corpus, contexts);
        if (s == Smoothing::add_k) contexts.push_back({5, 5, 5, 5, 5, 5});
        for (const Context& h : contexts) {
          double total = 0;
          for (TokenId w = 0; w <= m.eos(); ++w) total += m.prob(h, w);
          CHECK_MESSAGE(total == doctest::Approx(1.0).epsilon(1e-12), "order " << order);
        }
      }
    }
  }

  TEST_CASE("unigram and support_size: token counts, EOS excluded") {
    const NgramModel mle = fitted(2, 4, kTiny);  // V = 4: type 3 never occurs
    const std::vector<double> u = mle.unigram();
    REQUIRE(u.size() == 4);
    CHECK(u[0] == doctest::Approx(3.0 / 7).epsilon(1e-15));
    CHECK(u[1] == doctest::Approx(3.0 / 7).epsilon(1e-15));
    CHECK(u[2] == doctest::Approx(1.0 / 7).epsilon(1e-15));
    CHECK(u[3] == 0.0);
    CHECK(mle.support_size() == 3);
    const NgramModel add = fitted(3, 4, kTiny, Smoothing::add_k, 0.5);  // (c + 0.5) / (7 + 2)
    const std::vector<double> ua = add.unigram();
    CHECK(ua[0] == doctest::Approx(3.5 / 9).epsilon(1e-15));
    CHECK(ua[3] == doctest::Approx(0.5 / 9).epsilon(1e-15));
    CHECK(add.support_size() == 4);
  }

  TEST_CASE("wide keys: orders 3-5 with V up to 10^6 (64- and 128-bit packing) match hand counts") {
    const TokenId x = 999999, y = 123456, z = 7;
    const Corpus corpus = make_corpus({{x, y, z, x, y, z}, {x, y, x}});
    for (std::size_t v : {std::size_t{1000000}, std::size_t{70000 * 15}}) {
      for (int order : {3, 4, 5}) {
        const NgramModel m = fitted(order, v, corpus);
        CAPTURE(order);
        CAPTURE(v);
        CHECK(p(m, {}, x) == 1.0);
        CHECK(p(m, {x}, y) == 1.0);
        if (order == 3) {
          CHECK(p(m, {x, y}, z) == doctest::Approx(2.0 / 3).epsilon(1e-15));  // x y → z, z, x
          CHECK(p(m, {x, y}, x) == doctest::Approx(1.0 / 3).epsilon(1e-15));
          CHECK(p(m, {y, x}, static_cast<TokenId>(v)) == 1.0);
        }
        if (order == 5) {
          CHECK(p(m, {x, y, z, x}, y) == 1.0);
          CHECK(p(m, {x, y, z, x, y}, z) == 1.0);
          CHECK(p(m, {y, z, x, y, z}, static_cast<TokenId>(v)) == 1.0);
          CHECK(p(m, {y, z, x, y, x}, static_cast<TokenId>(v)) == 0.0);
        }
        Rng rng(5);
        const Corpus s = m.sample(2000, SamplingControls{}, rng);
        CHECK(s.num_tokens() == 2000);
        for (TokenId w : s.tokens) CHECK((w == x || w == y || w == z));
      }
    }
  }

  // ---- Held-out scoring ----------------------------------------------------------------------------

  TEST_CASE("score: hand-computed log_prob, covered and oov with an unknown id and an unseen type") {
    const TokenId d = 3, unk = Vocabulary::kUnknown;
    // heldout: "a b" | "a <unk> c" | "c a" | "d"  → 3 + 4 + 3 + 2 = 12 predictions
    const Corpus heldout = make_corpus({{a, b}, {a, unk, c}, {c, a}, {d}});
    SUBCASE("MLE bigram (V = 4; d never seen)") {
      const HeldoutScore s = fitted(2, 4, kTiny).score(heldout);
      CHECK(s.predictions == 12);
      // covered: a|BOS = 1, b|a = 2/3, EOS|b = 2/3; a|BOS = 1, EOS|c = 1. <unk>: p = 0; c|<unk>: unseen → 0.
      CHECK(s.covered == 5);
      CHECK(s.oov == 2);  // <unk> (id ≥ V) and d (unigram p = 0)
      CHECK(s.log_prob == doctest::Approx(std::log(4.0 / 9)).epsilon(1e-13));
    }
    SUBCASE("add-1 bigram (V = 4; 5 outcomes)") {
      const HeldoutScore s = fitted(2, 4, kTiny, Smoothing::add_k, 1.0).score(heldout);
      CHECK(s.predictions == 12);
      CHECK(s.covered == 11);  // all but <unk>
      CHECK(s.oov == 1);
      // "a b": 4/8 · 3/8 · 3/8;  "a <unk> c": 4/8 · (unseen) 1/5 · EOS|c 2/6;  "c a": 1/8 · 1/6 · 1/8;
      // "d": 1/8 · EOS|d (unseen context) 1/5.
      const double expected = std::log(0.5 * 3 / 8 * 3 / 8) + std::log(0.5 / 5 * 2 / 6) +
                              std::log(1.0 / 8 / 6 / 8) + std::log(1.0 / 8 / 5);
      CHECK(s.log_prob == doctest::Approx(expected).epsilon(1e-13));
    }
    SUBCASE("trigram: an unknown id leaves the context after n−1 more tokens") {
      const NgramModel m = fitted(3, 4, make_corpus({{a, b, c, a, b}}));
      CHECK(m.prob(std::vector<TokenId>{unk, a}, b) == 0.0);                    // context (<unk> a) is unseen
      CHECK(m.prob(std::vector<TokenId>{unk, b, c}, a) == 1.0);                 // (b c) → a
      const HeldoutScore s = m.score(make_corpus({{unk, b, c, a, b}}));
      // <unk>: oov; b|(BOS <unk>) and c|(<unk> b): unseen; a|(b c) = 1; b|(c a) = 1; EOS|(a b) = 1/2.
      CHECK(s.predictions == 6);
      CHECK(s.oov == 1);
      CHECK(s.covered == 3);
      CHECK(s.log_prob == doctest::Approx(std::log(0.5)).epsilon(1e-13));
    }
  }

  // ---- Sampling ------------------------------------------------------------------------------------

  TEST_CASE("sample: exactly n_tokens, no empty sentences, max_length respected, same seed gives same bits") {
    const Corpus corpus = random_corpus(5, 30, 12, 3);
    for (int order = 1; order <= 3; ++order) {
      for (Smoothing s : {Smoothing::mle, Smoothing::add_k}) {
        const NgramModel m = fitted(order, 5, corpus, s, s == Smoothing::add_k ? 0.2 : 0.0);
        for (std::size_t n : {std::size_t{1}, std::size_t{7}, std::size_t{1000}, std::size_t{12345}}) {
          for (double tau : {1.0, 0.7}) {
            const SamplingControls controls{tau, 4};
            Rng r1(42), r2(42), r3(43);
            const Corpus s1 = m.sample(n, controls, r1);
            const Corpus s2 = m.sample(n, controls, r2);
            const Corpus s3 = m.sample(n, controls, r3);
            check_corpus_invariants(s1, n, 4);
            CHECK(s1.tokens == s2.tokens);
            CHECK(s1.offsets == s2.offsets);
            if (n >= 1000) CHECK(s1.tokens != s3.tokens);
            if (n >= 1000) {  // the corpus has long sentences, so some samples reach the cut
              bool cut = false;
              for (std::size_t i = 0; i < s1.num_sentences(); ++i) cut |= s1.sentence_length(i) == 4;
              CHECK(cut);
            }
          }
        }
      }
    }
  }

  TEST_CASE("sample: sentence lengths follow the model (interleaved streams add no length bias; chi-square, 1e-4)") {
    // MLE at τ = 1 draws sentences from interleaved streams and concatenates them in a fixed order;
    // an order chosen by completion would favour short sentences. Corpus "a", "a a" (V = 1):
    //  - bigram: p(a | a) = 1/3, p(EOS | a) = 2/3, so P(L = l) = (1/3)^(l−1) · 2/3 (geometric);
    //  - trigram: P(L = 1) = P(L = 2) = 1/2.
    // Every sentence but the last (cut at the budget) is a complete draw. Lengths ≥ 6 are pooled.
    const Corpus corpus = make_corpus({{a}, {a, a}});
    for (int order : {2, 3}) {
      const NgramModel m = fitted(order, 1, corpus);
      Rng rng(77);
      const Corpus s = m.sample(300000, SamplingControls{}, rng);
      REQUIRE(s.num_sentences() > 1000);
      std::array<double, 7> observed{}, expected{};
      const std::size_t n = s.num_sentences() - 1;
      for (std::size_t i = 0; i < n; ++i) ++observed[std::min<std::size_t>(s.sentence_length(i), 6)];
      for (std::size_t l = 1; l <= 6; ++l) {
        const double p = order == 2 ? (l < 6 ? std::pow(1.0 / 3, static_cast<double>(l - 1)) * 2.0 / 3
                                             : std::pow(1.0 / 3, 5.0))
                                    : (l <= 2 ? 0.5 : 0.0);
        expected[l] = p * static_cast<double>(n);
      }
      double chi2 = 0;
      int df = -1;
      std::ostringstream buckets;
      for (std::size_t l = 1; l <= 6; ++l) {
        buckets << "  L=" << l << ": " << observed[l] << " / " << expected[l];
        if (expected[l] == 0) {
          CHECK_MESSAGE(observed[l] == 0, "length " << l << " is impossible;" << buckets.str());
          continue;
        }
        chi2 += (observed[l] - expected[l]) * (observed[l] - expected[l]) / expected[l];
        ++df;
      }
      const double critical =
          boost::math::quantile(boost::math::complement(boost::math::chi_squared(df), 1e-4));
      CHECK_MESSAGE(chi2 < critical, "order " << order << ": chi2 = " << chi2 << " ≥ " << critical << ";"
                                                 << buckets.str());
    }
  }

  TEST_CASE("sample: degenerate models return nothing instead of looping") {
    const SamplingControls controls{};
    Rng rng(1);
    SUBCASE("empty corpus") {
      NgramModel m(NgramOptions{2, Smoothing::add_k, 1.0}, 5);
      CHECK(m.sample(10, controls, rng).num_tokens() == 0);  // not fitted yet
      const FitReport report = m.fit(Corpus{}, rng);
      REQUIRE(report.events.size() == 1);
      CHECK(report.events[0].kind == "empty_training_set");
      CHECK(report.events[0].generation == -1);
      const Corpus s = m.sample(100, controls, rng);
      CHECK(s.num_tokens() == 0);
      CHECK(s.num_sentences() == 0);
      CHECK(m.num_contexts() == 0);
      CHECK(m.support_size() == 0);
      CHECK(m.unigram() == std::vector<double>(5, 0.0));
      CHECK(m.prob(std::vector<TokenId>{}, 0) == 0.0);
      const HeldoutScore score = m.score(make_corpus({{0, 1}}));
      CHECK(score.predictions == 3);
      CHECK(score.covered == 0);
    }
    SUBCASE("only empty sentences: MLE generates nothing, add-k still generates") {
      const Corpus empties = make_corpus({{}, {}, {}});
      NgramModel mle(NgramOptions{2, Smoothing::mle, 0}, 5);
      CHECK(mle.fit(empties, rng).events.size() == 1);
      CHECK(mle.num_contexts() == 1);
      CHECK(mle.prob(std::vector<TokenId>{}, 5) == 1.0);
      CHECK(mle.sample(100, controls, rng).num_tokens() == 0);
      NgramModel add(NgramOptions{2, Smoothing::add_k, 0.5}, 5);
      add.fit(empties, rng);
      check_corpus_invariants(add.sample(100, controls, rng), 100, controls.max_length);
    }
    SUBCASE("temperature underflows every non-empty start to probability 0") {
      // p(EOS | BOS) = 3/4, p(a | BOS) = 1/4; at τ = 0.001, (1/3)^1000 underflows to 0.
      const NgramModel m = fitted(2, 5, make_corpus({{}, {}, {}, {0}}));
      CHECK(m.sample(100, SamplingControls{0.001, 200}, rng).num_tokens() == 0);
      check_corpus_invariants(m.sample(100, SamplingControls{0.5, 200}, rng), 100, 200);
    }
    SUBCASE("invalid controls") {
      const NgramModel m = fitted(2, 5, kTiny);
      CHECK_THROWS_WITH_AS(m.sample(10, SamplingControls{0.0, 10}, rng),
                           "loop.temperature = 0, but must be finite and > 0", std::invalid_argument);
      CHECK_THROWS_WITH_AS(m.sample(10, SamplingControls{1.0, 0}, rng), "loop.max_length = 0, but must be ≥ 1",
                           std::invalid_argument);
    }
  }

  TEST_CASE("sample: MLE output contains only n-grams seen in training (orders 2 and 3)") {
    const Corpus corpus = random_corpus(8, 60, 9, 17);
    for (int order : {2, 3}) {
      const NgramModel m = fitted(order, 8, corpus);
      for (double tau : {1.0, 0.6, 3.0}) {
        Rng rng(100 + static_cast<std::uint64_t>(order));
        const int max_length = 30;
        const Corpus s = m.sample(50000, SamplingControls{tau, max_length}, rng);
        REQUIRE(s.num_tokens() == 50000);
        std::size_t violations = 0;
        for (std::size_t i = 0; i < s.num_sentences(); ++i) {
          Context h;
          for (TokenId w : s.sentence(i)) {
            violations += m.prob(h, w) == 0.0;
            h.push_back(w);
          }
          if (i + 1 < s.num_sentences() && h.size() < static_cast<std::size_t>(max_length))
            violations += m.prob(h, m.eos()) == 0.0;
        }
        CHECK_MESSAGE(violations == 0, "order " << order << ", tau " << tau);
      }
    }
  }

  TEST_CASE("sample: next-token frequencies match p(w|h) (chi-square, false-alarm rate 1e-4 per context)") {
    // No empty sentences in the corpora below, so p(EOS | BOS) = 0 under MLE and every draw is visible.
    const Corpus corpus = make_corpus(
        {{0, 1, 2}, {0, 1}, {1, 2, 3, 0}, {2, 0, 1, 3}, {0, 2}, {3, 3, 0, 1, 2}, {1, 0}, {0, 1, 1, 2}});
    const std::size_t v = 4;
    const int max_length = 1000;
    SUBCASE("MLE bigram, τ = 1") {
      const NgramModel m = fitted(2, v, corpus);
      Rng rng(2024);
      const Corpus s = m.sample(200000, SamplingControls{1.0, max_length}, rng);
      const int tested = check_goodness_of_fit(count_transitions(s, 2, m.eos(), max_length), v,
                                               [&](const Context& h, TokenId w) { return m.prob(h, w); });
      CHECK(tested == 5);  // BOS, 0, 1, 2, 3
    }
    SUBCASE("contexts with many continuations (deep binary search): unigram over 25 types, bigram over 12") {
      std::vector<std::vector<TokenId>> sentences;
      for (TokenId w = 0; w < 25; ++w) sentences.push_back(std::vector<TokenId>(w + 1, w));  // type w: w+1 times
      const NgramModel m1 = fitted(1, 25, make_corpus(sentences));
      Rng rng1(31);
      const Corpus s1 = m1.sample(200000, SamplingControls{1.0, max_length}, rng1);
      // Order 1 can draw EOS at a sentence start (an invisible empty sentence), so only the token draws
      // are tested, against p(w | not EOS) = p(w) / (1 − p(EOS)).
      Transitions t1 = count_transitions(s1, 1, m1.eos(), max_length);
      t1[Context{}].erase(m1.eos());
      const double p_eos = m1.prob(Context{}, m1.eos());
      CHECK(check_goodness_of_fit(t1, 25, [&](const Context& h, TokenId w) {
              return w == m1.eos() ? 0.0 : m1.prob(h, w) / (1 - p_eos);
            }) == 1);
      const NgramModel m2 = fitted(2, 12, random_corpus(12, 400, 10, 8));
      Rng rng2(32);
      const Corpus s2 = m2.sample(300000, SamplingControls{1.0, max_length}, rng2);
      CHECK(check_goodness_of_fit(count_transitions(s2, 2, m2.eos(), max_length), 12,
                                  [&](const Context& h, TokenId w) { return m2.prob(h, w); }) >= 10);
    }
    SUBCASE("MLE trigram, τ = 1") {
      const NgramModel m = fitted(3, v, corpus);
      Rng rng(7);
      const Corpus s = m.sample(200000, SamplingControls{1.0, max_length}, rng);
      const int tested = check_goodness_of_fit(count_transitions(s, 3, m.eos(), max_length), v,
                                               [&](const Context& h, TokenId w) { return m.prob(h, w); });
      CHECK(tested >= 5);
    }
    SUBCASE("MLE bigram, τ = 0.5 and τ = 2: p^(1/τ) renormalised over the seen continuations") {
      const NgramModel m = fitted(2, v, corpus);
      for (double tau : {0.5, 2.0}) {
        Rng rng(99);
        const Corpus s = m.sample(200000, SamplingControls{tau, max_length}, rng);
        const int tested = check_goodness_of_fit(count_transitions(s, 2, m.eos(), max_length), v,
                                                 [&](const Context& h, TokenId w) { return tempered(m, h, w, tau); });
        CHECK(tested >= 4);
      }
    }
    SUBCASE("add-k trigram, τ = 1 and τ = 1.5: all V+1 outcomes, unseen contexts uniform") {
      // add-k can draw EOS at a sentence start; a model with k small relative to c(BOS) makes this
      // rare but not impossible, so the BOS context is excluded (those draws are invisible).
      const NgramModel m = fitted(3, v, corpus, Smoothing::add_k, 0.7);
      for (double tau : {1.0, 1.5}) {
        Rng rng(5);
        const Corpus s = m.sample(200000, SamplingControls{tau, max_length}, rng);
        Transitions t = count_transitions(s, 3, m.eos(), max_length);
        t.erase(Context{});
        const int tested = check_goodness_of_fit(t, v, [&](const Context& h, TokenId w) { return tempered(m, h, w, tau); });
        CHECK(tested >= 15);  // includes contexts never seen in training
        // At least one well-visited pair context was never seen in training (so it is tested as uniform).
        std::set<Context> seen;
        for (std::size_t i = 0; i < corpus.num_sentences(); ++i) {
          const auto sentence = corpus.sentence(i);
          for (std::size_t j = 2; j <= sentence.size(); ++j) seen.insert(Context{sentence[j - 2], sentence[j - 1]});
        }
        bool has_unseen = false;
        for (const auto& [h, obs] : t) {
          std::uint64_t visits = 0;
          for (const auto& [w, count] : obs) visits += count;
          has_unseen |= h.size() == 2 && !seen.contains(h) && visits >= 25;
        }
        CHECK(has_unseen);
      }
    }
  }

  TEST_CASE("temperature: hand-computed two-outcome example, small τ concentrates on the argmax") {
    // Context a: b three times, c once. BOS → a always; b, c → EOS.
    const Corpus corpus = make_corpus({{a, b}, {a, b}, {a, b}, {a, c}});
    const NgramModel m = fitted(2, 3, corpus);
    auto frequency_of_b = [&](double tau, std::uint64_t seed, std::uint64_t* n) {
      Rng rng(seed);
      const Corpus s = m.sample(100000, SamplingControls{tau, 10}, rng);
      std::uint64_t bs = 0, total = 0;
      for (std::size_t i = 0; i < s.num_sentences(); ++i)
        if (s.sentence_length(i) == 2) {
          ++total;
          bs += s.sentence(i)[1] == b;
        }
      *n = total;
      return static_cast<double>(bs) / static_cast<double>(total);
    };
    std::uint64_t n = 0;
    // τ = 0.5: p(b|a) = 3² / (3² + 1²) = 0.9; tolerance 4 binomial standard errors (two-sided 6e-5).
    const double f = frequency_of_b(0.5, 11, &n);
    CHECK(std::abs(f - 0.9) < 4 * std::sqrt(0.9 * 0.1 / static_cast<double>(n)));
    CHECK(tempered(m, {a}, b, 0.5) == doctest::Approx(0.9).epsilon(1e-14));
    // τ = 1: p(b|a) = 3/4.
    const double f1 = frequency_of_b(1.0, 12, &n);
    CHECK(std::abs(f1 - 0.75) < 4 * std::sqrt(0.75 * 0.25 / static_cast<double>(n)));
    // τ = 0.02: p(c|a) ∝ (1/3)^50 ≈ 1.4e-24 — never drawn.
    CHECK(frequency_of_b(0.02, 13, &n) == 1.0);
    // add-k (k = 0.5, 4 outcomes) at τ = 0.02: (c+k)^50 makes b the certain choice from context a.
    const NgramModel add = fitted(2, 3, corpus, Smoothing::add_k, 0.5);
    Rng rng(14);
    const Corpus s = add.sample(20000, SamplingControls{0.02, 10}, rng);
    for (std::size_t i = 0; i < s.num_sentences(); ++i) {
      const auto sentence = s.sentence(i);
      for (std::size_t j = 0; j + 1 < sentence.size(); ++j)
        if (sentence[j] == a) CHECK(sentence[j + 1] == b);
    }
  }

  // ---- Exact theory --------------------------------------------------------------------------------

  TEST_CASE("Wright-Fisher: unigram refit on its own n-token sample, E[GS_t] = GS(p0)(1 − 1/n)^t, E[p_t] = p0") {
    // Order 1, MLE: tokens inside sampled sentences are iid from the fitted unigram over the V types
    // (EOS only places sentence boundaries) and sample(n) returns exactly n tokens, so the counts of
    // generation t+1 are Multinomial(n, p_t): the neutral Wright–Fisher model. Generation indexing:
    // model 0 is fitted on the initial corpus itself (p_0 = p0 exactly); model t is fitted on a sample of
    // model t−1, and E[GS(p_t)] = GS(p0) (1 − 1/n)^t with GS(p) = 1 − Σ p² (Gini–Simpson).
    // R = 20000 replicates with different seeds (≈ 0.5 s; SE of mean GS_10 ≈ 0.0013, so even an off-by-one in n,
    // a shift of 0.011 at t = 10, is detected); each check allows 4 standard errors of the mean,
    // a two-sided false-alarm rate ≈ 6e-5 per check (60 checks: ≈ 4e-3 for the whole case).
    const std::size_t v = 5, n = 20;
    const int generations = 10, replicates = 20000;
    const std::vector<double> p0 = {8.0 / 20, 5.0 / 20, 4.0 / 20, 2.0 / 20, 1.0 / 20};
    const Corpus initial = make_corpus({{0, 0, 1, 2}, {0, 0, 1, 1, 2, 3}, {0, 0, 2}, {0, 1, 4, 3, 2}, {0, 1}});
    REQUIRE(initial.num_tokens() == n);
    double gs0 = 1;
    for (double q : p0) gs0 -= q * q;

    std::vector<double> gs_sum(generations + 1, 0), gs_sq(generations + 1, 0);
    std::vector<std::vector<double>> p_sum(generations + 1, std::vector<double>(v, 0)), p_sq = p_sum;
    NgramModel m(NgramOptions{1, Smoothing::mle, 0}, v);
    for (int r = 0; r < replicates; ++r) {
      Rng rng(1000 + static_cast<std::uint64_t>(r));
      m.fit(initial, rng);
      for (int t = 0; t <= generations; ++t) {
        if (t > 0) {
          const Corpus s = m.sample(n, SamplingControls{1.0, 7}, rng);
          REQUIRE(s.num_tokens() == n);
          m.fit(s, rng);
        }
        const std::vector<double> u = m.unigram();
        double gs = 1;
        for (std::size_t i = 0; i < v; ++i) {
          gs -= u[i] * u[i];
          p_sum[t][i] += u[i];
          p_sq[t][i] += u[i] * u[i];
        }
        gs_sum[t] += gs;
        gs_sq[t] += gs * gs;
      }
    }
    auto mean_and_se = [&](double sum, double sq) {
      const double mean = sum / replicates;
      const double var = (sq - replicates * mean * mean) / (replicates - 1);
      return std::pair{mean, std::sqrt(std::max(var, 0.0) / replicates)};
    };
    for (int t = 0; t <= generations; ++t) {
      const double expected = gs0 * std::pow(1.0 - 1.0 / static_cast<double>(n), t);
      const auto [mean, se] = mean_and_se(gs_sum[t], gs_sq[t]);
      if (t == 0) {
        CHECK(mean == doctest::Approx(gs0).epsilon(1e-12));
        continue;
      }
      CHECK_MESSAGE(std::abs(mean - expected) < 4 * se,
                    "t = " << t << ": mean GS " << mean << ", expected " << expected << ", SE " << se);
      for (std::size_t i = 0; i < v; ++i) {
        const auto [pm, pse] = mean_and_se(p_sum[t][i], p_sq[t][i]);
        CHECK_MESSAGE(std::abs(pm - p0[i]) < 4 * pse,
                      "t = " << t << ", type " << i << ": mean p " << pm << ", p0 " << p0[i] << ", SE " << pse);
      }
    }
  }

  // ---- Kneser–Ney ----------------------------------------------------------------------------------

  TEST_CASE("kneser_ney: IsValid accepts it, add_k is ignored") {
    std::string error;
    CHECK(NgramOptions{3, Smoothing::kneser_ney, 0}.IsValid(&error));
    CHECK_FALSE(NgramOptions{3, static_cast<Smoothing>(7), 0}.IsValid(&error));
    CHECK(error == "model.smoothing = 7, but must be one of mle | add_k | kneser_ney");
  }

  TEST_CASE("kneser_ney: probabilities equal hand-computed values for orders 1, 2, 3") {
    // Values from an offline Python implementation of interpolated modified KN (Chen & Goodman 1998 §3.5,
    // continuation counts below the top order, raw counts after BOS, uniform 1/(V+1) floor, the
    // fallback D = 0.5/1/1.5 at order 1 whose count-of-counts have n2 = 0), printed with repr().
    SUBCASE("order 1: raw counts, D fixed (n1 = 1, n2 = 0)") {
      const NgramModel m = fitted(1, 6, kKn, Smoothing::kneser_ney);
      CHECK(p(m, {}, 0) == doctest::Approx(0.391156462585034).epsilon(1e-13));
      CHECK(p(m, {}, 3) == doctest::Approx(0.022108843537414963).epsilon(1e-13));
      CHECK(p(m, {}, 4) == doctest::Approx(0.03401360544217687).epsilon(1e-13));
      CHECK(p(m, {}, 6) == doctest::Approx(0.22448979591836735).epsilon(1e-13));
    }
    SUBCASE("order 2") {
      const NgramModel m = fitted(2, 6, kKn, Smoothing::kneser_ney);
      CHECK(p(m, {}, 0) == doctest::Approx(0.5099047619047619).epsilon(1e-13));
      CHECK(p(m, {}, 6) == doctest::Approx(0.07123809523809524).epsilon(1e-13));
      CHECK(p(m, {0}, 0) == doctest::Approx(0.38330532212885154).epsilon(1e-13));
      CHECK(p(m, {0}, 4) == doctest::Approx(0.08683473389355743).epsilon(1e-13));
      CHECK(p(m, {0}, 6) == doctest::Approx(0.19350140056022408).epsilon(1e-13));
      CHECK(p(m, {2}, 1) == doctest::Approx(0.08095238095238093).epsilon(1e-13));
      CHECK(p(m, {4}, 0) == doctest::Approx(0.7180952380952381).epsilon(1e-13));
      CHECK(p(m, {3}, 0) == doctest::Approx(0.29523809523809524).epsilon(1e-13));  // unseen context: p_1
      CHECK(p(m, {Vocabulary::kUnknown}, 0) == doctest::Approx(0.29523809523809524).epsilon(1e-13));
    }
    SUBCASE("order 3") {
      const NgramModel m = fitted(3, 6, kKn, Smoothing::kneser_ney);
      CHECK(p(m, {}, 0) == doctest::Approx(0.603789089582193).epsilon(1e-13));
      CHECK(p(m, {}, 1) == doctest::Approx(0.38614413428206534).epsilon(1e-13));
      CHECK(p(m, {}, 3) == doctest::Approx(0.001147965699689838).epsilon(1e-13));
      CHECK(p(m, {0}, 4) == doctest::Approx(0.14509865248781503).epsilon(1e-13));  // (BOS 0)
      CHECK(p(m, {0, 0}, 0) == doctest::Approx(0.6088306357025569).epsilon(1e-13));
      CHECK(p(m, {0, 2}, 6) == doctest::Approx(0.24383586589169517).epsilon(1e-13));
      CHECK(p(m, {1, 2}, 2) == doctest::Approx(0.35986342429692186).epsilon(1e-13));
      CHECK(p(m, {2, 2}, 6) == doctest::Approx(0.4428409831365496).epsilon(1e-13));
      CHECK(p(m, {4, 0}, 4) == doctest::Approx(0.07613965126280396).epsilon(1e-13));
      CHECK(p(m, {2, 5}, 1) == doctest::Approx(0.16190476190476188).epsilon(1e-13));  // unseen: p_1
      CHECK(p(m, {Vocabulary::kUnknown, 0}, 0) == doctest::Approx(0.3908163265306122).epsilon(1e-13));  // p_2(0|0) of the trigram model
      CHECK(p(m, {0}, 7) == 0.0);  // BOS is never predicted
    }
  }

  TEST_CASE("kneser_ney: discounts equal Chen & Goodman eq. 26 on hand-counted count-of-counts") {
    NgramModel m(NgramOptions{3, Smoothing::kneser_ney, 0}, 6);
    Rng rng(1);
    const FitReport report = m.fit(kKn, rng);
    auto cg = [](double n1, double n2, double n3, double n4) {
      const double y = n1 / (n1 + 2 * n2);
      return std::array<double, 3>{1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3};
    };
    // Order 3 (raw trigram counts, 35 types of trigram by hand): n1..n4 = 19, 5, 1, 1.
    const auto d3 = m.kn_discounts(3);
    CHECK(d3.n1 == 19);
    CHECK(d3.n2 == 5);
    CHECK(d3.n3 == 1);
    CHECK(d3.n4 == 1);
    CHECK_FALSE(d3.fallback);
    CHECK(d3.d1 == doctest::Approx(cg(19, 5, 1, 1)[0]).epsilon(1e-15));
    CHECK(d3.d2 == doctest::Approx(cg(19, 5, 1, 1)[1]).epsilon(1e-15));
    CHECK(d3.d3plus == doctest::Approx(cg(19, 5, 1, 1)[2]).epsilon(1e-15));
    // Order 2 (continuation counts; bigrams after BOS keep their raw counts): 4, 7, 1, 2.
    const auto d2 = m.kn_discounts(2);
    CHECK(d2.n1 == 4);
    CHECK(d2.n2 == 7);
    CHECK(d2.n3 == 1);
    CHECK(d2.n4 == 2);
    CHECK_FALSE(d2.fallback);
    CHECK(d2.d2 == doctest::Approx(cg(4, 7, 1, 2)[1]).epsilon(1e-15));
    // Order 1: continuation counts of the 5 outcomes seen (0, 1, 2, 4, EOS): one 1, three 3s, one 5 → n2 = 0
    // → fixed fallback.
    const auto d1 = m.kn_discounts(1);
    CHECK(d1.n1 == 1);
    CHECK(d1.n2 == 0);
    CHECK(d1.n3 == 3);
    CHECK(d1.fallback);
    CHECK(d1.d1 == 0.5);
    CHECK(d1.d2 == 1.0);
    CHECK(d1.d3plus == 1.5);
    REQUIRE(report.events.size() == 1);
    CHECK(report.events[0].kind == "kn_discount_fallback");
    CHECK(report.events[0].message ==
          "ngram fit: kneser_ney order 1: count-of-counts n1 = 1, n2 = 0, n3 = 3, n4 = 0 do not give Chen & "
          "Goodman discounts in (0, i]; using fixed D1 = 0.5, D2 = 1, D3+ = 1.5");
    CHECK_THROWS_AS(m.kn_discounts(4), std::invalid_argument);
    CHECK_THROWS_AS(fitted(2, 6, kKn).kn_discounts(1), std::invalid_argument);
  }

  TEST_CASE("kneser_ney: p sums to 1 over V+1 outcomes for seen and unseen contexts, orders 1-5") {
    const Corpus corpus = random_corpus(6, 40, 7, 11);
    for (int order = 1; order <= 5; ++order) {
      const NgramModel m = fitted(order, 6, corpus, Smoothing::kneser_ney);
      std::vector<Context> contexts = {{5, 5, 5, 5, 5, 5}, {Vocabulary::kUnknown}, {3, Vocabulary::kUnknown, 2}};
      add_corpus_contexts(corpus, contexts);
      for (const Context& h : contexts) {
        CHECK_MESSAGE(total_prob(m, h) == doctest::Approx(1.0).epsilon(1e-12), "order " << order);
        for (TokenId w = 0; w <= m.eos(); ++w) CHECK(m.prob(h, w) > 0);
      }
    }
  }

  TEST_CASE("kneser_ney: degenerate corpora fall back, record kn_discount_fallback and still sum to 1") {
    SUBCASE("a single sentence repeated: every count is 5") {
      std::vector<std::vector<TokenId>> s(5, std::vector<TokenId>{0, 1, 2});
      NgramModel m(NgramOptions{3, Smoothing::kneser_ney, 0}, 4);
      Rng rng(1);
      const FitReport report = m.fit(make_corpus(s), rng);
      CHECK(report.events.size() == 3);  // orders 3 and 2 (all 5), order 1 (continuation counts 1, 2)
      for (const Event& e : report.events) CHECK(e.kind == "kn_discount_fallback");
      CHECK(m.kn_discounts(3).d3plus == 1.5);
      for (const Context& h : {Context{}, Context{0}, Context{0, 1}, Context{2, 2}, Context{3}})
        CHECK(total_prob(m, h) == doctest::Approx(1.0).epsilon(1e-12));
      Rng r(2);
      check_corpus_invariants(m.sample(1000, SamplingControls{}, r), 1000, 200);
    }
    SUBCASE("every n-gram seen once: absolute discounting is impossible (n2 = 0), D fixed") {
      NgramModel m(NgramOptions{2, Smoothing::kneser_ney, 0}, 10);
      Rng rng(1);
      const FitReport report = m.fit(make_corpus({{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}}), rng);
      REQUIRE(report.events.size() == 2);
      CHECK(report.events[0].message.find("order 2: count-of-counts n1 = 11, n2 = 0") != std::string::npos);
      CHECK(m.kn_discounts(2).d1 == 0.5);
      for (const Context& h : {Context{}, Context{4}, Context{9}})
        CHECK(total_prob(m, h) == doctest::Approx(1.0).epsilon(1e-12));
    }
    SUBCASE("only empty sentences") {
      NgramModel m(NgramOptions{3, Smoothing::kneser_ney, 0}, 3);
      Rng rng(1);
      m.fit(make_corpus({{}, {}}), rng);
      CHECK(total_prob(m, {}) == doctest::Approx(1.0).epsilon(1e-12));
      check_corpus_invariants(m.sample(50, SamplingControls{}, rng), 50, 200);
    }
  }

  TEST_CASE("kneser_ney: score covers every in-vocabulary prediction; unigram and support_size") {
    const NgramModel m = fitted(3, 7, kKn, Smoothing::kneser_ney);  // type 6 never seen
    const Corpus heldout = make_corpus({{0, 6, 3}, {Vocabulary::kUnknown, 2}, {5}});
    const HeldoutScore s = m.score(heldout);
    CHECK(s.predictions == 9);
    CHECK(s.covered == 8);
    CHECK(s.oov == 1);
    const double expected = std::log(m.prob(Context{}, 0)) + std::log(m.prob(Context{0}, 6)) +
                            std::log(m.prob(Context{0, 6}, 3)) + std::log(m.prob(Context{6, 3}, 7)) +
                            std::log(m.prob(Context{Vocabulary::kUnknown}, 2)) +
                            std::log(m.prob(Context{Vocabulary::kUnknown, 2}, 7)) + std::log(m.prob(Context{}, 5)) +
                            std::log(m.prob(Context{5}, 7));
    CHECK(s.log_prob == doctest::Approx(expected).epsilon(1e-13));
    const std::vector<double> u = m.unigram();
    double total = 0;
    for (double x : u) total += x;
    CHECK(total == doctest::Approx(1.0).epsilon(1e-14));
    CHECK(u[6] > 0);
    CHECK(m.support_size() == 7);
    // p_1(0) / (1 − p_1(EOS)) with the order-1 distribution of the trigram model (an unseen context's p).
    const double p1_0 = m.prob(Context{6, 6}, 0), p1_eos = m.prob(Context{6, 6}, 7);
    CHECK(u[0] == doctest::Approx(p1_0 / (1 - p1_eos)).epsilon(1e-13));
  }

  TEST_CASE("kneser_ney: sampled next-token frequencies match p and tempered p (chi-square, 1e-4 per context)") {
    const Corpus corpus = make_corpus(
        {{0, 1, 2}, {0, 1}, {1, 2, 3, 0}, {2, 0, 1, 3}, {0, 2}, {3, 3, 0, 1, 2}, {1, 0}, {0, 1, 1, 2}});
    const std::size_t v = 4;
    for (int order : {2, 3}) {
      const NgramModel m = fitted(order, v, corpus, Smoothing::kneser_ney);
      for (double tau : {1.0, 0.7}) {
        Rng rng(77);
        const Corpus s = m.sample(200000, SamplingControls{tau, 1000}, rng);
        CHECK(s.num_tokens() == 200000);
        Transitions t = count_transitions(s, order, m.eos(), 1000);
        t.erase(Context{});  // EOS drawn at a sentence start is invisible
        const int tested =
            check_goodness_of_fit(t, v, [&](const Context& h, TokenId w) { return tempered(m, h, w, tau); });
        CHECK_MESSAGE(tested >= (order == 2 ? 4 : 12), "order " << order << ", tau " << tau);
      }
    }
  }

  // ---- Truncation (top_k, top_p, min_p) ------------------------------------------------------------

  TEST_CASE("controls: invalid top_k / top_p / min_p are rejected with the key") {
    const NgramModel m = fitted(2, 5, kTiny);
    Rng rng(1);
    SamplingControls c;
    c.top_p = 0;
    CHECK_THROWS_WITH_AS(m.sample(10, c, rng), "loop.top_p = 0, but must be in (0, 1]", std::invalid_argument);
    c = {};
    c.top_p = 1.5;
    CHECK_THROWS_WITH_AS(m.sample(10, c, rng), "loop.top_p = 1.5, but must be in (0, 1]", std::invalid_argument);
    c = {};
    c.top_k = -1;
    CHECK_THROWS_WITH_AS(m.sample(10, c, rng), "loop.top_k = -1, but must be ≥ 0 (0 = off)", std::invalid_argument);
    c = {};
    c.min_p = 2;
    CHECK_THROWS_WITH_AS(m.sample(10, c, rng), "loop.min_p = 2, but must be in [0, 1]", std::invalid_argument);
  }

  TEST_CASE("truncation: sampled frequencies match the exact truncated distribution (chi-square, 1e-4 per context)") {
    const Corpus corpus = make_corpus(
        {{0, 1, 2}, {0, 1}, {1, 2, 3, 0}, {2, 0, 1, 3}, {0, 2}, {3, 3, 0, 1, 2}, {1, 0}, {0, 1, 1, 2}, {0, 1, 3}});
    const std::size_t v = 4;
    struct Case {
      Smoothing smoothing;
      int order;
      SamplingControls controls;
      int min_tested;
    };
    const Case cases[] = {
        {Smoothing::mle, 2, {1.0, 1000, 2, 1.0, 0.0}, 3},     // top_k = 2
        {Smoothing::mle, 2, {1.0, 1000, 0, 0.7, 0.0}, 2},     // top_p = 0.7
        {Smoothing::mle, 2, {1.0, 1000, 0, 1.0, 0.3}, 2},     // min_p = 0.3
        {Smoothing::add_k, 2, {1.0, 1000, 3, 1.0, 0.0}, 4},   // add-k, top_k = 3 (uniform tail tied by id)
        {Smoothing::add_k, 3, {1.5, 1000, 0, 0.8, 0.0}, 8},   // τ then top_p, unseen contexts included
        {Smoothing::kneser_ney, 3, {0.8, 1000, 3, 0.9, 0.0}, 8},  // τ → top_k → top_p
        {Smoothing::kneser_ney, 2, {1.0, 1000, 0, 1.0, 0.2}, 4},  // min_p
        {Smoothing::kneser_ney, 3, {1.0, 1000, 0, 0.8, 0.0}, 8},  // KN trigram, top_p alone
        {Smoothing::kneser_ney, 3, {0.8, 1000, 2, 1.0, 0.0}, 8},  // KN trigram, τ → top_k
        {Smoothing::kneser_ney, 3, {1.2, 1000, 0, 1.0, 0.3}, 4},  // KN trigram, τ → min_p
    };
    for (const Case& c : cases) {
      const NgramModel m = fitted(c.order, v, corpus, c.smoothing, c.smoothing == Smoothing::add_k ? 0.5 : 0.0);
      Rng rng(9);
      const Corpus s = m.sample(200000, c.controls, rng);
      CHECK(s.num_tokens() == 200000);
      Transitions t = count_transitions(s, c.order, m.eos(), 1000);
      if (c.smoothing != Smoothing::mle) t.erase(Context{});
      std::map<Context, std::vector<double>> reference;
      const int tested = check_goodness_of_fit(t, v, [&](const Context& h, TokenId w) {
        auto it = reference.find(h);
        if (it == reference.end()) it = reference.emplace(h, truncated(m, h, c.controls)).first;
        return it->second[w];
      });
      CHECK_MESSAGE(tested >= c.min_tested, "smoothing " << static_cast<int>(c.smoothing) << ", order " << c.order
                                                         << ", top_k " << c.controls.top_k << ", top_p "
                                                         << c.controls.top_p << ", min_p " << c.controls.min_p);
    }
  }

  TEST_CASE("kneser_ney layered sampler: sparse trigram contexts, τ, top_k, top_p, min_p (chi-square, 1e-4)") {
    // A larger random corpus (V = 24, Zipf-like) so that contexts see only part of the vocabulary: the
    // layered path (own continuations + scaled lower layers with rejection, merged rankings) is taken
    // rather than the exact-table fallback.
    const std::size_t v = 24;
    Rng gen(123);
    std::vector<std::vector<TokenId>> sentences;
    for (int i = 0; i < 400; ++i) {
      std::vector<TokenId> sentence;
      const std::size_t len = 1 + bounded_for_test(gen, 8);
      for (std::size_t j = 0; j < len; ++j) {
        const double u = boost::random::uniform_real_distribution<double>(0.0, 1.0)(gen);
        sentence.push_back(static_cast<TokenId>(std::min<double>(static_cast<double>(v - 1), std::floor(u * u * u * v))));
      }
      sentences.push_back(sentence);
    }
    const Corpus corpus = make_corpus(sentences);
    const NgramModel m = fitted(3, v, corpus, Smoothing::kneser_ney);
    const SamplingControls cases[] = {
        {0.8, 1000, 0, 1.0, 0.0},  // τ only: layered draws with rejection
        {1.0, 1000, 0, 0.9, 0.0},  // top_p
        {0.8, 1000, 0, 0.7, 0.0},  // τ → top_p
        {1.0, 1000, 5, 1.0, 0.0},  // top_k
        {1.3, 1000, 8, 0.95, 0.05},  // τ → top_k → top_p → min_p
    };
    for (const SamplingControls& sc : cases) {
      Rng rng(31);
      const Corpus s = m.sample(300000, sc, rng);
      CHECK(s.num_tokens() == 300000);
      Transitions t = count_transitions(s, 3, m.eos(), 1000);
      t.erase(Context{});
      std::map<Context, std::vector<double>> reference;
      const int tested = check_goodness_of_fit(t, v, [&](const Context& h, TokenId w) {
        auto it = reference.find(h);
        if (it == reference.end()) it = reference.emplace(h, truncated(m, h, sc)).first;
        return it->second[w];
      });
      CHECK_MESSAGE(tested >= 20, "tau " << sc.temperature << ", top_k " << sc.top_k << ", top_p " << sc.top_p
                                         << ", min_p " << sc.min_p << ": tested " << tested);
    }
  }

  TEST_CASE("truncation: top_k = 1 is greedy, a tiny top_p is the argmax, ties go to the smaller id") {
    // Context a: b three times, c once; BOS → a; b, c → EOS.
    const Corpus corpus = make_corpus({{a, b}, {a, b}, {a, b}, {a, c}});
    for (Smoothing sm : {Smoothing::mle, Smoothing::add_k, Smoothing::kneser_ney}) {
      const NgramModel m = fitted(2, 3, corpus, sm, sm == Smoothing::add_k ? 0.5 : 0.0);
      SamplingControls greedy;
      greedy.top_k = 1;
      greedy.max_length = 10;
      SamplingControls nucleus;
      nucleus.top_p = 1e-9;
      nucleus.max_length = 10;
      for (const SamplingControls& sc : {greedy, nucleus}) {
        Rng rng(3);
        const Corpus s = m.sample(1000, sc, rng);
        REQUIRE(s.num_tokens() == 1000);
        for (std::size_t i = 0; i < s.num_sentences(); ++i) {
          const auto sentence = s.sentence(i);
          CHECK(sentence[0] == a);
          if (sentence.size() > 1) CHECK(sentence[1] == b);
          CHECK(sentence.size() <= 2);
        }
      }
    }
    // Ties: p(b | a) = p(c | a) = 1/2 under MLE; top_k = 1 keeps b (the smaller id).
    const NgramModel tie = fitted(2, 3, make_corpus({{a, b}, {a, c}}));
    SamplingControls k1;
    k1.top_k = 1;
    Rng rng(4);
    const Corpus s = tie.sample(500, k1, rng);
    for (std::size_t i = 0; i < s.num_sentences(); ++i)
      if (s.sentence_length(i) == 2) CHECK(s.sentence(i)[1] == b);
  }

  TEST_CASE("truncation: temperature then top_k (hand-computed) — τ = 2 flattens, top_k = 2 drops the rest") {
    // Context a: b ×4, c ×1, EOS ×4 → p = 4/9, 1/9, 4/9. τ = 2: ∝ 2, 1, 2. top_k = 2 keeps b and EOS (tie:
    // b has the smaller id; EOS the next), each 1/2; c is never drawn. Without top_k c has 1/5.
    const Corpus corpus = make_corpus({{a, b}, {a, b}, {a, b}, {a, b}, {a, c}, {a}, {a}, {a}, {a}});
    const NgramModel m = fitted(2, 3, corpus);
    SamplingControls sc{2.0, 10, 2, 1.0, 0.0};
    auto q = truncated(m, {a}, sc);
    CHECK(q[b] == doctest::Approx(0.5).epsilon(1e-14));
    CHECK(q[c] == 0.0);
    CHECK(q[3] == doctest::Approx(0.5).epsilon(1e-14));
    Rng rng(5);
    const Corpus s = m.sample(100000, sc, rng);
    std::uint64_t after_a = 0, bs = 0;
    for (std::size_t i = 0; i < s.num_sentences(); ++i) {
      const auto sentence = s.sentence(i);
      for (std::size_t j = 1; j < sentence.size(); ++j) {
        CHECK(sentence[j] != c);
        if (sentence[j - 1] == a) {
          ++after_a;
          bs += sentence[j] == b;
        }
      }
    }
    // Sentences "a" (EOS after a) are visible as length-1 sentences; b's share of all draws after a is 1/2.
    std::uint64_t ends = 0;
    for (std::size_t i = 0; i + 1 < s.num_sentences(); ++i) ends += s.sentence_length(i) == 1;
    const double n = static_cast<double>(after_a + ends);
    CHECK(std::abs(static_cast<double>(bs) / n - 0.5) < 4 * std::sqrt(0.25 / n));  // two-sided 6e-5
  }
}
