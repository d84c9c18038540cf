// Tests of GaussianMixture: EM (recovery, closed-form MLE, convergence semantics, degenerate data),
// exact sampling (moments, temperature), densities, marginal CDF / quantile, validation messages.
//
// Statistical tests use fixed seeds, so each is deterministic; the stated false-alarm rate is what a
// fresh seed would give. Tolerances are 5 standard errors: a two-sided normal tail of 5.7e-7 per
// comparison.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include <Eigen/Dense>
#include <boost/random/uniform_real_distribution.hpp>

#include "core/check.hpp"
#include "models/gaussian_mixture.hpp"

namespace {

using collapse::CovarianceType;
using collapse::DegeneratePolicy;
using collapse::FitReport;
using collapse::GaussianMixture;
using collapse::GmmInit;
using collapse::GmmOptions;
using collapse::Rng;
using collapse::SamplingControls;
using Eigen::MatrixXd;
using Eigen::VectorXd;

constexpr double kLog2Pi = 1.837877066409345483560659472811235;
constexpr double kPi = 3.141592653589793238462643383279503;

MatrixXd mat(std::initializer_list<std::initializer_list<double>> rows) {
  MatrixXd m(static_cast<Eigen::Index>(rows.size()), static_cast<Eigen::Index>(rows.begin()->size()));
  Eigen::Index i = 0;
  for (const auto& r : rows) {
    Eigen::Index j = 0;
    for (double v : r) m(i, j++) = v;
    ++i;
  }
  return m;
}

VectorXd vec(std::initializer_list<double> v) {
  VectorXd out(static_cast<Eigen::Index>(v.size()));
  std::copy(v.begin(), v.end(), out.data());
  return out;
}

/// Three well-separated components in 2-D (centres ≥ 8.5 apart, sd ≤ 1.5): the overlap mass is < 1e-6.
GaussianMixture three_in_2d() {
  return GaussianMixture::from_parameters(vec({0.2, 0.3, 0.5}), mat({{-8, 0}, {0, 8}, {8, -1}}),
                                          {mat({{1.0, 0.5}, {0.5, 1.0}}), mat({{0.5, -0.2}, {-0.2, 0.8}}),
                                           mat({{2.0, 0.0}, {0.0, 0.5}})});
}

MatrixXd draw(const GaussianMixture& g, std::size_t n, std::uint64_t seed, double tau = 1.0) {
  Rng rng(seed);
  SamplingControls c;
  c.temperature = tau;
  return g.sample(n, c, rng);
}

FitReport fit(GaussianMixture& g, const MatrixXd& x, std::uint64_t seed) {
  Rng rng(seed);
  return g.fit(x, rng);
}

bool has_event(const FitReport& r, const std::string& kind) {
  return std::any_of(r.events.begin(), r.events.end(), [&](const auto& e) { return e.kind == kind; });
}

int count_events(const FitReport& r, const std::string& kind) {
  return static_cast<int>(std::count_if(r.events.begin(), r.events.end(), [&](const auto& e) { return e.kind == kind; }));
}

/// Component order by first mean coordinate (EM labels are arbitrary: label switching).
std::vector<int> order_by_first_mean(const GaussianMixture& g) {
  std::vector<int> order(static_cast<std::size_t>(g.components()));
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return g.means()(a, 0) < g.means()(b, 0); });
  return order;
}

MatrixXd sample_covariance(const MatrixXd& x) {  // biased (1/n), the MLE
  const MatrixXd c = x.rowwise() - x.colwise().mean();
  return (c.transpose() * c) / static_cast<double>(x.rows());
}


/// Naive reference EM, written per sample from the scikit-learn 1.3 formulas (independent of the
/// vectorised implementation): M-step from `resp`, then up to max_iter × {E-step → M-step → tol check}.
struct ReferenceEm {
  VectorXd w;
  MatrixXd mu;
  std::vector<MatrixXd> cov;
  double lower_bound = -std::numeric_limits<double>::infinity();
  int iterations = 0;
  bool converged = false;

  void m_step(const MatrixXd& x, const MatrixXd& resp, CovarianceType type, double reg) {
    const Eigen::Index n = x.rows(), d = x.cols(), K = resp.cols();
    w.resize(K);
    mu.resize(K, d);
    cov.assign(static_cast<std::size_t>(K), MatrixXd::Zero(d, d));
    for (Eigen::Index k = 0; k < K; ++k) {
      double nk = 10 * std::numeric_limits<double>::epsilon();
      Eigen::RowVectorXd s = Eigen::RowVectorXd::Zero(d);
      for (Eigen::Index i = 0; i < n; ++i) {
        nk += resp(i, k);
        s += resp(i, k) * x.row(i);
      }
      w(k) = nk;
      mu.row(k) = s / nk;
      MatrixXd& c = cov[static_cast<std::size_t>(k)];
      for (Eigen::Index i = 0; i < n; ++i) {
        const Eigen::RowVectorXd dx = x.row(i) - mu.row(k);
        c += resp(i, k) * dx.transpose() * dx;
      }
      c /= nk;
      if (type == CovarianceType::diagonal) c = MatrixXd(c.diagonal().asDiagonal());
      if (type == CovarianceType::spherical) c = c.diagonal().mean() * MatrixXd::Identity(d, d);
      c += reg * MatrixXd::Identity(d, d);
    }
    w /= w.sum();
  }

  /// Returns the mean log-likelihood and fills resp.
  double e_step(const MatrixXd& x, MatrixXd& resp) const {
    const Eigen::Index n = x.rows(), d = x.cols(), K = w.size();
    double total = 0;
    for (Eigen::Index i = 0; i < n; ++i) {
      VectorXd lp(K);
      for (Eigen::Index k = 0; k < K; ++k) {
        const MatrixXd& c = cov[static_cast<std::size_t>(k)];
        const VectorXd dx = (x.row(i) - mu.row(k)).transpose();
        lp(k) = std::log(w(k)) - 0.5 * (static_cast<double>(d) * kLog2Pi + std::log(c.determinant()) +
                                         dx.dot(c.ldlt().solve(dx)));
      }
      const double m = lp.maxCoeff();
      const double lse = m + std::log((lp.array() - m).exp().sum());
      resp.row(i) = (lp.array() - lse).exp().matrix().transpose();
      total += lse;
    }
    return total / static_cast<double>(n);
  }

  void run(const MatrixXd& x, MatrixXd resp, CovarianceType type, double reg, double tol, int max_iter) {
    m_step(x, resp, type, reg);
    for (iterations = 1; iterations <= max_iter; ++iterations) {
      const double previous = lower_bound;
      lower_bound = e_step(x, resp);
      m_step(x, resp, type, reg);
      if (std::abs(lower_bound - previous) < tol) {
        converged = true;
        return;
      }
    }
    iterations = max_iter;
  }
};
}  // namespace

TEST_SUITE("models/gaussian_mixture") {

TEST_CASE("fit: recovers well-separated components when n is large") {
  const GaussianMixture truth = three_in_2d();
  const std::size_t n = 20000;
  const MatrixXd x = draw(truth, n, 11);

  GmmOptions o;
  o.components = 3;
  o.tol = 1e-8;
  GaussianMixture model(o);
  const FitReport r = fit(model, x, 12);
  CHECK(r.converged);
  REQUIRE(model.components() == 3);
  REQUIRE(model.dim() == 2);

  // Standard errors of the MLE with known labels (overlap < 1e-6 makes EM ≈ labelled estimates):
  //   weight w:           √(w(1 − w)/n)
  //   mean μ_j:           √(Σ_jj / (n w))
  //   covariance Σ_ij:    √((Σ_ii Σ_jj + Σ_ij²) / (n w))      (Gaussian fourth moments)
  // Tolerance 5 SE each; 18 comparisons → family-wise false-alarm rate < 1.1e-5 for a fresh seed.
  const std::vector<int> order = order_by_first_mean(model);
  const double nd = static_cast<double>(n);
  for (int k = 0; k < 3; ++k) {
    CAPTURE(k);
    const int f = order[static_cast<std::size_t>(k)];
    const double w = truth.weights()(k);
    CHECK(std::abs(model.weights()(f) - w) <= 5 * std::sqrt(w * (1 - w) / nd));
    const MatrixXd& S = truth.covariances()[static_cast<std::size_t>(k)];
    const MatrixXd& F = model.covariances()[static_cast<std::size_t>(f)];
    for (int i = 0; i < 2; ++i) {
      CAPTURE(i);
      CHECK(std::abs(model.means()(f, i) - truth.means()(k, i)) <= 5 * std::sqrt(S(i, i) / (nd * w)));
      for (int j = 0; j <= i; ++j) {
        CAPTURE(j);
        const double se = std::sqrt((S(i, i) * S(j, j) + S(i, j) * S(i, j)) / (nd * w));
        CHECK(std::abs(F(i, j) - S(i, j)) <= 5 * se);
      }
    }
    CHECK(F.isApprox(F.transpose(), 0.0));  // exactly symmetric
  }
  CHECK(model.weights().sum() == doctest::Approx(1.0).epsilon(1e-14));
  CHECK(r.events.empty());
}

TEST_CASE("fit: every initialisation recovers two separated 1-D components") {
  const GaussianMixture truth = GaussianMixture::from_parameters(vec({0.4, 0.6}), mat({{-3}, {4}}),
                                                                 {mat({{1.0}}), mat({{0.25}})});
  const std::size_t n = 4000;
  const MatrixXd x = draw(truth, n, 21);
  for (GmmInit init : {GmmInit::kmeans, GmmInit::kmeans_pp, GmmInit::random}) {
    CAPTURE(static_cast<int>(init));
    GmmOptions o;
    o.components = 2;
    o.init = init;
    o.tol = 1e-8;
    o.max_iter = 2000;
    GaussianMixture model(o);
    const FitReport r = fit(model, x, 22);
    CHECK(r.converged);
    const std::vector<int> order = order_by_first_mean(model);
    for (int k = 0; k < 2; ++k) {
      // 5 SE of a labelled mean, √(σ²/(n w)); overlap of ±3.5 sd is < 3e-4 of the mass.
      const double w = truth.weights()(k), v = truth.covariances()[static_cast<std::size_t>(k)](0, 0);
      CHECK(std::abs(model.means()(order[static_cast<std::size_t>(k)], 0) - truth.means()(k, 0)) <=
            5 * std::sqrt(v / (static_cast<double>(n) * w)));
    }
  }
}

TEST_CASE("fit: a single Gaussian (K = 1) equals the closed-form MLE for every covariance type") {
  const GaussianMixture truth = GaussianMixture::from_parameters(
      vec({1.0}), mat({{1.0, -2.0, 0.5}}), {mat({{2.0, 0.6, 0.1}, {0.6, 1.0, -0.3}, {0.1, -0.3, 0.5}})});
  const MatrixXd x = draw(truth, 500, 31);
  const double reg = 1e-6;
  const Eigen::RowVectorXd mean = x.colwise().mean();
  const MatrixXd cov = sample_covariance(x);

  SUBCASE("full") {
    GaussianMixture model(GmmOptions{});
    const FitReport r = fit(model, x, 32);
    CHECK(r.converged);
    CHECK(r.iterations == 2);  // the init M-step is already the MLE: lower bound repeats at iteration 2
    CHECK(model.weights()(0) == doctest::Approx(1.0).epsilon(1e-15));
    CHECK((model.means().row(0) - mean).cwiseAbs().maxCoeff() <= 1e-10);
    const MatrixXd expected = cov + reg * MatrixXd::Identity(3, 3);
    CHECK((model.covariances()[0] - expected).cwiseAbs().maxCoeff() <= 1e-10);
    // The lower bound is the mean log-likelihood of those parameters (to rounding).
    CHECK(r.lower_bound == doctest::Approx(model.log_likelihood(x) / 500.0).epsilon(1e-12));
  }
  SUBCASE("diagonal") {
    GmmOptions o;
    o.covariance = CovarianceType::diagonal;
    GaussianMixture model(o);
    fit(model, x, 32);
    const MatrixXd expected = MatrixXd((cov.diagonal().array() + reg).matrix().asDiagonal());
    CHECK((model.means().row(0) - mean).cwiseAbs().maxCoeff() <= 1e-10);
    CHECK((model.covariances()[0] - expected).cwiseAbs().maxCoeff() <= 1e-10);
  }
  SUBCASE("spherical") {
    GmmOptions o;
    o.covariance = CovarianceType::spherical;
    GaussianMixture model(o);
    fit(model, x, 32);
    const MatrixXd expected = (cov.diagonal().mean() + reg) * MatrixXd::Identity(3, 3);
    CHECK((model.means().row(0) - mean).cwiseAbs().maxCoeff() <= 1e-10);
    CHECK((model.covariances()[0] - expected).cwiseAbs().maxCoeff() <= 1e-10);
  }
}

TEST_CASE("fit: follows scikit-learn's EM trajectory step for step (random init, naive reference)") {
  // The random init's draws are documented: n × K uniforms, row-major, rows normalised. Rebuild them,
  // run a naive per-sample EM from the same responsibilities, and compare: same iteration count,
  // converged flag, lower bound and parameters up to rounding (1e-9; the two differ only in the order
  // of floating-point operations, amplified by at most a few hundred EM iterations).
  const GaussianMixture truth = GaussianMixture::from_parameters(vec({0.5, 0.5}), mat({{0.0, 0.0}, {2.0, 1.0}}),
                                                                 {mat({{1, 0.3}, {0.3, 1}}), mat({{1, 0}, {0, 2}})});
  const MatrixXd x = draw(truth, 300, 131);
  const int K = 2;
  MatrixXd resp0(x.rows(), K);
  {
    Rng rng(132);
    boost::random::uniform_real_distribution<double> unif(0.0, 1.0);
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
      for (int k = 0; k < K; ++k) resp0(i, k) = unif(rng);
      resp0.row(i) /= resp0.row(i).sum();
    }
  }
  // d = 2 runs the general E-step with the K = 2 normalisation; d = 1 the fused 1-D, K = 2 kernel.
  for (const MatrixXd& xd : {x, MatrixXd(x.leftCols(1))}) {
    for (CovarianceType type : {CovarianceType::full, CovarianceType::diagonal, CovarianceType::spherical}) {
      for (int max_iter : {3, 1000}) {
        CAPTURE(xd.cols());
        CAPTURE(static_cast<int>(type));
        CAPTURE(max_iter);
        GmmOptions o;
        o.components = K;
        o.covariance = type;
        o.init = GmmInit::random;
        o.tol = 1e-7;
        o.max_iter = max_iter;
        o.reg_covar = 1e-3;  // a visible reg_covar, so that its placement matters
        GaussianMixture model(o);
        const FitReport r = fit(model, xd, 132);
        ReferenceEm ref;
        ref.run(xd, resp0, type, o.reg_covar, o.tol, o.max_iter);
        CHECK(r.iterations == ref.iterations);
        CHECK(r.converged == ref.converged);
        CHECK(r.lower_bound == doctest::Approx(ref.lower_bound).epsilon(1e-10));
        CHECK((model.weights() - ref.w).cwiseAbs().maxCoeff() <= 1e-9);
        CHECK((model.means() - ref.mu).cwiseAbs().maxCoeff() <= 1e-9);
        for (int k = 0; k < K; ++k)
          CHECK((model.covariances()[static_cast<std::size_t>(k)] - ref.cov[static_cast<std::size_t>(k)])
                    .cwiseAbs()
                    .maxCoeff() <= 1e-9);
      }
    }
  }
}

TEST_CASE("fit: diagonal and spherical mixtures return full-form covariances") {
  const MatrixXd x = draw(three_in_2d(), 3000, 41);
  for (CovarianceType type : {CovarianceType::diagonal, CovarianceType::spherical}) {
    GmmOptions o;
    o.components = 3;
    o.covariance = type;
    GaussianMixture model(o);
    fit(model, x, 42);
    REQUIRE(model.covariances().size() == 3);
    for (const MatrixXd& c : model.covariances()) {
      REQUIRE(c.rows() == 2);
      REQUIRE(c.cols() == 2);
      CHECK(c(0, 1) == 0.0);
      CHECK(c(1, 0) == 0.0);
      CHECK(c(0, 0) > 0.0);
      if (type == CovarianceType::spherical) CHECK(c(0, 0) == c(1, 1));
    }
    // score_samples uses the same parameters the fit reports.
    CHECK(std::isfinite(model.log_likelihood(x)));
  }
}

TEST_CASE("fit: the lower bound never decreases from one EM iteration to the next") {
  // EM monotonicity (Bishop 2006 §9.4). Same seed ⇒ same init, so max_iter = m stops the same
  // trajectory after m iterations. reg_covar = 0 makes the M-step the exact maximiser.
  const GaussianMixture truth = GaussianMixture::from_parameters(vec({0.5, 0.5}), mat({{0.0, 0.0}, {1.5, 1.0}}),
                                                                 {mat({{1, 0.3}, {0.3, 1}}), mat({{1, 0}, {0, 2}})});
  const MatrixXd x = draw(truth, 2000, 51);
  double previous = -std::numeric_limits<double>::infinity();
  for (int m = 1; m <= 15; ++m) {
    GmmOptions o;
    o.components = 2;
    o.reg_covar = 0;
    o.tol = 1e-12;
    o.max_iter = m;
    GaussianMixture model(o);
    const FitReport r = fit(model, x, 52);
    CAPTURE(m);
    CHECK(r.iterations == m);
    CHECK(r.lower_bound >= previous - 1e-12);
    previous = r.lower_bound;
  }
}

TEST_CASE("fit: tol and max_iter follow scikit-learn's convergence semantics") {
  const GaussianMixture truth = GaussianMixture::from_parameters(vec({0.5, 0.5}), mat({{0.0}, {1.5}}),
                                                                 {mat({{1.0}}), mat({{1.0}})});
  const MatrixXd x = draw(truth, 2000, 61);  // heavily overlapping: EM converges slowly
  GmmOptions o;
  o.components = 2;
  o.max_iter = 10000;

  o.tol = 1e-3;
  GaussianMixture loose(o);
  const FitReport rl = fit(loose, x, 62);
  o.tol = 1e-8;
  GaussianMixture tight(o);
  const FitReport rt = fit(tight, x, 62);
  CHECK(rl.converged);
  CHECK(rt.converged);
  CHECK(rl.iterations < rt.iterations);
  CHECK(rt.lower_bound >= rl.lower_bound - 1e-12);
  CHECK_FALSE(has_event(rl, "em_not_converged"));
  // At convergence the final parameters score within ~tol of the reported lower bound.
  CHECK(std::abs(tight.log_likelihood(x) / 2000.0 - rt.lower_bound) < 1e-6);

  o.tol = 1e-3;
  o.max_iter = 1;
  GaussianMixture once(o);
  const FitReport r1 = fit(once, x, 62);
  CHECK_FALSE(r1.converged);
  CHECK(r1.iterations == 1);
  REQUIRE(count_events(r1, "em_not_converged") == 1);
  const auto& e = *std::find_if(r1.events.begin(), r1.events.end(),
                                [](const auto& ev) { return ev.kind == "em_not_converged"; });
  CHECK(e.generation == -1);
  CHECK(e.message.find("model.max_iter = 1") != std::string::npos);
}

TEST_CASE("fit: collapse to repeated points is recorded as events, not thrown") {
  SUBCASE("1-D, two distinct values, K = 2") {
    MatrixXd x(100, 1);
    x.topRows(50).setConstant(0.0);
    x.bottomRows(50).setConstant(1.0);
    GmmOptions o;
    o.components = 2;
    GaussianMixture model(o);
    FitReport r;
    CHECK_NOTHROW(r = fit(model, x, 71));
    CHECK(count_events(r, "variance_floor") == 2);  // once per component
    for (const auto& e : r.events)
      if (e.kind == "variance_floor") CHECK(e.message.find("component ") == 0);
    const std::vector<int> order = order_by_first_mean(model);
    CHECK(model.means()(order[0], 0) == doctest::Approx(0.0).epsilon(1e-12));
    CHECK(model.means()(order[1], 0) == doctest::Approx(1.0));
    CHECK(model.covariances()[0](0, 0) == doctest::Approx(o.reg_covar).epsilon(1e-6));
    CHECK(model.weights()(0) == doctest::Approx(0.5));
  }
  SUBCASE("2-D full covariance, two distinct rows, K = 2") {
    MatrixXd x(60, 2);
    x.topRows(30).rowwise() = Eigen::RowVector2d(0.0, 0.0);
    x.bottomRows(30).rowwise() = Eigen::RowVector2d(1.0, 2.0);
    GmmOptions o;
    o.components = 2;
    GaussianMixture model(o);
    FitReport r;
    CHECK_NOTHROW(r = fit(model, x, 72));
    CHECK(has_event(r, "variance_floor"));
    CHECK(std::isfinite(model.log_likelihood(x)));
  }
  SUBCASE("K = n: every component holds a single point") {
    const MatrixXd x = mat({{0.0, 1.0}, {2.0, -1.0}, {5.0, 5.0}, {-3.0, 2.0}, {1.0, 1.5}});
    for (GmmInit init : {GmmInit::kmeans, GmmInit::kmeans_pp}) {
      GmmOptions o;
      o.components = 5;
      o.init = init;
      GaussianMixture model(o);
      FitReport r;
      CHECK_NOTHROW(r = fit(model, x, 75));
      CHECK(count_events(r, "empty_component") == 5);
      CHECK(count_events(r, "variance_floor") == 5);
      CHECK(std::isfinite(model.log_likelihood(x)));
    }
  }
  SUBCASE("more components than distinct points: an empty component") {
    MatrixXd x(40, 1);
    x.topRows(20).setConstant(0.0);
    x.bottomRows(20).setConstant(1.0);
    GmmOptions o;
    o.components = 3;
    GaussianMixture model(o);
    FitReport r;
    CHECK_NOTHROW(r = fit(model, x, 73));
    CHECK(count_events(r, "empty_component") >= 1);
    CHECK(model.weights().sum() == doctest::Approx(1.0));
    CHECK(model.means().allFinite());
    CHECK(std::isfinite(model.log_likelihood(x)));
    const MatrixXd s = draw(model, 100, 74);
    CHECK(s.allFinite());
  }
}

TEST_CASE("fit: reg_covar = 0 on data collapsed to points floors the covariance and records it") {
  // Two clusters of identical rows: the plain MLE covariance is exactly 0 (the end state of collapse).
  // The fit must go on with the point-mass floor (ε·max(1, |μ|))² on the diagonal and say so.
  MatrixXd collapsed(40, 2);
  collapsed.topRows(20).setConstant(0.0);
  collapsed.bottomRows(20).setConstant(3.0);
  for (const auto cov : {CovarianceType::full, CovarianceType::diagonal}) {
    GmmOptions o;
    o.components = 2;
    o.reg_covar = 0;
    o.covariance = cov;
    GaussianMixture model(o);
    FitReport r;
    REQUIRE_NOTHROW(r = fit(model, collapsed, 83));
    const std::vector<int> order = model.means()(0, 0) < model.means()(1, 0) ? std::vector<int>{0, 1} : std::vector<int>{1, 0};
    CHECK(model.means().row(order[0]).isZero());
    CHECK(model.means().row(order[1]).isApproxToConstant(3.0));
    const double eps = std::numeric_limits<double>::epsilon();
    // The component at 0 has exactly zero spread and gets the floor ε²; the one at 3 may keep a
    // rounding-level spread (μ = Σ r x / (N + 10 eps) is not exactly 3), so it is only bounded.
    CHECK(model.covariances()[static_cast<std::size_t>(order[0])](0, 0) == doctest::Approx(eps * eps));
    const double c1 = model.covariances()[static_cast<std::size_t>(order[1])](0, 0);
    CHECK(c1 > 0);
    CHECK(c1 < 1e-28);
    CHECK(std::count_if(r.events.begin(), r.events.end(), [](const collapse::Event& e) { return e.kind == "point_mass_floor"; }) >= 1);
    CHECK(std::isfinite(model.log_likelihood(collapsed)));
    const MatrixXd s = draw(model, 50, 84);
    CHECK(((s.array() - 0.0).abs() < 1e-12 || (s.array() - 3.0).abs() < 1e-12).all());
  }
}

TEST_CASE("fit: bad input throws std::invalid_argument naming the problem") {
  GmmOptions o;
  o.components = 5;
  GaussianMixture model(o);
  Rng rng(1);
  CHECK_THROWS_WITH_AS(model.fit(MatrixXd::Zero(3, 1), rng),
                       "gaussian mixture fit: 3 samples, but model.components = 5 needs at least 5",
                       std::invalid_argument);
  MatrixXd x = MatrixXd::Zero(10, 2);
  x(1, 0) = std::nan("");
  CHECK_THROWS_WITH_AS(model.fit(x, rng), "gaussian mixture fit: data(1, 0) = nan, but must be finite",
                       std::invalid_argument);
}

TEST_CASE("fit and sample: the same seed gives bit-identical results") {
  const MatrixXd x = draw(three_in_2d(), 2000, 91);
  for (GmmInit init : {GmmInit::kmeans, GmmInit::kmeans_pp, GmmInit::random}) {
    CAPTURE(static_cast<int>(init));
    GmmOptions o;
    o.components = 3;
    o.init = init;
    GaussianMixture a(o), b(o);
    const FitReport ra = fit(a, x, 92), rb = fit(b, x, 92);
    CHECK(ra.iterations == rb.iterations);
    CHECK(ra.lower_bound == rb.lower_bound);  // exact
    CHECK(a.weights() == b.weights());
    CHECK(a.means() == b.means());
    for (int k = 0; k < 3; ++k)
      CHECK(a.covariances()[static_cast<std::size_t>(k)] == b.covariances()[static_cast<std::size_t>(k)]);
    CHECK(draw(a, 500, 93) == draw(b, 500, 93));
    CHECK(draw(a, 500, 93) != draw(a, 500, 94));
  }
  // Refitting the same object (reused workspace) gives the same bits as a fresh object.
  GmmOptions o;
  o.components = 3;
  GaussianMixture a(o), b(o);
  fit(a, draw(three_in_2d(), 700, 95), 96);
  fit(a, x.leftCols(1), 97);  // a different dimension: the workspace is resized
  CHECK(a.dim() == 1);
  fit(a, x, 92);
  fit(b, x, 92);
  CHECK(a.dim() == 2);
  CHECK(a.means() == b.means());
  CHECK(a.covariances()[0] == b.covariances()[0]);
}

TEST_CASE("sample: reproduces the mixture's mean and covariance") {
  const GaussianMixture g = three_in_2d();
  const std::size_t n = 200000;
  const MatrixXd x = draw(g, n, 101);
  // Truth: m = Σ w_k μ_k, C = Σ w_k (Σ_k + μ_k μ_kᵀ) − m mᵀ.
  const Eigen::Vector2d m = g.means().transpose() * g.weights();
  Eigen::Matrix2d C = -m * m.transpose();
  for (int k = 0; k < 3; ++k) {
    const Eigen::Vector2d mu = g.means().row(k).transpose();
    C += g.weights()(k) * (g.covariances()[static_cast<std::size_t>(k)] + mu * mu.transpose());
  }
  // SE of the sample mean: √(C_jj / n). SE of the sample covariance entry: sd of the products
  // (x_i − m̂_i)(x_j − m̂_j) over √n, estimated from the sample (the mixture is not Gaussian).
  // 5 SE per entry; 5 comparisons → false-alarm rate < 3e-6 for a fresh seed.
  const Eigen::RowVector2d mhat = x.colwise().mean();
  const MatrixXd c = x.rowwise() - mhat;
  const double nd = static_cast<double>(n);
  for (int i = 0; i < 2; ++i) {
    CAPTURE(i);
    CHECK(std::abs(mhat(i) - m(i)) <= 5 * std::sqrt(C(i, i) / nd));
    for (int j = 0; j <= i; ++j) {
      CAPTURE(j);
      const Eigen::ArrayXd prod = c.col(i).array() * c.col(j).array();
      const double chat = prod.mean();
      const double se = std::sqrt((prod - chat).square().mean() / nd);
      CHECK(std::abs(chat - C(i, j)) <= 5 * se);
    }
  }
}

TEST_CASE("sample: temperature τ scales the covariance of a Gaussian by τ²") {
  const Eigen::Vector2d mu(1.0, -2.0);
  const MatrixXd S = mat({{2.0, 0.6}, {0.6, 1.0}});
  const GaussianMixture g = GaussianMixture::from_parameters(vec({1.0}), mu.transpose(), {S});
  const std::size_t n = 100000;
  const double nd = static_cast<double>(n);
  for (double tau : {0.5, 3.0}) {
    CAPTURE(tau);
    const MatrixXd x = draw(g, n, 111, tau);
    const MatrixXd cov = sample_covariance(x);
    for (int i = 0; i < 2; ++i) {
      // Gaussian: SE(mean_i) = τ√(S_ii/n); SE(cov_ij) = τ²√((S_ii S_jj + S_ij²)/n). 5 SE, 5 comparisons
      // per τ → false-alarm rate < 3e-6.
      CHECK(std::abs(x.col(i).mean() - mu(i)) <= 5 * tau * std::sqrt(S(i, i) / nd));
      for (int j = 0; j <= i; ++j)
        CHECK(std::abs(cov(i, j) - tau * tau * S(i, j)) <=
              5 * tau * tau * std::sqrt((S(i, i) * S(j, j) + S(i, j) * S(i, j)) / nd));
    }
    // The draw order is fixed, so the same seed gives the same z: x_τ − μ = τ (x_1 − μ) exactly (to rounding).
    const MatrixXd x1 = draw(g, 1000, 111, 1.0), xt = draw(g, 1000, 111, tau);
    const MatrixXd d1 = x1.rowwise() - mu.transpose(), dt = xt.rowwise() - mu.transpose();
    CHECK((dt - tau * d1).cwiseAbs().maxCoeff() <= 1e-12 * (1 + tau * d1.cwiseAbs().maxCoeff()));
  }
}

TEST_CASE("sample: bad calls throw") {
  GaussianMixture unfitted;
  Rng rng(1);
  CHECK_THROWS_AS(unfitted.sample(10, SamplingControls{}, rng), std::logic_error);
  CHECK_THROWS_AS(unfitted.score_samples(MatrixXd::Zero(2, 1)), std::logic_error);
  SamplingControls c;
  c.temperature = 0;
  CHECK_THROWS_AS(three_in_2d().sample(10, c, rng), std::invalid_argument);
  CHECK(three_in_2d().sample(0, SamplingControls{}, rng).rows() == 0);
}

TEST_CASE("score_samples: matches hand-computed densities") {
  // p(0.5) = 0.3 N(0.5 | −1, 0.25) + 0.7 N(0.5 | 2, 4)
  //        = 0.3 e^{−4.5}/√(0.5π) + 0.7 e^{−0.28125}/√(8π) = 0.10805721030134435 (Python, float64).
  const GaussianMixture g1 = GaussianMixture::from_parameters(vec({0.3, 0.7}), mat({{-1.0}, {2.0}}),
                                                              {mat({{0.25}}), mat({{4.0}})});
  const VectorXd s = g1.score_samples(mat({{0.5}, {-1.0}}));
  CHECK(s(0) == doctest::Approx(std::log(0.10805721030134435)).epsilon(1e-13));
  const double at_minus_one = std::log(0.3 / std::sqrt(0.5 * kPi) + 0.7 * std::exp(-9.0 / 8.0) / std::sqrt(8 * kPi));
  CHECK(s(1) == doctest::Approx(at_minus_one).epsilon(1e-13));
  CHECK(g1.log_likelihood(mat({{0.5}, {-1.0}})) == doctest::Approx(s.sum()).epsilon(1e-15));

  // 2-D full: against log N = −½(d log 2π + log det Σ + (x − μ)ᵀ Σ⁻¹ (x − μ)), summed over components.
  const GaussianMixture g2 = three_in_2d();
  const MatrixXd x = mat({{-7.5, 0.3}, {0.0, 0.0}, {30.0, -20.0}});
  const VectorXd got = g2.score_samples(x);
  for (int i = 0; i < 3; ++i) {
    std::vector<double> terms;
    for (int k = 0; k < 3; ++k) {
      const MatrixXd& S = g2.covariances()[static_cast<std::size_t>(k)];
      const Eigen::Vector2d dlt = (x.row(i) - g2.means().row(k)).transpose();
      terms.push_back(std::log(g2.weights()(k)) -
                      0.5 * (2 * kLog2Pi + std::log(S.determinant()) + dlt.dot(S.inverse() * dlt)));
    }
    const double mx = *std::max_element(terms.begin(), terms.end());
    double sum = 0;
    for (double t : terms) sum += std::exp(t - mx);
    CAPTURE(i);
    CHECK(got(i) == doctest::Approx(mx + std::log(sum)).epsilon(1e-12));
  }
  CHECK(std::isfinite(got(2)));  // far in the tail: log-sum-exp, no underflow to −inf
  CHECK_THROWS_AS(g2.score_samples(MatrixXd::Zero(2, 3)), std::invalid_argument);
}

TEST_CASE("marginal_quantile: inverts marginal_cdf, including far tails") {
  const GaussianMixture z = GaussianMixture::from_parameters(vec({1.0}), mat({{0.0}}), {mat({{1.0}})});
  CHECK(z.marginal_cdf(0, 1.9599639845400536) == doctest::Approx(0.975).epsilon(1e-15));
  CHECK(z.marginal_cdf(0, 0.0) == 0.5);
  CHECK(z.marginal_quantile(0, 0.975) == doctest::Approx(1.9599639845400536).epsilon(1e-11));

  const GaussianMixture g = three_in_2d();
  for (int j = 0; j < 2; ++j) {
    double previous = -std::numeric_limits<double>::infinity();
    for (double p : {1e-300, 1e-12, 0.01, 0.2, 0.3, 0.5, 0.77, 0.99, 1 - 1e-12}) {
      CAPTURE(j);
      CAPTURE(p);
      const double q = g.marginal_quantile(j, p);
      CHECK(q > previous);  // strictly increasing in p
      previous = q;
      const double c = g.marginal_cdf(j, q);
      if (p <= 0.5) {
        // q is found to ~1e-15 relative; F'(q)/F(q) ≤ ~40/σ in the far tail (|q| ≲ 50) → ≤ ~1e-12 relative in F.
        CHECK(c == doctest::Approx(p).epsilon(1e-11));
      } else {
        CHECK(std::abs(c - p) <= 1e-14);  // F is evaluated near 1: ulp(1) = 2.2e-16
      }
    }
  }
  CHECK_THROWS_AS(g.marginal_quantile(0, 0.0), std::invalid_argument);
  CHECK_THROWS_AS(g.marginal_quantile(0, 1.0), std::invalid_argument);
  CHECK_THROWS_AS(g.marginal_cdf(2, 0.0), std::invalid_argument);
}

TEST_CASE("from_parameters: validates shapes, weights and positive definiteness") {
  const MatrixXd I = MatrixXd::Identity(2, 2);
  const MatrixXd means = mat({{0, 0}, {1, 1}});
  CHECK_NOTHROW(GaussianMixture::from_parameters(vec({0.5, 0.5}), means, {I, I}));
  CHECK_THROWS_WITH_AS(GaussianMixture::from_parameters(vec({0.5, 0.5}), means, {I, mat({{1, 2}, {2, 1}})}),
                       "gaussian mixture: covariances[1] is not positive definite", std::invalid_argument);
  CHECK_THROWS_WITH_AS(GaussianMixture::from_parameters(vec({1.5, -0.5}), means, {I, I}),
                       "gaussian mixture: weights[1] = -0.5, but must be finite and ≥ 0", std::invalid_argument);
  CHECK_THROWS_WITH_AS(GaussianMixture::from_parameters(vec({0.5, 0.4}), means, {I, I}),
                       "gaussian mixture: weights sum to 0.9, but must sum to 1 (±1e-9)", std::invalid_argument);
  CHECK_THROWS_WITH_AS(GaussianMixture::from_parameters(vec({1.0}), means, {I}),
                       "gaussian mixture: means has 2 rows, but weights has 1 entries (one row per component)",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(GaussianMixture::from_parameters(vec({0.5, 0.5}), means, {I}),
                       "gaussian mixture: covariances has 1 matrices, but weights has 2 entries",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(GaussianMixture::from_parameters(vec({0.5, 0.5}), means, {I, MatrixXd::Identity(3, 3)}),
                       "gaussian mixture: covariances[1] is 3 × 3, but must be 2 × 2 (d = means.cols())",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(GaussianMixture::from_parameters(vec({0.5, 0.5}), means, {I, mat({{1, 0.5}, {0.4, 1}})}),
                       doctest::Contains("gaussian mixture: covariances[1] is not symmetric"), std::invalid_argument);
  // Weights within ±1e-9 of a unit sum are renormalised.
  const GaussianMixture g = GaussianMixture::from_parameters(vec({0.5, 0.5 + 5e-10}), means, {I, I});
  CHECK(g.weights().sum() == doctest::Approx(1.0).epsilon(1e-15));
  CHECK(g.options().components == 2);
}

TEST_CASE("fit: n_init keeps the restart with the best final lower bound (same rng stream as single fits)") {
  // Six separated 1-D clusters, K = 4, k-means++ seeding only and 5 EM iterations: restarts end in
  // different local optima. Restart r of an n_init = R fit consumes the rng exactly like the r-th of R
  // consecutive n_init = 1 fits on one Rng, so the kept lower bound must be the best of those.
  MatrixXd x(600, 1);
  {
    Rng rng(141);
    boost::random::uniform_real_distribution<double> unif(-0.5, 0.5);
    for (Eigen::Index i = 0; i < x.rows(); ++i) x(i, 0) = 4.0 * static_cast<double>(i % 6) + unif(rng);
  }
  GmmOptions o;
  o.components = 4;
  o.init = GmmInit::kmeans_pp;
  o.max_iter = 5;
  const int R = 6;
  std::vector<double> single;
  std::vector<MatrixXd> single_means;
  {
    Rng rng(142);
    for (int r = 0; r < R; ++r) {
      GaussianMixture g(o);
      single.push_back(g.fit(x, rng).lower_bound);
      single_means.push_back(g.means());
    }
  }
  const auto best = std::max_element(single.begin(), single.end());
  CAPTURE(single[0]);
  CAPTURE(*best);
  REQUIRE(*best - *std::min_element(single.begin(), single.end()) > 1e-3);  // the restarts do matter

  o.n_init = R;
  GaussianMixture model(o);
  Rng rng(142);
  const FitReport r = model.fit(x, rng);
  for (double lb : single) CHECK(r.lower_bound >= lb);
  CHECK(r.lower_bound == *best);  // exact: the same computation
  CHECK(model.means() == single_means[static_cast<std::size_t>(best - single.begin())]);
  // Events belong to the kept restart only: at most one "em_not_converged" (not one per restart).
  CHECK(count_events(r, "em_not_converged") <= 1);

  // n_init = 1 is the old behaviour: the first of the single fits.
  o.n_init = 1;
  GaussianMixture one(o);
  CHECK(fit(one, x, 142).lower_bound == single[0]);
}

TEST_CASE("fit: init = previous warm-starts from the last fit: fewer iterations, the same optimum") {
  const GaussianMixture truth = GaussianMixture::from_parameters(vec({0.5, 0.5}), mat({{0.0}, {1.5}}),
                                                                 {mat({{1.0}}), mat({{1.0}})});
  const MatrixXd x = draw(truth, 2000, 151);  // heavily overlapping: EM needs many iterations from k-means
  GmmOptions o;
  o.components = 2;
  o.tol = 1e-7;
  o.max_iter = 10000;
  GaussianMixture cold(o);
  const FitReport rc = fit(cold, x, 152);
  REQUIRE(rc.converged);
  REQUIRE(rc.iterations > 10);

  o.init = GmmInit::previous;
  GaussianMixture warm(o);
  // Not fitted yet: falls back to kmeans, bit-identical to the cold fit, no event.
  const FitReport first = fit(warm, x, 152);
  CHECK(first.iterations == rc.iterations);
  CHECK(first.lower_bound == rc.lower_bound);
  CHECK(warm.means() == cold.means());
  CHECK(first.events.empty());
  // Refit on the same data from the converged parameters: a couple of iterations, same optimum.
  const FitReport again = fit(warm, x, 999);
  CHECK(again.converged);
  CHECK(again.iterations < rc.iterations);
  CHECK(again.iterations <= 3);
  CHECK(again.lower_bound >= rc.lower_bound - 1e-7);
  CHECK(std::abs(again.lower_bound - rc.lower_bound) < 1e-6);
  CHECK((warm.means() - cold.means()).cwiseAbs().maxCoeff() < 1e-3);
  CHECK((warm.weights() - cold.weights()).cwiseAbs().maxCoeff() < 1e-3);
  // The warm start draws nothing: any seed gives the same bits.
  GaussianMixture warm2(o);
  fit(warm2, x, 152);
  fit(warm2, x, 7);
  CHECK(warm2.means() == warm.means());

  // A dimension change cannot be warm-started: kmeans with options.components, and an event.
  const MatrixXd x2 = draw(three_in_2d(), 500, 153);
  const FitReport other = fit(warm, x2, 154);
  CHECK(warm.dim() == 2);
  CHECK(warm.components() == 2);
  CHECK(count_events(other, "warm_start_fallback") == 1);

  // n_init > 1: restart 0 is the warm start, the others kmeans; the best is kept, so never worse.
  o.n_init = 3;
  GaussianMixture warm3(o);
  fit(warm3, x, 152);
  const FitReport r3 = fit(warm3, x, 155);
  CHECK(r3.lower_bound >= again.lower_bound - 1e-12);
}

TEST_CASE("fit: degenerate policies on data that forces an empty component") {
  // Two distinct values, K = 3: one component must lose its support (the "empty component" case above).
  MatrixXd x(40, 1);
  x.topRows(20).setConstant(0.0);
  x.bottomRows(20).setConstant(1.0);
  GmmOptions o;
  o.components = 3;

  SUBCASE("keep: the scikit-learn behaviour, K stays 3") {
    o.degenerate = DegeneratePolicy::keep;
    GaussianMixture model(o);
    FitReport r;
    CHECK_NOTHROW(r = fit(model, x, 73));
    CHECK(count_events(r, "empty_component") >= 1);
    CHECK(count_events(r, "component_dropped") == 0);
    CHECK(count_events(r, "component_reseeded") == 0);
    CHECK(model.components() == 3);
  }
  SUBCASE("drop: K shrinks in the fitted model; a kmeans refit starts again from 3, previous continues") {
    o.degenerate = DegeneratePolicy::drop;
    GaussianMixture model(o);
    FitReport r;
    CHECK_NOTHROW(r = fit(model, x, 73));
    const int dropped = count_events(r, "component_dropped");
    CHECK(dropped >= 1);
    CHECK(model.components() == 3 - dropped);
    CHECK(model.components() >= 1);
    CHECK(count_events(r, "empty_component") == 0);
    CHECK(model.means().rows() == model.components());
    CHECK(model.covariances().size() == static_cast<std::size_t>(model.components()));
    CHECK(model.weights().sum() == doctest::Approx(1.0).epsilon(1e-14));
    CHECK(std::isfinite(model.log_likelihood(x)));
    CHECK(draw(model, 50, 74).allFinite());
    for (const auto& e : r.events)
      if (e.kind == "component_dropped") CHECK(e.message.find("dropped (model.degenerate = drop)") != std::string::npos);

    // Recovery: the next kmeans fit starts from options.components = 3 again.
    const MatrixXd y = draw(three_in_2d(), 600, 75).leftCols(1);
    fit(model, y, 76);
    CHECK(model.components() == 3);

    // init = previous continues from the shrunk model.
    o.init = GmmInit::previous;
    GaussianMixture warm(o);
    fit(warm, x, 73);
    const int k_after = warm.components();
    CHECK(k_after < 3);
    fit(warm, y, 77);
    CHECK(warm.components() <= k_after);
  }
  SUBCASE("drop never removes the last component") {
    const MatrixXd five = mat({{0.0, 1.0}, {2.0, -1.0}, {5.0, 5.0}, {-3.0, 2.0}, {1.0, 1.5}});
    o.components = 5;
    o.degenerate = DegeneratePolicy::drop;
    GaussianMixture model(o);
    FitReport r;
    CHECK_NOTHROW(r = fit(model, five, 75));  // every cluster holds one point: all are empty
    CHECK(model.components() == 1);
    CHECK(count_events(r, "component_dropped") == 4);
    CHECK(count_events(r, "empty_component") == 1);  // the survivor, handled as keep
    CHECK(model.weights()(0) == doctest::Approx(1.0));
    CHECK(std::isfinite(model.log_likelihood(five)));
  }
  SUBCASE("reseed: K stays 3, at most kMaxReseeds reseeds, EM terminates") {
    o.degenerate = DegeneratePolicy::reseed;
    o.max_iter = 500;
    GaussianMixture model(o);
    FitReport r;
    CHECK_NOTHROW(r = fit(model, x, 73));
    const int reseeds = count_events(r, "component_reseeded");
    CHECK(reseeds >= 1);
    CHECK(reseeds <= collapse::kMaxReseeds);
    CHECK(model.components() == 3);
    CHECK(model.weights().sum() == doctest::Approx(1.0).epsilon(1e-14));
    CHECK(model.means().allFinite());
    CHECK(std::isfinite(model.log_likelihood(x)));
    for (const auto& e : r.events)
      if (e.kind == "component_reseeded") CHECK(e.message.find("reseeded at training row ") != std::string::npos);
    // Reseeded means are training rows: 0 or 1 here.
    for (Eigen::Index k = 0; k < 3; ++k) CHECK((model.means()(k, 0) >= 0.0 && model.means()(k, 0) <= 1.0));
    // Deterministic given the seed.
    GaussianMixture again(o);
    const FitReport r2 = fit(again, x, 73);
    CHECK(r2.events.size() == r.events.size());
    CHECK(again.means() == model.means());
  }
}

TEST_CASE("fit: fit_covariance = false updates weights and means only; K = 1 gives the sample mean") {
  const MatrixXd x = draw(three_in_2d(), 1000, 161);
  const MatrixXd fixed = mat({{2.0, 0.3}, {0.3, 0.5}});
  GmmOptions o;
  o.fit_covariance = false;
  o.fixed_covariance = fixed;
  SUBCASE("K = 1: the mean-only MLE") {
    GaussianMixture model(o);
    const FitReport r = fit(model, x, 162);
    CHECK(r.converged);
    CHECK(model.weights()(0) == 1.0);
    const Eigen::RowVectorXd mean = x.colwise().mean();
    CHECK((model.means().row(0) - mean).cwiseAbs().maxCoeff() <= 1e-15 * (1 + mean.cwiseAbs().maxCoeff()));
    CHECK(model.covariances()[0] == fixed);  // exactly: no reg_covar, no update
    CHECK(r.events.empty());
  }
  SUBCASE("K = 3: every covariance is held fixed") {
    o.components = 3;
    GaussianMixture model(o);
    fit(model, x, 163);
    for (const MatrixXd& c : model.covariances()) CHECK(c == fixed);
    CHECK(model.weights().sum() == doctest::Approx(1.0).epsilon(1e-14));
    // Separated clusters: the means still find them (5 SE of a labelled mean, as above).
    const std::vector<int> order = order_by_first_mean(model);
    CHECK(std::abs(model.means()(order[0], 0) - (-8.0)) < 0.5);
    CHECK(std::abs(model.means()(order[2], 0) - 8.0) < 0.5);
  }
  SUBCASE("a diagonal fixed covariance in 1-D") {
    o.fixed_covariance = mat({{0.25}});
    GaussianMixture model(o);
    fit(model, x.leftCols(1), 164);
    CHECK(model.covariances()[0](0, 0) == 0.25);
    CHECK(model.means()(0, 0) == doctest::Approx(x.col(0).mean()).epsilon(1e-15));
  }
  SUBCASE("the fixed covariance must match the data's dimension") {
    GaussianMixture model(o);
    Rng rng(1);
    CHECK_THROWS_WITH_AS(model.fit(x.leftCols(1), rng),
                         "gaussian mixture fit: model.fit_covariance = false needs model.fixed_covariance of 1 × 1 "
                         "for data with d = 1, but it is 2 × 2",
                         std::invalid_argument);
  }
}

TEST_CASE("GmmOptions::IsValid: n_init and fixed_covariance messages") {
  const auto message = [](GmmOptions o) {
    std::string e;
    CHECK_FALSE(o.IsValid(&e));
    return e;
  };
  GmmOptions o;
  o.n_init = 0;
  CHECK(message(o) == "model.n_init = 0, but must be ≥ 1");
  CHECK_THROWS_WITH_AS(GaussianMixture{o}, "model.n_init = 0, but must be ≥ 1", std::invalid_argument);
  o = {};
  o.components = 2;
  o.unbiased_covariance = true;
  CHECK(message(o) == "model.covariance_estimator = \"unbiased\" needs model.components = 1 (Bessel's correction is "
                      "not defined for a mixture component), but model.components = 2");
  o = {};
  o.fit_covariance = false;
  CHECK(message(o) ==
        "model.fixed_covariance is empty, but must be a d × d symmetric positive definite matrix when "
        "model.fit_covariance = false");
  o.fixed_covariance = MatrixXd::Identity(2, 3);
  CHECK(message(o) == "model.fixed_covariance is 2 × 3, but must be square (d × d) when model.fit_covariance = false");
  o.fixed_covariance = mat({{1, 2}, {2, 1}});
  CHECK(message(o) == "model.fixed_covariance is not positive definite, but must be symmetric positive definite");
  o.fixed_covariance = mat({{1, 0.5}, {0.4, 1}});
  CHECK(message(o).find("model.fixed_covariance is not symmetric") == 0);
  o.fixed_covariance = mat({{std::nan("")}});
  CHECK(message(o) == "model.fixed_covariance contains a non-finite value, but must be finite");
  o.fixed_covariance = mat({{1, 0.5}, {0.5, 1}});
  CHECK(o.IsValid(nullptr));
  // Ignored (not checked) while the covariance is fitted.
  GmmOptions fitted;
  fitted.fixed_covariance = mat({{1, 2}, {2, 1}});
  CHECK(fitted.IsValid(nullptr));
}

TEST_CASE("GmmOptions::IsValid: names the offending config key") {
  std::string error;
  CHECK(GmmOptions{}.IsValid(&error));
  CHECK(GmmOptions{}.IsValid(nullptr));
  const auto message = [](GmmOptions o) {
    std::string e;
    CHECK_FALSE(o.IsValid(&e));
    CHECK_FALSE(o.IsValid(nullptr));
    return e;
  };
  GmmOptions o;
  o.components = 0;
  CHECK(message(o) == "model.components = 0, but must be ≥ 1");
  o = {};
  o.tol = 0;
  CHECK(message(o) == "model.tol = 0, but must be > 0");
  o = {};
  o.max_iter = 0;
  CHECK(message(o) == "model.max_iter = 0, but must be ≥ 1");
  o = {};
  o.reg_covar = -1e-6;
  CHECK(message(o) == "model.reg_covar = -1e-06, but must be ≥ 0");
  CHECK_THROWS_WITH_AS(GaussianMixture{o}, "model.reg_covar = -1e-06, but must be ≥ 0", std::invalid_argument);
}

}  // TEST_SUITE

TEST_SUITE("models/gaussian_mixture/slow") {

TEST_CASE("fit_covariance = false, K = 1: the recursive loop's mean is a random walk (Gerstgrasser et al. 2024)") {
  // Fit the mean only (Σ fixed at 1) on n samples, sample n from the fit, repeat: μ_g = μ_{g−1} + ε_g with
  // ε_g ~ N(0, 1/n), so μ_G ~ N(0, G/n) exactly. R replicates: the sample variance s² of μ_G has
  // SE ≈ (G/n)·√(2/(R − 1)); 5 SE → false-alarm rate 5.7e-7 (normal approximation to the χ² is fine at R = 2000).
  const int R = 2000, G = 40, n = 50;
  GmmOptions o;
  o.fit_covariance = false;
  o.fixed_covariance = mat({{1.0}});
  const GaussianMixture truth = GaussianMixture::from_parameters(vec({1.0}), mat({{0.0}}), {mat({{1.0}})});
  std::vector<double> final_mean;
  for (int rep = 0; rep < R; ++rep) {
    GaussianMixture model(o);
    MatrixXd x = draw(truth, n, 10000 + static_cast<std::uint64_t>(rep));
    for (int g = 0; g < G; ++g) {
      fit(model, x, 1);
      x = draw(model, n, 20000 + static_cast<std::uint64_t>(rep) * 100 + static_cast<std::uint64_t>(g));
      REQUIRE(model.covariances()[0](0, 0) == 1.0);
    }
    final_mean.push_back(model.means()(0, 0));
  }
  const double m = std::accumulate(final_mean.begin(), final_mean.end(), 0.0) / R;
  double s2 = 0;
  for (double v : final_mean) s2 += (v - m) * (v - m);
  s2 /= R - 1;
  const double expected = static_cast<double>(G) / n;  // fits at g = 0..G−1 see G sampling steps (incl. the first draw)
  CAPTURE(s2);
  CAPTURE(expected);
  CHECK(std::abs(s2 - expected) <= 5 * expected * std::sqrt(2.0 / (R - 1)));
  CHECK(std::abs(m) <= 5 * std::sqrt(expected / R));
}

}  // TEST_SUITE
