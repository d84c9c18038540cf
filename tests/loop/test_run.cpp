// The generation loop held to exact theory, provenance invariants and reproducibility.
#include <doctest/doctest.h>

#include <cmath>
#include <numeric>

#include "loop/run.hpp"
#include "metrics/ngram_metrics.hpp"

using namespace collapse;

namespace {

struct MeanSe {
  double mean = 0, se = 0;
};
MeanSe mean_se(const std::vector<double>& x) {
  const double n = static_cast<double>(x.size());
  const double m = std::accumulate(x.begin(), x.end(), 0.0) / n;
  double ss = 0;
  for (double v : x) ss += (v - m) * (v - m);
  return {m, std::sqrt(ss / (n - 1) / n)};
}

RunIdentity identity(std::uint64_t replicate) { return {replicate, 0x1234, replicate, run_seed(99, 0x1234, replicate)}; }

/// A 1-D Gaussian truth N(0, sigma2).
std::shared_ptr<const ContinuousTruth> gaussian_truth(double sigma2) {
  return make_gaussian_truth(Eigen::VectorXd::Ones(1), Eigen::MatrixXd::Zero(1, 1), {Eigen::MatrixXd::Constant(1, 1, sigma2)},
                             1000, 0.005, 11);
}

/// A d-dimensional Gaussian truth N(0, sigma2 I).
std::shared_ptr<const ContinuousTruth> isotropic_truth(int d, double sigma2) {
  return make_gaussian_truth(Eigen::VectorXd::Ones(1), Eigen::MatrixXd::Zero(1, d),
                             {sigma2 * Eigen::MatrixXd::Identity(d, d)}, 1000, 0.005, 11);
}

RunConfig gmm_config(std::size_t n, int generations, double reg_covar) {
  RunConfig c;
  GmmOptions o;
  o.components = 1;
  o.reg_covar = reg_covar;
  c.model = o;
  c.truth = GaussianTruthConfig{};
  c.loop.generations = generations;
  c.loop.samples_per_generation = n;
  c.metrics.dcr_samples = 0;
  return c;
}

/// ‖μ_g‖² per generation over R replicates, from the gmm_means trajectory of a K = 1 model.
std::vector<std::vector<double>> mean_norm2(const RunConfig& c, const std::shared_ptr<const ContinuousTruth>& truth, int R) {
  const auto G = static_cast<std::size_t>(c.loop.generations);
  std::vector<std::vector<double>> out(G + 1);
  for (int r = 0; r < R; ++r) {
    const RunResult res = run_generations(c, truth, identity(static_cast<std::uint64_t>(r)));
    REQUIRE(res.status == RunStatus::done);
    const auto& t = res.trajectories.at("gmm_means");
    const std::size_t d = t.shape.back();
    for (std::size_t g = 0; g <= G; ++g) {
      double s = 0;
      for (std::size_t a = 0; a < d; ++a) s += t.values[g * d + a] * t.values[g * d + a];
      out[g].push_back(s);
    }
  }
  return out;
}

/// A text truth whose sentences are single tokens with the given type counts (ids = ranks).
std::shared_ptr<const TextTruth> unigram_truth(const std::vector<std::uint64_t>& counts) {
  auto t = std::make_shared<TextTruth>();
  std::unordered_map<std::string, std::uint64_t> words;
  for (std::size_t i = 0; i < counts.size(); ++i) words["w" + std::to_string(i)] = counts[i];
  t->vocabulary = Vocabulary::from_counts(words);
  const double total = std::accumulate(counts.begin(), counts.end(), 0.0);
  t->unigram.assign(counts.size(), 0);
  for (std::size_t i = 0; i < counts.size(); ++i) {
    const TokenId id = t->vocabulary.id("w" + std::to_string(i));
    t->unigram[id] = static_cast<double>(counts[i]) / total;
    for (std::uint64_t k = 0; k < counts[i]; ++k) t->train.add_sentence(std::vector<TokenId>{id});
  }
  t->heldout = t->train;
  t->description = "unigram test truth";
  return t;
}

RunConfig ngram_config(int order, std::size_t tokens, int generations) {
  RunConfig c;
  c.model = NgramOptions{order, Smoothing::mle, 0.0};
  c.truth = TextTruthConfig{};
  c.loop.generations = generations;
  c.loop.samples_per_generation = tokens;
  return c;
}


}  // namespace

TEST_SUITE("loop/run") {
  TEST_CASE("unigram refit: E[Gini-Simpson_g] follows the exact Wright-Fisher decay") {
    // Generation 0 trains on n tokens drawn WITHOUT replacement from a finite corpus of N tokens
    // (hypergeometric counts): E[GS_0] = GS(p) (1 - (N - n) / (n (N - 1))). Every later generation
    // trains on n iid tokens of the previous model (multinomial): a factor (1 - 1/n) per generation.
    // So E[GS_g] = GS(p) (1 - (N - n)/(n (N - 1))) (1 - 1/n)^g.
    // Tolerance: 4 standard errors of the mean over R replicates (two-sided false-alarm rate 6.3e-5
    // per generation, < 5e-4 over the 7 checks).
    const std::vector<std::uint64_t> counts = {80, 60, 30, 20, 10};
    const auto truth = unigram_truth(counts);
    const double N = 200, n = 20;
    const double gs = metrics::gini_simpson(truth->unigram);
    RunConfig c = ngram_config(1, 20, 6);
    c.metrics.sample_size = 20;
    const int R = 3000;
    std::vector<std::vector<double>> per_gen(7);
    for (int r = 0; r < R; ++r) {
      const RunResult res = run_generations(c, truth, identity(static_cast<std::uint64_t>(r)));
      REQUIRE(res.status == RunStatus::done);
      for (int g = 0; g <= 6; ++g) per_gen[static_cast<std::size_t>(g)].push_back(res.metrics.at("gini_simpson")[static_cast<std::size_t>(g)]);
    }
    for (int g = 0; g <= 6; ++g) {
      const double expected = gs * (1 - (N - n) / (n * (N - 1))) * std::pow(1 - 1 / n, g);
      const MeanSe m = mean_se(per_gen[static_cast<std::size_t>(g)]);
      INFO("generation " << g << ": mean " << m.mean << " ± " << m.se << ", theory " << expected);
      CHECK(std::abs(m.mean - expected) < 4 * m.se);
    }
  }

  TEST_CASE("single Gaussian refit by MLE: E[sigma2_g] = ((n-1)/n)^(g+1) sigma2 and E[mu_g^2] grows as theory") {
    // Shumailov et al. 2024 §4 / Suresh et al. 2025: with the MLE variance, E[sigma2_g] =
    // ((n-1)/n)^(g+1) sigma2; the mean performs a random walk with E[mu_g^2] =
    // (sigma2/n)(1 + sum_{k=1}^{g} ((n-1)/n)^k) (sample mean and variance are independent).
    // reg_covar = 0 so the estimator is the plain MLE. 4 SE tolerance as above.
    const double sigma2 = 4, n = 10;
    const auto truth = gaussian_truth(sigma2);
    const RunConfig c = gmm_config(10, 8, 0.0);
    const int R = 4000;
    std::vector<std::vector<double>> var(9), mu2(9);
    for (int r = 0; r < R; ++r) {
      const RunResult res = run_generations(c, truth, identity(static_cast<std::uint64_t>(r)));
      REQUIRE(res.status == RunStatus::done);
      const auto& means = res.trajectories.at("gmm_means").values;  // (G+1) x K x d = 9 x 1 x 1
      for (std::size_t g = 0; g <= 8; ++g) {
        var[g].push_back(res.metrics.at("total_variance")[g]);
        mu2[g].push_back(means[g] * means[g]);
      }
    }
    const double a = (n - 1) / n;
    double mu_sum = 1;
    for (int g = 0; g <= 8; ++g) {
      if (g > 0) mu_sum += std::pow(a, g);
      const MeanSe v = mean_se(var[static_cast<std::size_t>(g)]);
      const MeanSe m = mean_se(mu2[static_cast<std::size_t>(g)]);
      const double ev = std::pow(a, g + 1) * sigma2, em = sigma2 / n * mu_sum;
      INFO("generation " << g << ": var " << v.mean << " ± " << v.se << " (theory " << ev << "), mu^2 " << m.mean << " ± "
                         << m.se << " (theory " << em << ")");
      CHECK(std::abs(v.mean - ev) < 4 * v.se);
      CHECK(std::abs(m.mean - em) < 4 * m.se);
    }
  }

  TEST_CASE("provenance: real_fraction and synthetic_age under replace and mix") {
    const auto truth = gaussian_truth(1);
    RunConfig c = gmm_config(400, 4, 1e-6);
    SUBCASE("replace") {
      const RunResult r = run_generations(c, truth, identity(0));
      CHECK(r.metrics.at("real_fraction")[0] == 1.0);
      CHECK(std::isnan(r.metrics.at("synthetic_age")[0]));
      for (std::size_t g = 1; g <= 4; ++g) {
        CHECK(r.metrics.at("real_fraction")[g] == 0.0);
        CHECK(r.metrics.at("synthetic_age")[g] == 1.0);
      }
    }
    SUBCASE("mix 25 %") {
      c.loop.anchoring = Mix{0.25, true};
      const RunResult r = run_generations(c, truth, identity(0));
      for (std::size_t g = 1; g <= 4; ++g) {
        CHECK(r.metrics.at("real_fraction")[g] == 0.25);
        CHECK(r.metrics.at("synthetic_age")[g] == 1.0);
      }
    }
  }

  TEST_CASE("mix: a fixed real set is reused, a fresh one is redrawn") {
    // With real_fraction = 1 every training set is all real: `fixed` refits the same data (the model
    // never changes), `fresh` draws new data each generation.
    const auto truth = gaussian_truth(1);
    RunConfig c = gmm_config(50, 3, 1e-6);
    c.loop.anchoring = Mix{1.0, false};
    const RunResult fixed = run_generations(c, truth, identity(0));
    for (std::size_t g = 1; g <= 3; ++g) CHECK(fixed.metrics.at("total_variance")[g] == fixed.metrics.at("total_variance")[0]);
    c.loop.anchoring = Mix{1.0, true};
    const RunResult fresh = run_generations(c, truth, identity(0));
    CHECK(fresh.metrics.at("total_variance")[1] != fresh.metrics.at("total_variance")[0]);
  }

  TEST_CASE("reproducibility: the same identity gives the same bits; another replicate differs") {
    const auto truth = unigram_truth({50, 30, 20, 10, 5, 5});
    const RunConfig c = ngram_config(2, 60, 5);
    const RunResult a = run_generations(c, truth, identity(3));
    const RunResult b = run_generations(c, truth, identity(3));
    const RunResult other = run_generations(c, truth, identity(4));
    bool any_differs = false;
    for (const auto& [name, values] : a.metrics) {
      const auto& bv = b.metrics.at(name);
      for (std::size_t g = 0; g < values.size(); ++g) {
        CHECK((std::isnan(values[g]) ? std::isnan(bv[g]) : values[g] == bv[g]));
        const double o = other.metrics.at(name)[g];
        if (!(std::isnan(values[g]) && std::isnan(o)) && values[g] != o) any_differs = true;
      }
    }
    CHECK(any_differs);
  }

  TEST_CASE("a run that cannot proceed is reported as failed, never thrown") {
    RunConfig c = gmm_config(10, 2, 1e-6);
    const auto text = unigram_truth({3, 2});
    RunResult r;
    CHECK_NOTHROW(r = run_generations(c, text, identity(0)));  // wrong truth type for the model
    CHECK(r.status == RunStatus::failed);
    CHECK(!r.error.empty());
    REQUIRE(!r.events.empty());
    CHECK(r.events.back().kind == "run_failed");
  }

  TEST_CASE("collapse is recorded, not fatal: an n-gram model keeps running when its vocabulary shrinks") {
    // A tiny corpus refit on 5 tokens per generation loses types quickly; the run must finish with
    // support_size non-increasing under replace with MLE (a type lost is never regained).
    const auto truth = unigram_truth({4, 3, 2, 1, 1, 1});
    const RunConfig c = ngram_config(1, 5, 30);
    const RunResult r = run_generations(c, truth, identity(1));
    REQUIRE(r.status == RunStatus::done);
    const auto& s = r.metrics.at("support_size");
    for (std::size_t g = 1; g < s.size(); ++g) CHECK(s[g] <= s[g - 1]);
    CHECK(s.back() >= 1);
    CHECK(r.metrics.at("missing_mass").back() >= r.metrics.at("missing_mass").front());
  }

  TEST_CASE("a stop request ends the run as partial at a generation boundary") {
    const auto truth = gaussian_truth(1);
    const RunConfig c = gmm_config(50, 5, 1e-6);
    std::atomic<bool> stop{true};
    const RunResult r = run_generations(c, truth, identity(0), &stop);
    CHECK(r.status == RunStatus::partial);
    CHECK(std::isnan(r.metrics.at("total_variance")[0]));
    REQUIRE(!r.events.empty());
    CHECK(r.events.back().kind == "interrupted");
    std::atomic<bool> go{false};
    CHECK(run_generations(c, truth, identity(0), &go).status == RunStatus::done);
  }

  // Gerstgrasser et al. 2024 (§2, Theorem 1) and Kazdan et al. 2024: for K = 1 with the covariance
  // held at the truth's, the fitted mean after g generations has exactly
  //   replace:    E‖μ_g‖² = (g+1) d σ²/n          (a random walk: each refit adds σ²/n per dimension)
  //   accumulate: E‖μ_g‖² = (d σ²/n) Σ_{j=1}^{g+1} 1/j²  (μ_g = μ_{g-1} + (ȳ_g − μ_{g-1})/(g+1))
  // and with the full MLE under replace E‖μ_g‖² = (d σ²/n)(1 + Σ_{k=1}^{g} ((n−1)/n)^k).
  // Each check: |mean − theory| < 4 SE over R replicates (two-sided false-alarm rate 6.3e-5 per check,
  // < 2e-3 over the 27 checks of this test case).
  TEST_CASE("anchoring: fitted-mean drift follows Gerstgrasser et al.'s exact formulas") {
    const int d = 2, G = 8, R = 3000;
    const double sigma2 = 2, n = 10;
    const auto truth = isotropic_truth(d, sigma2);
    RunConfig c = gmm_config(10, G, 0.0);
    auto fixed = std::get<GmmOptions>(c.model);
    fixed.fit_covariance = false;
    auto check = [&](const char* what, const std::vector<std::vector<double>>& mu2, auto theory) {
      for (int g = 0; g <= G; ++g) {
        const MeanSe m = mean_se(mu2[static_cast<std::size_t>(g)]);
        const double e = theory(g);
        INFO(what << " generation " << g << ": E|mu|^2 " << m.mean << " ± " << m.se << ", theory " << e);
        CHECK(std::abs(m.mean - e) < 4 * m.se);
      }
    };
    SUBCASE("replace, covariance held") {
      c.model = fixed;
      check("replace", mean_norm2(c, truth, R), [&](int g) { return (g + 1) * d * sigma2 / n; });
    }
    SUBCASE("accumulate, covariance held") {
      c.model = fixed;
      c.loop.anchoring = Accumulate{};
      check("accumulate", mean_norm2(c, truth, R), [&](int g) {
        double s = 0;
        for (int j = 1; j <= g + 1; ++j) s += 1.0 / (j * j);
        return d * sigma2 / n * s;
      });
    }
    SUBCASE("replace, full MLE") {
      check("replace MLE", mean_norm2(c, truth, R), [&](int g) {
        double s = 1;
        for (int k = 1; k <= g; ++k) s += std::pow((n - 1) / n, k);
        return d * sigma2 / n * s;
      });
    }
  }

  TEST_CASE("anchoring: accumulate_subsample drifts more than accumulate and less than replace") {
    // Kazdan et al. 2024: subsampling a fixed training size from the growing pool sits between the two.
    // At generation 12: replace 13·dσ²/n = 2.6, accumulate 0.31 (d = 2, σ² = 1, n = 10); the checks
    // keep 4 SE of both means away (false-alarm rate < 1e-4).
    const auto truth = isotropic_truth(2, 1.0);
    RunConfig c = gmm_config(10, 12, 0.0);
    auto o = std::get<GmmOptions>(c.model);
    o.fit_covariance = false;
    c.model = o;
    auto last = [&](const Anchoring& a) {
      c.loop.anchoring = a;
      return mean_se(mean_norm2(c, truth, 1500).back());
    };
    const MeanSe rep = last(Replace{}), acc = last(Accumulate{}), sub = last(AccumulateSubsample{10});
    INFO("replace " << rep.mean << " ± " << rep.se << ", subsample " << sub.mean << " ± " << sub.se << ", accumulate "
                    << acc.mean << " ± " << acc.se);
    CHECK(sub.mean - 4 * sub.se > acc.mean + 4 * acc.se);
    CHECK(sub.mean + 4 * sub.se < rep.mean - 4 * rep.se);
  }

  TEST_CASE("anchoring: training-set sizes, real share and synthetic age of every mode") {
    const auto truth = gaussian_truth(1);
    RunConfig c = gmm_config(100, 4, 1e-6);
    auto metric = [](const RunResult& r, const char* name, std::size_t g) { return r.metrics.at(name)[g]; };
    SUBCASE("accumulate: everything so far") {
      c.loop.anchoring = Accumulate{};
      const RunResult r = run_generations(c, truth, identity(0));
      for (std::size_t g = 0; g <= 4; ++g) {
        CHECK(metric(r, "training_size", g) == 100.0 * static_cast<double>(g + 1));
        CHECK(metric(r, "real_fraction", g) == doctest::Approx(1.0 / static_cast<double>(g + 1)));
        // synthetic data of generations 0..g-1, n each: mean age (1 + … + g)/g = (g + 1)/2
        if (g > 0) CHECK(metric(r, "synthetic_age", g) == doctest::Approx((static_cast<double>(g) + 1) / 2));
      }
    }
    SUBCASE("accumulate_subsample: fixed size drawn from the pool") {
      c.loop.anchoring = AccumulateSubsample{60};
      const RunResult r = run_generations(c, truth, identity(0));
      for (std::size_t g = 0; g <= 4; ++g) CHECK(metric(r, "training_size", g) == 60.0);
      CHECK(metric(r, "real_fraction", 0) == 1.0);
      CHECK(metric(r, "real_fraction", 4) < 1.0);
    }
    SUBCASE("augment: the real set plus ratio × n synthetic") {
      c.loop.anchoring = Augment{0.5};
      const RunResult r = run_generations(c, truth, identity(0));
      for (std::size_t g = 1; g <= 4; ++g) {
        CHECK(metric(r, "training_size", g) == 150.0);
        CHECK(metric(r, "real_fraction", g) == doctest::Approx(100.0 / 150.0));
        CHECK(metric(r, "synthetic_age", g) == 1.0);
      }
    }
    SUBCASE("a sample-size schedule") {
      c.loop.schedule = {100, 80, 60, 40, 20};
      c.loop.anchoring = Mix{0.5, false};
      const RunResult r = run_generations(c, truth, identity(0));
      for (std::size_t g = 0; g <= 4; ++g) CHECK(metric(r, "training_size", g) == static_cast<double>(c.loop.schedule[g]));
      CHECK(metric(r, "real_fraction", 3) == 0.5);
    }
    SUBCASE("text: accumulate counts tokens") {
      const auto text = unigram_truth({50, 30, 20, 10, 5, 5});
      RunConfig t = ngram_config(1, 40, 3);
      t.loop.anchoring = Accumulate{};
      const RunResult r = run_generations(t, text, identity(0));
      for (std::size_t g = 0; g <= 3; ++g) CHECK(metric(r, "training_size", g) == 40.0 * static_cast<double>(g + 1));
    }
  }

  TEST_CASE("n-gram trajectories: tail mass on the rank grid, the unigram head, the rank-frequency curve") {
    const auto truth = unigram_truth({50, 30, 20, 10, 5, 5});
    RunConfig c = ngram_config(1, 60, 3);
    c.metrics.tail_rank = 3;  // r_5 = round(10^0.5) = 3 on the grid
    const RunResult r = run_generations(c, truth, identity(2));
    REQUIRE(r.status == RunStatus::done);
    const auto& tail = r.trajectories.at("tail_mass_by_rank");
    const auto& head = r.trajectories.at("unigram_head");
    const auto& freq = r.trajectories.at("rank_frequency");
    REQUIRE(tail.shape == std::vector<std::uint64_t>{71});
    REQUIRE(head.shape == std::vector<std::uint64_t>{64});
    for (std::size_t g = 0; g <= 3; ++g) {
      const double* t = tail.values.data() + g * 71;
      const double* h = head.values.data() + g * 64;
      CHECK(t[5] == doctest::Approx(r.metrics.at("tail_mass")[g]).epsilon(1e-12));
      CHECK(t[0] == doctest::Approx(1 - h[0]).epsilon(1e-12));  // r_0 = 1: everything but type 0
      CHECK(t[20] == 0.0);                                      // r_20 = 100 > V = 6
      double sum = 0;
      for (int i = 0; i < 6; ++i) sum += h[i];
      CHECK(sum == doctest::Approx(1.0));
      CHECK(std::isnan(h[6]));  // beyond V
      CHECK(freq.values[g * 71] >= freq.values[g * 71 + 9]);  // non-increasing in rank
    }
  }

  TEST_CASE("metrics.skip leaves the named metrics NaN and computes the rest") {
    const auto truth = gaussian_truth(1);
    RunConfig c = gmm_config(50, 2, 1e-6);
    c.metrics.skip = {"wasserstein2", "heldout_log_likelihood"};
    const RunResult r = run_generations(c, truth, identity(0));
    REQUIRE(r.status == RunStatus::done);
    for (std::size_t g = 0; g <= 2; ++g) {
      CHECK(std::isnan(r.metrics.at("wasserstein2")[g]));
      CHECK(std::isnan(r.metrics.at("heldout_log_likelihood")[g]));
      CHECK(std::isfinite(r.metrics.at("l2_distance")[g]));
      CHECK(std::isfinite(r.metrics.at("total_variance")[g]));
    }
  }

  TEST_CASE("single Gaussian refit with the unbiased estimator: E[sigma_g] = c^(g+1) sigma") {
    // Shumailov et al. §4 / Suresh et al. 2025: with σ̂² = Σ(x − x̄)²/(n − 1), σ̂_g = σ̂_{g−1} χ_{n−1}/√(n−1)
    // independently each generation, so E[σ_g] = c^(g+1) σ with c = E[χ_{n−1}]/√(n−1) =
    // √(2/(n−1)) Γ(n/2)/Γ((n−1)/2); while E[σ²_g] = σ² stays constant. 4 SE over R replicates (two-sided
    // false-alarm rate 6.3e-5 per check, < 2e-3 over the 18 checks).
    const double sigma2 = 4, n = 10;
    const auto truth = gaussian_truth(sigma2);
    RunConfig c = gmm_config(10, 8, 0.0);
    auto o = std::get<GmmOptions>(c.model);
    o.unbiased_covariance = true;
    c.model = o;
    const double cn = std::sqrt(2 / (n - 1)) * std::exp(std::lgamma(n / 2) - std::lgamma((n - 1) / 2));
    const int R = 4000;
    std::vector<std::vector<double>> sd(9), var(9);
    for (int r = 0; r < R; ++r) {
      const RunResult res = run_generations(c, truth, identity(static_cast<std::uint64_t>(r)));
      REQUIRE(res.status == RunStatus::done);
      for (std::size_t g = 0; g <= 8; ++g) {
        var[g].push_back(res.metrics.at("total_variance")[g]);
        sd[g].push_back(std::sqrt(res.metrics.at("total_variance")[g]));
      }
    }
    for (int g = 0; g <= 8; ++g) {
      const MeanSe s = mean_se(sd[static_cast<std::size_t>(g)]), v = mean_se(var[static_cast<std::size_t>(g)]);
      const double es = std::pow(cn, g + 1) * std::sqrt(sigma2);
      INFO("generation " << g << ": E sigma " << s.mean << " ± " << s.se << " (theory " << es << "), E sigma2 " << v.mean
                         << " ± " << v.se << " (theory " << sigma2 << ")");
      CHECK(std::abs(s.mean - es) < 4 * s.se);
      CHECK(std::abs(v.mean - sigma2) < 4 * v.se);
    }
  }
}
