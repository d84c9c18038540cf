// Tests of src/metrics/gmm_metrics.hpp against formulas worked out by hand in the tests and against
// reference values computed offline (mpmath at 30 digits, numpy, scipy), hard-coded with their derivation.

#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <numbers>
#include <stdexcept>
#include <utility>
#include <vector>

#include <Eigen/Core>
#include <boost/random/normal_distribution.hpp>

#include "core/rng.hpp"
#include "metrics/gmm_metrics.hpp"
#include "test_support.hpp"

using namespace collapse;
using namespace collapse::metrics;

namespace {

Eigen::MatrixXd mat1(double v) { return Eigen::MatrixXd::Constant(1, 1, v); }

/// Standard normal CDF Φ(z) = ½ erfc(−z/√2).
double Phi(double z) { return 0.5 * std::erfc(-z / std::numbers::sqrt2); }

/// Two-sided 5% point of N(0, 1): Φ(−z) = 0.025.
constexpr double kZ975 = 1.959963984540054;

GaussianMixture standard_normal_1d() {
  return GaussianMixture::from_parameters(Eigen::VectorXd::Ones(1), Eigen::MatrixXd::Zero(1, 1), {mat1(1.0)});
}

/// A 1-D mixture from weights, means and variances.
GaussianMixture mixture_1d(const std::vector<double>& w, const std::vector<double>& mu, const std::vector<double>& var) {
  Eigen::VectorXd W(static_cast<Eigen::Index>(w.size()));
  Eigen::MatrixXd M(static_cast<Eigen::Index>(mu.size()), 1);
  std::vector<Eigen::MatrixXd> C;
  for (std::size_t k = 0; k < w.size(); ++k) {
    W[static_cast<Eigen::Index>(k)] = w[k];
    M(static_cast<Eigen::Index>(k), 0) = mu[k];
    C.push_back(mat1(var[k]));
  }
  return GaussianMixture::from_parameters(W, M, C);
}

/// A one-component model N(mean, cov) in any dimension.
GaussianMixture gaussian(const Eigen::VectorXd& mean, const Eigen::MatrixXd& cov) {
  return GaussianMixture::from_parameters(Eigen::VectorXd::Ones(1), mean.transpose(), {cov});
}

Eigen::MatrixXd mat2(double a, double b, double c, double d) { return (Eigen::MatrixXd(2, 2) << a, b, c, d).finished(); }
Eigen::VectorXd vec2(double a, double b) { return (Eigen::VectorXd(2) << a, b).finished(); }

// The mixtures of the offline references (second arguments are variances). The reference values were
// computed with /usr/bin/python3 (mpmath 1.2 at 30 digits, numpy 1.24, scipy 1.10); each test states
// how.
//   P  = 0.3 N(−1, 0.5) + 0.7 N(2, 2)           Q  = 0.5 N(0, 1) + 0.5 N(1.5, 1)
//   Q2 = 0.6 N(−2, 1) + 0.4 N(3, 0.25)
//   P3 = 0.5 N(−6, 1) + 0.5 N(6, 1)             Q3 = N(0.5, 4)
//   Q4 = 0.3 N(−5, 0.5) + 0.7 N(5, 2)
GaussianMixture ref_P() { return mixture_1d({0.3, 0.7}, {-1, 2}, {0.5, 2}); }
GaussianMixture ref_Q() { return mixture_1d({0.5, 0.5}, {0, 1.5}, {1, 1}); }
GaussianMixture ref_Q2() { return mixture_1d({0.6, 0.4}, {-2, 3}, {1, 0.25}); }
GaussianMixture ref_P3() { return mixture_1d({0.5, 0.5}, {-6, 6}, {1, 1}); }
GaussianMixture ref_Q3() { return mixture_1d({1.0}, {0.5}, {4}); }
GaussianMixture ref_Q4() { return mixture_1d({0.3, 0.7}, {-5, 5}, {0.5, 2}); }

/// 2-D mixtures of the numpy/scipy references:
///   p = 0.4 N((0, 0), [[1, .3], [.3, .5]]) + 0.6 N((2, 1), [[.8, −.2], [−.2, 1.2]])
///   q = 0.5 N((.5, 0), I) + 0.5 N((1.5, 1.5), [[.6, .1], [.1, .9]])
GaussianMixture ref_p2d() {
  return GaussianMixture::from_parameters(vec2(0.4, 0.6), mat2(0, 0, 2, 1),
                                          {mat2(1, 0.3, 0.3, 0.5), mat2(0.8, -0.2, -0.2, 1.2)});
}
GaussianMixture ref_q2d() {
  return GaussianMixture::from_parameters(vec2(0.5, 0.5), mat2(0.5, 0, 1.5, 1.5),
                                          {Eigen::MatrixXd::Identity(2, 2), mat2(0.6, 0.1, 0.1, 0.9)});
}

/// 1-D KL(N(m1, v1) ‖ N(m2, v2)) = ln(σ2/σ1) + (v1 + (m1 − m2)²)/(2 v2) − ½.
double kl_1d(double m1, double v1, double m2, double v2) {
  return 0.5 * std::log(v2 / v1) + (v1 + (m1 - m2) * (m1 - m2)) / (2 * v2) - 0.5;
}

/// n × d matrix of shift + scale · N(0, 1) draws (Boost), row-major order of draws.
Eigen::MatrixXd normal_matrix(Eigen::Index n, Eigen::Index d, Rng& rng, double scale = 1.0, double shift = 0.0) {
  boost::random::normal_distribution<double> normal(0.0, 1.0);
  Eigen::MatrixXd X(n, d);
  for (Eigen::Index i = 0; i < n; ++i)
    for (Eigen::Index j = 0; j < d; ++j) X(i, j) = shift + scale * normal(rng);
  return X;
}

/// Nearest-row distances by the direct formula ‖a − b‖, O(m N d).
Eigen::VectorXd brute_force_dcr(const Eigen::MatrixXd& gen, const Eigen::MatrixXd& real) {
  Eigen::VectorXd out(gen.rows());
  for (Eigen::Index i = 0; i < gen.rows(); ++i) {
    double best = std::numeric_limits<double>::infinity();
    for (Eigen::Index j = 0; j < real.rows(); ++j) best = std::min(best, (gen.row(i) - real.row(j)).norm());
    out[i] = best;
  }
  return out;
}

}  // namespace

TEST_SUITE("metrics/gmm_metrics") {

TEST_CASE("total_variance: 1-D two-component mixture equals the law of total variance") {
  // w = (0.3, 0.7), μ = (−1, 2), σ² = (0.5, 2).
  const Eigen::VectorXd w = (Eigen::VectorXd(2) << 0.3, 0.7).finished();
  const Eigen::MatrixXd mu = (Eigen::MatrixXd(2, 1) << -1.0, 2.0).finished();
  const auto model = GaussianMixture::from_parameters(w, mu, {mat1(0.5), mat1(2.0)});
  // Var = E[Var | k] + Var[E | k] = (0.3·0.5 + 0.7·2) + (0.3·(−1 − 1.1)² + 0.7·(2 − 1.1)²), mean 1.1.
  const double m = 0.3 * -1.0 + 0.7 * 2.0;
  const double within = 0.3 * 0.5 + 0.7 * 2.0;
  const double between = 0.3 * (-1.0 - m) * (-1.0 - m) + 0.7 * (2.0 - m) * (2.0 - m);
  CHECK(within + between == doctest::Approx(3.44).epsilon(1e-14));
  CHECK(total_variance(model) == doctest::Approx(within + between).epsilon(1e-12));
}

TEST_CASE("total_variance: 2-D two-component mixture is the trace of the mixture covariance") {
  // w = (0.25, 0.75), μ1 = (0, 1), μ2 = (2, −1), full covariances with off-diagonal terms (which must
  // not contribute to the trace).
  const Eigen::VectorXd w = (Eigen::VectorXd(2) << 0.25, 0.75).finished();
  const Eigen::MatrixXd mu = (Eigen::MatrixXd(2, 2) << 0.0, 1.0, 2.0, -1.0).finished();
  const Eigen::MatrixXd S1 = (Eigen::MatrixXd(2, 2) << 1.0, 0.5, 0.5, 2.0).finished();
  const Eigen::MatrixXd S2 = (Eigen::MatrixXd(2, 2) << 3.0, -1.0, -1.0, 1.0).finished();
  const auto model = GaussianMixture::from_parameters(w, mu, {S1, S2});
  // Within: 0.25·tr S1 + 0.75·tr S2 = 0.25·3 + 0.75·4 = 3.75.
  // Mean (1.5, −0.5); between: 0.25·|(−1.5, 1.5)|² + 0.75·|(0.5, −0.5)|² = 1.125 + 0.375 = 1.5.
  CHECK(total_variance(model) == doctest::Approx(3.75 + 1.5).epsilon(1e-12));
}

TEST_CASE("total_variance: one component gives the trace of its covariance") {
  const Eigen::MatrixXd S = (Eigen::MatrixXd(3, 3) << 2, 0.3, 0, 0.3, 5, 0.1, 0, 0.1, 0.5).finished();
  const auto model = GaussianMixture::from_parameters(Eigen::VectorXd::Ones(1),
                                                      (Eigen::MatrixXd(1, 3) << 10, -20, 30).finished(), {S});
  CHECK(total_variance(model) == doctest::Approx(7.5).epsilon(1e-12));  // means do not matter
}

TEST_CASE("tail_mass_per_dim: N(0, 1) outside ±1.959963984540054 is 0.05") {
  const auto model = standard_normal_1d();
  const Eigen::VectorXd lo = Eigen::VectorXd::Constant(1, -kZ975), hi = Eigen::VectorXd::Constant(1, kZ975);
  const Eigen::VectorXd t = tail_mass_per_dim(model, lo, hi);
  REQUIRE(t.size() == 1);
  CHECK(std::abs(t[0] - 0.05) < 1e-9);
}

TEST_CASE("tail_mass_per_dim: per-dimension marginals of a 2-D mixture") {
  // Dimension 0: components N(−3, 1) and N(3, 1), equal weights, interval [−3, 3]:
  //   mass outside = ½[Φ(0) + 1 − Φ(6)] + ½[Φ(−6) + 1 − Φ(0)] = ½ + Φ(−6).
  // Dimension 1: both components N(0, 4) (σ = 2), interval ±2·1.96: mass outside 0.05.
  const Eigen::VectorXd w = (Eigen::VectorXd(2) << 0.5, 0.5).finished();
  const Eigen::MatrixXd mu = (Eigen::MatrixXd(2, 2) << -3.0, 0.0, 3.0, 0.0).finished();
  const Eigen::MatrixXd S = (Eigen::MatrixXd(2, 2) << 1.0, 0.3, 0.3, 4.0).finished();
  const auto model = GaussianMixture::from_parameters(w, mu, {S, S});
  const Eigen::VectorXd lo = (Eigen::VectorXd(2) << -3.0, -2 * kZ975).finished();
  const Eigen::VectorXd hi = (Eigen::VectorXd(2) << 3.0, 2 * kZ975).finished();
  const Eigen::VectorXd t = tail_mass_per_dim(model, lo, hi);
  REQUIRE(t.size() == 2);
  CHECK(std::abs(t[0] - (0.5 + Phi(-6.0))) < 1e-12);
  CHECK(std::abs(t[1] - 0.05) < 1e-9);
}

TEST_CASE("tail_mass_per_dim: an asymmetric interval counts each side separately") {
  const auto model = standard_normal_1d();
  // [−1, 2]: Φ(−1) + 1 − Φ(2) = Φ(−1) + Φ(−2).
  const Eigen::VectorXd t =
      tail_mass_per_dim(model, Eigen::VectorXd::Constant(1, -1.0), Eigen::VectorXd::Constant(1, 2.0));
  CHECK(std::abs(t[0] - (Phi(-1.0) + Phi(-2.0))) < 1e-12);
}

TEST_CASE("mean_log_likelihood: equals the hand-computed mixture log-density on fixed points") {
  const Eigen::VectorXd w = (Eigen::VectorXd(2) << 0.3, 0.7).finished();
  const Eigen::MatrixXd mu = (Eigen::MatrixXd(2, 1) << -1.0, 2.0).finished();
  const auto model = GaussianMixture::from_parameters(w, mu, {mat1(0.5), mat1(2.0)});
  auto density = [](double x, double m, double var) {
    return std::exp(-0.5 * (x - m) * (x - m) / var) / std::sqrt(2 * std::numbers::pi * var);
  };
  const std::vector<double> xs = {-3.0, -1.0, 0.0, 0.5, 2.0, 7.0};
  double expected = 0;
  Eigen::MatrixXd data(static_cast<Eigen::Index>(xs.size()), 1);
  for (std::size_t i = 0; i < xs.size(); ++i) {
    data(static_cast<Eigen::Index>(i), 0) = xs[i];
    expected += std::log(0.3 * density(xs[i], -1.0, 0.5) + 0.7 * density(xs[i], 2.0, 2.0));
  }
  expected /= static_cast<double>(xs.size());
  CHECK(mean_log_likelihood(model, data) == doctest::Approx(expected).epsilon(1e-12));
}

TEST_CASE("mean_log_likelihood: a big N(0, 1) sample scores −½(1 + ln 2π) within 5 standard errors") {
  // ℓ(x) = −½ ln 2π − x²/2 has mean −½(1 + ln 2π) and variance Var(x²)/4 = ½ under N(0, 1), so the
  // sample mean of n values has SE √(½/n). A 5-SE miss has probability ≈ 5.7e-7 (the false-alarm rate).
  constexpr std::size_t n = 200000;
  Rng rng = stream_rng(11, 0, Stream::metric);
  boost::random::normal_distribution<double> normal(0.0, 1.0);
  Eigen::MatrixXd data(static_cast<Eigen::Index>(n), 1);
  for (Eigen::Index i = 0; i < data.rows(); ++i) data(i, 0) = normal(rng);
  const double expected = -0.5 * (1.0 + std::log(2 * std::numbers::pi));
  const double se = std::sqrt(0.5 / static_cast<double>(n));
  const double got = mean_log_likelihood(standard_normal_1d(), data);
  INFO("mean log-likelihood = " << got << ", expected " << expected << ", SE " << se);
  CHECK(std::abs(got - expected) < 5 * se);
}

TEST_CASE("canonical_component_order: ascending by the first mean coordinate, ties by weight") {
  // First coordinates (3, −1, 0.5, −1); the second coordinates would give a different order.
  const Eigen::VectorXd w = (Eigen::VectorXd(4) << 0.1, 0.4, 0.3, 0.2).finished();
  const Eigen::MatrixXd mu = (Eigen::MatrixXd(4, 2) << 3.0, -9.0, -1.0, 5.0, 0.5, 0.0, -1.0, 1.0).finished();
  const std::vector<Eigen::MatrixXd> covs(4, Eigen::MatrixXd::Identity(2, 2));
  const auto model = GaussianMixture::from_parameters(w, mu, covs);
  // −1 twice: component 3 (w 0.2) before component 1 (w 0.4); then 0.5 (component 2), then 3 (component 0).
  CHECK(canonical_component_order(model) == std::vector<int>{3, 1, 2, 0});
}

TEST_CASE("canonical_component_order: already sorted components keep their labels") {
  const Eigen::VectorXd w = (Eigen::VectorXd(3) << 0.2, 0.3, 0.5).finished();
  const Eigen::MatrixXd mu = (Eigen::MatrixXd(3, 1) << -2.0, 0.0, 2.0).finished();
  const auto model = GaussianMixture::from_parameters(w, mu, {mat1(1), mat1(1), mat1(1)});
  CHECK(canonical_component_order(model) == std::vector<int>{0, 1, 2});
}

// ---------------------------------------------------------------------------------------------------
// KL divergence
// ---------------------------------------------------------------------------------------------------

TEST_CASE("kl_divergence: 1-D Gaussians in both directions equal the closed form worked by hand") {
  // p = N(1, 4), q = N(−0.5, 0.25):
  //   KL(p‖q) = ln(0.5/2) + (4 + 1.5²)/(2·0.25) − ½ = −ln 4 + 12.5 − 0.5 = 12 − ln 4
  //   KL(q‖p) = ln(2/0.5) + (0.25 + 1.5²)/(2·4) − ½ = ln 4 + 0.3125 − 0.5 = ln 4 − 0.1875
  const auto p = mixture_1d({1.0}, {1.0}, {4.0}), q = mixture_1d({1.0}, {-0.5}, {0.25});
  Rng rng = stream_rng(1, 0, Stream::metric);
  CHECK(kl_is_exact(p, q));
  CHECK(kl_divergence(p, q, 0, rng) == doctest::Approx(12.0 - std::log(4.0)).epsilon(1e-14));
  CHECK(kl_divergence(q, p, 0, rng) == doctest::Approx(std::log(4.0) - 0.1875).epsilon(1e-14));
  const KlEstimate e = kl_divergence_estimate(p, q, 1000, rng);
  CHECK(e.exact);
  CHECK(e.standard_error == 0.0);
  CHECK(e.samples == 0);
}

TEST_CASE("kl_divergence: 2-D Gaussians match a 30-digit mpmath reference in both directions") {
  // μp = (1, −2), Σp = [[2, .6], [.6, 1]]; μq = (−.5, .5), Σq = [[.5, −.2], [−.2, 1.5]].
  // mpmath (dps 30): ½[tr(Σq⁻¹Σp) + (μq−μp)ᵀΣq⁻¹(μq−μp) − 2 + ln det Σq − ln det Σp] with
  // mp.inverse and mp.det: KL(p‖q) = 4.7363363020733472034, KL(q‖p) = 6.4277396168548559828.
  const auto p = gaussian(vec2(1, -2), mat2(2, 0.6, 0.6, 1)), q = gaussian(vec2(-0.5, 0.5), mat2(0.5, -0.2, -0.2, 1.5));
  Rng rng = stream_rng(1, 0, Stream::metric);
  CHECK(kl_divergence(p, q, 0, rng) == doctest::Approx(4.7363363020733472034).epsilon(1e-13));
  CHECK(kl_divergence(q, p, 0, rng) == doctest::Approx(6.4277396168548559828).epsilon(1e-13));
}

TEST_CASE("kl_divergence: exactly 0 for identical parameters and ≥ 0 on a grid of Gaussian pairs") {
  Rng rng = stream_rng(2, 0, Stream::metric);
  const auto p = gaussian(vec2(1, -2), mat2(2, 0.6, 0.6, 1));
  const auto p_copy = gaussian(vec2(1, -2), mat2(2, 0.6, 0.6, 1));
  CHECK(kl_divergence(p, p_copy, 0, rng) == 0.0);
  int checked = 0;
  for (double m : {-1.0, 0.0, 0.3})
    for (double v1 : {0.1, 1.0, 7.0})
      for (double v2 : {0.1, 1.0, 7.0}) {
        const auto a = mixture_1d({1.0}, {m}, {v1}), b = mixture_1d({1.0}, {0.0}, {v2});
        const double kl = kl_divergence(a, b, 0, rng);
        CHECK(kl >= 0.0);
        CHECK(kl == doctest::Approx(kl_1d(m, v1, 0.0, v2)).epsilon(1e-13).scale(1e-15));
        ++checked;
      }
  CHECK(checked == 27);
}

TEST_CASE("kl_divergence: Monte Carlo estimate for 1-D mixtures is within 4 SE of an mpmath reference") {
  // Reference: ∫ p (ln p − ln q) dx by mpmath.quad (tanh-sinh, dps 30) over (−∞, −1, 0, 1.5, 2, ∞):
  //   KL(P‖Q) = 0.32210739462179582797, KL(Q‖P) = 0.22175192675354675007.
  // The estimate is a mean of n iid terms, so (estimate − KL)/SE ~ N(0, 1) for large n: a miss of
  // 4 SE has probability 2Φ(−4) ≈ 6.3e-5 (the false-alarm rate; the seed is fixed, so it either passes
  // always or never).
  const auto P = ref_P(), Q = ref_Q();
  constexpr std::size_t n = 100000;
  struct Case {
    const GaussianMixture* a;
    const GaussianMixture* b;
    double reference;
  };
  for (const Case& c : {Case{&P, &Q, 0.32210739462179582797}, Case{&Q, &P, 0.22175192675354675007}}) {
    Rng rng = stream_rng(3, 0, Stream::metric);
    CHECK_FALSE(kl_is_exact(*c.a, *c.b));
    const KlEstimate e = kl_divergence_estimate(*c.a, *c.b, n, rng);
    INFO("estimate " << e.value << " ± " << e.standard_error << ", reference " << c.reference);
    CHECK_FALSE(e.exact);
    CHECK(e.samples == n);
    CHECK(e.standard_error > 0.0);
    CHECK(e.standard_error < 0.01);  // the SE of 1e5 draws must be small, or the test says nothing
    CHECK(std::abs(e.value - c.reference) < 4 * e.standard_error);
  }
}

TEST_CASE("kl_divergence: Monte Carlo path is reproducible and consumes the rng; the exact path does not") {
  const auto P = ref_P(), Q = ref_Q();
  Rng r1 = stream_rng(4, 0, Stream::metric), r2 = stream_rng(4, 0, Stream::metric);
  const double a = kl_divergence(P, Q, 500, r1), b = kl_divergence(P, Q, 500, r2);
  CHECK(a == b);
  CHECK(r1 == r2);
  CHECK(r1 != stream_rng(4, 0, Stream::metric));  // draws were taken
  CHECK(kl_divergence(P, Q, 500, r1) != a);        // next draws, next estimate
  Rng r3 = stream_rng(4, 0, Stream::metric);
  kl_divergence(ref_Q3(), mixture_1d({1.0}, {0.0}, {1.0}), 500, r3);
  CHECK(r3 == stream_rng(4, 0, Stream::metric));
}

TEST_CASE("kl_divergence: mc_samples = 0 with a mixture gives NaN; bad inputs throw") {
  Rng rng = stream_rng(5, 0, Stream::metric);
  const KlEstimate e = kl_divergence_estimate(ref_P(), ref_Q(), 0, rng);
  CHECK(std::isnan(e.value));
  CHECK_FALSE(e.exact);
  // One component on one side only is still Monte Carlo.
  CHECK(std::isnan(kl_divergence(ref_Q3(), ref_P(), 0, rng)));
  const std::string msg = testing::invalid_argument_message([&] { kl_divergence(ref_P(), ref_p2d(), 10, rng); });
  CHECK(testing::contains(msg, "kl_divergence: p has dimension 1 and q has 2"));
  const GaussianMixture unfitted;
  CHECK(testing::contains(testing::invalid_argument_message([&] { kl_divergence(unfitted, ref_P(), 10, rng); }),
                          "p has no parameters"));
}

// ---------------------------------------------------------------------------------------------------
// Wasserstein-2
// ---------------------------------------------------------------------------------------------------

TEST_CASE("wasserstein2: 1-D Gaussians with equal variances are |μ1 − μ2| apart; unequal add |σ1 − σ2|") {
  CHECK(wasserstein2(mixture_1d({1.0}, {1.5}, {3.0}), mixture_1d({1.0}, {-2.0}, {3.0})) ==
        doctest::Approx(3.5).epsilon(1e-15));
  // W2² = (μ1 − μ2)² + (σ1 − σ2)² = 1 + (3 − 1)² = 5.
  CHECK(wasserstein2(mixture_1d({1.0}, {0.0}, {9.0}), mixture_1d({1.0}, {1.0}, {1.0})) ==
        doctest::Approx(std::sqrt(5.0)).epsilon(1e-15));
}

TEST_CASE("wasserstein2: 2-D Gaussians match a 30-digit mpmath reference and are symmetric") {
  // μp = (1, −2), Σp = [[2, .6], [.6, 1]]; μq = (−.5, .5), Σq = [[.5, −.2], [−.2, 1.5]].
  // mpmath (dps 30): W2² = ‖μp − μq‖² + tr Σp + tr Σq − 2 tr sqrtm(sqrtm(Σq) Σp sqrtm(Σq)) (mp.sqrtm);
  // W2 = 3.0489542630295155168 (the same with p and q swapped).
  const auto p = gaussian(vec2(1, -2), mat2(2, 0.6, 0.6, 1)), q = gaussian(vec2(-0.5, 0.5), mat2(0.5, -0.2, -0.2, 1.5));
  CHECK(wasserstein2(p, q) == doctest::Approx(3.0489542630295155168).epsilon(1e-13));
  CHECK(wasserstein2(q, p) == doctest::Approx(3.0489542630295155168).epsilon(1e-13));
  // Commuting covariances (both diagonal): W2² = ‖Δμ‖² + Σ_j (σpj − σqj)² = 0 + (2 − 1)² + (3 − 0.5)² = 7.25.
  const auto a = gaussian(vec2(0, 0), mat2(4, 0, 0, 9)), b = gaussian(vec2(0, 0), mat2(1, 0, 0, 0.25));
  CHECK(wasserstein2(a, b) == doctest::Approx(std::sqrt(7.25)).epsilon(1e-13));
  CHECK(wasserstein2(p, p) < 1e-7);
}

TEST_CASE("marginal_wasserstein2: one component through the quadrature path equals the closed form") {
  // With K = 1 on both sides wasserstein2 uses the closed form √((μp − μq)² + (σp − σq)²), while
  // marginal_wasserstein2 always integrates the quantile functions: the two must agree.
  struct Case {
    double mp, vp, mq, vq;
  };
  for (const Case& c : {Case{0, 1, 0, 1}, Case{0, 1, 3, 1}, Case{-1, 0.01, 2, 25}, Case{100, 4, 100.5, 4.4},
                        Case{0, 1e-4, 0, 1e4}}) {
    const auto p = mixture_1d({1.0}, {c.mp}, {c.vp}), q = mixture_1d({1.0}, {c.mq}, {c.vq});
    const double closed = std::hypot(c.mp - c.mq, std::sqrt(c.vp) - std::sqrt(c.vq));
    INFO("p = N(" << c.mp << ", " << c.vp << "), q = N(" << c.mq << ", " << c.vq << ")");
    CHECK(wasserstein2(p, q) == doctest::Approx(closed).epsilon(1e-14));
    CHECK(marginal_wasserstein2(p, q, 0) == doctest::Approx(closed).epsilon(1e-9).scale(1e-12));
  }
}

TEST_CASE("wasserstein2: 1-D mixtures match 30-digit mpmath references to 1e-9 relative") {
  // Reference: W2² = ∫₀¹ (F⁻¹(u) − G⁻¹(u))² du by mpmath.quad (tanh-sinh, dps 30, maxdegree 10) with
  // breakpoints at the cumulative weights and at F(x*) for each density minimum x* between modes;
  // quantiles by safeguarded Newton on the log-tails to 1e-27; reported quadrature error ≤ 1e-19.
  //   W2(P, Q2) = 1.4735778814368056149   (overlapping components)
  //   W2(P3, Q3) = 4.4473943029868097263  (two separated modes vs one Gaussian: quantile jumps at u = ½)
  //   W2(P3, Q4) = 3.8577801512313367539  (both bimodal, jumps at u = ½ and u ≈ 0.30000079)
  struct Case {
    GaussianMixture p, q;
    double reference;
  };
  for (const Case& c : {Case{ref_P(), ref_Q2(), 1.4735778814368056149}, Case{ref_P3(), ref_Q3(), 4.4473943029868097263},
                        Case{ref_P3(), ref_Q4(), 3.8577801512313367539}}) {
    const double w = wasserstein2(c.p, c.q), w_rev = wasserstein2(c.q, c.p);
    INFO("W2 = " << w << " (reversed " << w_rev << "), reference " << c.reference);
    CHECK(std::abs(w / c.reference - 1) < 1e-9);
    CHECK(std::abs(w_rev / c.reference - 1) < 1e-9);
    CHECK(marginal_wasserstein2(c.p, c.q, 0) == w);
  }
}

TEST_CASE("wasserstein2: zero for identical mixtures, NaN for d > 1 with K > 1, per-dimension marginals") {
  CHECK(wasserstein2(ref_P(), ref_P()) == 0.0);
  CHECK(std::isnan(wasserstein2(ref_p2d(), ref_q2d())));
  CHECK(std::isnan(wasserstein2(ref_p2d(), gaussian(vec2(0, 0), Eigen::MatrixXd::Identity(2, 2)))));
  // Marginal 1 of ref_p2d: 0.4 N(0, .5) + 0.6 N(1, 1.2); of a product Gaussian with the same marginal
  // distribution in dimension 1 but another in dimension 0, the marginal distance is 0 resp. > 0.
  const auto p = ref_p2d();
  const auto same_dim1 = GaussianMixture::from_parameters(vec2(0.4, 0.6), mat2(5, 0, -5, 1),
                                                          {mat2(3, 0, 0, 0.5), mat2(2, 0.1, 0.1, 1.2)});
  CHECK(marginal_wasserstein2(p, same_dim1, 1) == 0.0);
  CHECK(marginal_wasserstein2(p, same_dim1, 0) > 1.0);
  CHECK(testing::contains(testing::invalid_argument_message([&] { marginal_wasserstein2(p, same_dim1, 2); }),
                          "dimension j = 2, but must be in [0, 1]"));
  CHECK(testing::contains(testing::invalid_argument_message([&] { wasserstein2(ref_P(), p); }),
                          "wasserstein2: p has dimension 1 and q has 2"));
}

TEST_CASE("gelbrich_w2: equals W2 for Gaussians, bounds W2 from below for mixtures, matches mpmath in 2-D") {
  const auto g1 = gaussian(vec2(1, -2), mat2(2, 0.6, 0.6, 1)), g2 = gaussian(vec2(-0.5, 0.5), mat2(0.5, -0.2, -0.2, 1.5));
  CHECK(gelbrich_w2(g1, g2) == doctest::Approx(wasserstein2(g1, g2)).epsilon(1e-13));
  for (const auto& [a, b] : {std::pair{ref_P(), ref_Q2()}, std::pair{ref_P3(), ref_Q3()}, std::pair{ref_P3(), ref_Q4()}}) {
    const double lower = gelbrich_w2(a, b), w = wasserstein2(a, b);
    INFO("Gelbrich " << lower << ", W2 " << w);
    CHECK(lower <= w);
    CHECK(lower > 0.0);
  }
  // 2-D mixtures: overall means (1.2, 0.6) and (1, 0.75); covariances from numpy
  // Σ_k w_k(Σ_k + μ_kμ_kᵀ) − μμᵀ; Gaussian W2 of those with mpmath (dps 30): 0.44269492517622863395.
  CHECK(gelbrich_w2(ref_p2d(), ref_q2d()) == doctest::Approx(0.44269492517622863395).epsilon(1e-12));
  CHECK(gelbrich_w2(ref_q2d(), ref_p2d()) == doctest::Approx(0.44269492517622863395).epsilon(1e-12));
}

// ---------------------------------------------------------------------------------------------------
// L2 distance
// ---------------------------------------------------------------------------------------------------

TEST_CASE("l2_distance: exactly 0 for identical parameters, symmetric, closed form for two 1-D Gaussians") {
  CHECK(l2_distance(ref_P(), ref_P()) == 0.0);
  CHECK(l2_distance(ref_p2d(), ref_p2d()) == 0.0);
  CHECK(l2_distance(ref_P(), ref_Q()) == doctest::Approx(l2_distance(ref_Q(), ref_P())).epsilon(1e-14));
  CHECK(l2_distance(ref_p2d(), ref_q2d()) == doctest::Approx(l2_distance(ref_q2d(), ref_p2d())).epsilon(1e-14));
  // N(0, 1) vs N(μ, 1): ∫p² = ∫q² = 1/(2√π), ∫pq = exp(−μ²/4)/(2√π), so ‖p − q‖² = (1 − exp(−μ²/4))/√π.
  const double mu = 1.3;
  const double expected = std::sqrt((1 - std::exp(-mu * mu / 4)) / std::sqrt(std::numbers::pi));
  CHECK(l2_distance(standard_normal_1d(), mixture_1d({1.0}, {mu}, {1.0})) == doctest::Approx(expected).epsilon(1e-13));
}

TEST_CASE("l2_distance: 1-D and 2-D mixtures match numerical integration") {
  // 1-D: ∫ (P − Q)² dx by mpmath.quad (dps 30) over (−∞, −1, 0, 1.5, 2, ∞): 0.052959762776777647008,
  //      so ‖P − Q‖₂ = 0.23012988240725637456.
  CHECK(l2_distance(ref_P(), ref_Q()) == doctest::Approx(0.23012988240725637456).epsilon(1e-12));
  // 2-D: scipy.integrate.dblquad of (p − q)² over [−12, 14]² (epsabs 1e-14, epsrel 1e-12; reported error
  //      9.9e-15): 0.011991552921282561, so ‖p − q‖₂ = 0.1095059492506346.
  CHECK(l2_distance(ref_p2d(), ref_q2d()) == doctest::Approx(0.1095059492506346).epsilon(1e-10));
}

TEST_CASE("l2_distance: a dimension mismatch throws") {
  CHECK(testing::contains(testing::invalid_argument_message([&] { l2_distance(ref_p2d(), ref_P()); }),
                          "l2_distance: p has dimension 2 and q has 1"));
}

// ---------------------------------------------------------------------------------------------------
// Overall covariance
// ---------------------------------------------------------------------------------------------------

TEST_CASE("log_det_covariance: matches numpy for 2-D and 3-D mixtures and ln(total variance) in 1-D") {
  // numpy: C = Σ_k w_k(Σ_k + μ_kμ_kᵀ) − μμᵀ, np.linalg.slogdet(C)[1].
  CHECK(log_det_covariance(ref_p2d()) == doctest::Approx(0.6439569363691735).epsilon(1e-13));
  CHECK(log_det_covariance(ref_q2d()) == doctest::Approx(0.3418150810317083).epsilon(1e-13));
  // The 2-D mixture covariance itself: [[1.84, 0.48], [0.48, 1.16]], mean (1.2, 0.6).
  const Eigen::MatrixXd C = overall_covariance(ref_p2d());
  CHECK(C(0, 0) == doctest::Approx(1.84).epsilon(1e-14));
  CHECK(C(0, 1) == doctest::Approx(0.48).epsilon(1e-14));
  CHECK(C(1, 0) == doctest::Approx(0.48).epsilon(1e-14));
  CHECK(C(1, 1) == doctest::Approx(1.16).epsilon(1e-14));
  CHECK(overall_mean(ref_p2d()).isApprox(vec2(1.2, 0.6), 1e-14));
  // 3-D: w = (.2, .5, .3), μ = ((0,1,2), (1,−1,0), (3,0,1)), Σ1 = [[2,.3,0],[.3,5,.1],[0,.1,.5]],
  // Σ2 = 0.7 I, Σ3 = [[1,−.4,.2],[−.4,1,0],[.2,0,.3]]: numpy gives 1.6140060625302661.
  const Eigen::VectorXd w = (Eigen::VectorXd(3) << 0.2, 0.5, 0.3).finished();
  const Eigen::MatrixXd mu = (Eigen::MatrixXd(3, 3) << 0, 1, 2, 1, -1, 0, 3, 0, 1).finished();
  const Eigen::MatrixXd S1 = (Eigen::MatrixXd(3, 3) << 2, 0.3, 0, 0.3, 5, 0.1, 0, 0.1, 0.5).finished();
  const Eigen::MatrixXd S3 = (Eigen::MatrixXd(3, 3) << 1, -0.4, 0.2, -0.4, 1, 0, 0.2, 0, 0.3).finished();
  const auto m3 = GaussianMixture::from_parameters(w, mu, {S1, 0.7 * Eigen::MatrixXd::Identity(3, 3), S3});
  CHECK(log_det_covariance(m3) == doctest::Approx(1.6140060625302661).epsilon(1e-13));
  // 1-D: ln of the total variance (3.44, see total_variance's test).
  CHECK(log_det_covariance(ref_P()) == doctest::Approx(std::log(3.44)).epsilon(1e-14));
}

TEST_CASE("log_det_covariance: collapsing components drive it down; a model without parameters throws") {
  const double a = log_det_covariance(mixture_1d({1.0}, {0.0}, {1e-3}));
  const double b = log_det_covariance(mixture_1d({1.0}, {0.0}, {1e-6}));
  CHECK(a == doctest::Approx(std::log(1e-3)).epsilon(1e-14));
  CHECK(b == doctest::Approx(std::log(1e-6)).epsilon(1e-14));
  const GaussianMixture unfitted;
  CHECK(testing::contains(testing::invalid_argument_message([&] { log_det_covariance(unfitted); }),
                          "log_det_covariance: the model has no parameters"));
}

// ---------------------------------------------------------------------------------------------------
// live_components
// ---------------------------------------------------------------------------------------------------

TEST_CASE("live_components: expected training points ≥ 2, boundary included") {
  // n = 10: w·n = 1, 2, 7 → the first component is dead (one expected point), the second is exactly at 2.
  const auto m = mixture_1d({0.1, 0.2, 0.7}, {0, 1, 2}, {1, 1, 1});
  CHECK(live_components(m, 10) == 2);
  CHECK(live_components(m, 9) == 1);   // 0.9, 1.8, 6.3
  CHECK(live_components(m, 20) == 3);  // 2, 4, 14
  CHECK(live_components(m, 0) == 0);
  CHECK(live_components(m, 1) == 0);
}

TEST_CASE("live_components: smallest covariance eigenvalue must exceed 10 · reg_covar (strictly)") {
  const double floor = 10 * mixture_1d({1.0}, {0.0}, {1.0}).options().reg_covar;
  REQUIRE(floor > 0);
  CHECK(live_components(mixture_1d({0.5, 0.5}, {0, 1}, {floor, 1.0}), 1000) == 1);
  CHECK(live_components(mixture_1d({0.5, 0.5}, {0, 1}, {floor * (1 + 1e-9), 1.0}), 1000) == 2);
  // 2-D: eigenvalues (1, 0.5·floor) rotated by 45°: both diagonal entries ≈ 0.5 are far above the floor,
  // but the component has collapsed onto a line. Eigenvalues (1, 2·floor) are alive.
  const double c = std::sqrt(0.5);
  const Eigen::MatrixXd R = mat2(c, -c, c, c);
  const Eigen::MatrixXd thin = R * Eigen::Vector2d(1.0, 0.5 * floor).asDiagonal() * R.transpose();
  const Eigen::MatrixXd ok = R * Eigen::Vector2d(1.0, 2.0 * floor).asDiagonal() * R.transpose();
  const Eigen::MatrixXd thin_sym = 0.5 * (thin + thin.transpose()), ok_sym = 0.5 * (ok + ok.transpose());
  CHECK(thin_sym(0, 0) > 0.4);
  CHECK(live_components(gaussian(vec2(0, 0), thin_sym), 100) == 0);
  CHECK(live_components(gaussian(vec2(0, 0), ok_sym), 100) == 1);
  // Both conditions: a wide component with too little weight is dead as well.
  CHECK(live_components(GaussianMixture::from_parameters(vec2(0.01, 0.99), mat2(0, 0, 1, 1), {ok_sym, ok_sym}), 100) == 1);
}

// ---------------------------------------------------------------------------------------------------
// Distance to closest record
// ---------------------------------------------------------------------------------------------------

TEST_CASE("closest_record_distances: 1-D agrees with brute force, including values outside the real range") {
  Rng rng = stream_rng(21, 0, Stream::metric);
  const Eigen::MatrixXd real = normal_matrix(777, 1, rng);
  Eigen::MatrixXd gen = normal_matrix(500, 1, rng, 2.0);  // wider: some below the minimum, some above the maximum
  gen(0, 0) = real.minCoeff() - 3.0;
  gen(1, 0) = real.maxCoeff() + 3.0;
  gen(2, 0) = real(17, 0);  // a copy
  const Eigen::VectorXd got = closest_record_distances(gen, real), expected = brute_force_dcr(gen, real);
  REQUIRE(got.size() == 500);
  CHECK((got - expected).cwiseAbs().maxCoeff() == 0.0);  // both exact: |g − r| of the same pair
  CHECK(got[0] == doctest::Approx(3.0).epsilon(1e-12));
  CHECK(got[2] == 0.0);
}

TEST_CASE("closest_record_distances: 3-D agrees with brute force across block boundaries") {
  Rng rng = stream_rng(22, 0, Stream::metric);
  const Eigen::MatrixXd real = normal_matrix(1500, 3, rng);  // > one block of 1024 real rows
  const Eigen::MatrixXd gen = normal_matrix(600, 3, rng);    // > two blocks of 256 generated rows
  const Eigen::VectorXd got = closest_record_distances(gen, real), expected = brute_force_dcr(gen, real);
  REQUIRE(got.size() == 600);
  const double worst = (got - expected).cwiseAbs().maxCoeff();
  INFO("largest difference from brute force: " << worst);
  CHECK(worst <= 1e-15);
  CHECK(got.minCoeff() > 0.0);
  CHECK(dcr_median(gen, real) == median(expected));
}

TEST_CASE("closest_record_distances: duplicates give exactly 0 and near-duplicates far from the origin are exact") {
  // Data near (1000, −2000, 500): ‖a‖² ≈ 5e6, so ‖a‖² + ‖b‖² − 2a·b alone has rounding errors ≈ 1e-9 in
  // squared distance: it cannot tell a neighbour 1e-7 away from a decoy 1e-6 away (squared 1e-14 vs
  // 1e-12), nor give 0 for a copy. 40 such pairs: a method that trusted the expanded values would pick
  // the decoy about half of the time.
  Rng rng = stream_rng(23, 0, Stream::metric);
  constexpr Eigen::Index pairs = 40;
  Eigen::MatrixXd real = normal_matrix(300 + pairs, 3, rng);
  real.rowwise() += Eigen::RowVector3d(1000, -2000, 500);
  const Eigen::MatrixXd near_dir = normal_matrix(pairs, 3, rng).rowwise().normalized();
  const Eigen::MatrixXd decoy_dir = normal_matrix(pairs, 3, rng).rowwise().normalized();
  Eigen::MatrixXd gen(2 * pairs + 2, 3);
  for (Eigen::Index i = 0; i < pairs; ++i) {
    real.row(300 + i) = real.row(i) + 1e-6 * decoy_dir.row(i);  // decoy
    gen.row(i) = real.row(i) + 1e-7 * near_dir.row(i);           // near-duplicate of real row i
    gen.row(pairs + i) = real.row(300 + i);                      // exact copy of the decoy
  }
  gen.row(2 * pairs) = real.row(150);
  gen.row(2 * pairs + 1) = real.row(real.rows() - 1);
  const Eigen::VectorXd got = closest_record_distances(gen, real), expected = brute_force_dcr(gen, real);
  for (Eigen::Index i = 0; i < pairs; ++i) {
    INFO("pair " << i << ": got " << got[i] << ", brute force " << expected[i]);
    CHECK(got[i] == expected[i]);
    CHECK(got[i] == doctest::Approx(1e-7).epsilon(1e-4));  // not the decoy (≈ 1e-6 away)
    CHECK(got[pairs + i] == 0.0);
  }
  CHECK(got[2 * pairs] == 0.0);
  CHECK(got[2 * pairs + 1] == 0.0);
}

TEST_CASE("closest_record_distances: empty inputs, column mismatch and non-finite values throw") {
  const Eigen::MatrixXd a = Eigen::MatrixXd::Zero(3, 2), b = Eigen::MatrixXd::Ones(4, 2);
  CHECK(testing::contains(testing::invalid_argument_message([&] { closest_record_distances(Eigen::MatrixXd(0, 2), b); }),
                          "generated is 0 × 2, but must have at least one row"));
  CHECK(testing::contains(testing::invalid_argument_message([&] { closest_record_distances(a, Eigen::MatrixXd(0, 2)); }),
                          "real has 0 rows"));
  CHECK(testing::contains(
      testing::invalid_argument_message([&] { closest_record_distances(a, Eigen::MatrixXd::Zero(4, 3)); }),
      "generated has 2 columns and real has 3"));
  Eigen::MatrixXd bad = b;
  bad(1, 1) = std::numeric_limits<double>::quiet_NaN();
  CHECK(testing::contains(testing::invalid_argument_message([&] { closest_record_distances(a, bad); }),
                          "real contains a non-finite value"));
  // A 2 × 2 example by hand: nearest of (0, 0) is (3, 4) at 5 rather than (−6, 0) at 6.
  const Eigen::MatrixXd g = (Eigen::MatrixXd(1, 2) << 0, 0).finished();
  const Eigen::MatrixXd r = (Eigen::MatrixXd(2, 2) << -6, 0, 3, 4).finished();
  CHECK(closest_record_distances(g, r)[0] == 5.0);
}

TEST_CASE("median: odd and even counts; empty and NaN throw") {
  CHECK(median((Eigen::VectorXd(5) << 9, 1, 5, 3, 7).finished()) == 5.0);
  CHECK(median((Eigen::VectorXd(4) << 9, 1, 5, 3).finished()) == 4.0);
  CHECK(median(Eigen::VectorXd::Constant(1, -2.5)) == -2.5);
  CHECK(testing::contains(testing::invalid_argument_message([&] { median(Eigen::VectorXd(0)); }), "median: values is empty"));
  CHECK(testing::contains(testing::invalid_argument_message([&] {
                            median((Eigen::VectorXd(2) << 1, std::numeric_limits<double>::quiet_NaN()).finished());
                          }),
                          "contains NaN"));
}

}  // TEST_SUITE

TEST_SUITE("metrics/gmm_metrics slow") {

TEST_CASE("kl_divergence: Monte Carlo estimator is unbiased and its standard error is calibrated") {
  // 400 independent estimates of KL(P‖Q) (reference 0.32210739462179582797, see above) from n = 400
  // draws each. (1) Their mean has SE ≈ sd/√400; |mean − KL| < 4 SE fails with probability 6.3e-5.
  // (2) Each z_i = (estimate_i − KL)/SE_i is ≈ N(0, 1); the count with |z_i| < 2 is Binomial(400,
  // 0.9545) with mean 381.8 and sd 4.2; the interval [362, 398] (≈ ±4.7 sd) has a false-alarm rate < 1e-5
  // (wider than ±4 sd because z_i uses the estimated SE and is only asymptotically normal).
  const auto P = ref_P(), Q = ref_Q();
  constexpr double reference = 0.32210739462179582797;
  constexpr int replicates = 400;
  Eigen::VectorXd values(replicates);
  int inside = 0;
  for (int r = 0; r < replicates; ++r) {
    Rng rng = stream_rng(31, r, Stream::metric);
    const KlEstimate e = kl_divergence_estimate(P, Q, 400, rng);
    values[r] = e.value;
    if (std::abs(e.value - reference) < 2 * e.standard_error) ++inside;
  }
  const double mean = values.mean();
  const double se = std::sqrt((values.array() - mean).square().sum() / (replicates - 1)) / std::sqrt(replicates);
  INFO("mean of estimates " << mean << " ± " << se << ", reference " << reference << "; |z| < 2 in " << inside
                            << " of " << replicates);
  CHECK(std::abs(mean - reference) < 4 * se);
  CHECK(inside >= 362);
  CHECK(inside <= 398);
}

TEST_CASE("timing: per-call cost of the metrics (printed, not asserted)") {
  const auto p = ref_p2d(), q = ref_q2d();
  const auto time_us = [](auto&& f, int reps) {
    const auto t0 = std::chrono::steady_clock::now();
    double sink = 0;
    for (int i = 0; i < reps; ++i) sink += f();
    const auto t1 = std::chrono::steady_clock::now();
    CHECK(std::isfinite(sink));
    return std::chrono::duration<double, std::micro>(t1 - t0).count() / reps;
  };
  MESSAGE("l2_distance K=2 d=2: " << time_us([&] { return l2_distance(p, q); }, 100000) << " µs");
  MESSAGE("gelbrich_w2 K=2 d=2: " << time_us([&] { return gelbrich_w2(p, q); }, 20000) << " µs");
  MESSAGE("log_det_covariance K=2 d=2: " << time_us([&] { return log_det_covariance(p); }, 100000) << " µs");
  MESSAGE("live_components K=2 d=2: " << time_us([&] { return double(live_components(p, 100)); }, 100000) << " µs");
  const auto g1 = gaussian(vec2(1, -2), mat2(2, 0.6, 0.6, 1)), g2 = gaussian(vec2(-0.5, 0.5), mat2(0.5, -0.2, -0.2, 1.5));
  MESSAGE("wasserstein2 K=1 d=2: " << time_us([&] { return wasserstein2(g1, g2); }, 20000) << " µs");
  MESSAGE("wasserstein2 1-D K=2 overlapping: " << time_us([&] { return wasserstein2(ref_P(), ref_Q2()); }, 200) << " µs");
  MESSAGE("wasserstein2 1-D K=2 separated: " << time_us([&] { return wasserstein2(ref_P3(), ref_Q4()); }, 200) << " µs");
  Rng rng = stream_rng(41, 0, Stream::metric);
  MESSAGE("kl_divergence MC 1-D K=2, n=10000: " << time_us([&] { return kl_divergence(ref_P(), ref_Q(), 10000, rng); }, 50)
                                                << " µs");
  const Eigen::MatrixXd real = normal_matrix(10000, 2, rng), gen = normal_matrix(1000, 2, rng);
  MESSAGE("closest_record_distances 1000 × 10000, d=2: " << time_us([&] { return closest_record_distances(gen, real)[0]; }, 5)
                                                          << " µs");
}

}  // TEST_SUITE
