#pragma once
// Gaussian mixture model fitted by EM, with scikit-learn-compatible options so that published settings
// can be written down 1:1 (sklearn.mixture.GaussianMixture, v1.3 semantics).

#include <string>
#include <vector>

#include <Eigen/Core>

#include "core/rng.hpp"
#include "models/fit_report.hpp"
#include "models/sampling.hpp"

namespace collapse {

enum class CovarianceType { full, diagonal, spherical };
enum class GmmInit {
  kmeans,     ///< k-means++ seeding, then Lloyd iterations to convergence; hard labels start EM (sklearn default "kmeans")
  kmeans_pp,  ///< k-means++ seeding only; hard labels to the nearest seed start EM (sklearn "k-means++")
  random,     ///< random responsibilities, rows of a uniform matrix normalised (sklearn "random")
};

struct GmmOptions {
  int components = 1;                             ///< K ≥ 1
  CovarianceType covariance = CovarianceType::full;
  double tol = 1e-3;        ///< stop when |Δ mean log-likelihood per sample| < tol (nats); > 0
  int max_iter = 100;       ///< ≥ 1 EM iterations
  double reg_covar = 1e-6;  ///< ≥ 0, added to the diagonal of every covariance (the variance floor)
  GmmInit init = GmmInit::kmeans;
  /// Ceres-style validation. @return false and a message naming the field if invalid.
  bool IsValid(std::string* error) const;
};

/// A mixture Σ_k w_k N(μ_k, Σ_k) over R^d.
class GaussianMixture {
 public:
  explicit GaussianMixture(GmmOptions options = {});

  /// A mixture with given parameters (e.g. an analytic truth).
  /// @param weights  K, non-negative, summing to 1 (±1e-9; renormalised).
  /// @param means    K × d.
  /// @param covariances  K matrices d × d, symmetric positive definite.
  /// @throws std::invalid_argument on shape mismatch, negative weights, or a non-SPD covariance.
  static GaussianMixture from_parameters(const Eigen::VectorXd& weights, const Eigen::MatrixXd& means,
                                         const std::vector<Eigen::MatrixXd>& covariances);

  /// Fits by EM in log space (Bishop 2006, PRML §9.2.2; log-sum-exp responsibilities), starting from
  /// options().init drawn from `rng`. Convergence as scikit-learn: |Δ lower bound| < tol, where the
  /// lower bound is the mean log-likelihood per sample (nats).
  /// @param data  n × d, one sample per row; n ≥ components; finite.
  /// @return FitReport with iterations, converged, lower bound and events: "em_not_converged",
  ///         "variance_floor" (a component's smallest variance ≤ 10·reg_covar), "empty_component"
  ///         (effective count N_k < 2; its covariance is then reg_covar·I and the run goes on).
  /// @throws std::invalid_argument  n < components, d mismatch with a previous fit is allowed (refit), non-finite data.
  /// Cost: O(iterations · n · K · d²); no allocation per sample.
  FitReport fit(const Eigen::MatrixXd& data, Rng& rng);

  /// Exact sampling: component by categorical draw on the weights, then μ_k + τ L_k z with
  /// Σ_k = L_k L_kᵀ (Cholesky) and z ~ N(0, I) (Boost.Random normal_distribution).
  /// @return n × d. @throws std::logic_error if the model has no parameters yet.
  Eigen::MatrixXd sample(std::size_t n, const SamplingControls& controls, Rng& rng) const;

  /// log p(x_i) for every row (nats). @param data n × d.
  Eigen::VectorXd score_samples(const Eigen::MatrixXd& data) const;
  /// Σ_i log p(x_i) (nats, total).
  double log_likelihood(const Eigen::MatrixXd& data) const;

  /// CDF of the marginal of dimension j at x: Σ_k w_k Φ((x − μ_kj)/√Σ_kjj). Exact.
  double marginal_cdf(int j, double x) const;
  /// Inverse of marginal_cdf (bisection to 1e-12 relative), p in (0, 1).
  double marginal_quantile(int j, double p) const;

  int components() const noexcept { return static_cast<int>(weights_.size()); }
  int dim() const noexcept { return static_cast<int>(means_.cols()); }
  bool fitted() const noexcept { return weights_.size() > 0; }
  const GmmOptions& options() const noexcept { return options_; }
  const Eigen::VectorXd& weights() const noexcept { return weights_; }   ///< K
  const Eigen::MatrixXd& means() const noexcept { return means_; }       ///< K × d
  const std::vector<Eigen::MatrixXd>& covariances() const noexcept { return covariances_; }  ///< K of d × d (full form for every CovarianceType)

 private:
  GmmOptions options_;
  Eigen::VectorXd weights_;
  Eigen::MatrixXd means_;
  std::vector<Eigen::MatrixXd> covariances_;
  std::vector<Eigen::MatrixXd> cholesky_;  // lower factors L_k of covariances_
  // ... implementation state (workspace buffers reused across fits) may be added here.
};

}  // namespace collapse
