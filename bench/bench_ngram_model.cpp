// Counting and sampling speed of NgramModel on a synthetic Zipf corpus (1M tokens, V = 10^4, s = 1.1,
// sentence lengths uniform in [1, 40]).
#include <benchmark/benchmark.h>

#include <cmath>
#include <vector>

#include <boost/random/discrete_distribution.hpp>
#include <boost/random/uniform_int_distribution.hpp>

#include "models/ngram_model.hpp"

namespace {

using namespace collapse;

constexpr std::size_t kVocab = 10000;
constexpr std::size_t kTokens = 1000000;

const Corpus& zipf_corpus() {
  static const Corpus corpus = [] {
    std::vector<double> weights(kVocab);
    for (std::size_t r = 0; r < kVocab; ++r) weights[r] = std::pow(static_cast<double>(r + 1), -1.1);
    boost::random::discrete_distribution<TokenId> zipf(weights.begin(), weights.end());
    Rng rng(12345);
    Corpus c;
    std::vector<TokenId> s;
    while (c.num_tokens() < kTokens) {
      s.resize(std::min<std::size_t>(boost::random::uniform_int_distribution<std::size_t>(1, 40)(rng),
                                     kTokens - c.num_tokens()));
      for (auto& w : s) w = zipf(rng);
      c.add_sentence(s);
    }
    return c;
  }();
  return corpus;
}

NgramModel fitted(int order, Smoothing smoothing) {
  NgramModel m(NgramOptions{order, smoothing, smoothing == Smoothing::add_k ? 0.01 : 0.0}, kVocab);
  Rng rng(1);
  m.fit(zipf_corpus(), rng);
  return m;
}

// Arg: order.
void BM_Fit(benchmark::State& state) {
  const Corpus& corpus = zipf_corpus();
  NgramModel m(NgramOptions{static_cast<int>(state.range(0)), Smoothing::mle, 0}, kVocab);
  Rng rng(1);
  for (auto _ : state) benchmark::DoNotOptimize(m.fit(corpus, rng));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * corpus.num_tokens()));
  state.counters["contexts"] = static_cast<double>(m.num_contexts());
}
BENCHMARK(BM_Fit)->Arg(1)->Arg(2)->Arg(3)->Arg(5)->Unit(benchmark::kMillisecond);

// Args: order, smoothing (0 = MLE, 1 = add-k 0.01), temperature × 10.
void BM_Sample(benchmark::State& state) {
  const NgramModel m = fitted(static_cast<int>(state.range(0)), state.range(1) ? Smoothing::add_k : Smoothing::mle);
  const SamplingControls controls{static_cast<double>(state.range(2)) / 10.0, 200};
  Rng rng(2);
  for (auto _ : state) benchmark::DoNotOptimize(m.sample(kTokens, controls, rng));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kTokens));
}
BENCHMARK(BM_Sample)
    ->Args({2, 0, 10})
    ->Args({3, 0, 10})
    ->Args({2, 0, 7})
    ->Args({2, 1, 10})
    ->Args({3, 1, 10})
    ->Args({2, 1, 7})
    ->Unit(benchmark::kMillisecond);

void BM_Score(benchmark::State& state) {
  const NgramModel m = fitted(static_cast<int>(state.range(0)), Smoothing::mle);
  for (auto _ : state) benchmark::DoNotOptimize(m.score(zipf_corpus()));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kTokens));
}
BENCHMARK(BM_Score)->Arg(2)->Arg(3)->Unit(benchmark::kMillisecond);

}  // namespace
