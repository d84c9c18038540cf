#pragma once
// n-gram language model over integer token ids with sentence boundaries, MLE or add-k estimates,
// and exact ancestral sampling of whole sentences.
//
// Storage (after fit, KenLM-like flat arrays; see ngram_model.cpp for the counting pass):
//   contexts   C sorted packed context keys (n−1 symbols of ⌈log2(V+2)⌉ bits each, oldest first),
//              found by an open-addressing hash (linear probing, load ≤ 1/2);
//   entries    per context a contiguous, token-sorted range of (next token, cumulative count,
//              index of the context that follows) — sampling walks context → entry → context
//              without hashing; EOS entries point back to the sentence-start context.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/corpus.hpp"
#include "core/rng.hpp"
#include "models/fit_report.hpp"
#include "models/sampling.hpp"

namespace collapse {

enum class Smoothing { mle, add_k };

struct NgramOptions {
  int order = 2;                         ///< n ∈ [1, 5] (1 = unigram)
  Smoothing smoothing = Smoothing::mle;  ///< add_k: p(w|h) = (c(h,w) + k) / (c(h) + k (V + 1))
  double k = 0.0;                        ///< add-k pseudo-count: finite, ≥ 0; > 0 when smoothing = add_k
  /// Ceres-style validation; messages use the config keys "model.order" and "model.add_k",
  /// e.g. "model.order = 7, but must be in [1, 5]".
  /// @return false and a message naming the field if invalid (error may be null).
  bool IsValid(std::string* error) const;
};

/// Held-out scoring of a corpus under the model (the metrics turn it into perplexity and rates).
struct HeldoutScore {
  double log_prob = 0;           ///< Σ ln p over covered predictions (nats)
  std::uint64_t predictions = 0; ///< all predicted positions: every token plus one EOS per sentence
  std::uint64_t covered = 0;     ///< predictions with p > 0 (these enter log_prob)
  std::uint64_t oov = 0;         ///< tokens outside the model's vocabulary: id ≥ V (kUnknown) or unigram p = 0
};

/// Order-n model. Internally the end-of-sentence token is id V and the begin-of-sentence pad id V+1;
/// contexts at a sentence start are padded with BOS. EOS is a predictable outcome, BOS is not.
/// Estimates follow Jurafsky & Martin, SLP3 ch. 3 (relative-frequency MLE; Laplace / add-k smoothing).
///
/// A model that has not been fitted, or was fitted on a corpus with no sentences, is *empty*: it
/// generates nothing, prob() is 0 everywhere, unigram() is all zeros.
/// Not thread-safe for concurrent fit(); the const members may be called concurrently.
class NgramModel {
 public:
  /// @param options     validated with IsValid.
  /// @param vocab_size  V ≥ 1: token ids of fitted/scored corpora must be < V (kUnknown allowed when
  ///                    scoring). Packed n-gram keys need n·⌈log2(V+2)⌉ ≤ 128 bits, i.e.
  ///                    V ≤ 2^25 − 2 for order 5, V ≤ 2^32 − 3 for orders ≤ 4.
  /// @throws std::invalid_argument  invalid options, V = 0, or V too large for the order.
  NgramModel(NgramOptions options, std::size_t vocab_size);

  /// Counts all n-grams of `corpus` (each sentence padded with n−1 BOS and one EOS; every token and
  /// the EOS are predictions) and builds the per-context continuation tables, replacing any previous
  /// fit. MLE: p(w|h) = c(h,w) / c(h) (SLP3 ch. 3); add_k as in NgramOptions.
  /// Counting packs (context, next) into 64-bit keys when n·⌈log2(V+2)⌉ ≤ 64, else 128-bit keys,
  /// and sorts them. `rng` is unused (closed form) but kept for the Model contract.
  /// @return FitReport: iterations 0, converged, lower_bound = mean ln p(w|h) per training
  ///         prediction under the fitted model (nats/prediction; 0 if empty); events
  ///         "empty_training_set" (no tokens; with no sentences at all the model is empty).
  /// @throws std::invalid_argument  a token id ≥ V ("ngram fit: token id 70000 at position 12 ≥
  ///         vocabulary size 5000"; position = index into corpus.tokens) or inconsistent offsets.
  /// Cost: O(P log P) time for P = tokens + sentences predictions, O(P) transient memory
  /// (8 or 16 bytes per prediction), then 16 bytes per distinct n-gram + ~40 bytes per context.
  FitReport fit(const Corpus& corpus, Rng& rng);

  /// Ancestral sampling: sentences are drawn one after another until `n_tokens` tokens are reached;
  /// the last sentence is cut so the total is exactly n_tokens. Each next token is an exact
  /// categorical draw from p(·|h) (Boost.Random only):
  ///  - MLE, τ = 1: u ~ U{0..c(h)−1}, then the first continuation whose cumulative count exceeds u
  ///    (binary search with a linear tail): O(log |cont(h)|) a draw.
  ///  - add_k, τ = 1: with probability c(h)/(c(h)+k(V+1)) a draw from the counts as above, else a
  ///    uniform draw over the V+1 outcomes (V types + EOS); unseen contexts are uniform. O(log |cont(h)|)
  ///    plus a hash lookup of the next context after a uniform draw.
  ///  - τ ≠ 1: p^(1/τ) renormalised over the context's support (MLE: the seen continuations; add_k:
  ///    all V+1 outcomes, drawn as uniform part k^(1/τ) each plus the seen excess
  ///    (c+k)^(1/τ) − k^(1/τ)). Tempered cumulative tables are built lazily per visited context,
  ///    once per call (O(|cont(h)|) on first visit, then binary search: O(log |cont(h)|) a draw).
  /// A sentence reaching controls.max_length tokens is cut there (no EOS). Empty sentences (EOS drawn
  /// first) are discarded. Termination rule: if the model cannot produce a non-empty sentence
  /// (empty model, or the effective p(EOS | sentence start) = 1, checked exactly before drawing) the
  /// result is empty; as a backstop for near-degenerate models sampling also stops, returning fewer
  /// tokens, after 10^6 consecutive empty sentences.
  /// No allocation per token beyond the output's amortised growth (tokens are reserved up front).
  /// @throws std::invalid_argument  temperature not finite and > 0 ("loop.temperature"), or
  ///         max_length < 1 ("loop.max_length").
  Corpus sample(std::size_t n_tokens, const SamplingControls& controls, Rng& rng) const;

  /// p(w | context) where `context` holds the preceding tokens of the sentence (only its last n−1 are
  /// used; if shorter it is BOS-padded). `w` may be eos(). A context whose last n−1 tokens contain an
  /// id ≥ V (e.g. Vocabulary::kUnknown) is an unseen context: MLE gives 0, add_k gives 1/(V+1).
  /// w > V gives 0. Empty model: 0.
  /// Cost: one hash lookup + O(log |cont(h)|).
  double prob(std::span<const TokenId> context, TokenId w) const;

  /// Scores every sentence of `heldout` (all tokens and the EOS of each sentence) with prob().
  /// Ids ≥ V are allowed (they are oov, have p = 0, and make the following n−1 contexts unseen).
  /// Cost: O(P (1 + log |cont|)) for P predictions, no allocation.
  HeldoutScore score(const Corpus& heldout) const;

  /// The model's unigram distribution over the V types (EOS excluded), from the token counts c(w) of
  /// the training corpus (N tokens): MLE c(w)/N; add_k (c(w)+k)/(N+kV). Sums to 1 (all zeros if the
  /// model is empty, or MLE with N = 0). Size V. Cost O(V).
  std::vector<double> unigram() const;
  /// Number of types w < V with unigram probability > 0 (types the model can produce). O(V).
  std::size_t support_size() const;
  /// Number of distinct contexts seen in training (BOS-padded ones included; 1 for a fitted unigram).
  std::size_t num_contexts() const;

  int order() const noexcept { return options_.order; }
  std::size_t vocab_size() const noexcept { return vocab_size_; }
  TokenId eos() const noexcept { return static_cast<TokenId>(vocab_size_); }
  TokenId bos() const noexcept { return static_cast<TokenId>(vocab_size_ + 1); }
  const NgramOptions& options() const noexcept { return options_; }

 private:
  __extension__ using Key = unsigned __int128;  ///< packed context key (≤ 4 symbols of ≤ 32 bits)
  static constexpr std::uint32_t kNoContext = 0xFFFFFFFFu;

  /// One continuation of a context.
  struct Entry {
    std::uint64_t cum;       ///< cumulative count c(h, w') over w' ≤ token within the context
    TokenId token;           ///< next token in [0, V] (V = EOS)
    std::uint32_t next_ctx;  ///< index of the context (h, token) shifted; the start context for EOS
  };
  /// One context: its entries are entries_[begin, next context's begin).
  struct ContextInfo {
    std::uint64_t begin;  ///< first entry
    std::uint64_t total;  ///< c(h): number of predictions made from this context in training
  };
  struct Sampler;  // per-call sampling state (ngram_model.cpp)

  template <class K>
  void count_ngrams(const Corpus& corpus);
  void build_index();
  std::uint32_t find_context(Key key) const noexcept;
  double prob_in_context(std::uint32_t ctx, TokenId w) const noexcept;
  Key shift(Key ctx, TokenId w) const noexcept { return ((ctx << bits_) | w) & ctx_mask_; }

  NgramOptions options_;
  std::size_t vocab_size_;
  unsigned bits_ = 0;      ///< bits per packed symbol: bit_width(V + 1)
  Key ctx_mask_ = 0;       ///< low (n−1)·bits_ bits
  Key start_key_ = 0;      ///< n−1 BOS symbols

  bool fitted_ = false;                    ///< fitted on ≥ 1 sentence
  std::uint64_t num_train_tokens_ = 0;     ///< N
  std::uint64_t num_train_sentences_ = 0;  ///< S
  std::uint32_t start_ctx_ = kNoContext;   ///< index of the all-BOS context
  std::vector<Key> ctx_keys_;              ///< C sorted context keys
  std::vector<ContextInfo> ctx_;           ///< C + 1 (the last one is a sentinel: begin = |entries_|)
  std::vector<Entry> entries_;             ///< continuations, grouped by context, token-sorted
  std::vector<std::uint32_t> slots_;       ///< hash table of context indices (kNoContext = empty)
  std::vector<std::uint64_t> unigram_counts_;  ///< V token counts c(w)
};

}  // namespace collapse
