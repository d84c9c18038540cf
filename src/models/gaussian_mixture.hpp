#pragma once
// Gaussian mixture model fitted by EM, with scikit-learn-compatible options so that published settings
// can be written down 1:1 (sklearn.mixture.GaussianMixture, v1.3 semantics, including n_init restarts and
// warm_start as GmmInit::previous), plus what the model-collapse experiments need beyond sklearn: policies
// for components that lose their support (DegeneratePolicy) and a held-fixed covariance (mean-only fits).
//
// Sources: Bishop 2006, Pattern Recognition and Machine Learning, §9.2.2 (EM for Gaussian mixtures);
// Arthur & Vassilvitskii 2007, "k-means++: the advantages of careful seeding"; scikit-learn user guide
// §2.1.1 and sklearn/mixture/_gaussian_mixture.py (v1.3) for reg_covar, tol, n_init and the loop order;
// Gerstgrasser et al. 2024, "Is model collapse inevitable?" for the fixed-covariance (mean-only) Gaussian.

#include <string>
#include <vector>

#include <Eigen/Core>

#include "core/rng.hpp"
#include "models/fit_report.hpp"
#include "models/sampling.hpp"

namespace collapse {

/// Shape of every component covariance (sklearn `covariance_type`). Whatever the type,
/// GaussianMixture::covariances() returns full d × d matrices.
enum class CovarianceType {
  full,       ///< any SPD matrix: d(d+1)/2 parameters per component
  diagonal,   ///< diag(σ²_1 … σ²_d) (sklearn "diag")
  spherical,  ///< σ² I; σ² is the mean of the diagonal variances (sklearn "spherical")
};

/// How EM is started. All draws come from the `Rng` passed to fit().
enum class GmmInit {
  kmeans,     ///< k-means++ seeding, then Lloyd iterations to convergence; hard labels start EM (sklearn default "kmeans")
  kmeans_pp,  ///< k-means++ seeding only; hard labels to the nearest seed start EM (sklearn's "k-means++"
              ///< gives each seed point alone a label; labelling every point is more robust)
  random,     ///< random responsibilities, rows of a uniform matrix normalised (sklearn "random")
  previous,   ///< warm start: EM starts (with an E-step) from the model's current parameters, i.e. the previous
              ///< generation's fit when the loop reuses one model object (sklearn warm_start = True), keeping its
              ///< K, which may be below `components` after DegeneratePolicy::drop. Falls back to `kmeans` with
              ///< options().components components when the model has no parameters yet (no event), or when its
              ///< dimension differs from the data's or it has more components than samples (event
              ///< "warm_start_fallback"). With n_init > 1 only the first restart is warm; the others use kmeans.
};

/// What EM does with a component that loses its support: N_k = Σ_i r_ik < 2 (equivalently weight
/// w_k < 2/n), checked after every M-step (including the one that follows the initialisation).
enum class DegeneratePolicy {
  keep,    ///< covariance at the floor reg_covar·I (held fixed_covariance if !fit_covariance), mean kept;
           ///< event "empty_component" (once per component per EM run). The scikit-learn behaviour.
  drop,    ///< remove the component: K shrinks for the rest of this fit and in the fitted model; weights are
           ///< renormalised over the survivors; event "component_dropped" per component. The last component is
           ///< never dropped (if every component is empty, the one with the largest N_k is kept, as `keep`).
  reseed,  ///< put it back: μ_k = a training row drawn uniformly (boost uniform_int_distribution on the fit's
           ///< rng), Σ_k = the data's MLE covariance (diagonal: its diagonal; spherical: mean of the diagonal · I)
           ///< + reg_covar·I (held fixed_covariance if !fit_covariance), w_k = 1/K, then all weights
           ///< renormalised; event "component_reseeded". At most kMaxReseeds = 3 reseeds per EM run (each
           ///< restart has its own budget), so EM terminates; beyond the cap a component is handled as `keep`.
};

struct GmmOptions {
  int components = 1;                             ///< K ≥ 1 (model.components); a fit that is not a warm start starts with K components
  CovarianceType covariance = CovarianceType::full;  ///< model.covariance; ignored when !fit_covariance
  double tol = 1e-3;        ///< stop when |Δ mean log-likelihood per sample| < tol (nats/sample); > 0 (model.tol)
  int max_iter = 100;       ///< ≥ 1 EM iterations per restart (model.max_iter)
  double reg_covar = 1e-6;  ///< ≥ 0, added to the diagonal of every covariance after each M-step (the variance
                            ///< floor; model.reg_covar). Not added to fixed_covariance.
  GmmInit init = GmmInit::kmeans;  ///< model.init
  /// ≥ 1 restarts (model.n_init; sklearn n_init): initialisation + EM run n_init times, drawing from the
  /// same rng stream one after the other; the fit with the highest final lower bound is kept (ties: the
  /// earliest), with its iterations, converged flag and events only. Cost grows linearly.
  int n_init = 1;
  /// Handling of components whose effective count N_k falls below 2 (model.degenerate).
  DegeneratePolicy degenerate = DegeneratePolicy::keep;
  /// model.fit_covariance. false: the M-step updates weights and means only, and every component's
  /// covariance is held at fixed_covariance (no reg_covar added; `covariance` is ignored). With K = 1 the fit
  /// is then the mean-only MLE: μ = the sample mean (as in Gerstgrasser et al. 2024).
  bool fit_covariance = true;
  /// model.covariance_estimator = "unbiased": divide the scatter by N_k − 1 instead of N_k (Bessel's
  /// correction), so that σ̂² is unbiased. K = 1 only (a mixture component has no such correction);
  /// false = the MLE, as scikit-learn. Suresh et al. 2025 / Shumailov et al. §4 study both estimators.
  bool unbiased_covariance = false;
  /// d × d symmetric positive definite (symmetric to 1e-12 relative), units of the data squared
  /// (model.fixed_covariance). Required (and its d must match the data's) when !fit_covariance; ignored otherwise.
  Eigen::MatrixXd fixed_covariance;

  /// Ceres-style validation; messages use the config keys "model.components", "model.tol",
  /// "model.max_iter", "model.reg_covar", "model.n_init", "model.fixed_covariance",
  /// "model.covariance_estimator", e.g.
  /// "model.tol = 0, but must be > 0", "model.n_init = 0, but must be ≥ 1",
  /// "model.fixed_covariance is empty, but must be a d × d symmetric positive definite matrix when
  /// model.fit_covariance = false".
  /// @param error  receives the message if invalid; may be null.
  /// @return false and a message naming the field if invalid. Cost: O(d³) for the fixed covariance check.
  bool IsValid(std::string* error) const;
};

/// Reseeds allowed per EM run under DegeneratePolicy::reseed.
inline constexpr int kMaxReseeds = 3;

namespace detail {

/// Parameters in the form the E-step consumes (precomputed once per M-step, not per sample).
struct GmmParams {
  Eigen::VectorXd weights;          ///< K, on the simplex
  Eigen::MatrixXd means;            ///< K × d
  bool diagonal = false;            ///< every Σ_k is diagonal (diagonal/spherical fits, or d = 1): use inv_sd
  Eigen::MatrixXd inv_sd;           ///< K × d, 1/√Σ_kjj; used when diagonal
  std::vector<Eigen::MatrixXd> precision_cholesky;  ///< K of d × d upper triangular P_k = L_k^{-T}; when !diagonal
  Eigen::VectorXd log_det_precision;  ///< K: log det P_k = −½ log det Σ_k
};

/// Scratch space of GaussianMixture::fit: sized once per fit (no-op when n, d, K repeat, as in the
/// generation loop) so that the EM loop allocates nothing. Copying or assigning a model does not
/// copy its scratch space.
struct GmmWorkspace {
  Eigen::MatrixXd resp;        ///< n × K: k-means distances, then weighted log-probabilities, then responsibilities
  Eigen::MatrixXd centred;     ///< n × d: X − μ_k
  Eigen::MatrixXd scratch;     ///< n × d: (X − μ_k) P_k in the E-step, r_k ⊙ (X − μ_k) in the M-step
  Eigen::VectorXd row_max;     ///< n: max_k of the weighted log-probabilities
  Eigen::VectorXd norm;        ///< n: Σ_k exp(lp_ik − max_k lp_ik), then its inverse
  Eigen::VectorXd counts;      ///< K: N_k = Σ_i r_ik
  Eigen::MatrixXd sums;        ///< K × d: Σ_i r_ik x_i
  Eigen::MatrixXd variances;   ///< K × d: diagonal variances (diagonal fits)
  std::vector<Eigen::MatrixXd> covariances;  ///< K of d × d (full fits)
  std::vector<Eigen::MatrixXd> cholesky;     ///< K of d × d lower L_k (full fits)
  GmmParams params;            ///< the parameters being fitted
  // k-means initialisation (sized per fit; reused)
  Eigen::MatrixXd centers;     ///< K × d k-means centres
  Eigen::VectorXd closest;     ///< n: k-means++ squared distance to the nearest chosen centre; Lloyd: to the own centre
  Eigen::MatrixXd candidate;   ///< n × trials: k-means++ candidate potentials
  Eigen::MatrixXd lane_sums;   ///< (d + 1) × 4K: Lloyd's per-lane partial counts and coordinate sums
  Eigen::VectorXd mask, previous_mask;  ///< n: Lloyd's labels as 0/1 when K = 2 (current, previous)
  std::vector<double> cumulative;   ///< n: cumulative D(x)²
  std::vector<Eigen::Index> labels;  ///< n: k-means labels
  std::vector<Eigen::Index> ids, order, empty;  ///< k-means++ candidate rows; Lloyd's empty-cluster relocation
  // restarts: the best fit so far, swapped into the model at the end (the model's old storage comes back here)
  GmmParams best_params;
  std::vector<Eigen::MatrixXd> best_covariances, best_cholesky;

  GmmWorkspace() = default;
  GmmWorkspace(const GmmWorkspace&) {}
  GmmWorkspace& operator=(const GmmWorkspace&) { return *this; }
  GmmWorkspace(GmmWorkspace&&) = default;
  GmmWorkspace& operator=(GmmWorkspace&&) = default;
};

}  // namespace detail

/// A mixture Σ_k w_k N(μ_k, Σ_k) over R^d. Data are n × d matrices, one sample per row.
/// All log-densities are natural logarithms (nats).
class GaussianMixture {
 public:
  /// @throws std::invalid_argument if !options.IsValid (message names the config key).
  explicit GaussianMixture(GmmOptions options = {});

  /// A mixture with given parameters (e.g. an analytic truth). options().components is set to K,
  /// the covariance type to full.
  /// @param weights  K ≥ 1, non-negative, summing to 1 (±1e-9; renormalised).
  /// @param means    K × d, d ≥ 1, finite.
  /// @param covariances  K matrices d × d, symmetric (to 1e-12 relative) positive definite.
  /// @throws std::invalid_argument on shape mismatch, negative or non-normalised weights, a non-finite
  ///         value or a non-SPD covariance; the message names the argument and index, e.g.
  ///         "gaussian mixture: covariances[1] is not positive definite".
  static GaussianMixture from_parameters(const Eigen::VectorXd& weights, const Eigen::MatrixXd& means,
                                         const std::vector<Eigen::MatrixXd>& covariances);

  /// Fits by EM in log space (Bishop 2006, PRML §9.2.2; log-sum-exp responsibilities), starting from
  /// options().init drawn from `rng`. Loop as scikit-learn 1.3: responsibilities from the init → M-step
  /// (a warm start, GmmInit::previous, skips this and starts from the current parameters); then repeat
  /// {E-step (gives the lower bound = mean log-likelihood per sample of the current parameters) → M-step
  /// → stop if |lower bound − previous| < tol} at most max_iter times. Run n_init times (restarts, same
  /// rng stream); the restart with the highest final lower bound is kept.
  /// M-step: N_k = Σ_i r_ik + 10·eps, w_k = N_k / Σ N_k, μ_k = Σ_i r_ik x_i / N_k, Σ_k = Σ_i r_ik
  /// (x_i − μ_k)(x_i − μ_k)ᵀ / N_k + reg_covar·I (/ (N_k − 1) with unbiased_covariance; diagonal: its
  /// diagonal; spherical: mean of it · I; !fit_covariance: Σ_k = fixed_covariance).
  /// Degenerate situations are handled and reported, not thrown. Event kinds (component indices are
  /// those at the time of the event, i.e. after earlier drops):
  ///   "empty_component"     N_k < 2 under DegeneratePolicy::keep (or beyond the reseed cap, or the last
  ///                         component under drop): Σ_k = reg_covar·I, μ_k keeps its previous value; once
  ///                         per component per EM run;
  ///   "component_dropped"   N_k < 2 under DegeneratePolicy::drop: the component is removed;
  ///   "component_reseeded"  N_k < 2 under DegeneratePolicy::reseed: mean, covariance and weight reset;
  ///   "variance_floor"      the smallest eigenvalue of Σ_k (diagonal: smallest variance) ≤ 10·reg_covar,
  ///                         once per component per EM run (never when !fit_covariance);
  ///   "em_not_converged"    max_iter iterations without |Δ lower bound| < tol;
  ///   "point_mass_floor"    Σ_k is not positive definite even after reg_covar (reg_covar = 0 and the
  ///                         component collapsed onto identical or collinear rows): (ε·max(1, ‖μ_k‖∞))² +
  ///                         ε·tr(Σ_k)/d is added to its diagonal, once per component per EM run;
  ///   "warm_start_fallback" init = previous, but the fitted model's dimension differs from the data's or
  ///                         it has more components than samples: kmeans was used instead.
  /// On success the model holds the parameters after the last M-step of the kept restart (K may be
  /// below options().components after drops); on an exception it keeps its previous parameters.
  /// @param data  n × d, one sample per row; n ≥ options().components; d ≥ 1; finite. d may differ from a
  ///              previous fit (a warm start then falls back to kmeans).
  /// @param rng   consumed by the initialisations (k-means++ / random responsibilities) of every restart,
  ///              in order, and by reseeds; a warm start draws nothing.
  /// @return FitReport of the kept restart: iterations (EM loop passes, 1..max_iter), converged,
  ///         lower_bound (mean log-likelihood per sample of the parameters before the last M-step, as
  ///         sklearn's lower_bound_; nats/sample) and events (generation = -1).
  /// @throws std::invalid_argument  n < components, d = 0, a non-finite value, or !fit_covariance with
  ///         fixed_covariance not d × d (message names "model.fit_covariance").
  /// @throws NumericalError  a covariance with a non-finite entry (overflowing data), or one still not
  ///         positive definite after the point-mass floor.
  /// Cost: n_init · (O(iterations · n · K · d²) plus O(n · K · d) per Lloyd iteration of the init); the
  /// EM loop allocates nothing except when a component is dropped or an event message is formed
  /// (scratch space is sized once per fit and reused).
  FitReport fit(const Eigen::MatrixXd& data, Rng& rng);

  /// Exact sampling (temperature τ = controls.temperature scales every covariance by τ²).
  /// Order of draws (part of the reproducibility contract): first n uniforms u_i ∈ [0, 1)
  /// (boost::random::uniform_real_distribution), sample i taking component k_i = the first k with
  /// u_i < Σ_{l≤k} w_l (inverse CDF on the cumulative weights); then n·d standard normals
  /// (boost::random::normal_distribution) in row-major order z_i1 … z_id for i = 1 … n; finally
  /// x_i = μ_{k_i} + τ L_{k_i} z_i with Σ_k = L_k L_kᵀ (Cholesky).
  /// @param controls  temperature τ > 0 (max_length is ignored).
  /// @return n × d. @throws std::logic_error if the model has no parameters yet;
  ///         std::invalid_argument if τ ≤ 0 or not finite.
  /// Cost: O(n (log K + d²)).
  Eigen::MatrixXd sample(std::size_t n, const SamplingControls& controls, Rng& rng) const;

  /// log p(x_i) for every row (nats), by log-sum-exp over components.
  /// @param data n × d (d = dim()). @return n.
  /// @throws std::logic_error if not fitted; std::invalid_argument if data.cols() ≠ dim().
  /// Cost: O(n · K · d²).
  Eigen::VectorXd score_samples(const Eigen::MatrixXd& data) const;
  /// Σ_i log p(x_i) (nats, total). Same shapes and throws as score_samples.
  double log_likelihood(const Eigen::MatrixXd& data) const;

  /// CDF of the marginal of dimension j at x: Σ_k w_k Φ((x − μ_kj)/√Σ_kjj), Φ(z) = ½ erfc(−z/√2). Exact.
  /// @param j  0 ≤ j < dim(). @throws std::logic_error if not fitted; std::invalid_argument on a bad j.
  double marginal_cdf(int j, double x) const;
  /// Inverse of marginal_cdf: bracketing (doubling steps of the largest σ) then bisection until the
  /// bracket is ≤ 4 ulp of max(|x|, smallest σ) (≈ 60 halvings, each O(K)). For p > ½ it solves on the upper tail Σ_k w_k Φ(−z_k) = 1 − p, so p close to 0 and to 1
  /// are both resolved (p down to ~1e-300).
  /// @param p  in (0, 1). @throws std::invalid_argument if p ∉ (0, 1) or a bad j; std::logic_error if not fitted.
  double marginal_quantile(int j, double p) const;

  int components() const noexcept { return static_cast<int>(params_.weights.size()); }
  int dim() const noexcept { return static_cast<int>(params_.means.cols()); }
  bool fitted() const noexcept { return params_.weights.size() > 0; }
  const GmmOptions& options() const noexcept { return options_; }
  const Eigen::VectorXd& weights() const noexcept { return params_.weights; }  ///< K
  const Eigen::MatrixXd& means() const noexcept { return params_.means; }      ///< K × d
  const std::vector<Eigen::MatrixXd>& covariances() const noexcept { return covariances_; }  ///< K of d × d (full form for every CovarianceType)

 private:
  void require_fitted(const char* what) const;

  GmmOptions options_;
  detail::GmmParams params_;                 // weights, means and the E-step form of the covariances
  std::vector<Eigen::MatrixXd> covariances_;  // K of d × d
  std::vector<Eigen::MatrixXd> cholesky_;     // lower factors L_k of covariances_
  detail::GmmWorkspace workspace_;            // fit scratch space, reused across fits
};

}  // namespace collapse
