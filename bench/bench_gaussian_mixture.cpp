// Speed of GaussianMixture: EM fit (k-means++/Lloyd init + EM to tol = 1e-3), sampling and scoring,
// at the shapes the simulator uses (Shumailov-style K = 2, d = 1, n = 1000; and K = 3, d = 2, n = 10^4).
// Each fit starts from the same seed on the same data, so every benchmark iteration does the same work;
// the model object is reused, as in the generation loop (its scratch space is not reallocated).
#include <benchmark/benchmark.h>

#include <vector>

#include "models/gaussian_mixture.hpp"

namespace {

using namespace collapse;

GaussianMixture truth(int K, int d) {
  Eigen::VectorXd w = Eigen::VectorXd::Constant(K, 1.0 / K);
  Eigen::MatrixXd means(K, d);
  std::vector<Eigen::MatrixXd> covs;
  for (int k = 0; k < K; ++k) {
    means.row(k).setConstant(3.0 * k);  // neighbours 3 apart along the diagonal: overlapping, realistic
    Eigen::MatrixXd c = Eigen::MatrixXd::Identity(d, d);
    if (d > 1) c(0, 1) = c(1, 0) = 0.3;
    covs.push_back(c);
  }
  return GaussianMixture::from_parameters(w, means, covs);
}

Eigen::MatrixXd data(int K, int d, int n) {
  Rng rng(7);
  return truth(K, d).sample(static_cast<std::size_t>(n), SamplingControls{}, rng);
}

void fit(benchmark::State& state, CovarianceType type, GmmInit init) {
  const int K = static_cast<int>(state.range(0)), d = static_cast<int>(state.range(1)),
            n = static_cast<int>(state.range(2));
  const Eigen::MatrixXd x = data(K, d, n);
  GmmOptions o;
  o.components = K;
  o.covariance = type;
  o.init = init;
  GaussianMixture model(o);
  int iterations = 0;
  for (auto _ : state) {
    Rng rng(11);
    const FitReport r = model.fit(x, rng);
    iterations = r.iterations;
    benchmark::DoNotOptimize(model.means().data());
  }
  state.counters["em_iterations"] = iterations;
  state.counters["samples/s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
}

/// EM iterations only: tol tiny, max_iter fixed, so the time per iteration is (time − init) / 50.
void fit_50_iterations(benchmark::State& state) {
  const int K = static_cast<int>(state.range(0)), d = static_cast<int>(state.range(1)),
            n = static_cast<int>(state.range(2));
  const Eigen::MatrixXd x = data(K, d, n);
  GmmOptions o;
  o.components = K;
  o.tol = 1e-300;
  o.max_iter = 50;
  o.init = GmmInit::kmeans_pp;
  GaussianMixture model(o);
  for (auto _ : state) {
    Rng rng(11);
    model.fit(x, rng);
    benchmark::DoNotOptimize(model.means().data());
  }
  state.counters["sample·component·iter/s"] =
      benchmark::Counter(50.0 * n * K, benchmark::Counter::kIsIterationInvariantRate);
}

void sample(benchmark::State& state) {
  const int K = static_cast<int>(state.range(0)), d = static_cast<int>(state.range(1)),
            n = static_cast<int>(state.range(2));
  const GaussianMixture g = truth(K, d);
  Rng rng(13);
  for (auto _ : state) benchmark::DoNotOptimize(g.sample(static_cast<std::size_t>(n), SamplingControls{}, rng).data());
  state.counters["samples/s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
}

void score(benchmark::State& state) {
  const int K = static_cast<int>(state.range(0)), d = static_cast<int>(state.range(1)),
            n = static_cast<int>(state.range(2));
  const GaussianMixture g = truth(K, d);
  const Eigen::MatrixXd x = data(K, d, n);
  for (auto _ : state) benchmark::DoNotOptimize(g.log_likelihood(x));
  state.counters["samples/s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

// Arguments: {K, d, n}.
BENCHMARK_CAPTURE(fit, full_kmeans, CovarianceType::full, GmmInit::kmeans)
    ->Args({2, 1, 1000})
    ->Args({3, 2, 10000})
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(fit, full_kmeans_pp, CovarianceType::full, GmmInit::kmeans_pp)
    ->Args({2, 1, 1000})
    ->Args({3, 2, 10000})
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(fit, diagonal_kmeans, CovarianceType::diagonal, GmmInit::kmeans)
    ->Args({3, 2, 10000})
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(fit_50_iterations)->Args({2, 1, 1000})->Args({3, 2, 10000})->Args({5, 8, 10000})->Unit(benchmark::kMicrosecond);
BENCHMARK(sample)->Args({2, 1, 1000})->Args({3, 2, 10000})->Unit(benchmark::kMicrosecond);
BENCHMARK(score)->Args({2, 1, 1000})->Args({3, 2, 10000})->Unit(benchmark::kMicrosecond);
