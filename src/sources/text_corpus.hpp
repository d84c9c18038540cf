#pragma once
// A real text corpus as the truth of the n-gram family: training text, held-out text, vocabulary.

#include <memory>
#include <string>
#include <vector>

#include "core/corpus.hpp"
#include "core/rng.hpp"
#include "models/vocabulary.hpp"

namespace collapse {

struct TextTruth {
  std::string description;         ///< e.g. "text_corpus data/brown/train.txt"
  Vocabulary vocabulary;           ///< types of the training text; ids are frequency ranks (0 = most frequent)
  Corpus train;                    ///< real training sentences (ids < V)
  Corpus heldout;                  ///< real held-out sentences (words absent from train → Vocabulary::kUnknown)
  std::vector<double> unigram;     ///< V: real unigram distribution of the training text (counts / tokens)

  std::size_t vocab_size() const noexcept { return vocabulary.size(); }

  /// Real sentences totalling exactly `n_tokens` tokens: training sentences in a uniformly random order
  /// without replacement, the last one cut to hit the budget.
  /// @throws std::invalid_argument (naming loop.samples_per_generation) if n_tokens exceeds the
  ///         training text's token count.
  Corpus draw(std::size_t n_tokens, Rng& rng) const;
};

/// Reads one sentence per line, tokens separated by whitespace, empty lines skipped. No normalisation
/// is applied (the data scripts lower-case and strip tags beforehand).
/// @param key  the experiment key naming this file, for error messages (e.g. "truth.train").
/// @throws std::invalid_argument naming key and path for a missing/unreadable file or an empty corpus.
std::vector<std::vector<std::string>> read_sentences(const std::string& key, const std::string& path);

/// Loads a corpus: the vocabulary is built from `train_path`; `heldout_path` is mapped onto it.
/// @throws std::invalid_argument as read_sentences.
std::shared_ptr<const TextTruth> make_text_truth(const std::string& train_path, const std::string& heldout_path);

}  // namespace collapse
