#include "sources/verbatim_index.hpp"

#include <algorithm>
#include <bit>
#include <stdexcept>
#include <string>

#include "core/rng.hpp"

namespace collapse {

namespace {

constexpr std::uint64_t kPositionLimit = 0xFFFFFFFFULL;  // positions < 2^32 − 1 (pos + 1 fits 32 bits)

std::size_t capacity_for(std::size_t max_keys) { return std::bit_ceil(std::max<std::size_t>(16, 2 * max_keys)); }

std::uint64_t tag_of(std::uint64_t h) noexcept { return h & 0xFFFFFFFF00000000ULL; }

}  // namespace

std::uint64_t hash_tokens(const TokenId* tokens, std::size_t n) noexcept {
  std::uint64_t h = splitmix64(0x243F6A8885A308D3ULL ^ n);
  std::size_t i = 0;
  for (; i + 1 < n; i += 2) h = splitmix64(h ^ ((static_cast<std::uint64_t>(tokens[i]) << 32) | tokens[i + 1]));
  if (i < n) h = splitmix64(h ^ (static_cast<std::uint64_t>(tokens[i]) << 32));
  return h;
}

// ---- NgramSet ----------------------------------------------------------------------------------

NgramSet::NgramSet(std::size_t n, std::size_t expected_keys) : n_(n) {
  if (n < 1) throw std::invalid_argument("NgramSet: n = " + std::to_string(n) + ", but must be ≥ 1");
  if (expected_keys >= (std::size_t{1} << 31))
    throw std::invalid_argument("NgramSet: expected_keys = " + std::to_string(expected_keys) + ", but must be < 2^31");
  slots_.assign(capacity_for(expected_keys), 0);
}

void NgramSet::grow(const TokenId* base) {
  std::vector<std::uint64_t> old(2 * slots_.size(), 0);
  old.swap(slots_);
  const std::uint64_t mask = slots_.size() - 1;
  for (std::uint64_t s : old) {
    if (s == 0) continue;
    const std::uint64_t h = hash_tokens(base + ((s & kPositionLimit) - 1), n_);
    std::uint64_t i = h & mask;
    while (slots_[i] != 0) i = (i + 1) & mask;
    slots_[i] = s;
  }
}

bool NgramSet::insert(const TokenId* base, std::size_t pos) {
  if (pos >= kPositionLimit - 1)
    throw std::logic_error("NgramSet: position " + std::to_string(pos) + " ≥ 2^32 − 2");
  const TokenId* gram = base + pos;
  const std::uint64_t h = hash_tokens(gram, n_);
  std::uint64_t mask = slots_.size() - 1;
  for (std::uint64_t i = h & mask;; i = (i + 1) & mask) {
    const std::uint64_t s = slots_[i];
    if (s == 0) break;
    if (tag_of(s) == tag_of(h) && std::equal(gram, gram + n_, base + ((s & kPositionLimit) - 1))) return false;
  }
  // New: make room if the load would pass 1/2, then store at the first empty slot of the probe sequence.
  if (2 * (size_ + 1) > slots_.size()) {
    grow(base);
    mask = slots_.size() - 1;
  }
  std::uint64_t i = h & mask;
  while (slots_[i] != 0) i = (i + 1) & mask;
  slots_[i] = tag_of(h) | (pos + 1);
  ++size_;
  return true;
}

bool NgramSet::contains(const TokenId* base, const TokenId* gram) const noexcept {
  const std::uint64_t h = hash_tokens(gram, n_);
  const std::uint64_t mask = slots_.size() - 1;
  for (std::uint64_t i = h & mask;; i = (i + 1) & mask) {
    const std::uint64_t s = slots_[i];
    if (s == 0) return false;
    if (tag_of(s) == tag_of(h) && std::equal(gram, gram + n_, base + ((s & kPositionLimit) - 1))) return true;
  }
}

// ---- VerbatimIndex -----------------------------------------------------------------------------

namespace {
std::size_t count_ngram_positions(const Corpus& c, std::size_t n) {
  std::size_t k = 0;
  for (std::size_t s = 0; s < c.num_sentences(); ++s)
    if (c.sentence_length(s) >= n) k += c.sentence_length(s) - n + 1;
  return k;
}
}  // namespace

VerbatimIndex::VerbatimIndex(const Corpus& train)
    : train_(train), ngrams_(kNgramOrder, count_ngram_positions(train, kNgramOrder)) {
  if (train.num_tokens() >= (std::size_t{1} << 31) || train.num_sentences() >= (std::size_t{1} << 31))
    throw std::invalid_argument("verbatim index: the training text has " + std::to_string(train.num_tokens()) +
                                " tokens in " + std::to_string(train.num_sentences()) +
                                " sentences, but at most 2^31 − 1 of each are supported");
  // 1. Whole sentences: insert each unless an equal sentence is stored.
  sentence_slots_.assign(capacity_for(train_.num_sentences()), 0);
  const std::uint64_t mask = sentence_slots_.size() - 1;
  for (std::size_t k = 0; k < train_.num_sentences(); ++k) {
    const auto sent = train_.sentence(k);
    const std::uint64_t h = hash_tokens(sent.data(), sent.size());
    for (std::uint64_t i = h & mask;; i = (i + 1) & mask) {
      const std::uint64_t s = sentence_slots_[i];
      if (s == 0) {
        sentence_slots_[i] = tag_of(h) | (k + 1);
        ++num_sentences_;
        break;
      }
      if (tag_of(s) == tag_of(h)) {
        const auto other = train_.sentence((s & kPositionLimit) - 1);
        if (std::equal(sent.begin(), sent.end(), other.begin(), other.end())) break;
      }
    }
  }
  // 2. Every 8-gram position inside a sentence.
  for (std::size_t k = 0; k < train_.num_sentences(); ++k) {
    const std::size_t begin = train_.offsets[k], end = train_.offsets[k + 1];
    for (std::size_t p = begin; p + kNgramOrder <= end; ++p) ngrams_.insert(train_.tokens.data(), p);
  }
}

bool VerbatimIndex::contains_sentence(std::span<const TokenId> sentence) const noexcept {
  const std::uint64_t h = hash_tokens(sentence.data(), sentence.size());
  const std::uint64_t mask = sentence_slots_.size() - 1;
  for (std::uint64_t i = h & mask;; i = (i + 1) & mask) {
    const std::uint64_t s = sentence_slots_[i];
    if (s == 0) return false;
    if (tag_of(s) == tag_of(h)) {
      const auto other = train_.sentence((s & kPositionLimit) - 1);
      if (std::equal(sentence.begin(), sentence.end(), other.begin(), other.end())) return true;
    }
  }
}

bool VerbatimIndex::contains_ngram(const TokenId* gram) const noexcept {
  return ngrams_.contains(train_.tokens.data(), gram);
}

std::size_t VerbatimIndex::memory_bytes() const noexcept {
  return train_.tokens.capacity() * sizeof(TokenId) + train_.offsets.capacity() * sizeof(std::size_t) +
         sentence_slots_.capacity() * sizeof(std::uint64_t) + ngrams_.memory_bytes();
}

}  // namespace collapse
