#include "metrics/gmm_metrics.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <numbers>
#include <numeric>
#include <stdexcept>
#include <string>

#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>
#include <boost/math/special_functions/erf.hpp>

#include "core/check.hpp"
#include "models/sampling.hpp"

namespace collapse::metrics {

double total_variance(const GaussianMixture& model) {
  const auto& w = model.weights();
  const auto& mu = model.means();
  Eigen::VectorXd m = mu.transpose() * w;
  double second = 0;
  for (int k = 0; k < model.components(); ++k)
    second += w[k] * (model.covariances()[static_cast<std::size_t>(k)].trace() + mu.row(k).squaredNorm());
  return second - m.squaredNorm();
}

Eigen::VectorXd tail_mass_per_dim(const GaussianMixture& model, const Eigen::VectorXd& lo, const Eigen::VectorXd& hi) {
  Eigen::VectorXd out(model.dim());
  for (int j = 0; j < model.dim(); ++j) out[j] = model.marginal_cdf(j, lo[j]) + (1.0 - model.marginal_cdf(j, hi[j]));
  return out;
}

double mean_log_likelihood(const GaussianMixture& model, const Eigen::MatrixXd& data) {
  return model.score_samples(data).mean();
}

std::vector<int> canonical_component_order(const GaussianMixture& model) {
  std::vector<int> order(static_cast<std::size_t>(model.components()));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    const double ma = model.means()(a, 0), mb = model.means()(b, 0);
    if (ma != mb) return ma < mb;
    return model.weights()[a] < model.weights()[b];
  });
  return order;
}

// ===================================================================================================
// Helpers
// ===================================================================================================

namespace {

using Eigen::Index;
using Eigen::MatrixXd;
using Eigen::VectorXd;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kEps = std::numeric_limits<double>::epsilon();
constexpr double kSqrtHalf = 0.70710678118654752440;    // 1/√2
constexpr double kInvSqrt2Pi = 0.39894228040143267794;  // 1/√(2π)

void require_parameters(const GaussianMixture& m, const char* fn, const char* which) {
  if (!m.fitted())
    throw std::invalid_argument(std::string(fn) + ": " + which +
                                " has no parameters, but must be fitted or built by from_parameters");
}

void require_pair(const GaussianMixture& p, const GaussianMixture& q, const char* fn) {
  require_parameters(p, fn, "p");
  require_parameters(q, fn, "q");
  if (p.dim() != q.dim())
    throw std::invalid_argument(std::string(fn) + ": p has dimension " + std::to_string(p.dim()) + " and q has " +
                                std::to_string(q.dim()) + ", but they must be equal");
}

/// Principal square root of a symmetric positive semi-definite matrix (eigenvalues clamped at 0).
MatrixXd sqrt_psd(const MatrixXd& A) {
  Eigen::SelfAdjointEigenSolver<MatrixXd> es(A);
  const VectorXd s = es.eigenvalues().cwiseMax(0.0).cwiseSqrt();
  return es.eigenvectors() * s.asDiagonal() * es.eigenvectors().transpose();
}

/// W2² between N(mp, Sp) and N(mq, Sq) (Dowson & Landau 1982; Givens & Shortt 1984), clamped at 0.
double gaussian_w2_squared(const VectorXd& mp, const MatrixXd& Sp, const VectorXd& mq, const MatrixXd& Sq) {
  const double mean_part = (mp - mq).squaredNorm();
  if (Sp.rows() == 1) {  // (σp − σq)², no cancellation
    const double ds = std::sqrt(Sp(0, 0)) - std::sqrt(Sq(0, 0));
    return mean_part + ds * ds;
  }
  const MatrixXd R = sqrt_psd(Sq);
  MatrixXd M = R * Sp * R;
  M = (0.5 * (M + M.transpose())).eval();  // exact symmetry for the eigensolver
  Eigen::SelfAdjointEigenSolver<MatrixXd> es(M, Eigen::EigenvaluesOnly);
  const double cross = es.eigenvalues().cwiseMax(0.0).cwiseSqrt().sum();  // tr (R Sp R)^{1/2}
  return std::max(0.0, mean_part + Sp.trace() + Sq.trace() - 2.0 * cross);
}

/// KL(N(mp, Sp) ‖ N(mq, Sq)) in nats, clamped at 0.
double gaussian_kl(const VectorXd& mp, const MatrixXd& Sp, const VectorXd& mq, const MatrixXd& Sq) {
  const Eigen::LLT<MatrixXd> lp(Sp), lq(Sq);
  if (lp.info() != Eigen::Success || lq.info() != Eigen::Success)
    throw NumericalError("kl_divergence: a covariance is not positive definite");
  const MatrixXd A = lq.matrixL().solve(MatrixXd(lp.matrixL()));  // Lq⁻¹ Lp: tr(Σq⁻¹Σp) = ‖A‖²_F
  VectorXd diff = mq - mp;
  lq.matrixL().solveInPlace(diff);  // ‖Lq⁻¹ (μq − μp)‖² = Mahalanobis term
  const double log_det_p = 2.0 * lp.matrixLLT().diagonal().array().log().sum();
  const double log_det_q = 2.0 * lq.matrixLLT().diagonal().array().log().sum();
  const double d = static_cast<double>(mp.size());
  return std::max(0.0, 0.5 * (A.squaredNorm() + diff.squaredNorm() - d + log_det_q - log_det_p));
}

// ---------------------------------------------------------------------------------------------------
// 1-D marginal quantiles and the W2 quadrature
// ---------------------------------------------------------------------------------------------------

/// The 1-D marginal of dimension j: components with w_k > 0 only.
struct Marginal {
  std::vector<double> w, mu, sd;
  std::vector<double> inv_sd;       ///< 1/σ_k
  std::vector<double> dens_factor;  ///< w_k/(σ_k √(2π))
  double sd_min = kInf, sd_max = 0, abs_mu_max = 0;
};

Marginal marginal_of(const GaussianMixture& m, int j) {
  Marginal out;
  for (int k = 0; k < m.components(); ++k) {
    const double w = m.weights()[k];
    if (!(w > 0)) continue;
    const double sd = std::sqrt(m.covariances()[static_cast<std::size_t>(k)](j, j));
    out.w.push_back(w);
    out.mu.push_back(m.means()(k, j));
    out.sd.push_back(sd);
    out.inv_sd.push_back(1.0 / sd);
    out.dens_factor.push_back(w * kInvSqrt2Pi / sd);
    out.sd_min = std::min(out.sd_min, sd);
    out.sd_max = std::max(out.sd_max, sd);
    out.abs_mu_max = std::max(out.abs_mu_max, std::abs(m.means()(k, j)));
  }
  return out;
}

/// A probability level u given as both u and 1 − u, each to full relative precision (so that levels
/// within 1e-300 of 0 or of 1 are resolved).
struct Level {
  double lower;  ///< u
  double upper;  ///< 1 − u
};

/// F⁻¹(u) for the marginal F = Σ_k w_k Φ((x − μ_k)/σ_k). One component: μ + σ Φ⁻¹(u) (Boost erfc_inv).
/// Otherwise, with z = Φ⁻¹(u), the root lies in the bracket [min_k(μ_k + σ_k z), max_k(μ_k + σ_k z)]
/// (at its ends every term of F is ≤ resp. ≥ Φ(z)), widened by the error margin of the approximate z.
/// Safeguarded Newton on h(x) = ln F(x) − ln u (u ≤ ½) or ln(1 − u) − ln S(x) (u > ½, S = 1 − F as
/// Σ_k w_k Φ(−(x − μ_k)/σ_k)), so both tails keep full relative precision; h increases and h' = f/T
/// with T the tail used. Starts from `hint` (the previous quantile: the quadrature visits levels in
/// ascending order) when it lies inside the bracket, and stores the result there. Converged when
/// |h| ≤ 4ε or the step is ≤ 2 ulp of max(|x|, smallest σ). Bisection when Newton leaves the bracket.
/// Φ⁻¹(p) for p ∈ (0, ½] by Acklam's rational approximation (relative error < 1.2e-9; P. J. Acklam
/// 2003, "An algorithm for computing the inverse normal cumulative distribution function"). Used only
/// to bracket quantiles, with a margin of 1e-8 (1 + |z|). Cost: one rational function (+ log, sqrt in the tail).
double approx_normal_quantile_lower(double p) {
  constexpr double a0 = -3.969683028665376e+01, a1 = 2.209460984245205e+02, a2 = -2.759285104469687e+02,
                   a3 = 1.383577518672690e+02, a4 = -3.066479806614716e+01, a5 = 2.506628277459239e+00;
  constexpr double b0 = -5.447609879822406e+01, b1 = 1.615858368580409e+02, b2 = -1.556989798598866e+02,
                   b3 = 6.680131188771972e+01, b4 = -1.328068155288572e+01;
  constexpr double c0 = -7.784894002430293e-03, c1 = -3.223964580411365e-01, c2 = -2.400758277161838e+00,
                   c3 = -2.549732539343734e+00, c4 = 4.374664141464968e+00, c5 = 2.938163982698783e+00;
  constexpr double d0 = 7.784695709041462e-03, d1 = 3.224671290700398e-01, d2 = 2.445134137142996e+00,
                   d3 = 3.754408661907416e+00;
  if (p < 0.02425) {
    const double q = std::sqrt(-2.0 * std::log(p));
    return (((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) / ((((d0 * q + d1) * q + d2) * q + d3) * q + 1.0);
  }
  const double q = p - 0.5, r = q * q;
  return (((((a0 * r + a1) * r + a2) * r + a3) * r + a4) * r + a5) * q /
         (((((b0 * r + b1) * r + b2) * r + b3) * r + b4) * r + 1.0);
}

double quantile(const Marginal& m, Level u, double& hint) {
  const bool upper = u.upper < u.lower;
  const double tail_target = upper ? u.upper : u.lower;  // ≤ ½
  if (!(tail_target > 0)) return hint;                   // cannot happen for the quadrature's levels
  if (m.w.size() == 1) {  // one component: exact, μ + σ Φ⁻¹(u)
    const double z_abs = std::numbers::sqrt2 * boost::math::erfc_inv(2.0 * tail_target);
    return hint = m.mu[0] + m.sd[0] * (upper ? z_abs : -z_abs);
  }
  const double z_approx = upper ? -approx_normal_quantile_lower(tail_target) : approx_normal_quantile_lower(tail_target);
  const double margin = 1e-8 * (1.0 + std::abs(z_approx));
  double lo = kInf, hi = -kInf;
  for (std::size_t k = 0; k < m.w.size(); ++k) {
    lo = std::min(lo, m.mu[k] + m.sd[k] * (z_approx - margin));
    hi = std::max(hi, m.mu[k] + m.sd[k] * (z_approx + margin));
  }
  const double sign = upper ? kSqrtHalf : -kSqrtHalf;
  const double log_target = std::log(tail_target);
  double x = (hint > lo && hint < hi) ? hint : lo + 0.5 * (hi - lo);
  for (int iter = 0; iter < 200; ++iter) {
    double tail = 0, dens = 0, slope = 0;  // T, f, f'
    for (std::size_t k = 0; k < m.w.size(); ++k) {
      const double t = (x - m.mu[k]) * m.inv_sd[k];
      tail += m.w[k] * std::erfc(sign * t);
      const double fk = m.dens_factor[k] * std::exp(-0.5 * t * t);
      dens += fk;
      slope -= fk * t * m.inv_sd[k];
    }
    tail *= 0.5;
    double h;
    if (tail > 0)
      h = upper ? log_target - std::log(tail) : std::log(tail) - log_target;
    else
      h = upper ? kInf : -kInf;  // F(x) = 0: far left; S(x) = 0: far right
    if (std::abs(h) <= 4 * kEps) return hint = x;  // the tail matches its target to rounding
    (h < 0 ? lo : hi) = x;
    // Halley's step on h (h' = f/T; h'' = f'/T ∓ (f/T)², − for the lower tail, + for the upper), Newton's
    // if the Halley correction is large.
    double next = kNaN;
    if (tail > 0 && dens > 0) {
      const double d1 = dens / tail, d2 = slope / tail + (upper ? d1 * d1 : -d1 * d1);
      const double newton = h / d1, correction = 1.0 - 0.5 * newton * d2 / d1;
      next = x - (correction > 0.5 && correction < 2.0 ? newton / correction : newton);
    }
    if (!(next > lo && next < hi)) next = lo + 0.5 * (hi - lo);  // Newton left the bracket: bisect
    const double tol = 2 * kEps * std::max(std::abs(x), m.sd_min);
    if (std::abs(next - x) <= tol || hi - lo <= tol) return hint = next;
    x = next;
  }
  return hint = x;
}

/// Gauss–Kronrod 7/15 nodes on [−1, 1] in ascending order, Kronrod weights, and the 7-point Gauss
/// weights of the odd-indexed nodes (QUADPACK qk15; Piessens et al. 1983).
constexpr std::array<double, 15> kGkNodes = {
    -0.991455371120812639206854697526329, -0.949107912342758524526189684047851, -0.864864423359769072789712788640926,
    -0.741531185599394439863864773280788, -0.586087235467691130294144845693013, -0.405845151377397166906606412076961,
    -0.207784955007898467600689403773245, 0.0,
    0.207784955007898467600689403773245,  0.405845151377397166906606412076961,  0.586087235467691130294144845693013,
    0.741531185599394439863864773280788,  0.864864423359769072789712788640926,  0.949107912342758524526189684047851,
    0.991455371120812639206854697526329};
constexpr std::array<double, 15> kKronrodWeights = {
    0.022935322010529224963732008058970, 0.063092092629978553290700663189204, 0.104790010322250183839876322541518,
    0.140653259715525918745189590510238, 0.169004726639267902826583426598550, 0.190350578064785409913256402421014,
    0.204432940075298892414161999234649, 0.209482141084727828012999174891714, 0.204432940075298892414161999234649,
    0.190350578064785409913256402421014, 0.169004726639267902826583426598550, 0.140653259715525918745189590510238,
    0.104790010322250183839876322541518, 0.063092092629978553290700663189204, 0.022935322010529224963732008058970};
constexpr std::array<double, 15> kGaussWeights = {
    0.0, 0.129484966168869693270611432679082, 0.0, 0.279705391489276667901467771423780,
    0.0, 0.381830050505118944950369775488975, 0.0, 0.417959183673469387755102040816327,
    0.0, 0.381830050505118944950369775488975, 0.0, 0.279705391489276667901467771423780,
    0.0, 0.129484966168869693270611432679082, 0.0};

struct Panel {
  double a, b, integral, error;
};

/// GK15 on [a, b], nodes visited in ascending order. Error estimate as QUADPACK qk15:
/// resasc · min(1, (200 |K15 − G7| / resasc)^1.5), at least 50 ε ∫|f|.
template <class F>
Panel gauss_kronrod15(F& f, double a, double b) {
  const double c = 0.5 * (a + b), h = 0.5 * (b - a);
  std::array<double, 15> fv;
  double k15 = 0, g7 = 0, abs_sum = 0;
  for (std::size_t i = 0; i < 15; ++i) {
    fv[i] = f(c + h * kGkNodes[i]);
    k15 += kKronrodWeights[i] * fv[i];
    g7 += kGaussWeights[i] * fv[i];
    abs_sum += kKronrodWeights[i] * std::abs(fv[i]);
  }
  const double mean = 0.5 * k15;
  double asc = 0;
  for (std::size_t i = 0; i < 15; ++i) asc += kKronrodWeights[i] * std::abs(fv[i] - mean);
  double err = std::abs((k15 - g7) * h);
  asc *= std::abs(h);
  abs_sum *= std::abs(h);
  if (asc != 0 && err != 0) err = asc * std::min(1.0, std::pow(200 * err / asc, 1.5));
  if (abs_sum > std::numeric_limits<double>::min() / (50 * kEps)) err = std::max(50 * kEps * abs_sum, err);
  return {a, b, k15 * h, err};
}

/// Cumulative weights of a marginal's components sorted by mean, as levels (u, 1 − u) with both parts
/// summed directly (forward and backward), excluding 0 and 1.
void add_weight_breakpoints(const Marginal& m, std::vector<Level>& out) {
  std::vector<std::size_t> order(m.w.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return m.mu[a] < m.mu[b]; });
  for (std::size_t i = 0; i + 1 < order.size(); ++i) {
    double below = 0, above = 0;
    for (std::size_t k = 0; k <= i; ++k) below += m.w[order[k]];
    for (std::size_t k = i + 1; k < order.size(); ++k) above += m.w[order[k]];
    const double total = below + above;
    if (below > 0 && above > 0) out.push_back({below / total, above / total});
  }
}

/// W2² between two 1-D mixtures by adaptive GK15 (see marginal_wasserstein2's doc).
double w2_squared_1d(const Marginal& p, const Marginal& q) {
  constexpr double kTMax = 10.0;        // Φ(−10) = 7.6e-24: neglected mass at each end of a segment
  constexpr double kRelTol = 1e-9;      // on W2², with QUADPACK's (pessimistic) error estimate
  constexpr std::size_t kMaxPanels = 2000;
  constexpr std::array<double, 7> kInitialCuts = {-kTMax, -6.0, -3.0, 0.0, 3.0, 6.0, kTMax};

  // Segments [u_i, u_{i+1}] between 0, the cumulative weights of both mixtures and 1.
  std::vector<Level> cuts = {{0.0, 1.0}, {1.0, 0.0}};
  add_weight_breakpoints(p, cuts);
  add_weight_breakpoints(q, cuts);
  std::sort(cuts.begin(), cuts.end(), [](const Level& a, const Level& b) { return a.lower < b.lower; });
  cuts.erase(std::unique(cuts.begin(), cuts.end(),
                         [](const Level& a, const Level& b) { return b.lower - a.lower < 1e-12 && a.upper - b.upper < 1e-12; }),
             cuts.end());
  cuts.back() = {1.0, 0.0};  // unique may have kept an equal neighbour

  struct Segment {
    Level start, end;
    double width;  // u_end − u_start, from whichever representation is accurate
  };
  std::vector<Segment> segments;
  for (std::size_t i = 0; i + 1 < cuts.size(); ++i) {
    const Level a = cuts[i], b = cuts[i + 1];
    const double width = b.lower <= 0.5 ? b.lower - a.lower : a.upper - b.upper;
    if (width > 0) segments.push_back({a, b, width});
  }

  // On segment s: u(t) = u_s + Δ_s Φ(t), du = Δ_s φ(t) dt, t ∈ [−10, 10]. Panels carry their segment.
  struct SegPanel {
    Panel panel;
    std::size_t segment;
  };
  double hint_p = kNaN, hint_q = kNaN;  // previous quantiles: Newton starts
  std::size_t current = 0;              // segment of the panel being integrated
  const auto integrand = [&](double t) {
    const Segment& s = segments[current];
    const double below = 0.5 * std::erfc(-t * kSqrtHalf), above = 0.5 * std::erfc(t * kSqrtHalf);  // Φ(t), Φ(−t)
    const Level u{s.start.lower + s.width * below, s.end.upper + s.width * above};
    const double diff = quantile(p, u, hint_p) - quantile(q, u, hint_q);
    return diff * diff * s.width * kInvSqrt2Pi * std::exp(-0.5 * t * t);
  };
  const auto integrate = [&](std::size_t segment, double a, double b) {
    current = segment;
    return SegPanel{gauss_kronrod15(integrand, a, b), segment};
  };

  const auto by_error = [](const SegPanel& a, const SegPanel& b) { return a.panel.error < b.panel.error; };
  std::vector<SegPanel> heap;
  heap.reserve(kMaxPanels + segments.size() * kInitialCuts.size());
  double total = 0, error = 0;
  for (std::size_t s = 0; s < segments.size(); ++s)
    for (std::size_t i = 0; i + 1 < kInitialCuts.size(); ++i) {
      heap.push_back(integrate(s, kInitialCuts[i], kInitialCuts[i + 1]));
      total += heap.back().panel.integral;
      error += heap.back().panel.error;
    }
  std::make_heap(heap.begin(), heap.end(), by_error);
  const double scale = std::max(p.abs_mu_max, q.abs_mu_max) + std::max(p.sd_max, q.sd_max);
  const double abs_floor = (1e-13 * scale) * (1e-13 * scale);
  while (error > std::max(kRelTol * std::abs(total), abs_floor) && heap.size() < kMaxPanels) {
    std::pop_heap(heap.begin(), heap.end(), by_error);
    const SegPanel worst = heap.back();
    heap.pop_back();
    const double a = worst.panel.a, b = worst.panel.b, mid = 0.5 * (a + b);
    if (!(mid > a && mid < b)) {  // cannot split further: accept it
      heap.push_back({{a, b, worst.panel.integral, 0.0}, worst.segment});
      std::push_heap(heap.begin(), heap.end(), by_error);
      error -= worst.panel.error;
      continue;
    }
    const SegPanel left = integrate(worst.segment, a, mid), right = integrate(worst.segment, mid, b);
    total += left.panel.integral + right.panel.integral - worst.panel.integral;
    error += left.panel.error + right.panel.error - worst.panel.error;
    heap.push_back(left);
    std::push_heap(heap.begin(), heap.end(), by_error);
    heap.push_back(right);
    std::push_heap(heap.begin(), heap.end(), by_error);
  }
  total = 0;  // re-sum: no drift from the incremental updates
  for (const SegPanel& panel : heap) total += panel.panel.integral;
  return std::max(0.0, total);
}

// ---------------------------------------------------------------------------------------------------
// L2 cross terms
// ---------------------------------------------------------------------------------------------------

/// Σ_ij wa_i wb_j N(μa_i; μb_j, Σa_i + Σb_j). `S` (d × d) and `diff` (d) are scratch space.
double gaussian_overlap_sum(const GaussianMixture& a, const GaussianMixture& b, MatrixXd& S, VectorXd& diff) {
  const Index d = a.dim();
  double sum = 0;
  if (d == 1) {
    for (int i = 0; i < a.components(); ++i)
      for (int j = 0; j < b.components(); ++j) {
        const double var = a.covariances()[static_cast<std::size_t>(i)](0, 0) +
                           b.covariances()[static_cast<std::size_t>(j)](0, 0);
        const double delta = a.means()(i, 0) - b.means()(j, 0);
        sum += a.weights()[i] * b.weights()[j] * kInvSqrt2Pi * std::exp(-0.5 * delta * delta / var) / std::sqrt(var);
      }
    return sum;
  }
  const double log_norm = -0.5 * static_cast<double>(d) * std::log(2 * std::numbers::pi);
  for (int i = 0; i < a.components(); ++i)
    for (int j = 0; j < b.components(); ++j) {
      S = a.covariances()[static_cast<std::size_t>(i)] + b.covariances()[static_cast<std::size_t>(j)];
      Eigen::LLT<Eigen::Ref<MatrixXd>> llt(S);  // in place: S's lower triangle becomes L
      if (llt.info() != Eigen::Success)
        throw NumericalError("l2_distance: a sum of two component covariances is not positive definite");
      diff = a.means().row(i).transpose() - b.means().row(j).transpose();
      llt.matrixL().solveInPlace(diff);
      const double half_log_det = S.diagonal().array().log().sum();
      sum += a.weights()[i] * b.weights()[j] * std::exp(log_norm - half_log_det - 0.5 * diff.squaredNorm());
    }
  return sum;
}

}  // namespace

// ===================================================================================================
// Moments of the whole mixture
// ===================================================================================================

Eigen::VectorXd overall_mean(const GaussianMixture& model) {
  require_parameters(model, "overall_mean", "the model");
  return model.means().transpose() * model.weights();
}

Eigen::MatrixXd overall_covariance(const GaussianMixture& model) {
  require_parameters(model, "overall_covariance", "the model");
  const VectorXd mu = model.means().transpose() * model.weights();
  const MatrixXd centred = model.means().rowwise() - mu.transpose();  // K × d
  MatrixXd S = centred.transpose() * model.weights().asDiagonal() * centred;
  for (int k = 0; k < model.components(); ++k)
    S += model.weights()[k] * model.covariances()[static_cast<std::size_t>(k)];
  return S;
}

double log_det_covariance(const GaussianMixture& model) {
  require_parameters(model, "log_det_covariance", "the model");
  const Eigen::LLT<MatrixXd> llt(overall_covariance(model));
  if (llt.info() != Eigen::Success) return -kInf;
  const VectorXd diag = llt.matrixLLT().diagonal();
  if (!(diag.minCoeff() > 0)) return -kInf;
  return 2.0 * diag.array().log().sum();
}

// ===================================================================================================
// Divergences and distances
// ===================================================================================================

bool kl_is_exact(const GaussianMixture& p, const GaussianMixture& q) {
  return p.components() == 1 && q.components() == 1;
}

KlEstimate kl_divergence_estimate(const GaussianMixture& p, const GaussianMixture& q, std::size_t mc_samples,
                                  Rng& rng) {
  require_pair(p, q, "kl_divergence");
  KlEstimate out;
  if (kl_is_exact(p, q)) {
    out.value = gaussian_kl(p.means().row(0).transpose(), p.covariances()[0], q.means().row(0).transpose(),
                            q.covariances()[0]);
    return out;
  }
  out.exact = false;
  out.samples = mc_samples;
  if (mc_samples == 0) {
    out.value = kNaN;
    out.standard_error = kNaN;
    return out;
  }
  const MatrixXd x = p.sample(mc_samples, SamplingControls{}, rng);
  VectorXd d = p.score_samples(x);
  d -= q.score_samples(x);
  const double n = static_cast<double>(mc_samples);
  out.value = d.mean();
  out.standard_error =
      mc_samples < 2 ? kNaN : std::sqrt((d.array() - out.value).square().sum() / (n - 1.0)) / std::sqrt(n);
  return out;
}

double kl_divergence(const GaussianMixture& p, const GaussianMixture& q, std::size_t mc_samples, Rng& rng) {
  return kl_divergence_estimate(p, q, mc_samples, rng).value;
}

double wasserstein2(const GaussianMixture& p, const GaussianMixture& q) {
  require_pair(p, q, "wasserstein2");
  if (p.components() == 1 && q.components() == 1)
    return std::sqrt(gaussian_w2_squared(p.means().row(0).transpose(), p.covariances()[0],
                                         q.means().row(0).transpose(), q.covariances()[0]));
  if (p.dim() == 1) return std::sqrt(w2_squared_1d(marginal_of(p, 0), marginal_of(q, 0)));
  return kNaN;
}

double marginal_wasserstein2(const GaussianMixture& p, const GaussianMixture& q, int j) {
  require_pair(p, q, "marginal_wasserstein2");
  if (j < 0 || j >= p.dim())
    throw std::invalid_argument("marginal_wasserstein2: dimension j = " + std::to_string(j) + ", but must be in [0, " +
                                std::to_string(p.dim() - 1) + "]");
  return std::sqrt(w2_squared_1d(marginal_of(p, j), marginal_of(q, j)));
}

double gelbrich_w2(const GaussianMixture& p, const GaussianMixture& q) {
  require_pair(p, q, "gelbrich_w2");
  return std::sqrt(gaussian_w2_squared(overall_mean(p), overall_covariance(p), overall_mean(q), overall_covariance(q)));
}

double l2_distance(const GaussianMixture& p, const GaussianMixture& q) {
  require_pair(p, q, "l2_distance");
  MatrixXd S(p.dim(), p.dim());
  VectorXd diff(p.dim());
  const double pp = gaussian_overlap_sum(p, p, S, diff);
  const double qq = gaussian_overlap_sum(q, q, S, diff);
  const double pq = gaussian_overlap_sum(p, q, S, diff);
  return std::sqrt(std::max(0.0, pp + qq - 2.0 * pq));
}

// ===================================================================================================
// Mode collapse and memorisation
// ===================================================================================================

int live_components(const GaussianMixture& model, std::size_t n_train) {
  require_parameters(model, "live_components", "the model");
  const double n = static_cast<double>(n_train);
  const double floor = 10.0 * model.options().reg_covar;
  int live = 0;
  for (int k = 0; k < model.components(); ++k) {
    if (!(model.weights()[k] * n >= 2.0)) continue;
    const MatrixXd& C = model.covariances()[static_cast<std::size_t>(k)];
    const double smallest =
        C.rows() == 1 ? C(0, 0) : Eigen::SelfAdjointEigenSolver<MatrixXd>(C, Eigen::EigenvaluesOnly).eigenvalues()(0);
    if (smallest > floor) ++live;
  }
  return live;
}

Eigen::VectorXd closest_record_distances(const Eigen::MatrixXd& generated, const Eigen::MatrixXd& real) {
  if (generated.rows() == 0 || generated.cols() == 0)
    throw std::invalid_argument("closest_record_distances: generated is " + std::to_string(generated.rows()) + " × " +
                                std::to_string(generated.cols()) + ", but must have at least one row and one column");
  if (real.rows() == 0)
    throw std::invalid_argument("closest_record_distances: real has 0 rows, but must have at least one");
  if (generated.cols() != real.cols())
    throw std::invalid_argument("closest_record_distances: generated has " + std::to_string(generated.cols()) +
                                " columns and real has " + std::to_string(real.cols()) + ", but they must be equal");
  if (!generated.allFinite())
    throw std::invalid_argument("closest_record_distances: generated contains a non-finite value");
  if (!real.allFinite()) throw std::invalid_argument("closest_record_distances: real contains a non-finite value");

  const Index m = generated.rows(), N = real.rows(), d = real.cols();
  VectorXd out(m);
  if (d == 1) {
    std::vector<double> sorted(real.data(), real.data() + N);
    std::sort(sorted.begin(), sorted.end());
    for (Index i = 0; i < m; ++i) {
      const double g = generated(i, 0);
      const auto it = std::lower_bound(sorted.begin(), sorted.end(), g);
      double best = kInf;
      if (it != sorted.end()) best = *it - g;
      if (it != sorted.begin()) best = std::min(best, g - *(it - 1));
      out[i] = best;
    }
    return out;
  }

  constexpr Index kGenBlock = 256, kRealBlock = 1024;
  using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const VectorXd gen_norm = generated.rowwise().squaredNorm();
  const VectorXd real_norm = real.rowwise().squaredNorm();
  const double real_norm_max = real_norm.maxCoeff();
  // Rounding bound of ‖a‖² + ‖b‖² − 2a·b, twice (two values are compared), with room to spare.
  const double slack_factor = 8.0 * static_cast<double>(d + 4) * kEps;
  VectorXd best_expanded = VectorXd::Constant(m, kInf);  // smallest ‖a‖² + ‖b‖² − 2a·b seen
  VectorXd best_direct = VectorXd::Constant(m, kInf);    // smallest directly measured ‖a − b‖²
  RowMajor block(std::min(kGenBlock, m), std::min(kRealBlock, N));
  for (Index g0 = 0; g0 < m; g0 += kGenBlock) {
    const Index gb = std::min(kGenBlock, m - g0);
    for (Index r0 = 0; r0 < N; r0 += kRealBlock) {
      const Index rb = std::min(kRealBlock, N - r0);
      auto D = block.topLeftCorner(gb, rb);
      D.noalias() = (-2.0 * generated.middleRows(g0, gb)) * real.middleRows(r0, rb).transpose();
      D.colwise() += gen_norm.segment(g0, gb);
      D.rowwise() += real_norm.segment(r0, rb).transpose();
      for (Index i = 0; i < gb; ++i) {
        const Index gi = g0 + i;
        if (best_direct[gi] == 0) continue;
        const double row_min = D.row(i).minCoeff();
        const double slack = slack_factor * (gen_norm[gi] + real_norm_max);
        if (row_min > best_expanded[gi] + slack) continue;
        best_expanded[gi] = std::min(best_expanded[gi], row_min);
        const double limit = best_expanded[gi] + slack;
        for (Index j = 0; j < rb; ++j) {
          if (D(i, j) > limit) continue;
          const double direct = (generated.row(gi) - real.row(r0 + j)).squaredNorm();
          if (direct < best_direct[gi]) best_direct[gi] = direct;
        }
      }
    }
  }
  return best_direct.cwiseSqrt();
}

double median(const Eigen::VectorXd& values) {
  if (values.size() == 0) throw std::invalid_argument("median: values is empty, but must have at least one value");
  if (values.hasNaN()) throw std::invalid_argument("median: values contains NaN");
  std::vector<double> v(values.data(), values.data() + values.size());
  const std::size_t half = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(half), v.end());
  const double upper = v[half];
  if (v.size() % 2 == 1) return upper;
  const double lower = *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(half));
  return lower + 0.5 * (upper - lower);
}

double dcr_median(const Eigen::MatrixXd& generated, const Eigen::MatrixXd& real) {
  return median(closest_record_distances(generated, real));
}

}  // namespace collapse::metrics
