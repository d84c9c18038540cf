// Gaussian mixture: EM in log space (Bishop 2006, PRML §9.2.2) with scikit-learn 1.3 semantics,
// k-means++ / Lloyd / random / warm-start initialisation, restarts, degenerate-component policies,
// optional fixed covariance, exact sampling, marginal CDF and quantile.
//
// Layout of the EM loop (all buffers live in detail::GmmWorkspace, sized once per fit):
//   initialise   responsibilities from the init (hard k-means labels or random rows) → m_step
//   repeat       e_step (weighted log-probabilities → log-sum-exp → responsibilities, lower bound)
//                m_step (counts, means, covariances + reg_covar, Cholesky, precision factors, events)
//                stop when |lower bound − previous| < tol
// Restarts (n_init) repeat initialise + loop; the best restart is copied to workspace.best_* and
// swapped into the model at the end. Degenerate components (N_k < 2) are kept, dropped or reseeded in
// m_step (GmmOptions::degenerate).
//
// Fast paths (same semantics; results equal to the general path up to rounding — the reference-EM test
// holds them to 1e-9): K = 2 normalises responsibilities with one exp per sample (exp_clamped: Estrin
// polynomial, no division) instead of two, in one pass; K = 2, d = 1 also fuses the weighted
// log-probabilities and the M-step's N_k, S_k into that pass; Lloyd with K = 2 scans labels as a
// branch-free 0/1 mask (d = 1: one fused pass, no distance matrix). The kernels use GCC vector
// extensions (VecD) as wide as the target's registers. Measured (bench_gaussian_mixture, CPU time):
// recursive loop K = 2, d = 1, n = 1000 from 122 µs to ~50 µs a generation (SSE2) / ~29 µs (-march=native).
//
// Allocation check: compile every translation unit with -DCOLLAPSE_GMM_CHECK_NO_MALLOC
// -DEIGEN_RUNTIME_NO_MALLOC and without NDEBUG; Eigen then asserts on any heap allocation inside the
// EM loop (iterations after the initialisation). Event messages and dropping a component
// (DegeneratePolicy::drop) are the only allowed exceptions.

#if defined(COLLAPSE_GMM_CHECK_NO_MALLOC) && !defined(EIGEN_RUNTIME_NO_MALLOC)
#define EIGEN_RUNTIME_NO_MALLOC
#endif

#include "models/gaussian_mixture.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>

#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>
#include <boost/random/normal_distribution.hpp>
#include <boost/random/uniform_int_distribution.hpp>
#include <boost/random/uniform_real_distribution.hpp>

#include "core/check.hpp"

namespace collapse {
namespace {

using Eigen::Index;
using Eigen::MatrixXd;
using Eigen::VectorXd;

constexpr double kLog2Pi = 1.837877066409345483560659472811235;
constexpr double kSqrtHalf = 0.707106781186547524400844362104849;  // 1/√2
/// sklearn adds 10·eps to every N_k so that empty components keep a finite log-weight.
constexpr double kCountEps = 10 * std::numeric_limits<double>::epsilon();
/// A component with Σ_i r_ik below this is "empty": its covariance is reg_covar·I.
constexpr double kEmptyCount = 2.0;
/// "variance_floor" fires when the smallest eigenvalue is ≤ kFloorFactor · reg_covar.
constexpr double kFloorFactor = 10.0;
/// Lloyd's algorithm: sklearn KMeans defaults.
constexpr int kLloydMaxIter = 300;
constexpr double kLloydRelTol = 1e-4;
/// Up to this dimension the covariance kernels are column AXPYs / dot products; above, Eigen GEMM.
constexpr Index kSmallDim = 8;

#ifdef COLLAPSE_GMM_CHECK_NO_MALLOC
struct MallocGuard {
  MallocGuard() { Eigen::internal::set_is_malloc_allowed(false); }
  ~MallocGuard() { Eigen::internal::set_is_malloc_allowed(true); }
};
struct MallocAllow {  // rare paths (event messages, eigenvalues for a message) may allocate
  const bool was = Eigen::internal::is_malloc_allowed();
  MallocAllow() { Eigen::internal::set_is_malloc_allowed(true); }
  ~MallocAllow() { Eigen::internal::set_is_malloc_allowed(was); }
};
#else
struct MallocGuard {
  MallocGuard() {}  // user-provided: no unused-variable warning
};
struct MallocAllow {
  MallocAllow() {}
};
#endif

std::string idx(const char* name, Index i) { return std::string(name) + "[" + std::to_string(i) + "]"; }

// ---------------------------------------------------------------------------------------------
// E-step kernels (shared by fit and score_samples)

/// lp.col(k) = log w_k + log N(x_i | μ_k, Σ_k) for every row i (nats).
/// Full: y_i = (x_i − μ_k) P_k with P_k = L_k^{-T}, so log N = −½(d log 2π + ‖y_i‖²) + log det P_k.
/// Every kernel works on whole columns (vectorised along the n samples). For d ≤ kSmallDim the
/// upper-triangular product is written out as column AXPYs (no GEMM packing); beyond, a GEMM.
/// `centred` and `scratch` are n × d scratch matrices (unused for diagonal covariances).
void weighted_log_prob(const MatrixXd& X, const detail::GmmParams& p, MatrixXd& lp, MatrixXd& centred,
                       MatrixXd& scratch) {
  const Index d = X.cols();
  const Index K = p.weights.size();
  const double half_d_log2pi = 0.5 * static_cast<double>(d) * kLog2Pi;
  for (Index k = 0; k < K; ++k) {
    const double c = std::log(p.weights(k)) + p.log_det_precision(k) - half_d_log2pi;
    auto out = lp.col(k).array();
    if (p.diagonal) {
      out = c - 0.5 * ((X.col(0).array() - p.means(k, 0)) * p.inv_sd(k, 0)).square();
      for (Index j = 1; j < d; ++j) out -= 0.5 * ((X.col(j).array() - p.means(k, j)) * p.inv_sd(k, j)).square();
    } else {
      const MatrixXd& P = p.precision_cholesky[static_cast<std::size_t>(k)];
      centred = X.rowwise() - p.means.row(k);
      if (d <= kSmallDim) {
        out.setConstant(c);
        auto y = scratch.col(0).array();
        for (Index j = 0; j < d; ++j) {  // y = (X − μ) P_{:, j}, P upper triangular
          y = centred.col(0).array() * P(0, j);
          for (Index l = 1; l <= j; ++l) y += centred.col(l).array() * P(l, j);
          out -= 0.5 * y.square();
        }
      } else {
        scratch.noalias() = centred * P;
        out = c - 0.5 * scratch.rowwise().squaredNorm().array();
      }
    }
  }
}

/// In place: weighted log-probabilities → responsibilities r_ik = exp(lp_ik − logsumexp_k lp_ik).
/// Column-wise (vectorised along n). `row_max` and `norm` are n-vectors of scratch.
/// If `log_norm` is non-null it receives log p(x_i) = logsumexp_k lp_ik for every row (it may alias
/// neither buffer). Otherwise only the mean is formed, and Σ_i log s_i (s_i = Σ_k exp(lp_ik − max_k),
/// so 1 ≤ s_i ≤ K) is taken as logs of products of ≤ 64 terms (≤ K^64, no overflow for K < 5e4; fewer
/// terms beyond): n/64 logarithms instead of n.
/// @return mean_i log p(x_i) (the EM lower bound, nats/sample).
double normalise_log_resp(MatrixXd& resp, VectorXd& row_max, VectorXd& norm, VectorXd* log_norm) {
  const Index n = resp.rows(), K = resp.cols();
  if (n == 0) {
    if (log_norm) log_norm->resize(0);
    return 0.0;
  }
  row_max = resp.col(0);
  for (Index k = 1; k < K; ++k) row_max = row_max.cwiseMax(resp.col(k));
  norm.setZero();
  for (Index k = 0; k < K; ++k) {
    resp.col(k).array() = (resp.col(k) - row_max).array().exp();
    norm += resp.col(k);
  }
  double mean;
  if (log_norm) {
    log_norm->array() = row_max.array() + norm.array().log();
    mean = log_norm->mean();
  } else {
    const Index block =
        K == 1 ? 64 : std::clamp<Index>(static_cast<Index>(700.0 / std::log(static_cast<double>(K))), 1, 64);
    double sum_log = 0;
    for (Index i = 0; i < n; i += block) sum_log += std::log(norm.segment(i, std::min(block, n - i)).prod());
    mean = (row_max.sum() + sum_log) / static_cast<double>(n);
  }
  norm = norm.cwiseInverse();
  for (Index k = 0; k < K; ++k) resp.col(k).array() *= norm.array();
  return mean;
}

/// e^x for x clamped to [−700, 700] (so that e^x and e^-x are finite normal numbers): Cody–Waite
/// reduction x = k ln 2 + r (|r| ≤ ½ ln 2; k by the 1.5·2^52 shifter, which leaves k in the low mantissa
/// bits), e^r by its Taylor polynomial to r^13 (truncation < 5e-18 relative) evaluated by Estrin's scheme
/// (dependency depth 4 instead of Horner's 13), 2^k by writing the exponent field. Max relative error
/// 4.3e-16 (≈ 2 ulp; checked against std::exp on 2e6 points of [−700, 700]). No division: with SSE2 (the
/// x86-64 baseline) ~2× faster than Eigen's Padé exp. The scalar and VecD versions round alike.
constexpr double kExpTaylor[14] = {1.0,           1.0,            1.0 / 2,          1.0 / 6,         1.0 / 24,
                                   1.0 / 120,     1.0 / 720,      1.0 / 5040,       1.0 / 40320,     1.0 / 362880,
                                   1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600,  1.0 / 6227020800.0};
constexpr double kLog2e = 1.4426950408889634074, kLn2Hi = 6.93147180369123816490e-01,
                 kLn2Lo = 1.90821492927058770002e-10, kExpShifter = 6755399441055744.0;  // 1.5·2^52
constexpr std::int64_t kExpBias = 1023 - 0x4338000000000000LL;  // exponent bias − bits(shifter)

[[gnu::always_inline]] inline double exp_clamped(double x) {
  x = x < -700.0 ? -700.0 : (x > 700.0 ? 700.0 : x);
  const double t = x * kLog2e + kExpShifter;
  const double k = t - kExpShifter;
  const double r = (x - k * kLn2Hi) - k * kLn2Lo;
  const auto pair = [&](int j) { return kExpTaylor[j] + kExpTaylor[j + 1] * r; };
  const double r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
  const double t0 = pair(0) + pair(2) * r2, t1 = pair(4) + pair(6) * r2, t2 = pair(8) + pair(10) * r2;
  const double p = (t0 + t1 * r4) + (t2 + pair(12) * r4) * r8;
  std::int64_t bits;
  std::memcpy(&bits, &t, sizeof bits);
  bits = static_cast<std::int64_t>(static_cast<std::uint64_t>(bits + kExpBias) << 52);
  double scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

/// A packet of doubles in GCC's portable vector extension, as wide as the target's vector registers:
/// 2 lanes with SSE2 (the x86-64 baseline), 4 with AVX, 8 with AVX-512 (COLLAPSE_NATIVE). ISO C++ mode
/// (-std=c++20) keeps -ffp-contract=off, so no FMA is formed and every lane rounds as the scalar code;
/// only the order of the final lane sums depends on the width (last-bit differences between builds).
/// The helpers are internal and always inlined, so the psABI note about passing vectors wider than the
/// enabled ISA (-Wpsabi) concerns no real call boundary.
#pragma GCC diagnostic ignored "-Wpsabi"
#if defined(__AVX512F__)
constexpr Index kLanes = 8;
#elif defined(__AVX__)
constexpr Index kLanes = 4;
#else
constexpr Index kLanes = 2;
#endif
using VecD = double __attribute__((vector_size(kLanes * sizeof(double))));
using VecL = std::int64_t __attribute__((vector_size(kLanes * sizeof(double))));

[[gnu::always_inline]] inline VecD loadv(const double* p) {
  VecD v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
[[gnu::always_inline]] inline void storev(double* p, VecD v) { std::memcpy(p, &v, sizeof v); }
[[gnu::always_inline]] inline VecD broadcast(double x) { return VecD{} + x; }
[[gnu::always_inline]] inline VecD maxv(VecD a, VecD b) { return a > b ? a : b; }
[[gnu::always_inline]] inline VecD minv(VecD a, VecD b) { return a < b ? a : b; }
/// Σ of the lanes, pairwise.
[[gnu::always_inline]] inline double sumv(VecD v) {
  double lanes[kLanes];
  std::memcpy(lanes, &v, sizeof v);
  for (Index w = kLanes / 2; w >= 1; w /= 2)
    for (Index l = 0; l < w; ++l) lanes[l] += lanes[l + w];
  return lanes[0];
}

/// exp_clamped on a packet (the same operations as the scalar version).
[[gnu::always_inline]] inline VecD exp_clamped(VecD x) {
  x = minv(maxv(x, broadcast(-700.0)), broadcast(700.0));
  const VecD t = x * kLog2e + kExpShifter;
  const VecD k = t - kExpShifter;
  const VecD r = (x - k * kLn2Hi) - k * kLn2Lo;
  const auto pair = [&](int j) { return kExpTaylor[j] + kExpTaylor[j + 1] * r; };
  const VecD r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
  const VecD t0 = pair(0) + pair(2) * r2, t1 = pair(4) + pair(6) * r2, t2 = pair(8) + pair(10) * r2;
  const VecD p = (t0 + t1 * r4) + (t2 + pair(12) * r4) * r8;
  const VecL bits = ((VecL)t + kExpBias) << 52;
  return p * (VecD)bits;
}

/// normalise_log_resp for K = 2 (fit only), in one pass and with one exp per sample instead of two.
/// With E_i = exp(clamp(lp_i0 − lp_i1, ±700)): r_i1 = 1/(1 + E_i), r_i0 = E_i r_i1 (the clamp changes only
/// responsibilities below e^-700). The larger responsibility r_big ∈ [½, 1] gives log p(x_i) =
/// max(lp_i0, lp_i1) − log r_big exactly; Σ_i log r_big is taken as logs of products of ≤ 64 terms per
/// lane (each product ≥ 2^-64). Vectorised over kLanes lanes (VecD). @return mean_i log p(x_i) (nats/sample).
double normalise_log_resp_two(MatrixXd& resp) {
  const Index n = resp.rows();
  if (n == 0) return 0.0;
  double* a = resp.col(0).data();
  double* b = resp.col(1).data();
  double sum_max = 0, sum_log = 0;
  Index i = 0;
  VecD max_acc = broadcast(0.0), prod = broadcast(1.0);
  int in_block = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const VecD A = loadv(a + i), B = loadv(b + i);
    max_acc += maxv(A, B);
    const VecD E = exp_clamped(A - B);
    const VecD r1 = 1.0 / (1.0 + E);
    const VecD r0 = E * r1;
    storev(a + i, r0);
    storev(b + i, r1);
    prod *= maxv(r0, r1);
    if (++in_block == 64) {
      for (Index l = 0; l < kLanes; ++l) sum_log += std::log(prod[l]);
      prod = broadcast(1.0);
      in_block = 0;
    }
  }
  for (Index l = 0; l < kLanes; ++l) sum_log += std::log(prod[l]);
  sum_max = sumv(max_acc);
  for (; i < n; ++i) {
    sum_max += std::max(a[i], b[i]);
    const double E = exp_clamped(a[i] - b[i]);
    const double r1 = 1.0 / (1.0 + E), r0 = E * r1;
    a[i] = r0;
    b[i] = r1;
    sum_log += std::log(std::max(r0, r1));
  }
  return (sum_max - sum_log) / static_cast<double>(n);
}

/// E-step for d = 1, K = 2 (diagonal form) in one pass over the data: the weighted log-probabilities
/// lp_ik = c_k − ½((x_i − μ_k)/σ_k)² (as weighted_log_prob), responsibilities as normalise_log_resp_two, and
/// the M-step's accumulations N_k = Σ_i r_ik and S_k = Σ_i r_ik x_i (into counts and sums).
/// @return mean_i log p(x_i) (nats/sample).
double e_step_two_1d(const MatrixXd& X, const detail::GmmParams& p, MatrixXd& resp, VectorXd& counts,
                     MatrixXd& sums) {
  const Index n = X.rows();
  const double* x = X.data();
  double* a = resp.col(0).data();
  double* b = resp.col(1).data();
  const double half_log2pi = 0.5 * kLog2Pi;
  const double c0 = std::log(p.weights(0)) + p.log_det_precision(0) - half_log2pi;
  const double c1 = std::log(p.weights(1)) + p.log_det_precision(1) - half_log2pi;
  const double m0 = p.means(0, 0), m1 = p.means(1, 0), s0 = p.inv_sd(0, 0), s1 = p.inv_sd(1, 0);
  double sum_max = 0, sum_log = 0;
  Index i = 0;
  VecD max_acc = broadcast(0.0), prod = broadcast(1.0), N0 = max_acc, N1 = max_acc, X0 = max_acc, X1 = max_acc;
  int in_block = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const VecD v = loadv(x + i);
    const VecD z0 = (v - m0) * s0, z1 = (v - m1) * s1;
    const VecD A = c0 - 0.5 * (z0 * z0), B = c1 - 0.5 * (z1 * z1);
    max_acc += maxv(A, B);
    const VecD E = exp_clamped(A - B);
    const VecD r1 = 1.0 / (1.0 + E);
    const VecD r0 = E * r1;
    storev(a + i, r0);
    storev(b + i, r1);
    N0 += r0;
    N1 += r1;
    X0 += r0 * v;
    X1 += r1 * v;
    prod *= maxv(r0, r1);
    if (++in_block == 64) {
      for (Index l = 0; l < kLanes; ++l) sum_log += std::log(prod[l]);
      prod = broadcast(1.0);
      in_block = 0;
    }
  }
  for (Index l = 0; l < kLanes; ++l) sum_log += std::log(prod[l]);
  sum_max = sumv(max_acc);
  double n0 = sumv(N0), n1 = sumv(N1), x0 = sumv(X0), x1 = sumv(X1);
  for (; i < n; ++i) {
    const double z0 = (x[i] - m0) * s0, z1 = (x[i] - m1) * s1;
    const double A = c0 - 0.5 * (z0 * z0), B = c1 - 0.5 * (z1 * z1);
    sum_max += std::max(A, B);
    const double E = exp_clamped(A - B);
    const double r1 = 1.0 / (1.0 + E), r0 = E * r1;
    a[i] = r0;
    b[i] = r1;
    n0 += r0;
    n1 += r1;
    x0 += r0 * x[i];
    x1 += r1 * x[i];
    sum_log += std::log(std::max(r0, r1));
  }
  counts(0) = n0;
  counts(1) = n1;
  sums(0, 0) = x0;
  sums(1, 0) = x1;
  return n == 0 ? 0.0 : (sum_max - sum_log) / static_cast<double>(n);
}

// ---------------------------------------------------------------------------------------------
// k-means initialisation (buffers in detail::GmmWorkspace; nothing is allocated when n, d, K repeat)

/// k-means++ seeding (Arthur & Vassilvitskii 2007) with sklearn's greedy variant: each new centre is
/// the best (lowest potential) of 2 + ⌊ln K⌋ candidates drawn with probability ∝ D(x)².
/// Draws: one uniform index for the first centre, then per centre `trials` uniforms in [0, 1).
/// Result in ws.centers (K × d). Cost: O(n · K · trials · d).
void kmeans_plusplus(const MatrixXd& X, Index K, Rng& rng, detail::GmmWorkspace& ws) {
  const Index n = X.rows(), d = X.cols();
  const Index trials = 2 + static_cast<Index>(std::log(static_cast<double>(K)));
  MatrixXd& centers = ws.centers;
  centers.resize(K, d);
  boost::random::uniform_int_distribution<Index> pick(0, n - 1);
  boost::random::uniform_real_distribution<double> unif(0.0, 1.0);

  // Squared distances of every row to row r, column by column (vectorised along n).
  const auto sq_dist_to_row = [&](Index r, auto&& out) {
    out = (X.col(0).array() - X(r, 0)).square();
    for (Index j = 1; j < d; ++j) out += (X.col(j).array() - X(r, j)).square();
  };

  const Index first = pick(rng);
  centers.row(0) = X.row(first);
  VectorXd& closest = ws.closest;
  closest.resize(n);
  sq_dist_to_row(first, closest.array());
  double potential = closest.sum();

  ws.candidate.resize(n, trials);
  ws.cumulative.resize(static_cast<std::size_t>(n));
  ws.ids.resize(static_cast<std::size_t>(trials));
  for (Index c = 1; c < K; ++c) {
    std::partial_sum(closest.data(), closest.data() + n, ws.cumulative.begin());
    for (Index t = 0; t < trials; ++t) {  // searchsorted(cumsum, u · potential), clipped to n − 1
      const double r = unif(rng) * potential;
      const auto it = std::lower_bound(ws.cumulative.begin(), ws.cumulative.end(), r);
      ws.ids[static_cast<std::size_t>(t)] = std::min<Index>(it - ws.cumulative.begin(), n - 1);
    }
    Index best = 0;
    double best_potential = std::numeric_limits<double>::infinity();
    for (Index t = 0; t < trials; ++t) {
      auto cand = ws.candidate.col(t).array();
      sq_dist_to_row(ws.ids[static_cast<std::size_t>(t)], cand);
      cand = cand.min(closest.array());
      const double s = cand.sum();
      if (s < best_potential) {
        best_potential = s;
        best = t;
      }
    }
    potential = best_potential;
    closest = ws.candidate.col(best);
    centers.row(c) = X.row(ws.ids[static_cast<std::size_t>(best)]);
  }
}

/// Squared distances dist(i, k) = ‖x_i − c_k‖², column by column (vectorised along n).
void centre_distances(const MatrixXd& X, const MatrixXd& centers, MatrixXd& dist) {
  for (Index k = 0; k < centers.rows(); ++k) {
    auto dk = dist.col(k).array();
    dk = (X.col(0).array() - centers(k, 0)).square();
    for (Index j = 1; j < X.cols(); ++j) dk += (X.col(j).array() - centers(k, j)).square();
  }
}

/// labels_i = argmin_k dist(i, k) (first minimum on ties), best_i = that distance.
/// If `lane_sums` is non-null it receives the counts (row 0) and coordinate sums (rows 1..d) of every
/// label, split over 4 interleaved lanes (column lane·K + k gets rows i ≡ lane mod 4): four independent
/// accumulation chains instead of one, so the scatter-add does not wait on its own previous store.
/// @return the number of rows whose label changed.
Index assign_nearest(const MatrixXd& X, const MatrixXd& dist, std::vector<Index>& labels, VectorXd& best,
                     MatrixXd* lane_sums) {
  const Index n = X.rows(), K = dist.cols(), d = X.cols();
  if (lane_sums) lane_sums->setZero();
  Index changed = 0;
  for (Index i = 0; i < n; ++i) {
    double b = dist(i, 0);
    Index label = 0;
    for (Index k = 1; k < K; ++k) {
      const double dk = dist(i, k);
      if (dk < b) {  // strict: the first minimum wins ties
        b = dk;
        label = k;
      }
    }
    best(i) = b;
    Index& old = labels[static_cast<std::size_t>(i)];
    changed += old != label;
    old = label;
    if (lane_sums) {
      double* acc = lane_sums->col((i & 3) * K + label).data();
      acc[0] += 1.0;
      for (Index j = 0; j < d; ++j) acc[j + 1] += X(i, j);
    }
  }
  return changed;
}

/// assign_nearest for K = 2 as a 0/1 mask: mask_i = 1 iff dist(i, 1) < dist(i, 0) (ties: 0), best_i the
/// smaller distance; then counts (exact integers) and sums Σ_i mask_i x_i, Σ_i (1 − mask_i) x_i. Branch-free
/// and vectorised (no data-dependent branch, no scatter-add). @return the number of rows whose label
/// differs from `previous` (a 0/1 mask; any other value counts as a change).
Index assign_nearest_two(const MatrixXd& X, const MatrixXd& dist, VectorXd& mask, const VectorXd& previous,
                         VectorXd& best, VectorXd& counts, MatrixXd& sums) {
  const Index n = X.rows(), d = X.cols();
  const double* d0 = dist.col(0).data();
  const double* d1 = dist.col(1).data();
  double* m = mask.data();
  double* b = best.data();
  for (Index i = 0; i < n; ++i) {
    const bool one = d1[i] < d0[i];
    m[i] = one ? 1.0 : 0.0;
    b[i] = one ? d1[i] : d0[i];
  }
  const double changed = (mask - previous).cwiseAbs().sum();  // each changed row adds ≥ 1
  const double ones = mask.sum();                              // exact: integer partial sums
  counts(0) = static_cast<double>(n) - ones;
  counts(1) = ones;
  for (Index j = 0; j < d; ++j) {
    const double s1 = mask.dot(X.col(j));
    sums(1, j) = s1;
    sums(0, j) = ((1.0 - mask.array()) * X.col(j).array()).sum();
  }
  return changed > 0 ? std::max<Index>(1, static_cast<Index>(changed)) : 0;
}

/// assign_nearest_two for d = 1 in one pass: the same labels (1 iff (x − c_1)² < (x − c_0)²), counts and
/// sums, without the distance matrix (best is not formed; lloyd computes it only if a cluster empties).
Index assign_nearest_two_1d(const MatrixXd& X, const MatrixXd& centers, VectorXd& mask, const VectorXd& previous,
                            VectorXd& counts, MatrixXd& sums) {
  const Index n = X.rows();
  const double* x = X.data();
  const double* prev = previous.data();
  double* m = mask.data();
  const double c0 = centers(0, 0), c1 = centers(1, 0);
  Index i = 0;
  VecD ch = broadcast(0.0), on = ch, S0 = ch, S1 = ch;
  for (; i + kLanes <= n; i += kLanes) {
    const VecD v = loadv(x + i);
    const VecD e0 = v - c0, e1 = v - c1;
    const VecD M = e1 * e1 < e0 * e0 ? broadcast(1.0) : broadcast(0.0);
    const VecD diff = M - loadv(prev + i);
    ch += diff < 0.0 ? -diff : diff;
    storev(m + i, M);
    on += M;
    const VecD mv = M * v;
    S1 += mv;
    S0 += v - mv;
  }
  double changed = sumv(ch), ones = sumv(on), s0 = sumv(S0), s1 = sumv(S1);
  for (; i < n; ++i) {
    const double e0 = x[i] - c0, e1 = x[i] - c1;
    const double mi = e1 * e1 < e0 * e0 ? 1.0 : 0.0;
    changed += std::abs(mi - prev[i]);
    m[i] = mi;
    ones += mi;
    s1 += mi * x[i];
    s0 += x[i] - mi * x[i];
  }
  counts(0) = static_cast<double>(n) - ones;
  counts(1) = ones;
  sums(0, 0) = s0;
  sums(1, 0) = s1;
  return changed > 0 ? std::max<Index>(1, static_cast<Index>(changed)) : 0;
}

/// Lloyd's algorithm from ws.centers (updated in place), as sklearn KMeans(n_init=1): stops when the labels
/// do not change, or when Σ_k ‖Δc_k‖² ≤ 1e-4 · mean per-feature variance, or after 300 iterations.
/// An empty cluster is moved to the point farthest from its centre (ties: lowest index).
/// Result: ws.labels, the labels of the final centres. `dist` (n × K) is scratch.
/// Cost: O(iterations · n · K · d).
void lloyd(const MatrixXd& X, detail::GmmWorkspace& ws, MatrixXd& dist) {
  MatrixXd& centers = ws.centers;
  const Index n = X.rows(), K = centers.rows(), d = X.cols();
  double spread = 0;
  for (Index j = 0; j < d; ++j) spread += (X.col(j).array() - X.col(j).mean()).square().sum();
  const double tol = kLloydRelTol * (spread / (static_cast<double>(n) * static_cast<double>(d)));
  std::vector<Index>& labels = ws.labels;
  labels.assign(static_cast<std::size_t>(n), Index{-1});
  VectorXd& best = ws.closest;
  best.resize(n);
  // K = 2 keeps labels as a 0/1 mask (the current one in previous_mask after each scan); 2 = "none yet".
  if (K == 2) {
    ws.mask.resize(n);
    ws.previous_mask.setConstant(n, 2.0);
  }
  const auto labels_from_mask = [&] {
    if (K != 2) return;
    for (Index i = 0; i < n; ++i) labels[static_cast<std::size_t>(i)] = ws.previous_mask(i) != 0.0 ? 1 : 0;
  };
  ws.lane_sums.resize(d + 1, 4 * K);
  ws.sums.resize(K, d);
  ws.counts.resize(K);
  MatrixXd& sums = ws.sums;
  VectorXd& counts = ws.counts;
  for (int iter = 0; iter < kLloydMaxIter; ++iter) {
    const bool one_d_two = K == 2 && d == 1;  // best is then formed only when a cluster empties
    if (!one_d_two) centre_distances(X, centers, dist);
    if (K == 2) {
      const Index changed =
          one_d_two ? assign_nearest_two_1d(X, centers, ws.mask, ws.previous_mask, counts, sums)
                    : assign_nearest_two(X, dist, ws.mask, ws.previous_mask, best, counts, sums);
      std::swap(ws.mask, ws.previous_mask);
      if (changed == 0) return labels_from_mask();  // centres = means of these labels
    } else {
      if (assign_nearest(X, dist, labels, best, &ws.lane_sums) == 0) return;
      for (Index k = 0; k < K; ++k) {
        counts(k) =
            ws.lane_sums(0, k) + ws.lane_sums(0, K + k) + ws.lane_sums(0, 2 * K + k) + ws.lane_sums(0, 3 * K + k);
        for (Index j = 0; j < d; ++j)
          sums(k, j) = ws.lane_sums(j + 1, k) + ws.lane_sums(j + 1, K + k) + ws.lane_sums(j + 1, 2 * K + k) +
                       ws.lane_sums(j + 1, 3 * K + k);
      }
    }
    ws.empty.clear();
    for (Index k = 0; k < K; ++k)
      if (counts(k) == 0) ws.empty.push_back(k);
    if (!ws.empty.empty()) {
      labels_from_mask();
      if (one_d_two) {
        centre_distances(X, centers, dist);
        best = dist.col(0).cwiseMin(dist.col(1));
      }
      std::vector<Index>& order = ws.order;
      order.resize(static_cast<std::size_t>(n));
      std::iota(order.begin(), order.end(), Index{0});
      const auto farther = [&](Index a, Index b) {
        const double da = best(a), db = best(b);
        return da > db || (da == db && a < b);
      };
      const auto m = static_cast<std::ptrdiff_t>(ws.empty.size());
      std::partial_sort(order.begin(), order.begin() + m, order.end(), farther);
      for (std::size_t e = 0; e < ws.empty.size(); ++e) {
        const Index f = order[e];
        const Index from = labels[static_cast<std::size_t>(f)];
        sums.row(from) -= X.row(f);
        counts(from) -= 1;
        sums.row(ws.empty[e]) = X.row(f);
        counts(ws.empty[e]) = 1;
        labels[static_cast<std::size_t>(f)] = ws.empty[e];
      }
    }
    double shift = 0;
    for (Index k = 0; k < K; ++k) {
      if (counts(k) == 0) continue;  // keep the old centre
      for (Index j = 0; j < d; ++j) {
        const double updated = sums(k, j) / counts(k);
        shift += (updated - centers(k, j)) * (updated - centers(k, j));
        centers(k, j) = updated;
      }
    }
    if (shift <= tol) break;
  }
  centre_distances(X, centers, dist);
  assign_nearest(X, dist, labels, best, nullptr);
}

// ---------------------------------------------------------------------------------------------
// EM

/// true if every off-diagonal entry of the square matrix M is exactly 0.
bool exactly_diagonal(const MatrixXd& M) {
  for (Index j = 0; j < M.cols(); ++j)
    for (Index i = 0; i < M.rows(); ++i)
      if (i != j && M(i, j) != 0.0) return false;
  return true;
}

/// One EM run (one restart): the named steps of the algorithm over the caller's workspace.
/// K starts at the value given to the constructor and shrinks under DegeneratePolicy::drop.
class EmFitter {
 public:
  EmFitter(const MatrixXd& X, const GmmOptions& options, detail::GmmWorkspace& ws, FitReport& report, Index K,
           Rng& rng)
      : X_(X),
        o_(options),
        ws_(ws),
        report_(report),
        rng_(rng),
        n_(X.rows()),
        d_(X.cols()),
        K_(K),
        empty_reported_(static_cast<std::size_t>(K_), 0),
        floor_reported_(static_cast<std::size_t>(K_), 0),
        point_mass_reported_(static_cast<std::size_t>(K_), 0),
        reseeded_(static_cast<std::size_t>(K_), 0),
        llt_(d_),
        llt_floor_(d_),
        floor_matrix_(d_, d_) {
    auto& p = ws_.params;
    p.diagonal = o_.fit_covariance ? (o_.covariance != CovarianceType::full || d_ == 1)
                                   : exactly_diagonal(o_.fixed_covariance);
    ws_.resp.resize(n_, K_);
    ws_.row_max.resize(n_);
    ws_.norm.resize(n_);
    ws_.counts.resize(K_);
    ws_.sums.resize(K_, d_);
    p.weights.resize(K_);
    p.means.resize(K_, d_);
    p.log_det_precision.resize(K_);
    if (p.diagonal) {
      ws_.variances.resize(K_, d_);
      p.inv_sd.resize(K_, d_);
      ws_.centred.resize(0, 0);
      ws_.scratch.resize(0, 0);
      p.precision_cholesky.clear();
    } else {
      ws_.centred.resize(n_, d_);
      ws_.scratch.resize(n_, d_);
      resize_all(ws_.covariances);
      resize_all(ws_.cholesky);
      resize_all(p.precision_cholesky);
    }
    if (!o_.fit_covariance)
      for (Index k = 0; k < K_; ++k) set_fixed_covariance(k);
  }

  Index components() const { return K_; }

  /// Responsibilities from a cold initialisation (kmeans, kmeans_pp or random), then the first M-step.
  void initialise(GmmInit init) {
    switch (init) {
      case GmmInit::kmeans:
      case GmmInit::kmeans_pp:
      case GmmInit::previous: {  // previous: never reached (fit() passes kmeans), handled as kmeans
        kmeans_plusplus(X_, K_, rng_, ws_);
        if (init == GmmInit::kmeans_pp) {
          ws_.labels.resize(static_cast<std::size_t>(n_));
          ws_.closest.resize(n_);
          centre_distances(X_, ws_.centers, ws_.resp);
          assign_nearest(X_, ws_.resp, ws_.labels, ws_.closest, nullptr);
        } else {
          lloyd(X_, ws_, ws_.resp);
        }
        ws_.resp.setZero();
        for (Index i = 0; i < n_; ++i) ws_.resp(i, ws_.labels[static_cast<std::size_t>(i)]) = 1.0;
        ws_.params.means = ws_.centers;  // what an empty cluster keeps
        m_step(/*keep_empty_means=*/true);
        break;
      }
      case GmmInit::random: {
        boost::random::uniform_real_distribution<double> unif(0.0, 1.0);
        for (Index i = 0; i < n_; ++i) {  // row-major, like numpy's uniform(size=(n, K))
          double s = 0;
          for (Index k = 0; k < K_; ++k) s += (ws_.resp(i, k) = unif(rng_));
          if (s > 0) {
            ws_.resp.row(i) /= s;
          } else {
            ws_.resp.row(i).setConstant(1.0 / static_cast<double>(K_));
          }
        }
        m_step(/*keep_empty_means=*/false);
        break;
      }
    }
  }

  /// Warm start: the parameters of a previous fit (K_ components, full-form covariances) become the
  /// current parameters; EM then starts with an E-step. Under !fit_covariance the covariances stay fixed.
  void warm_start(const VectorXd& weights, const MatrixXd& means, const std::vector<MatrixXd>& covariances) {
    auto& p = ws_.params;
    p.weights = weights;
    p.means = means;
    if (!o_.fit_covariance) return;
    for (Index k = 0; k < K_; ++k) {
      const MatrixXd& C = covariances[static_cast<std::size_t>(k)];
      if (p.diagonal) {
        auto var = ws_.variances.row(k);
        var = C.diagonal().transpose();
        if (o_.covariance == CovarianceType::spherical) var.setConstant(var.mean());
        set_variances(k);
      } else {
        ws_.covariances[static_cast<std::size_t>(k)] = C;
        factorise(k);
      }
    }
  }

  /// E-step: responsibilities into ws.resp. @return the lower bound (mean log-likelihood per sample).
  double e_step() {
    if (K_ == 2 && d_ == 1 && ws_.params.diagonal) {  // fused: the M-step's N_k and S_k come with it
      accumulated_ = true;
      return e_step_two_1d(X_, ws_.params, ws_.resp, ws_.counts, ws_.sums);
    }
    weighted_log_prob(X_, ws_.params, ws_.resp, ws_.centred, ws_.scratch);
    if (K_ == 2) return normalise_log_resp_two(ws_.resp);
    return normalise_log_resp(ws_.resp, ws_.row_max, ws_.norm, nullptr);
  }

  /// M-step from the responsibilities in ws.resp (sklearn _estimate_gaussian_parameters), then the
  /// precision factors the next E-step needs; degenerate components per options.degenerate, and events.
  void m_step(bool keep_empty_means) {
    auto& p = ws_.params;
    if (!accumulated_) accumulate();
    accumulated_ = false;
    if (o_.degenerate == DegeneratePolicy::drop && K_ > 1) drop_empty_components();
    bool any_reseeded = false;
    if (o_.degenerate == DegeneratePolicy::reseed) {
      for (Index k = 0; k < K_; ++k) {
        reseeded_[static_cast<std::size_t>(k)] = 0;
        if (ws_.counts(k) < kEmptyCount && reseeds_ < kMaxReseeds) {
          reseed(k);
          any_reseeded = true;
        }
      }
    }
    const double total = ws_.counts.sum() + static_cast<double>(K_) * kCountEps;
    for (Index k = 0; k < K_; ++k) {
      if (any_reseeded && reseeded_[static_cast<std::size_t>(k)]) {
        p.weights(k) = 1.0 / static_cast<double>(K_);
        continue;
      }
      const double raw = ws_.counts(k);
      const double nk = raw + kCountEps;
      p.weights(k) = nk / total;
      const bool empty = raw < kEmptyCount;
      if (!(empty && keep_empty_means)) p.means.row(k) = ws_.sums.row(k) / nk;
      if (empty && !empty_reported_[static_cast<std::size_t>(k)]) {
        empty_reported_[static_cast<std::size_t>(k)] = 1;
        add_event("empty_component",
                  "component " + std::to_string(k) + ": effective count N_k = " + format_number(raw) + " < 2; " +
                      (o_.fit_covariance ? "covariance set to model.reg_covar·I = " + format_number(o_.reg_covar) +
                                               "·I, mean kept"
                                         : std::string("covariance held at model.fixed_covariance, mean kept")));
      }
      if (!o_.fit_covariance) continue;
      if (p.diagonal) {
        update_diagonal(k, nk, empty);
      } else {
        update_full(k, nk, empty);
      }
    }
    if (any_reseeded) p.weights /= p.weights.sum();
  }

  /// Copies the fitted parameters into `params` and full d × d covariances (and their lower Cholesky
  /// factors) for every type; allocation-free when the shapes repeat.
  void commit(detail::GmmParams& params, std::vector<MatrixXd>& covariances, std::vector<MatrixXd>& cholesky) {
    const auto& p = ws_.params;
    params = p;
    covariances.resize(static_cast<std::size_t>(K_));
    cholesky.resize(static_cast<std::size_t>(K_));
    for (Index k = 0; k < K_; ++k) {
      const auto s = static_cast<std::size_t>(k);
      if (p.diagonal) {
        covariances[s] = ws_.variances.row(k).transpose().asDiagonal();
        cholesky[s] = ws_.variances.row(k).transpose().cwiseSqrt().asDiagonal();
      } else {
        covariances[s] = ws_.covariances[s];
        cholesky[s] = ws_.cholesky[s];
      }
    }
  }

 private:
  void resize_all(std::vector<MatrixXd>& v) const {
    v.resize(static_cast<std::size_t>(K_));
    for (auto& m : v) m.resize(d_, d_);
  }

  void add_event(std::string kind, std::string message) {
    MallocAllow allow;
    report_.events.push_back(Event{-1, std::move(kind), std::move(message)});
  }

  /// counts N_k = Σ_i r_ik (without the 10·eps) and sums Σ_i r_ik x_i.
  void accumulate() {
    ws_.counts = ws_.resp.colwise().sum().transpose();
    if (d_ <= kSmallDim) {
      for (Index k = 0; k < K_; ++k)
        for (Index j = 0; j < d_; ++j) ws_.sums(k, j) = ws_.resp.col(k).dot(X_.col(j));
    } else {
      ws_.sums.noalias() = ws_.resp.transpose() * X_;
    }
  }

  /// DegeneratePolicy::drop: removes every component with N_k < 2, except that one component always
  /// survives (the one with the largest N_k, first on ties, if all are empty).
  void drop_empty_components() {
    Index keeper = -1;
    if ((ws_.counts.array() < kEmptyCount).all()) ws_.counts.maxCoeff(&keeper);
    for (Index k = K_ - 1; k >= 0; --k) {
      if (!(ws_.counts(k) < kEmptyCount) || k == keeper) continue;
      const double raw = ws_.counts(k);
      remove_component(k);
      add_event("component_dropped", "component " + std::to_string(k) + ": effective count N_k = " +
                                         format_number(raw) + " < 2; dropped (model.degenerate = drop), " +
                                         std::to_string(K_) + " components remain");
    }
  }

  /// Removes component k from every per-component buffer (allocates: a rare event).
  void remove_component(Index k) {
    MallocAllow allow;
    auto& p = ws_.params;
    const auto remove_row = [k](auto& m) {
      for (Index r = k; r + 1 < m.rows(); ++r) m.row(r) = m.row(r + 1);
      m.conservativeResize(m.rows() - 1, m.cols());
    };
    const auto erase = [k](auto& v) { v.erase(v.begin() + k); };
    for (Index c = k; c + 1 < K_; ++c) ws_.resp.col(c) = ws_.resp.col(c + 1);
    ws_.resp.conservativeResize(n_, K_ - 1);
    remove_row(ws_.counts);
    remove_row(ws_.sums);
    remove_row(p.weights);
    remove_row(p.means);
    remove_row(p.log_det_precision);
    if (p.diagonal) {
      remove_row(ws_.variances);
      remove_row(p.inv_sd);
    } else {
      erase(ws_.covariances);
      erase(ws_.cholesky);
      erase(p.precision_cholesky);
    }
    erase(empty_reported_);
    erase(floor_reported_);
    erase(point_mass_reported_);
    erase(reseeded_);
    --K_;
  }

  /// DegeneratePolicy::reseed: μ_k = a uniformly drawn training row, Σ_k = the data's covariance (per
  /// covariance type) + reg_covar·I (fixed_covariance if !fit_covariance); the weight is set by m_step.
  void reseed(Index k) {
    auto& p = ws_.params;
    ++reseeds_;
    reseeded_[static_cast<std::size_t>(k)] = 1;
    boost::random::uniform_int_distribution<Index> pick(0, n_ - 1);
    const Index row = pick(rng_);
    const double raw = ws_.counts(k);
    p.means.row(k) = X_.row(row);
    if (o_.fit_covariance) {
      MallocAllow allow;
      if (data_covariance_.size() == 0) {  // MLE covariance of the data, once per EM run
        const MatrixXd centred = X_.rowwise() - X_.colwise().mean();
        data_covariance_ = (centred.transpose() * centred) / static_cast<double>(n_);
      }
      if (p.diagonal) {
        auto var = ws_.variances.row(k);
        var = data_covariance_.diagonal().transpose();
        if (o_.covariance == CovarianceType::spherical) var.setConstant(var.mean());
        var.array() += o_.reg_covar;
        set_variances(k);
      } else {
        MatrixXd& C = ws_.covariances[static_cast<std::size_t>(k)];
        C = data_covariance_;
        C.diagonal().array() += o_.reg_covar;
        factorise(k);
      }
    }
    add_event("component_reseeded", "component " + std::to_string(k) + ": effective count N_k = " +
                                        format_number(raw) + " < 2; reseeded at training row " + std::to_string(row) +
                                        " with the data covariance and weight 1/K (reseed " +
                                        std::to_string(reseeds_) + " of at most " + std::to_string(kMaxReseeds) +
                                        " per EM run)");
  }

  [[noreturn]] void not_positive_definite(Index k) const {
    throw NumericalError("gaussian mixture fit: the covariance of component " + std::to_string(k) +
                         " is not positive definite even after adding model.reg_covar = " +
                         format_number(o_.reg_covar) +
                         " (collapsed or duplicated samples); increase model.reg_covar or decrease model.components");
  }

  void report_floor(Index k, double smallest, const char* what) {
    floor_reported_[static_cast<std::size_t>(k)] = 1;
    add_event("variance_floor", "component " + std::to_string(k) + ": smallest covariance " + what + " " +
                                    format_number(smallest) + " ≤ 10·model.reg_covar (model.reg_covar = " +
                                    format_number(o_.reg_covar) + ")");
  }

  /// The floor of a component that collapsed to a point: its covariance is not positive definite even
  /// after reg_covar (reg_covar = 0 and identical or collinear rows — the end state of collapse, not an
  /// error). (ε·max(1, ‖μ_k‖∞))² is the variance below which μ + σz rounds to μ in double precision;
  /// ε·tr(Σ)/d covers rounding in a rank-deficient Σ. Added to the diagonal, recorded once per
  /// component per fit as event "point_mass_floor", and the fit goes on.
  double point_mass_floor(Index k, double trace) {
    const double e = std::numeric_limits<double>::epsilon() *
                     std::max(1.0, ws_.params.means.row(k).cwiseAbs().maxCoeff());
    const double floor = e * e + std::numeric_limits<double>::epsilon() * std::max(0.0, trace) / static_cast<double>(d_);
    if (!point_mass_reported_[static_cast<std::size_t>(k)]) {
      point_mass_reported_[static_cast<std::size_t>(k)] = 1;
      MallocAllow allow;
      add_event("point_mass_floor", "component " + std::to_string(k) +
                                        ": covariance not positive definite with model.reg_covar = " +
                                        format_number(o_.reg_covar) + " (collapsed to a point); floor " +
                                        format_number(floor) + " added to its diagonal");
    }
    return floor;
  }

  /// Component k's covariance := fixed_covariance (E-step form included).
  void set_fixed_covariance(Index k) {
    if (ws_.params.diagonal) {
      ws_.variances.row(k) = o_.fixed_covariance.diagonal().transpose();
      set_variances(k);
    } else {
      ws_.covariances[static_cast<std::size_t>(k)] = o_.fixed_covariance;
      factorise(k);
    }
  }

  /// Diagonal E-step form of ws.variances.row(k): inv_sd and log det P_k.
  void set_variances(Index k) {
    auto& p = ws_.params;
    auto var = ws_.variances.row(k);
    if (!var.allFinite()) not_positive_definite(k);
    if (!(var.minCoeff() > 0)) var = var.cwiseMax(point_mass_floor(k, var.sum()));
    p.inv_sd.row(k) = var.cwiseSqrt().cwiseInverse();
    p.log_det_precision(k) = -0.5 * var.array().log().sum();
  }

  /// Full E-step form of ws.covariances[k]: L_k (Cholesky), P_k = L_k^{-T}, log det P_k.
  void factorise(Index k) {
    auto& p = ws_.params;
    const auto s = static_cast<std::size_t>(k);
    MatrixXd& C = ws_.covariances[s];
    if (!C.allFinite()) not_positive_definite(k);
    llt_.compute(C);
    if (llt_.info() != Eigen::Success) {
      C.diagonal().array() += point_mass_floor(k, C.trace());
      llt_.compute(C);
      if (llt_.info() != Eigen::Success) not_positive_definite(k);
    }
    MatrixXd& L = ws_.cholesky[s];
    L = llt_.matrixL();
    MatrixXd& P = p.precision_cholesky[s];
    P.setIdentity();
    L.transpose().triangularView<Eigen::Upper>().solveInPlace(P);
    p.log_det_precision(k) = -L.diagonal().array().log().sum();
  }

  /// Diagonal / spherical: variances σ²_kj = Σ_i r_ik (x_ij − μ_kj)² / (N_k − dof) + reg_covar
  /// (dof = 1 for the unbiased estimator, else 0).
  void update_diagonal(Index k, double nk, bool empty) {
    auto& p = ws_.params;
    auto var = ws_.variances.row(k);
    if (empty) {
      var.setConstant(o_.reg_covar);
    } else {
      const auto r = ws_.resp.col(k).array();
      for (Index j = 0; j < d_; ++j)
        var(j) = (r * (X_.col(j).array() - p.means(k, j)).square()).sum() / (nk - dof_) + o_.reg_covar;
      if (o_.covariance == CovarianceType::spherical) var.setConstant(var.mean());
    }
    const double smallest = var.minCoeff();
    set_variances(k);
    if (!floor_reported_[static_cast<std::size_t>(k)] && smallest <= kFloorFactor * o_.reg_covar)
      report_floor(k, smallest, "variance");
  }

  /// Full: Σ_k = Σ_i r_ik (x_i − μ_k)(x_i − μ_k)ᵀ / (N_k − dof) + reg_covar·I, then L_k, P_k = L_k^{-T}.
  void update_full(Index k, double nk, bool empty) {
    auto& p = ws_.params;
    const auto s = static_cast<std::size_t>(k);
    MatrixXd& C = ws_.covariances[s];
    if (empty) {
      C.setZero();
      C.diagonal().setConstant(o_.reg_covar);
    } else {
      ws_.centred = X_.rowwise() - p.means.row(k);
      ws_.scratch.array() = ws_.centred.array().colwise() * ws_.resp.col(k).array();
      if (d_ <= kSmallDim) {  // lower triangle by dot products (no GEMM packing)
        for (Index j = 0; j < d_; ++j)
          for (Index i = j; i < d_; ++i) C(i, j) = ws_.scratch.col(i).dot(ws_.centred.col(j));
      } else {
        C.noalias() = ws_.scratch.transpose() * ws_.centred;
      }
      C /= nk - dof_;
      for (Index j = 0; j < d_; ++j)  // exact symmetry: copy the lower triangle up
        for (Index i = j + 1; i < d_; ++i) C(j, i) = C(i, j);
      C.diagonal().array() += o_.reg_covar;
    }
    factorise(k);

    if (!floor_reported_[s]) {
      // λ_min(Σ) ≤ c ⇔ Σ − c·I is not positive definite; the eigenvalue itself only for the message.
      const double floor = kFloorFactor * o_.reg_covar;
      floor_matrix_ = C;
      floor_matrix_.diagonal().array() -= floor;
      llt_floor_.compute(floor_matrix_);
      if (llt_floor_.info() != Eigen::Success) {
        MallocAllow allow;
        const double smallest =
            Eigen::SelfAdjointEigenSolver<MatrixXd>(C, Eigen::EigenvaluesOnly).eigenvalues().minCoeff();
        report_floor(k, smallest, "eigenvalue");
      }
    }
  }

  const MatrixXd& X_;
  const GmmOptions& o_;
  detail::GmmWorkspace& ws_;
  FitReport& report_;
  Rng& rng_;
  const Index n_, d_;
  const double dof_ = o_.unbiased_covariance ? 1.0 : 0.0;  // Bessel's correction (K = 1 only)
  Index K_;
  std::vector<char> empty_reported_, floor_reported_, point_mass_reported_, reseeded_;
  int reseeds_ = 0;
  bool accumulated_ = false;  // the E-step already formed ws.counts and ws.sums
  Eigen::LLT<MatrixXd> llt_, llt_floor_;
  MatrixXd floor_matrix_;
  MatrixXd data_covariance_;  // reseed: the data's MLE covariance, computed on first use
};

/// Fills the E-step form (precision factors, log-determinants) from Cholesky factors.
void finish_params(detail::GmmParams& p, const std::vector<MatrixXd>& cholesky) {
  const Index K = p.weights.size(), d = p.means.cols();
  p.log_det_precision.resize(K);
  p.precision_cholesky.clear();
  if (p.diagonal) {
    p.inv_sd.resize(K, d);
  } else {
    p.inv_sd.resize(0, 0);
    p.precision_cholesky.resize(static_cast<std::size_t>(K));
  }
  for (Index k = 0; k < K; ++k) {
    const MatrixXd& L = cholesky[static_cast<std::size_t>(k)];
    p.log_det_precision(k) = -L.diagonal().array().log().sum();
    if (p.diagonal) {
      p.inv_sd.row(k) = L.diagonal().transpose().cwiseInverse();
    } else {
      MatrixXd& P = p.precision_cholesky[static_cast<std::size_t>(k)];
      P.setIdentity(d, d);
      L.transpose().triangularView<Eigen::Upper>().solveInPlace(P);
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------

bool GmmOptions::IsValid(std::string* error) const {
  std::string message;
  if (components < 1) {
    message = "model.components = " + std::to_string(components) + ", but must be ≥ 1";
  } else if (!(tol > 0)) {
    message = "model.tol = " + format_number(tol) + ", but must be > 0";
  } else if (!std::isfinite(tol)) {
    message = "model.tol = " + format_number(tol) + ", but must be finite";
  } else if (max_iter < 1) {
    message = "model.max_iter = " + std::to_string(max_iter) + ", but must be ≥ 1";
  } else if (!(reg_covar >= 0)) {
    message = "model.reg_covar = " + format_number(reg_covar) + ", but must be ≥ 0";
  } else if (!std::isfinite(reg_covar)) {
    message = "model.reg_covar = " + format_number(reg_covar) + ", but must be finite";
  } else if (n_init < 1) {
    message = "model.n_init = " + std::to_string(n_init) + ", but must be ≥ 1";
  } else if (unbiased_covariance && components != 1) {
    message = "model.covariance_estimator = \"unbiased\" needs model.components = 1 (Bessel's correction is not "
              "defined for a mixture component), but model.components = " + std::to_string(components);
  } else if (!fit_covariance) {
    const MatrixXd& C = fixed_covariance;
    const std::string key = "model.fixed_covariance";
    if (C.size() == 0) {
      message = key + " is empty, but must be a d × d symmetric positive definite matrix when model.fit_covariance = false";
    } else if (C.rows() != C.cols()) {
      message = key + " is " + std::to_string(C.rows()) + " × " + std::to_string(C.cols()) +
                ", but must be square (d × d) when model.fit_covariance = false";
    } else if (!C.allFinite()) {
      message = key + " contains a non-finite value, but must be finite";
    } else if ((C - C.transpose()).cwiseAbs().maxCoeff() > 1e-12 * C.cwiseAbs().maxCoeff()) {
      message = key + " is not symmetric (max |Σ − Σᵀ| = " +
                format_number((C - C.transpose()).cwiseAbs().maxCoeff()) + "), but must be symmetric positive definite";
    } else if (Eigen::LLT<MatrixXd>(C).info() != Eigen::Success) {
      message = key + " is not positive definite, but must be symmetric positive definite";
    }
  }
  if (message.empty()) return true;
  if (error) *error = std::move(message);
  return false;
}

GaussianMixture::GaussianMixture(GmmOptions options) : options_(options) {
  std::string error;
  if (!options_.IsValid(&error)) throw std::invalid_argument(error);
}

GaussianMixture GaussianMixture::from_parameters(const VectorXd& weights, const MatrixXd& means,
                                                 const std::vector<MatrixXd>& covariances) {
  const std::string who = "gaussian mixture: ";
  const Index K = weights.size();
  if (K == 0) throw std::invalid_argument(who + "weights is empty, but there must be at least 1 component");
  if (means.rows() != K)
    throw std::invalid_argument(who + "means has " + std::to_string(means.rows()) + " rows, but weights has " +
                                std::to_string(K) + " entries (one row per component)");
  const Index d = means.cols();
  if (d == 0) throw std::invalid_argument(who + "means has 0 columns, but the dimension must be ≥ 1");
  if (static_cast<Index>(covariances.size()) != K)
    throw std::invalid_argument(who + "covariances has " + std::to_string(covariances.size()) +
                                " matrices, but weights has " + std::to_string(K) + " entries");
  for (Index k = 0; k < K; ++k)
    if (!(weights(k) >= 0) || !std::isfinite(weights(k)))
      throw std::invalid_argument(who + idx("weights", k) + " = " + format_number(weights(k)) +
                                  ", but must be finite and ≥ 0");
  const double sum = weights.sum();
  if (!(std::abs(sum - 1.0) <= 1e-9))
    throw std::invalid_argument(who + "weights sum to " + format_number(sum) + ", but must sum to 1 (±1e-9)");
  for (Index k = 0; k < K; ++k)
    for (Index j = 0; j < d; ++j)
      if (!std::isfinite(means(k, j)))
        throw std::invalid_argument(who + "means(" + std::to_string(k) + ", " + std::to_string(j) + ") = " +
                                    format_number(means(k, j)) + ", but must be finite");

  GmmOptions options;
  options.components = static_cast<int>(K);
  GaussianMixture model(options);
  model.covariances_.resize(static_cast<std::size_t>(K));
  model.cholesky_.resize(static_cast<std::size_t>(K));
  bool diagonal = true;
  for (Index k = 0; k < K; ++k) {
    const MatrixXd& C = covariances[static_cast<std::size_t>(k)];
    const std::string name = who + idx("covariances", k);
    if (C.rows() != d || C.cols() != d)
      throw std::invalid_argument(name + " is " + std::to_string(C.rows()) + " × " + std::to_string(C.cols()) +
                                  ", but must be " + std::to_string(d) + " × " + std::to_string(d) +
                                  " (d = means.cols())");
    if (!C.allFinite()) throw std::invalid_argument(name + " contains a non-finite value");
    const double asym = (C - C.transpose()).cwiseAbs().maxCoeff();
    if (asym > 1e-12 * C.cwiseAbs().maxCoeff())
      throw std::invalid_argument(name + " is not symmetric (max |Σ − Σᵀ| = " + format_number(asym) + ")");
    MatrixXd S = 0.5 * (C + C.transpose());
    Eigen::LLT<MatrixXd> llt(S);
    if (llt.info() != Eigen::Success) throw std::invalid_argument(name + " is not positive definite");
    model.cholesky_[static_cast<std::size_t>(k)] = llt.matrixL();
    diagonal = diagonal && (S - MatrixXd(S.diagonal().asDiagonal())).isZero(0.0);
    model.covariances_[static_cast<std::size_t>(k)] = std::move(S);
  }
  model.params_.weights = weights / sum;
  model.params_.means = means;
  model.params_.diagonal = diagonal;
  finish_params(model.params_, model.cholesky_);
  return model;
}

FitReport GaussianMixture::fit(const MatrixXd& data, Rng& rng) {
  const Index n = data.rows(), d = data.cols();
  if (n < options_.components)
    throw std::invalid_argument("gaussian mixture fit: " + std::to_string(n) + " samples, but model.components = " +
                                std::to_string(options_.components) + " needs at least " +
                                std::to_string(options_.components));
  if (d == 0) throw std::invalid_argument("gaussian mixture fit: data has 0 columns, but needs at least 1");
  if (!data.allFinite()) {
    for (Index i = 0; i < n; ++i)
      for (Index j = 0; j < d; ++j)
        if (!std::isfinite(data(i, j)))
          throw std::invalid_argument("gaussian mixture fit: data(" + std::to_string(i) + ", " + std::to_string(j) +
                                      ") = " + format_number(data(i, j)) + ", but must be finite");
  }
  if (!options_.fit_covariance && options_.fixed_covariance.rows() != d)
    throw std::invalid_argument("gaussian mixture fit: model.fit_covariance = false needs model.fixed_covariance of " +
                                std::to_string(d) + " × " + std::to_string(d) + " for data with d = " +
                                std::to_string(d) + ", but it is " + std::to_string(options_.fixed_covariance.rows()) +
                                " × " + std::to_string(options_.fixed_covariance.cols()));

  // Warm start (init = previous) needs parameters of the right dimension and at most n components.
  const bool want_warm = options_.init == GmmInit::previous;
  const bool warm = want_warm && fitted() && dim() == d && components() <= n;
  const GmmInit cold = want_warm ? GmmInit::kmeans : options_.init;

  detail::GmmWorkspace& ws = workspace_;
  FitReport best;
  for (int restart = 0; restart < options_.n_init; ++restart) {
    FitReport report;
    report.converged = false;
    const bool warm_here = warm && restart == 0;
    EmFitter em(data, options_, ws, report, warm_here ? components() : options_.components, rng);
    if (warm_here) {
      em.warm_start(params_.weights, params_.means, covariances_);
    } else {
      em.initialise(cold);
    }

    double lower_bound = -std::numeric_limits<double>::infinity();
    double change = std::numeric_limits<double>::infinity();
    int iterations = 0;
    {
      MallocGuard no_malloc;
      while (iterations < options_.max_iter) {
        ++iterations;
        const double previous = lower_bound;
        lower_bound = em.e_step();
        em.m_step(/*keep_empty_means=*/true);
        change = lower_bound - previous;
        if (std::abs(change) < options_.tol) {
          report.converged = true;
          break;
        }
      }
    }
    report.iterations = iterations;
    report.lower_bound = lower_bound;
    if (!report.converged)
      report.events.push_back(Event{-1, "em_not_converged",
                                    "EM stopped at model.max_iter = " + std::to_string(options_.max_iter) +
                                        " iterations with |Δ lower bound| = " + format_number(std::abs(change)) +
                                        " nats/sample ≥ model.tol = " + format_number(options_.tol)});
    // sklearn: keep the first restart, then any with a strictly higher lower bound.
    if (restart == 0 || lower_bound > best.lower_bound) {
      em.commit(ws.best_params, ws.best_covariances, ws.best_cholesky);
      best = std::move(report);
    }
  }
  if (want_warm && fitted() && !warm)
    best.events.push_back(Event{-1, "warm_start_fallback",
                                "model.init = previous, but the fitted model (K = " + std::to_string(components()) +
                                    ", d = " + std::to_string(dim()) + ") does not fit data with n = " +
                                    std::to_string(n) + ", d = " + std::to_string(d) + "; started from kmeans"});
  // The kept parameters move into the model; its old storage becomes scratch space for the next fit.
  std::swap(params_, ws.best_params);
  std::swap(covariances_, ws.best_covariances);
  std::swap(cholesky_, ws.best_cholesky);
  return best;
}

void GaussianMixture::require_fitted(const char* what) const {
  if (!fitted())
    throw std::logic_error(std::string("gaussian mixture: ") + what +
                           " called before fit() or from_parameters() gave the model parameters");
}

MatrixXd GaussianMixture::sample(std::size_t n, const SamplingControls& controls, Rng& rng) const {
  require_fitted("sample()");
  const double tau = controls.temperature;
  if (!(tau > 0) || !std::isfinite(tau))
    throw std::invalid_argument("loop.temperature = " + format_number(tau) + ", but must be finite and > 0");
  const Index K = components(), d = dim();
  const auto rows = static_cast<Index>(n);

  // 1. components: inverse CDF on the cumulative weights; rounding past the end → last positive weight.
  std::vector<double> cumulative(static_cast<std::size_t>(K));
  std::partial_sum(params_.weights.data(), params_.weights.data() + K, cumulative.begin());
  Index last_positive = K - 1;
  while (last_positive > 0 && !(params_.weights(last_positive) > 0)) --last_positive;
  std::vector<Index> label(n);
  boost::random::uniform_real_distribution<double> unif(0.0, 1.0);
  if (K <= 16) {  // branch-free count of the cumulative weights ≤ u (= upper_bound on the sorted cumulative)
    for (std::size_t i = 0; i < n; ++i) {
      const double u = unif(rng);
      Index k = 0;
      for (Index l = 0; l < K; ++l) k += cumulative[static_cast<std::size_t>(l)] <= u;
      label[i] = std::min(k, last_positive);
    }
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      const double u = unif(rng);
      const Index k = std::upper_bound(cumulative.begin(), cumulative.end(), u) - cumulative.begin();
      label[i] = std::min(k, last_positive);
    }
  }

  // 2. standard normals, row-major.
  MatrixXd out(rows, d);
  boost::random::normal_distribution<double> normal(0.0, 1.0);
  for (Index i = 0; i < rows; ++i)
    for (Index j = 0; j < d; ++j) out(i, j) = normal(rng);

  // 3. x_i = μ_k + τ (L_k z_i), in place; y_r = Σ_{c ≤ r} L_rc z_c summed in c order (as Eigen's trmv),
  //    rows r from the last down so that z_c (c ≤ r) is still unread when y_r overwrites z_r.
  if (d == 1) {
    std::vector<double> mu(static_cast<std::size_t>(K)), sd(static_cast<std::size_t>(K));
    for (Index k = 0; k < K; ++k) {
      mu[static_cast<std::size_t>(k)] = params_.means(k, 0);
      sd[static_cast<std::size_t>(k)] = cholesky_[static_cast<std::size_t>(k)](0, 0);
    }
    double* x = out.data();
    for (Index i = 0; i < rows; ++i) {
      const auto k = static_cast<std::size_t>(label[static_cast<std::size_t>(i)]);
      x[i] = mu[k] + tau * (sd[k] * x[i]);
    }
    return out;
  }
  for (Index i = 0; i < rows; ++i) {
    const Index k = label[static_cast<std::size_t>(i)];
    const MatrixXd& L = cholesky_[static_cast<std::size_t>(k)];
    for (Index r = d - 1; r >= 0; --r) {
      double y = L(r, 0) * out(i, 0);
      for (Index c = 1; c <= r; ++c) y += L(r, c) * out(i, c);
      out(i, r) = params_.means(k, r) + tau * y;
    }
  }
  return out;
}

VectorXd GaussianMixture::score_samples(const MatrixXd& data) const {
  require_fitted("score_samples()");
  if (data.cols() != dim())
    throw std::invalid_argument("gaussian mixture: data has " + std::to_string(data.cols()) +
                                " columns, but the model has dimension " + std::to_string(dim()));
  const Index n = data.rows();
  MatrixXd lp(n, components()), centred, scratch;
  if (!params_.diagonal) {
    centred.resize(n, dim());
    scratch.resize(n, dim());
  }
  weighted_log_prob(data, params_, lp, centred, scratch);
  VectorXd row_max(n), norm(n), log_norm(n);
  normalise_log_resp(lp, row_max, norm, &log_norm);
  return log_norm;
}

double GaussianMixture::log_likelihood(const MatrixXd& data) const { return score_samples(data).sum(); }

namespace {
/// Σ_k w_k Φ(z_k) (lower) or Σ_k w_k Φ(−z_k) (upper), z_k = (x − μ_kj)/σ_kj; Φ(z) = ½ erfc(−z/√2).
double marginal_tail(const VectorXd& w, const MatrixXd& means, const std::vector<MatrixXd>& cov, Index j, double x,
                     bool upper) {
  double s = 0;
  for (Index k = 0; k < w.size(); ++k) {
    const double z = (x - means(k, j)) / std::sqrt(cov[static_cast<std::size_t>(k)](j, j));
    s += w(k) * 0.5 * std::erfc((upper ? z : -z) * kSqrtHalf);
  }
  return s;
}
}  // namespace

double GaussianMixture::marginal_cdf(int j, double x) const {
  require_fitted("marginal_cdf()");
  if (j < 0 || j >= dim())
    throw std::invalid_argument("gaussian mixture: marginal dimension " + std::to_string(j) + ", but must be in [0, " +
                                std::to_string(dim() - 1) + "]");
  return marginal_tail(params_.weights, params_.means, covariances_, j, x, false);
}

double GaussianMixture::marginal_quantile(int j, double p) const {
  require_fitted("marginal_quantile()");
  if (j < 0 || j >= dim())
    throw std::invalid_argument("gaussian mixture: marginal dimension " + std::to_string(j) + ", but must be in [0, " +
                                std::to_string(dim() - 1) + "]");
  if (!(p > 0 && p < 1))
    throw std::invalid_argument("gaussian mixture: quantile level p = " + format_number(p) + ", but must be in (0, 1)");
  // Solve on the tail that holds p accurately: F(x) = p for p ≤ ½, S(x) = 1 − F(x) = 1 − p otherwise.
  const bool upper = p > 0.5;
  const double target = upper ? 1.0 - p : p;
  // below(x): x lies left of the quantile.
  const auto below = [&](double x) {
    const double t = marginal_tail(params_.weights, params_.means, covariances_, j, x, upper);
    return upper ? t > target : t < target;
  };
  double lo = params_.means.col(j).minCoeff(), hi = params_.means.col(j).maxCoeff();
  double scale = 0, smallest_sd = std::numeric_limits<double>::infinity();
  for (const auto& C : covariances_) {
    scale = std::max(scale, std::sqrt(C(j, j)));
    smallest_sd = std::min(smallest_sd, std::sqrt(C(j, j)));
  }
  for (double step = scale; below(hi); step *= 2) hi += step;
  for (double step = scale; !below(lo); step *= 2) lo -= step;
  // Invariant: below(lo), !below(hi).
  for (int iter = 0; iter < 2000; ++iter) {  // ≈ 60 halvings in practice
    const double mid = lo + 0.5 * (hi - lo);
    if (mid <= lo || mid >= hi) break;
    if (hi - lo <= 4 * std::numeric_limits<double>::epsilon() * std::max({std::abs(lo), std::abs(hi), smallest_sd}))
      break;
    (below(mid) ? lo : hi) = mid;
  }
  return lo + 0.5 * (hi - lo);
}

}  // namespace collapse
