#pragma once
// Truths for the Gaussian-mixture family: an analytic mixture (exact density and quantiles) or a real
// numeric table (a CSV file) with a held-out part.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "core/rng.hpp"
#include "models/gaussian_mixture.hpp"

namespace collapse {

/// The real data of a continuous experiment, shared read-only by all runs that use it.
struct ContinuousTruth {
  std::string description;                 ///< e.g. "gaussian_mixture K=1 d=2" or "csv data/faithful.csv"
  std::optional<GaussianMixture> analytic; ///< set when the density is known exactly
  Eigen::MatrixXd train;    ///< n_train × d real rows a run may draw (empty when analytic: draws are fresh samples)
  Eigen::MatrixXd heldout;  ///< n_heldout × d real rows for held-out log-likelihood
  Eigen::VectorXd lower_quantile;  ///< d: per-dimension q-quantile of the truth (exact if analytic, else empirical)
  Eigen::VectorXd upper_quantile;  ///< d: per-dimension (1 − q)-quantile
  double tail_probability = 0.005; ///< q used for the two quantiles above

  int dim() const noexcept { return static_cast<int>(lower_quantile.size()); }

  /// n real rows: fresh exact samples if analytic; otherwise n rows of `train` drawn uniformly without
  /// replacement (in random order). @throws std::invalid_argument (naming loop.samples_per_generation)
  /// if n exceeds the number of real training rows.
  Eigen::MatrixXd draw(std::size_t n, Rng& rng) const;
};

/// Analytic truth. @param heldout_samples rows drawn once (seeded by `seed`) as the held-out set; ≥ 1.
/// @param tail_probability q in (0, 0.5). @throws std::invalid_argument on invalid parameters
/// (messages name truth.weights / truth.means / truth.covariances / truth.heldout_samples /
/// metrics.tail_probability, e.g. "truth.covariances[1] is not positive definite").
std::shared_ptr<const ContinuousTruth> make_gaussian_truth(const Eigen::VectorXd& weights, const Eigen::MatrixXd& means,
                                                           const std::vector<Eigen::MatrixXd>& covariances,
                                                           std::size_t heldout_samples, double tail_probability,
                                                           std::uint64_t seed);

/// Reads a numeric CSV table with a header line. Rows = samples.
/// @param columns  names of the columns to keep, in this order; empty = all columns.
/// @throws std::invalid_argument naming the file (and line/column) for a missing file, an empty table,
///         an unknown column (listing the available ones) or a non-numeric cell.
Eigen::MatrixXd read_csv(const std::string& path, const std::vector<std::string>& columns);

/// A real table as a truth: rows split once into train / held-out by a permutation seeded by `seed`:
/// floor(heldout_fraction · n) rows held out (heldout_fraction in [0, 0.9], as truth.heldout_fraction;
/// when that is 0 the held-out set is the whole table, i.e. in-sample).
/// Quantiles are empirical over all rows (linear interpolation between order statistics, numpy's default).
/// @param tail_probability q in (0, 0.5).
/// @throws std::invalid_argument naming truth.heldout_fraction or metrics.tail_probability.
std::shared_ptr<const ContinuousTruth> make_table_truth(const std::string& description, const Eigen::MatrixXd& rows,
                                                        double heldout_fraction, double tail_probability,
                                                        std::uint64_t seed);

/// Empirical quantile of `x` (linear interpolation between order statistics, numpy "linear").
/// @param p in [0, 1]. @throws std::invalid_argument if x is empty or p ∉ [0, 1].
double empirical_quantile(std::vector<double> x, double p);

}  // namespace collapse
