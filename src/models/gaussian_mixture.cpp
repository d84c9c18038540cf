// Gaussian mixture: EM in log space (Bishop 2006, PRML §9.2.2) with scikit-learn 1.3 semantics,
// k-means++ / Lloyd / random initialisation, exact sampling, marginal CDF and quantile.
//
// Layout of the EM loop (all buffers live in detail::GmmWorkspace, sized once per fit):
//   initialise   responsibilities from the init (hard k-means labels or random rows) → m_step
//   repeat       e_step (weighted log-probabilities → log-sum-exp → responsibilities, lower bound)
//                m_step (counts, means, covariances + reg_covar, Cholesky, precision factors, events)
//                stop when |lower bound − previous| < tol
// Allocation check: compile every translation unit with -DCOLLAPSE_GMM_CHECK_NO_MALLOC
// -DEIGEN_RUNTIME_NO_MALLOC and without NDEBUG; Eigen then asserts on any heap allocation inside the
// EM loop (iterations after the initialisation). Event messages are the only allowed exception.

#if defined(COLLAPSE_GMM_CHECK_NO_MALLOC) && !defined(EIGEN_RUNTIME_NO_MALLOC)
#define EIGEN_RUNTIME_NO_MALLOC
#endif

#include "models/gaussian_mixture.hpp"

#include <algorithm>
#include <cmath>
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

// ---------------------------------------------------------------------------------------------
// k-means initialisation

/// k-means++ seeding (Arthur & Vassilvitskii 2007) with sklearn's greedy variant: each new centre is
/// the best (lowest potential) of 2 + ⌊ln K⌋ candidates drawn with probability ∝ D(x)².
/// Draws: one uniform index for the first centre, then per centre `trials` uniforms in [0, 1).
/// Cost: O(n · K · trials · d).
MatrixXd kmeans_plusplus(const MatrixXd& X, Index K, Rng& rng) {
  const Index n = X.rows();
  const Index trials = 2 + static_cast<Index>(std::log(static_cast<double>(K)));
  MatrixXd centers(K, X.cols());
  boost::random::uniform_int_distribution<Index> pick(0, n - 1);
  boost::random::uniform_real_distribution<double> unif(0.0, 1.0);

  const Index first = pick(rng);
  centers.row(0) = X.row(first);
  VectorXd closest = (X.rowwise() - X.row(first)).rowwise().squaredNorm();
  double potential = closest.sum();

  MatrixXd candidate(n, trials);
  std::vector<double> cumulative(static_cast<std::size_t>(n));
  std::vector<Index> ids(static_cast<std::size_t>(trials));
  for (Index c = 1; c < K; ++c) {
    std::partial_sum(closest.data(), closest.data() + n, cumulative.begin());
    for (Index t = 0; t < trials; ++t) {  // searchsorted(cumsum, u · potential), clipped to n − 1
      const double r = unif(rng) * potential;
      const auto it = std::lower_bound(cumulative.begin(), cumulative.end(), r);
      ids[static_cast<std::size_t>(t)] = std::min<Index>(it - cumulative.begin(), n - 1);
    }
    Index best = 0;
    double best_potential = std::numeric_limits<double>::infinity();
    for (Index t = 0; t < trials; ++t) {
      candidate.col(t) =
          closest.cwiseMin((X.rowwise() - X.row(ids[static_cast<std::size_t>(t)])).rowwise().squaredNorm());
      const double s = candidate.col(t).sum();
      if (s < best_potential) {
        best_potential = s;
        best = t;
      }
    }
    potential = best_potential;
    closest = candidate.col(best);
    centers.row(c) = X.row(ids[static_cast<std::size_t>(best)]);
  }
  return centers;
}

/// labels_i = argmin_k ‖x_i − c_k‖² (first minimum on ties); dist (n × K) receives the squared distances.
/// Column-wise (contiguous) scans; `best` is an n-vector of scratch.
void assign_nearest(const MatrixXd& X, const MatrixXd& centers, MatrixXd& dist, std::vector<Index>& labels,
                    VectorXd& best) {
  const Index n = X.rows(), K = centers.rows();
  for (Index k = 0; k < K; ++k) {
    auto dk = dist.col(k).array();
    dk = (X.col(0).array() - centers(k, 0)).square();
    for (Index j = 1; j < X.cols(); ++j) dk += (X.col(j).array() - centers(k, j)).square();
  }
  best = dist.col(0);
  std::fill(labels.begin(), labels.end(), Index{0});
  for (Index k = 1; k < K; ++k) {
    const double* dk = dist.col(k).data();
    for (Index i = 0; i < n; ++i) {
      const bool closer = dk[i] < best(i);  // strict: the first minimum wins ties
      best(i) = closer ? dk[i] : best(i);
      labels[static_cast<std::size_t>(i)] = closer ? k : labels[static_cast<std::size_t>(i)];
    }
  }
}

/// Lloyd's algorithm from `centers` (updated in place), as sklearn KMeans(n_init=1): stops when the labels
/// do not change, or when Σ_k ‖Δc_k‖² ≤ 1e-4 · mean per-feature variance, or after 300 iterations.
/// An empty cluster is moved to the point farthest from its centre (ties: lowest index).
/// @return labels of the final centres. Cost: O(iterations · n · K · d).
std::vector<Index> lloyd(const MatrixXd& X, MatrixXd& centers, MatrixXd& dist) {
  const Index n = X.rows(), K = centers.rows(), d = X.cols();
  const double tol = kLloydRelTol * ((X.rowwise() - X.colwise().mean()).colwise().squaredNorm().sum() /
                                     (static_cast<double>(n) * static_cast<double>(d)));
  std::vector<Index> labels(static_cast<std::size_t>(n)), previous(static_cast<std::size_t>(n), -1);
  MatrixXd sums(K, d);
  VectorXd counts(K);
  std::vector<Index> empty, order;
  VectorXd best(n);
  for (int iter = 0; iter < kLloydMaxIter; ++iter) {
    assign_nearest(X, centers, dist, labels, best);
    if (labels == previous) return labels;  // the centres are already the means of these labels
    previous = labels;

    sums.setZero();
    counts.setZero();
    for (Index i = 0; i < n; ++i) counts(labels[static_cast<std::size_t>(i)]) += 1;
    for (Index j = 0; j < d; ++j) {
      const double* xj = X.col(j).data();
      for (Index i = 0; i < n; ++i) sums(labels[static_cast<std::size_t>(i)], j) += xj[i];
    }
    empty.clear();
    for (Index k = 0; k < K; ++k)
      if (counts(k) == 0) empty.push_back(k);
    if (!empty.empty()) {
      order.resize(static_cast<std::size_t>(n));
      std::iota(order.begin(), order.end(), Index{0});
      const auto farther = [&](Index a, Index b) {
        const double da = dist(a, labels[static_cast<std::size_t>(a)]);
        const double db = dist(b, labels[static_cast<std::size_t>(b)]);
        return da > db || (da == db && a < b);
      };
      const auto m = static_cast<std::ptrdiff_t>(empty.size());
      std::partial_sort(order.begin(), order.begin() + m, order.end(), farther);
      for (std::size_t e = 0; e < empty.size(); ++e) {
        const Index f = order[e];
        const Index from = labels[static_cast<std::size_t>(f)];
        sums.row(from) -= X.row(f);
        counts(from) -= 1;
        sums.row(empty[e]) = X.row(f);
        counts(empty[e]) = 1;
        labels[static_cast<std::size_t>(f)] = empty[e];
      }
    }
    double shift = 0;
    for (Index k = 0; k < K; ++k) {
      if (counts(k) == 0) continue;  // keep the old centre
      const auto updated = (sums.row(k) / counts(k)).eval();
      shift += (updated - centers.row(k)).squaredNorm();
      centers.row(k) = updated;
    }
    if (shift <= tol) break;
  }
  assign_nearest(X, centers, dist, labels, best);
  return labels;
}

// ---------------------------------------------------------------------------------------------
// EM

/// One EM fit: the named steps of the algorithm over the caller's workspace.
class EmFitter {
 public:
  EmFitter(const MatrixXd& X, const GmmOptions& options, detail::GmmWorkspace& ws, FitReport& report)
      : X_(X),
        o_(options),
        ws_(ws),
        report_(report),
        n_(X.rows()),
        d_(X.cols()),
        K_(options.components),
        empty_reported_(static_cast<std::size_t>(K_), 0),
        floor_reported_(static_cast<std::size_t>(K_), 0),
        llt_(d_),
        llt_floor_(d_),
        floor_matrix_(d_, d_) {
    auto& p = ws_.params;
    p.diagonal = o_.covariance != CovarianceType::full || d_ == 1;
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
  }

  /// Responsibilities from options.init, then the first M-step.
  void initialise(Rng& rng) {
    switch (o_.init) {
      case GmmInit::kmeans:
      case GmmInit::kmeans_pp: {
        MatrixXd centers = kmeans_plusplus(X_, K_, rng);
        std::vector<Index> labels(static_cast<std::size_t>(n_));
        if (o_.init == GmmInit::kmeans) {
          labels = lloyd(X_, centers, ws_.resp);
        } else {
          VectorXd best(n_);
          assign_nearest(X_, centers, ws_.resp, labels, best);
        }
        ws_.resp.setZero();
        for (Index i = 0; i < n_; ++i) ws_.resp(i, labels[static_cast<std::size_t>(i)]) = 1.0;
        ws_.params.means = centers;  // what an empty cluster keeps
        m_step(/*keep_empty_means=*/true);
        break;
      }
      case GmmInit::random: {
        boost::random::uniform_real_distribution<double> unif(0.0, 1.0);
        for (Index i = 0; i < n_; ++i) {  // row-major, like numpy's uniform(size=(n, K))
          double s = 0;
          for (Index k = 0; k < K_; ++k) s += (ws_.resp(i, k) = unif(rng));
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

  /// E-step: responsibilities into ws.resp. @return the lower bound (mean log-likelihood per sample).
  double e_step() {
    weighted_log_prob(X_, ws_.params, ws_.resp, ws_.centred, ws_.scratch);
    return normalise_log_resp(ws_.resp, ws_.row_max, ws_.norm, nullptr);
  }

  /// M-step from the responsibilities in ws.resp (sklearn _estimate_gaussian_parameters), then the
  /// precision factors the next E-step needs, and the degenerate-component events.
  void m_step(bool keep_empty_means) {
    auto& p = ws_.params;
    ws_.counts = ws_.resp.colwise().sum().transpose();
    if (d_ <= kSmallDim) {
      for (Index k = 0; k < K_; ++k)
        for (Index j = 0; j < d_; ++j) ws_.sums(k, j) = ws_.resp.col(k).dot(X_.col(j));
    } else {
      ws_.sums.noalias() = ws_.resp.transpose() * X_;
    }
    const double total = ws_.counts.sum() + static_cast<double>(K_) * kCountEps;
    for (Index k = 0; k < K_; ++k) {
      const double raw = ws_.counts(k);
      const double nk = raw + kCountEps;
      p.weights(k) = nk / total;
      const bool empty = raw < kEmptyCount;
      if (!(empty && keep_empty_means)) p.means.row(k) = ws_.sums.row(k) / nk;
      if (empty && !empty_reported_[static_cast<std::size_t>(k)]) {
        empty_reported_[static_cast<std::size_t>(k)] = 1;
        add_event("empty_component", "component " + std::to_string(k) + ": effective count N_k = " +
                                         format_number(raw) + " < 2; covariance set to model.reg_covar·I = " +
                                         format_number(o_.reg_covar) + "·I, mean kept");
      }
      if (p.diagonal) {
        update_diagonal(k, nk, empty);
      } else {
        update_full(k, nk, empty);
      }
    }
  }

  /// Moves the fitted parameters into the model's storage (full d × d covariances for every type).
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

  /// Diagonal / spherical: variances σ²_kj = Σ_i r_ik (x_ij − μ_kj)² / N_k + reg_covar.
  void update_diagonal(Index k, double nk, bool empty) {
    auto& p = ws_.params;
    auto var = ws_.variances.row(k);
    if (empty) {
      var.setConstant(o_.reg_covar);
    } else {
      const auto r = ws_.resp.col(k).array();
      for (Index j = 0; j < d_; ++j)
        var(j) = (r * (X_.col(j).array() - p.means(k, j)).square()).sum() / nk + o_.reg_covar;
      if (o_.covariance == CovarianceType::spherical) var.setConstant(var.mean());
    }
    const double smallest = var.minCoeff();
    if (!(smallest > 0) || !std::isfinite(var.maxCoeff())) not_positive_definite(k);
    p.inv_sd.row(k) = var.cwiseSqrt().cwiseInverse();
    p.log_det_precision(k) = -0.5 * var.array().log().sum();
    if (!floor_reported_[static_cast<std::size_t>(k)] && smallest <= kFloorFactor * o_.reg_covar)
      report_floor(k, smallest, "variance");
  }

  /// Full: Σ_k = Σ_i r_ik (x_i − μ_k)(x_i − μ_k)ᵀ / N_k + reg_covar·I, then L_k, P_k = L_k^{-T}.
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
      C /= nk;
      for (Index j = 0; j < d_; ++j)  // exact symmetry: copy the lower triangle up
        for (Index i = j + 1; i < d_; ++i) C(j, i) = C(i, j);
      C.diagonal().array() += o_.reg_covar;
    }
    if (!C.allFinite()) not_positive_definite(k);
    llt_.compute(C);
    if (llt_.info() != Eigen::Success) not_positive_definite(k);
    MatrixXd& L = ws_.cholesky[s];
    L = llt_.matrixL();
    MatrixXd& P = p.precision_cholesky[s];
    P.setIdentity();
    L.transpose().triangularView<Eigen::Upper>().solveInPlace(P);
    p.log_det_precision(k) = -L.diagonal().array().log().sum();

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
  const Index n_, d_, K_;
  std::vector<char> empty_reported_, floor_reported_;
  Eigen::LLT<MatrixXd> llt_, llt_floor_;
  MatrixXd floor_matrix_;
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

  FitReport report;
  report.converged = false;
  EmFitter em(data, options_, workspace_, report);
  em.initialise(rng);

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
  em.commit(params_, covariances_, cholesky_);
  return report;
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
  for (std::size_t i = 0; i < n; ++i) {
    const double u = unif(rng);
    const Index k = std::upper_bound(cumulative.begin(), cumulative.end(), u) - cumulative.begin();
    label[i] = std::min(k, last_positive);
  }

  // 2. standard normals, row-major.
  MatrixXd out(rows, d);
  boost::random::normal_distribution<double> normal(0.0, 1.0);
  for (Index i = 0; i < rows; ++i)
    for (Index j = 0; j < d; ++j) out(i, j) = normal(rng);

  // 3. x_i = μ_k + τ L_k z_i.
  VectorXd z(d), y(d);
  for (Index i = 0; i < rows; ++i) {
    const Index k = label[static_cast<std::size_t>(i)];
    z = out.row(i).transpose();
    y.noalias() = cholesky_[static_cast<std::size_t>(k)].triangularView<Eigen::Lower>() * z;
    out.row(i) = params_.means.row(k) + tau * y.transpose();
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
