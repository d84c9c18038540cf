#include "sources/continuous_truth.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "core/check.hpp"
#include "core/corpus.hpp"

namespace collapse {

namespace {
/// q must be in (0, 0.5), so that the q- and (1 − q)-quantiles exist and are ordered.
void check_tail_probability(double q) {
  if (!(q > 0 && q < 0.5))
    throw std::invalid_argument("metrics.tail_probability = " + format_number(q) + ", but must be in (0, 0.5)");
}
}  // namespace

Eigen::MatrixXd ContinuousTruth::draw(std::size_t n, Rng& rng) const {
  if (analytic) return analytic->sample(n, SamplingControls{}, rng);
  const auto available = static_cast<std::size_t>(train.rows());
  if (n > available)
    throw std::invalid_argument("loop.samples_per_generation = " + std::to_string(n) + ", but the real training data (" +
                                description + ") has only " + std::to_string(available) +
                                " rows; real rows are drawn without replacement, so it must be ≤ " +
                                std::to_string(available));
  const auto idx = sample_without_replacement(available, n, rng);
  return select(train, idx);
}

double empirical_quantile(std::vector<double> x, double p) {
  if (x.empty()) throw std::invalid_argument("empirical_quantile: no data");
  check_in_range("empirical_quantile: p", p, 0, 1);  // outside [0, 1] the order-statistic index is out of bounds
  std::sort(x.begin(), x.end());
  const double h = p * static_cast<double>(x.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(h));
  const std::size_t hi = std::min(lo + 1, x.size() - 1);
  return x[lo] + (h - static_cast<double>(lo)) * (x[hi] - x[lo]);
}

std::shared_ptr<const ContinuousTruth> make_gaussian_truth(const Eigen::VectorXd& weights, const Eigen::MatrixXd& means,
                                                           const std::vector<Eigen::MatrixXd>& covariances,
                                                           std::size_t heldout_samples, double tail_probability,
                                                           std::uint64_t seed) {
  check_at_least("truth.heldout_samples", static_cast<double>(heldout_samples), 1);
  check_tail_probability(tail_probability);
  auto t = std::make_shared<ContinuousTruth>();
  try {
    t->analytic = GaussianMixture::from_parameters(weights, means, covariances);
  } catch (const std::invalid_argument& e) {
    // Name the experiment keys: "gaussian mixture: covariances[1] is not positive definite" →
    // "truth.covariances[1] is not positive definite".
    const std::string msg = e.what();
    const std::string prefix = "gaussian mixture: ";
    throw std::invalid_argument(msg.starts_with(prefix) ? "truth." + msg.substr(prefix.size()) : "truth: " + msg);
  }
  const int d = t->analytic->dim();
  t->description = "gaussian_mixture K=" + std::to_string(t->analytic->components()) + " d=" + std::to_string(d);
  t->tail_probability = tail_probability;
  t->lower_quantile.resize(d);
  t->upper_quantile.resize(d);
  for (int j = 0; j < d; ++j) {
    t->lower_quantile[j] = t->analytic->marginal_quantile(j, tail_probability);
    t->upper_quantile[j] = t->analytic->marginal_quantile(j, 1 - tail_probability);
  }
  Rng rng = stream_rng(seed, -1, Stream::split);
  t->heldout = t->analytic->sample(heldout_samples, SamplingControls{}, rng);
  return t;
}

std::shared_ptr<const ContinuousTruth> make_table_truth(const std::string& description, const Eigen::MatrixXd& rows,
                                                        double heldout_fraction, double tail_probability,
                                                        std::uint64_t seed) {
  check_in_range("truth.heldout_fraction", heldout_fraction, 0, 0.9);
  check_tail_probability(tail_probability);
  auto t = std::make_shared<ContinuousTruth>();
  t->description = description;
  t->tail_probability = tail_probability;
  const auto n = static_cast<std::size_t>(rows.rows());
  const auto n_heldout = static_cast<std::size_t>(std::floor(heldout_fraction * static_cast<double>(n)));
  if (n_heldout == 0) {
    t->train = rows;
    t->heldout = rows;
  } else {
    Rng rng = stream_rng(seed, -1, Stream::split);
    const auto perm = sample_without_replacement(n, n, rng);
    std::vector<std::size_t> held(perm.begin(), perm.begin() + static_cast<std::ptrdiff_t>(n_heldout));
    std::vector<std::size_t> kept(perm.begin() + static_cast<std::ptrdiff_t>(n_heldout), perm.end());
    std::sort(held.begin(), held.end());  // keep the table's order inside each part
    std::sort(kept.begin(), kept.end());
    t->train = select(rows, kept);
    t->heldout = select(rows, held);
  }
  const auto d = rows.cols();
  t->lower_quantile.resize(d);
  t->upper_quantile.resize(d);
  for (Eigen::Index j = 0; j < d; ++j) {
    std::vector<double> col(rows.col(j).data(), rows.col(j).data() + rows.rows());
    t->lower_quantile[j] = empirical_quantile(col, tail_probability);
    t->upper_quantile[j] = empirical_quantile(col, 1 - tail_probability);
  }
  return t;
}

}  // namespace collapse
