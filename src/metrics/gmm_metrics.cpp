#include "metrics/gmm_metrics.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

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

}  // namespace collapse::metrics
