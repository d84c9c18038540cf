// Speed of GaussianMixture: EM fit (k-means++/Lloyd init + EM to tol = 1e-3), sampling and scoring,
// at the shapes the simulator uses (Shumailov-style K = 2, d = 1, n = 1000; and K = 3, d = 2, n = 10^4).
// Each fit starts from the same seed on the same data, so every benchmark iteration does the same work;
// the model object is reused, as in the generation loop (its scratch space is not reallocated).
//
// Recursive-loop benchmarks (fit → sample n → fit …, as loop::run with anchoring = replace, without
// metrics): BM_RecursiveLoop_K2_d1_n1000_50gens is the workload scripts/bench_vs_sklearn.py compares
// with scikit-learn (counter "fits/s"); BM_Generation_Shumailov_K2_d2_n1000 is one full generation
// (fit + sample n) in the Shumailov et al. 2024 setting (tol 1e-5, max_iter 2000), averaged over a
// recursive run of 100 generations (counter "s/generation").
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
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

/// Recursive loop: gen 0 fits n draws of `start`; generation g fits with Rng(1000 + g) and samples the
/// next training set (n rows) with Rng(2000 + g). Every benchmark iteration replays the same run.
/// Counters: fits/s (= generations per second; sampling included), s/generation (its inverse), mean EM
/// iterations per fit.
void recursive_loop(benchmark::State& state, const GaussianMixture& start, GmmOptions o, int n, int generations) {
  Rng rng0(7);
  const Eigen::MatrixXd x0 = start.sample(static_cast<std::size_t>(n), SamplingControls{}, rng0);
  GaussianMixture model(o);
  Eigen::MatrixXd x;
  long total_iterations = 0, fits = 0;
  for (auto _ : state) {
    x = x0;
    for (int g = 0; g < generations; ++g) {
      Rng fit_rng(1000 + static_cast<std::uint64_t>(g)), sample_rng(2000 + static_cast<std::uint64_t>(g));
      total_iterations += model.fit(x, fit_rng).iterations;
      ++fits;
      x = model.sample(static_cast<std::size_t>(n), SamplingControls{}, sample_rng);
    }
    benchmark::DoNotOptimize(x.data());
  }
  state.counters["fits/s"] =
      benchmark::Counter(static_cast<double>(generations), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["s/generation"] = benchmark::Counter(
      static_cast<double>(generations), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  state.counters["em_iterations"] = static_cast<double>(total_iterations) / static_cast<double>(std::max(1L, fits));
}

/// scikit-learn comparison: K = 2, d = 1, n = 1000, 50 generations from N(0, 1); sklearn defaults
/// (full, tol 1e-3, max_iter 100, reg_covar 1e-6, init kmeans).
void BM_RecursiveLoop_K2_d1_n1000_50gens(benchmark::State& state) {
  GmmOptions o;
  o.components = 2;
  const Eigen::MatrixXd one = Eigen::MatrixXd::Identity(1, 1);
  recursive_loop(state, GaussianMixture::from_parameters(Eigen::VectorXd::Ones(1), Eigen::MatrixXd::Zero(1, 1), {one}),
                 o, 1000, 50);
}

/// One generation (fit + sample n) in the Shumailov et al. 2024 GMM setting: K = 2, d = 2, n = 1000,
/// full covariances, tol 1e-5, max_iter 2000, started from the 2-component truth of truth(2, 2);
/// averaged over 100 recursive generations. Counter s/generation.
void BM_Generation_Shumailov_K2_d2_n1000(benchmark::State& state) {
  GmmOptions o;
  o.components = 2;
  o.tol = 1e-5;
  o.max_iter = 2000;
  recursive_loop(state, truth(2, 2), o, 1000, 100);
}

}  // namespace

BENCHMARK(BM_RecursiveLoop_K2_d1_n1000_50gens)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Generation_Shumailov_K2_d2_n1000)->Unit(benchmark::kMillisecond);

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
