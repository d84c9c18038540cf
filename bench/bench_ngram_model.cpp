// Counting and sampling speed of NgramModel on a synthetic Zipf corpus (1M tokens, V = 10^4, s = 1.1,
// sentence lengths uniform in [1, 40]) and on the Brown corpus (data/brown/train.txt, ~1.05M tokens,
// V ≈ 47k), peak heap memory of fit, and the recursive loop timed by scripts/bench_vs_python.py.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <new>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/random/discrete_distribution.hpp>
#include <boost/random/uniform_int_distribution.hpp>

#include "models/ngram_model.hpp"
#include "models/vocabulary.hpp"

// ---- Heap accounting: global operator new/delete with a 16-byte size header ---------------------
namespace heap {
std::atomic<std::int64_t> current{0};
std::atomic<std::int64_t> peak{0};
inline void* allocate(std::size_t n) {
  void* raw = std::malloc(n + 16);
  if (!raw) throw std::bad_alloc();
  *static_cast<std::size_t*>(raw) = n;
  const std::int64_t now = current.fetch_add(static_cast<std::int64_t>(n)) + static_cast<std::int64_t>(n);
  std::int64_t p = peak.load();
  while (now > p && !peak.compare_exchange_weak(p, now)) {
  }
  return static_cast<char*>(raw) + 16;
}
inline void release(void* ptr) noexcept {
  if (!ptr) return;
  void* raw = static_cast<char*>(ptr) - 16;
  current.fetch_sub(static_cast<std::int64_t>(*static_cast<std::size_t*>(raw)));
  std::free(raw);
}
}  // namespace heap

void* operator new(std::size_t n) { return heap::allocate(n); }
void* operator new[](std::size_t n) { return heap::allocate(n); }
void operator delete(void* p) noexcept { heap::release(p); }
void operator delete[](void* p) noexcept { heap::release(p); }
void operator delete(void* p, std::size_t) noexcept { heap::release(p); }
void operator delete[](void* p, std::size_t) noexcept { heap::release(p); }

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

// ---- Brown corpus (data/brown/train.txt; skipped when missing) -----------------------------------
// Set COLLAPSE_BROWN_DIR to override the directory. Loading and id mapping are outside the timings.

namespace brown {

struct Data {
  collapse::Corpus corpus;
  std::size_t vocab = 0;
  bool ok = false;
};

const Data& data() {
  static const Data d = [] {
    Data out;
    const char* env = std::getenv("COLLAPSE_BROWN_DIR");
    const std::filesystem::path dir =
        env ? std::filesystem::path(env) : std::filesystem::path(__FILE__).parent_path().parent_path() / "data/brown";
    std::ifstream in(dir / "train.txt");
    if (!in) return out;
    std::vector<std::vector<std::string>> sentences;
    std::unordered_map<std::string, std::uint64_t> counts;
    for (std::string line; std::getline(in, line);) {
      std::istringstream words(line);
      std::vector<std::string> s;
      for (std::string w; words >> w;) {
        ++counts[w];
        s.push_back(std::move(w));
      }
      sentences.push_back(std::move(s));
    }
    const collapse::Vocabulary vocab = collapse::Vocabulary::from_counts(counts);
    std::vector<collapse::TokenId> ids;
    for (const auto& s : sentences) {
      ids.clear();
      for (const auto& w : s) ids.push_back(vocab.id(w));
      out.corpus.add_sentence(ids);
    }
    out.vocab = vocab.size();
    out.ok = true;
    return out;
  }();
  return d;
}

}  // namespace brown

// Arg: order. Counters: fit_peak_bytes = peak heap growth during fit() on a fresh model (transient
// buffers + the model), model_bytes = heap kept by the model, both also per byte of the corpus's id
// array (4 bytes/token): *_per_ids.
void BM_Brown_Fit(benchmark::State& state) {
  const brown::Data& b = brown::data();
  if (!b.ok) {
    state.SkipWithError("data/brown/train.txt not found");
    return;
  }
  const int order = static_cast<int>(state.range(0));
  const Smoothing smoothing = state.range(1) ? Smoothing::kneser_ney : Smoothing::mle;
  Rng rng(1);
  {
    NgramModel fresh(NgramOptions{order, smoothing, 0}, b.vocab);
    const std::int64_t before = heap::current.load();
    heap::peak.store(before);
    fresh.fit(b.corpus, rng);
    const double ids = 4.0 * static_cast<double>(b.corpus.num_tokens());
    state.counters["fit_peak_bytes"] = static_cast<double>(heap::peak.load() - before);
    state.counters["fit_peak_per_ids"] = static_cast<double>(heap::peak.load() - before) / ids;
    state.counters["model_bytes"] = static_cast<double>(heap::current.load() - before);
    state.counters["model_per_ids"] = static_cast<double>(heap::current.load() - before) / ids;
  }
  NgramModel m(NgramOptions{order, smoothing, 0}, b.vocab);
  for (auto _ : state) benchmark::DoNotOptimize(m.fit(b.corpus, rng));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * b.corpus.num_tokens()));
}
BENCHMARK(BM_Brown_Fit)->Args({2, 0})->Args({3, 0})->Args({3, 1})->Unit(benchmark::kMillisecond);

// Args: order, smoothing (0 = MLE, 1 = KN). Samples as many tokens as Brown's training set has.
void BM_Brown_Sample(benchmark::State& state) {
  const brown::Data& b = brown::data();
  if (!b.ok) {
    state.SkipWithError("data/brown/train.txt not found");
    return;
  }
  NgramModel m(NgramOptions{static_cast<int>(state.range(0)), state.range(1) ? Smoothing::kneser_ney : Smoothing::mle, 0},
               b.vocab);
  Rng rng(2);
  m.fit(b.corpus, rng);
  const std::size_t n = b.corpus.num_tokens();
  for (auto _ : state) benchmark::DoNotOptimize(m.sample(n, SamplingControls{}, rng));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(BM_Brown_Sample)->Args({2, 0})->Args({3, 0})->Args({3, 1})->Unit(benchmark::kMillisecond);

// Args: smoothing (0 = MLE, 1 = KN), top_k, top_p × 100, temperature × 10: the general (table) sampler,
// 200 000 tokens a call from a trigram on Brown; per-context tables are rebuilt every call.
void BM_Brown_SampleTruncated(benchmark::State& state) {
  const brown::Data& b = brown::data();
  if (!b.ok) {
    state.SkipWithError("data/brown/train.txt not found");
    return;
  }
  NgramModel m(NgramOptions{3, state.range(0) ? Smoothing::kneser_ney : Smoothing::mle, 0}, b.vocab);
  Rng rng(2);
  m.fit(b.corpus, rng);
  SamplingControls sc;
  sc.top_k = static_cast<int>(state.range(1));
  sc.top_p = static_cast<double>(state.range(2)) / 100.0;
  sc.temperature = static_cast<double>(state.range(3)) / 10.0;
  const std::size_t n = 200000;
  for (auto _ : state) benchmark::DoNotOptimize(m.sample(n, sc, rng));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(BM_Brown_SampleTruncated)
    ->Args({0, 0, 90, 10})
    ->Args({1, 0, 90, 10})
    ->Args({1, 40, 100, 10})
    ->Args({1, 0, 100, 7})
    ->Args({1, 50, 100, 10})  // KN + top_k = 50 (layered ranking merge)
    ->Args({1, 0, 100, 8})    // KN + τ = 0.8 (layered draws with rejection)
    ->Unit(benchmark::kMillisecond);

// One generation of the loop: fit on Brown (N tokens) + sample N tokens. items/s = N / (t_fit + t_sample).
// The machine may be shared: compare cpu_time (e.g. --benchmark_repetitions=5, take the minimum).
void BM_Brown_FitSample(benchmark::State& state) {
  const brown::Data& b = brown::data();
  if (!b.ok) {
    state.SkipWithError("data/brown/train.txt not found");
    return;
  }
  NgramModel m(NgramOptions{static_cast<int>(state.range(0)), Smoothing::mle, 0}, b.vocab);
  Rng rng(3);
  const std::size_t n = b.corpus.num_tokens();
  for (auto _ : state) {
    m.fit(b.corpus, rng);
    benchmark::DoNotOptimize(m.sample(n, SamplingControls{}, rng));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(BM_Brown_FitSample)->Arg(2)->Arg(3)->Unit(benchmark::kMillisecond);

// The recursive loop of scripts/bench_vs_python.py: gen 0 = the first whole sentences of Brown's training
// file until ≥ 200 000 tokens; then 3 × (fit a bigram MLE, sample 200 000 tokens, which become the next
// training set). Corpus loading is outside the timing.
void BM_RecursiveLoop_Brown_Bigram_200k_3gens(benchmark::State& state) {
  const brown::Data& b = brown::data();
  if (!b.ok) {
    state.SkipWithError("data/brown/train.txt not found");
    return;
  }
  constexpr std::size_t kPerGeneration = 200000;
  Corpus gen0;
  for (std::size_t i = 0; i < b.corpus.num_sentences() && gen0.num_tokens() < kPerGeneration; ++i)
    gen0.add_sentence(b.corpus.sentence(i));
  NgramModel m(NgramOptions{2, Smoothing::mle, 0}, b.vocab);
  std::size_t last = 0;
  for (auto _ : state) {
    Rng rng(4);
    Corpus pool = gen0;
    for (int g = 0; g < 3; ++g) {
      m.fit(pool, rng);
      pool = m.sample(kPerGeneration, SamplingControls{}, rng);
    }
    last = pool.num_tokens();
  }
  state.counters["gen0_tokens"] = static_cast<double>(gen0.num_tokens());
  state.counters["final_tokens"] = static_cast<double>(last);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * 3 * kPerGeneration));
}
BENCHMARK(BM_RecursiveLoop_Brown_Bigram_200k_3gens)->Unit(benchmark::kMillisecond);

}  // namespace
