#pragma once
// Metrics of a fitted Gaussian mixture against its truth. Pure functions; no I/O.

#include <Eigen/Core>

#include "models/gaussian_mixture.hpp"

namespace collapse::metrics {

/// Total variance of the mixture: trace of its covariance,
/// Σ_k w_k (tr Σ_k + ‖μ_k‖²) − ‖Σ_k w_k μ_k‖²  (data units²). Exact.
double total_variance(const GaussianMixture& model);

/// Per dimension j, the model's probability mass outside [lo_j, hi_j]:
/// Σ_k w_k [Φ((lo_j − μ_kj)/σ_kj) + 1 − Φ((hi_j − μ_kj)/σ_kj)]. Exact (mixture marginals are 1-D mixtures).
/// @param lo, hi  d each, lo ≤ hi. @return d values in [0, 1].
Eigen::VectorXd tail_mass_per_dim(const GaussianMixture& model, const Eigen::VectorXd& lo, const Eigen::VectorXd& hi);

/// Mean log-likelihood per row of `data` under `model` (nats/sample). @param data n × d, n ≥ 1.
double mean_log_likelihood(const GaussianMixture& model, const Eigen::MatrixXd& data);

/// Component order used for trajectories: ascending by the first coordinate of the mean (then by
/// weight), so that curves do not jump with EM's arbitrary labels (label switching).
std::vector<int> canonical_component_order(const GaussianMixture& model);

}  // namespace collapse::metrics
