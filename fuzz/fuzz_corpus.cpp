// libFuzzer target: the text-corpus truth (read_sentences / make_text_truth / TextTruth::draw) and the
// n-gram model fitted and sampled on it (NgramModel, orders 1–3, MLE and add-k, τ = 1 and τ ≠ 1).
//
// Input: the training text; if it contains a NUL byte, the bytes after the first NUL are the held-out
// text (else the held-out text is the training text). Both are written to a per-process scratch
// directory and loaded with make_text_truth.
//
// std::invalid_argument from make_text_truth (an empty corpus) is the documented rejection. Every
// other exception, crash, sanitizer report, hang or violated invariant (checked below; a violation
// aborts) is a finding.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/rng.hpp"
#include "models/ngram_model.hpp"
#include "scratch_dir.hpp"
#include "sources/text_corpus.hpp"

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz_corpus: invariant violated: %s\n", what);
    std::abort();
  }
}

void check_corpus(const collapse::Corpus& c, std::size_t vocab, bool allow_unknown) {
  require(!c.offsets.empty() && c.offsets.front() == 0 && c.offsets.back() == c.tokens.size(), "corpus offsets");
  require(std::is_sorted(c.offsets.begin(), c.offsets.end()), "offsets non-decreasing");
  for (auto t : c.tokens)
    require(t < vocab || (allow_unknown && t == collapse::Vocabulary::kUnknown), "token id < V");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace collapse;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const std::size_t nul = bytes.find('\0');
  const std::string_view train_text = bytes.substr(0, nul);
  const std::string_view heldout_text = nul == std::string_view::npos ? bytes : bytes.substr(nul + 1);
  const std::string train = fuzz::write_scratch("train.txt", train_text);
  const std::string heldout = fuzz::write_scratch("heldout.txt", heldout_text);

  std::shared_ptr<const TextTruth> truth;
  try {
    truth = make_text_truth(train, heldout);
  } catch (const std::invalid_argument&) {
    return 0;  // empty training or held-out text
  }
  const std::size_t V = truth->vocab_size();
  const std::size_t N = truth->train.num_tokens();
  require(V >= 1 && N >= 1 && truth->unigram.size() == V, "truth sizes");
  check_corpus(truth->train, V, false);
  check_corpus(truth->heldout, V, true);
  double total = 0;
  for (double p : truth->unigram) total += p;
  require(std::abs(total - 1) < 1e-9, "unigram sums to 1");

  // Real draws: exactly n tokens, for a few n ≤ N; n > N is rejected.
  Rng rng(size);
  for (std::size_t n : {std::size_t{1}, N / 2, N - 1, N}) {
    const Corpus d = truth->draw(n, rng);
    check_corpus(d, V, false);
    require(d.num_tokens() == n, "draw returns exactly n tokens");
  }
  try {
    (void)truth->draw(N + 1, rng);
    require(false, "draw(N + 1) must throw");
  } catch (const std::invalid_argument&) {
  }

  // A few n-gram models on the real text: fit, sample, score.
  const std::uint8_t knob = size ? data[size - 1] : 0;
  for (int order = 1; order <= 3; ++order) {
    for (const Smoothing sm : {Smoothing::mle, Smoothing::add_k}) {
      const double k = sm == Smoothing::add_k ? 0.01 + (knob % 16) / 4.0 : 0.0;
      NgramModel m(NgramOptions{order, sm, k}, V);
      const Corpus fit_on = truth->draw(std::min<std::size_t>(N, 2000), rng);
      (void)m.fit(fit_on, rng);
      require(m.support_size() <= V, "support ≤ V");
      const auto uni = m.unigram();
      require(uni.size() == V, "model unigram size");
      const HeldoutScore s = m.score(truth->heldout);
      require(s.covered <= s.predictions && std::isfinite(s.log_prob) && s.log_prob <= 0, "held-out score");
      for (const double tau : {1.0, 0.5 + (knob % 8) / 4.0}) {
        SamplingControls ctl;
        ctl.temperature = tau;
        ctl.max_length = 1 + knob % 40;
        const std::size_t want = std::min<std::size_t>(N, 300);
        const Corpus out = m.sample(want, ctl, rng);
        check_corpus(out, V, false);
        // Fitted on real sentences (all non-empty), p(EOS | start) < 1, so the budget is met exactly.
        require(out.num_tokens() == want, "sample returns exactly n tokens");
        for (std::size_t i = 0; i < out.num_sentences(); ++i)
          require(out.sentence_length(i) >= 1 && out.sentence_length(i) <= static_cast<std::size_t>(ctl.max_length),
                  "sentence length in [1, max_length]");
        // Refit on the model's own text (one generation of the loop).
        NgramModel next(NgramOptions{order, sm, k}, V);
        (void)next.fit(out, rng);
        (void)next.score(truth->heldout);
      }
    }
  }
  return 0;
}
