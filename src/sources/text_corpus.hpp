#pragma once
// The truth of the n-gram family: a real text corpus (training text, held-out text, vocabulary,
// memorization index) or an analytic categorical distribution over V types (Zipf, Zipf–Mandelbrot;
// see sources/zipf.hpp) whose draws are fresh iid tokens.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/corpus.hpp"
#include "core/rng.hpp"
#include "models/vocabulary.hpp"
#include "sources/verbatim_index.hpp"

namespace collapse {

/// Exact sampler of a categorical distribution over 0..V−1 by Walker's alias method, with Vose's
/// (1991, "A linear algorithm for generating random numbers with a given distribution", IEEE TSE
/// 17(9)) construction: scale p_i by V, pair each "small" column (V p_i < 1) with a "large" one that
/// tops it up to 1, and record that large one as its alias. A draw picks a column i uniformly and
/// returns i with probability acceptance[i], else alias[i]; so P(k) = (acceptance[k] +
/// Σ_{i: alias[i] = k} (1 − acceptance[i])) / V, which equals p_k up to rounding (≈ 1e-16 · V per entry).
/// Setup O(V) time, 12 B per type; a draw O(1): two Boost.Random variates (a uniform column index
/// and a uniform [0, 1) real), no allocation.
class AliasTable {
 public:
  AliasTable() = default;
  /// @param weights  V ≥ 1 non-negative finite weights with a positive sum (need not be normalised),
  ///                 V < 2^32 − 1.
  /// @throws std::invalid_argument naming `key` (e.g. "truth.weights") for an empty/negative/non-finite
  ///         weight vector or a zero sum.
  explicit AliasTable(std::span<const double> weights, const std::string& key = "alias_table.weights");

  /// One draw. Cost: O(1).
  TokenId operator()(Rng& rng) const;
  /// Fills `out` with iid draws. Cost: O(out.size()), no allocation.
  void fill(std::span<TokenId> out, Rng& rng) const;

  std::size_t size() const noexcept { return acceptance_.size(); }
  /// The distribution the table samples, reconstructed from it (see the class comment). O(V).
  std::vector<double> probabilities() const;
  const std::vector<double>& acceptance() const noexcept { return acceptance_; }  ///< V, in [0, 1]
  const std::vector<TokenId>& alias() const noexcept { return alias_; }           ///< V, ids < V

 private:
  std::vector<double> acceptance_;
  std::vector<TokenId> alias_;
};

struct TextTruth {
  std::string description;         ///< e.g. "text_corpus data/brown/train.txt", "zipf V=10000 exponent=1.1"
  Vocabulary vocabulary;           ///< types of the training text; ids are frequency ranks (0 = most frequent).
                                   ///< EMPTY for an analytic truth (use word() and vocab_size())
  Corpus train;                    ///< real training sentences (ids < V); empty for an analytic truth
  Corpus heldout;                  ///< held-out sentences (words absent from train → Vocabulary::kUnknown);
                                   ///< analytic: heldout_tokens iid tokens drawn once, in sentences of sentence_length
  std::vector<double> unigram;     ///< V: unigram distribution — real: counts / tokens of the training text;
                                   ///< analytic: the exact pmf
  std::optional<AliasTable> analytic;  ///< set when the distribution is known exactly: the alias table of `unigram`
  std::size_t sentence_length = 0;     ///< analytic only: tokens per drawn sentence (≥ 1); 0 for a real corpus
  std::shared_ptr<const VerbatimIndex> verbatim;  ///< real only: whole training sentences and 8-grams; null if analytic

  /// Whether the distribution is known exactly (Zipf, Zipf–Mandelbrot): draws are fresh iid tokens.
  bool is_analytic() const noexcept { return analytic.has_value(); }
  /// Number of types V (= unigram.size(); for a real corpus also vocabulary.size()).
  std::size_t vocab_size() const noexcept { return unigram.size(); }
  /// The word of type `id` < V: vocabulary.word(id) for a real corpus, "w<id + 1>" for an analytic
  /// truth (w1 is the most probable type). @throws std::out_of_range for id ≥ V.
  std::string word(TokenId id) const;

  /// Sentences totalling exactly `n_tokens` tokens.
  /// Real corpus: training sentences in a uniformly random order without replacement, the last one cut
  ///   to hit the budget. Cost O(S + n_tokens) for S training sentences.
  /// Analytic: fresh iid tokens from `analytic` (alias method), in sentences of sentence_length tokens,
  ///   the last one cut. Cost O(n_tokens), no per-token allocation.
  /// @throws std::invalid_argument (naming loop.samples_per_generation) if, for a real corpus, n_tokens
  ///         exceeds the training text's token count.
  Corpus draw(std::size_t n_tokens, Rng& rng) const;
};

/// Reads one sentence per line, tokens separated by whitespace, empty lines skipped. No normalisation
/// is applied (the data scripts lower-case and strip tags beforehand).
/// @param key  the experiment key naming this file, for error messages (e.g. "truth.train").
/// @throws std::invalid_argument naming key and path for a missing/unreadable file or an empty corpus.
std::vector<std::vector<std::string>> read_sentences(const std::string& key, const std::string& path);

/// Loads a corpus: the vocabulary is built from `train_path`; `heldout_path` is mapped onto it. Also
/// builds the memorization index (`verbatim`) of the training text (Brown: ~22 MB, ~0.1 s).
/// @throws std::invalid_argument as read_sentences.
std::shared_ptr<const TextTruth> make_text_truth(const std::string& train_path, const std::string& heldout_path);

/// Loads a corpus from one file and splits its sentences (lines) once into train / held-out, like the
/// CSV table truth: a uniformly random permutation of the S sentences drawn from
/// stream_rng(seed, -1, Stream::split) holds out its first floor(heldout_fraction · S) sentences; both
/// parts keep the file's order. When that number is 0 (heldout_fraction = 0, or a tiny file) the
/// held-out set is the whole file (in-sample). The vocabulary is built from the training part only,
/// held-out words outside it are Vocabulary::kUnknown; the memorization index is built from the
/// training part.
/// @param heldout_fraction  in [0, 0.9] (truth.heldout_fraction), so at least one sentence is trained on.
/// @throws std::invalid_argument naming truth.heldout_fraction, or as read_sentences (key truth.train).
/// Cost: O(T) for T tokens, plus the vocabulary sort.
std::shared_ptr<const TextTruth> make_text_truth_split(const std::string& path, double heldout_fraction,
                                                       std::uint64_t seed);

}  // namespace collapse
