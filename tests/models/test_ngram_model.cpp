#include <doctest/doctest.h>

#include <algorithm>
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

#include "models/ngram_model.hpp"
#include "models/vocabulary.hpp"

using namespace collapse;

namespace {

using Context = std::vector<TokenId>;  // the preceding tokens of the sentence (no BOS), as prob() takes them

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
        for (std::size_t i = 0; i < corpus.num_sentences(); ++i) {
          Context h;
          for (TokenId w : corpus.sentence(i)) {
            contexts.push_back(h);
            h.push_back(w);
          }
          contexts.push_back(h);
        }
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
}
