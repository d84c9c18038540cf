#include "models/vocabulary.hpp"

#include <algorithm>
#include <stdexcept>

namespace collapse {

Vocabulary Vocabulary::from_counts(const std::unordered_map<std::string, std::uint64_t>& counts) {
  if (counts.size() >= kUnknown)
    throw std::invalid_argument("vocabulary: " + std::to_string(counts.size()) + " types, but at most " +
                                std::to_string(kUnknown - 1) + " are supported");
  std::vector<std::pair<const std::string*, std::uint64_t>> order;
  order.reserve(counts.size());
  for (const auto& [word, count] : counts) {
    if (count == 0) throw std::invalid_argument("vocabulary: count of \"" + word + "\" = 0, but must be > 0");
    order.emplace_back(&word, count);
  }
  // Frequency rank; ties by byte order (std::string compares as unsigned char).
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : *a.first < *b.first;
  });
  Vocabulary v;
  v.words_.reserve(order.size());
  v.counts_.reserve(order.size());
  v.index_.reserve(order.size());
  for (const auto& [word, count] : order) {
    v.index_.emplace(*word, static_cast<TokenId>(v.words_.size()));
    v.words_.push_back(*word);
    v.counts_.push_back(count);
  }
  return v;
}

TokenId Vocabulary::id(std::string_view word) const {
  const auto it = index_.find(word);
  return it == index_.end() ? kUnknown : it->second;
}

const std::string& Vocabulary::word(TokenId id) const {
  if (id >= words_.size())
    throw std::out_of_range("vocabulary: id " + std::to_string(id) + " is out of range [0, " +
                            std::to_string(words_.size()) + ")");
  return words_[id];
}

}  // namespace collapse
