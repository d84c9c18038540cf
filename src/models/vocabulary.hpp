#pragma once
// Word types ↔ integer ids.

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/corpus.hpp"

namespace collapse {

/// A vocabulary whose ids are frequency ranks: id 0 is the most frequent type of the corpus it was
/// built from (ties broken by the word's byte order), so "types ranked beyond r" are exactly ids ≥ r.
class Vocabulary {
 public:
  /// Id given to words not in the vocabulary (held-out OOV words).
  static constexpr TokenId kUnknown = 0xFFFFFFFFu;

  Vocabulary() = default;
  /// Builds from type counts: id = frequency rank (0 = most frequent), ties by the word's byte order.
  /// @param counts word → occurrence count (> 0).
  /// @throws std::invalid_argument  a count of 0, or ≥ 2^32 − 1 types.
  /// Cost: O(T log T) for T types.
  static Vocabulary from_counts(const std::unordered_map<std::string, std::uint64_t>& counts);

  /// Number of types V (valid ids are 0..V−1).
  std::size_t size() const noexcept { return words_.size(); }
  /// The id of `word`, or kUnknown. Cost: one hash lookup, no allocation.
  TokenId id(std::string_view word) const;
  /// The word of `id` (< size()). @throws std::out_of_range.
  const std::string& word(TokenId id) const;
  /// Occurrence count of type `id` in the corpus the vocabulary was built from. @throws std::out_of_range.
  std::uint64_t count(TokenId id) const { return counts_.at(id); }

 private:
  std::vector<std::string> words_;
  std::vector<std::uint64_t> counts_;
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, TokenId, StringHash, std::equal_to<>> index_;
};

}  // namespace collapse
