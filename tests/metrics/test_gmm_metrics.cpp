// Tests of src/metrics/gmm_metrics.hpp against formulas worked out by hand in the tests.

#include <doctest/doctest.h>

#include <cmath>
#include <numbers>
#include <vector>

#include <Eigen/Core>
#include <boost/random/normal_distribution.hpp>

#include "core/rng.hpp"
#include "metrics/gmm_metrics.hpp"

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

}  // TEST_SUITE
