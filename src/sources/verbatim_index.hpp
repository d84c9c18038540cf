#pragma once
// Exact hash sets of token sequences: the memorization index of a real training text (whole sentences
// and 8-grams), and the n-gram set behind distinct-n.
//
// Both store *positions* into a token array instead of copies of the keys: a slot is one 64-bit word,
// the high 32 bits a tag (the high half of the key's 64-bit hash) and the low 32 bits position + 1
// (0 = empty). A lookup probes linearly from hash mod capacity, skips slots whose tag differs and
// compares the tokens at the stored position with the query, so membership is exact (no false
// positives, whatever the hash collisions). The load factor stays ≤ 1/2.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/corpus.hpp"

namespace collapse {

/// 64-bit hash of a token sequence (SplitMix64 over the ids packed two per word, seeded with the
/// length). Cost: O(n).
std::uint64_t hash_tokens(const TokenId* tokens, std::size_t n) noexcept;

/// An exact set of the distinct n-grams of one token array, stored as start positions into it.
/// The array is not owned: every call takes it (`base`), and it must be the same array each time.
/// Memory: 8 bytes × capacity; capacity is a power of two ≥ 16, sized for `expected_keys` up front
/// and doubled (rehashing, which re-reads the n-grams through `base`) when the load would pass 1/2.
class NgramSet {
 public:
  /// @param n              n-gram order, ≥ 1.
  /// @param expected_keys  sizing hint: the number of distinct n-grams expected (more may be inserted).
  /// @throws std::invalid_argument  n < 1 or expected_keys ≥ 2^31.
  NgramSet(std::size_t n, std::size_t expected_keys);

  /// Inserts the n-gram base[pos, pos + n) unless an equal one is stored. @return true if it was new.
  /// @throws std::logic_error  pos ≥ 2^32 − 2 (positions are stored in 32 bits).
  /// Cost: O(n) expected, amortised over the doublings.
  bool insert(const TokenId* base, std::size_t pos);

  /// Whether the n-gram gram[0, n) (anywhere in memory) is stored. Cost: O(n) expected, no allocation.
  bool contains(const TokenId* base, const TokenId* gram) const noexcept;

  std::size_t order() const noexcept { return n_; }
  /// Number of distinct n-grams stored.
  std::size_t size() const noexcept { return size_; }
  /// Bytes held by the table.
  std::size_t memory_bytes() const noexcept { return slots_.capacity() * sizeof(std::uint64_t); }

 private:
  void grow(const TokenId* base);

  std::size_t n_;
  std::size_t size_ = 0;
  std::vector<std::uint64_t> slots_;  ///< tag << 32 | (position + 1); 0 = empty
};

/// Memorization index of a real training text: the set of its whole sentences and the set of its
/// kNgramOrder-grams (inside sentences), both exact (see the file comment). It keeps its own copy of the
/// training tokens, which the stored positions point into.
/// Memory: 4 B/token + 8 B/sentence (the copy) + 8 B × (power of two ≥ 2 × sentences) + 8 B × (power of
/// two ≥ 2 × 8-gram positions). Brown train (51 698 sentences, 1 045 389 tokens): about 22 MB.
/// Build cost: O(T) expected for T tokens.
class VerbatimIndex {
 public:
  static constexpr std::size_t kNgramOrder = 8;

  /// Indexes `train` (copied). @throws std::invalid_argument if it has ≥ 2^31 tokens or sentences.
  explicit VerbatimIndex(const Corpus& train);

  /// Whether `sentence` equals a whole training sentence (the empty sentence only if training has one).
  /// Cost: O(length) expected, no allocation.
  bool contains_sentence(std::span<const TokenId> sentence) const noexcept;
  /// Whether gram[0, kNgramOrder) occurs inside a training sentence. Cost: O(1) expected, no allocation.
  bool contains_ngram(const TokenId* gram) const noexcept;

  std::size_t num_distinct_sentences() const noexcept { return num_sentences_; }
  std::size_t num_distinct_ngrams() const noexcept { return ngrams_.size(); }
  /// Bytes held (token copy, offsets, both tables).
  std::size_t memory_bytes() const noexcept;

 private:
  Corpus train_;
  std::vector<std::uint64_t> sentence_slots_;  ///< tag << 32 | (sentence index + 1); 0 = empty
  std::size_t num_sentences_ = 0;
  NgramSet ngrams_;
};

}  // namespace collapse
