#pragma once
// Token corpora and the generic data operations the generation loop needs for both model families.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <Eigen/Core>

namespace collapse {

/// Integer token id. Ids 0..V-1 are word types of a Vocabulary; models may reserve ids ≥ V.
using TokenId = std::uint32_t;

/// A sequence of sentences stored flat: sentence i is tokens[offsets[i], offsets[i+1]).
/// Boundary tokens (BOS/EOS) are NOT stored; models add them. Invariant: offsets.front() == 0,
/// offsets is non-decreasing and offsets.back() == tokens.size().
struct Corpus {
  std::vector<TokenId> tokens;
  std::vector<std::size_t> offsets{0};

  std::size_t num_sentences() const noexcept { return offsets.size() - 1; }
  std::size_t num_tokens() const noexcept { return tokens.size(); }
  std::span<const TokenId> sentence(std::size_t i) const noexcept {
    return {tokens.data() + offsets[i], offsets[i + 1] - offsets[i]};
  }
  std::size_t sentence_length(std::size_t i) const noexcept { return offsets[i + 1] - offsets[i]; }
  void add_sentence(std::span<const TokenId> s) {
    tokens.insert(tokens.end(), s.begin(), s.end());
    offsets.push_back(tokens.size());
  }
  void reserve(std::size_t sentences, std::size_t tokens_) {
    offsets.reserve(sentences + 1);
    tokens.reserve(tokens_);
  }
};

// ---- Generic data operations (overloaded for both Data types of DESIGN.md §1) -------------------
// An *example* is one row of a matrix (one sample) or one sentence of a corpus. The *size* of an
// example is the unit in which `loop.samples_per_generation` counts: 1 for a row, its token count for
// a sentence.

inline std::size_t num_examples(const Eigen::MatrixXd& x) noexcept { return static_cast<std::size_t>(x.rows()); }
inline std::size_t num_examples(const Corpus& c) noexcept { return c.num_sentences(); }
inline std::size_t example_size(const Eigen::MatrixXd&, std::size_t) noexcept { return 1; }
inline std::size_t example_size(const Corpus& c, std::size_t i) noexcept { return c.sentence_length(i); }
inline std::size_t total_size(const Eigen::MatrixXd& x) noexcept { return static_cast<std::size_t>(x.rows()); }
inline std::size_t total_size(const Corpus& c) noexcept { return c.num_tokens(); }

/// The examples at `index` (in that order; repeats allowed). Index values must be < num_examples.
Eigen::MatrixXd select(const Eigen::MatrixXd& x, std::span<const std::size_t> index);
Corpus select(const Corpus& c, std::span<const std::size_t> index);

/// Appends the examples of `b` to `a`. Matrices must have equal column counts (or `a` be empty).
void append(Eigen::MatrixXd& a, const Eigen::MatrixXd& b);
void append(Corpus& a, const Corpus& b);

/// Keeps the first `size` units of `c` (tokens), cutting the last sentence kept if needed.
/// Used to hit a token budget exactly. Sentences cut to zero tokens are dropped.
void truncate_to_size(Corpus& c, std::size_t size);
/// Keeps the first `size` rows.
void truncate_to_size(Eigen::MatrixXd& x, std::size_t size);

}  // namespace collapse
