#pragma once
// n-gram language model over integer token ids with sentence boundaries, MLE or add-k estimates,
// and exact ancestral sampling of whole sentences.

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
  int order = 2;                         ///< n ≥ 1 (1 = unigram); this issue supports 1..5
  Smoothing smoothing = Smoothing::mle;  ///< add_k: p(w|h) = (c(h,w) + k) / (c(h) + k (V + 1))
  double k = 0.0;                        ///< add-k pseudo-count, > 0 when smoothing = add_k
  /// @return false and a message naming the field if invalid.
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
class NgramModel {
 public:
  /// @param vocab_size  V ≥ 1: token ids of fitted/scored corpora must be < V (kUnknown allowed when scoring).
  NgramModel(NgramOptions options, std::size_t vocab_size);

  /// Counts all n-grams of `corpus` (each sentence padded with n−1 BOS and one EOS) and builds the
  /// per-context continuation tables. MLE: p(w|h) = c(h,w) / c(h).
  /// Counting sorts packed n-gram keys; O(N log N) for N tokens. `rng` is unused (closed form) but
  /// kept for the Model contract.
  /// Events: "empty_training_set" (no sentences: the model then generates nothing).
  /// @throws std::invalid_argument if a token id ≥ V.
  FitReport fit(const Corpus& corpus, Rng& rng);

  /// Ancestral sampling: sentences are drawn one after another until `n_tokens` tokens are reached;
  /// the last sentence is cut so the total is exactly n_tokens. Each next token is an exact categorical
  /// draw (cumulative counts + binary search on a uniform integer; add-k as an exact two-part mixture).
  /// Empty sentences (EOS drawn first) are discarded; if the model only produces empty sentences the
  /// sample stops early (fewer tokens) rather than looping forever.
  Corpus sample(std::size_t n_tokens, const SamplingControls& controls, Rng& rng) const;

  /// p(w | context) where `context` holds the preceding tokens of the sentence (only its last n−1 are
  /// used; if shorter it is BOS-padded). `w` may be eos(). Unknown ids give 0 under MLE.
  double prob(std::span<const TokenId> context, TokenId w) const;

  /// Scores every sentence of `heldout` (all tokens and the EOS of each sentence).
  HeldoutScore score(const Corpus& heldout) const;

  /// The model's unigram distribution over the V types (EOS excluded), from continuation counts:
  /// MLE c(w)/N; add_k (c(w)+k)/(N+kV). Sums to 1 (all zeros if the model was fitted on nothing).
  std::vector<double> unigram() const;
  /// Number of types w < V with unigram probability > 0 (types the model can produce).
  std::size_t support_size() const;
  /// Number of distinct contexts seen in training.
  std::size_t num_contexts() const;

  int order() const noexcept { return options_.order; }
  std::size_t vocab_size() const noexcept { return vocab_size_; }
  TokenId eos() const noexcept { return static_cast<TokenId>(vocab_size_); }
  TokenId bos() const noexcept { return static_cast<TokenId>(vocab_size_ + 1); }
  const NgramOptions& options() const noexcept { return options_; }

 private:
  NgramOptions options_;
  std::size_t vocab_size_;
  // Storage is the implementer's choice (see ngram_model.cpp): packed context keys, per-context
  // continuation tables with cumulative counts, unigram counts.
};

}  // namespace collapse
