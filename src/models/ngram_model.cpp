#include "models/ngram_model.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <tuple>
#include <bit>
#include <cmath>
#include <memory>
#include <stdexcept>

#include <boost/random/uniform_int_distribution.hpp>
#include <boost/random/uniform_real_distribution.hpp>

#include "core/check.hpp"

namespace collapse {

namespace {

/// Sampling stops (returning fewer tokens) after this many consecutive empty sentences.
constexpr std::uint64_t kMaxConsecutiveEmpty = 1'000'000;

/// MurmurHash3 fmix64 over both halves of a 128-bit key.
__extension__ inline std::uint64_t hash_key(unsigned __int128 key) noexcept {
  std::uint64_t x = static_cast<std::uint64_t>(key) ^ (static_cast<std::uint64_t>(key >> 64) * 0x9E3779B97F4A7C15ull);
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

/// First entry of [first, first + n) whose cumulative count is > u, for n ≥ 1 and u < the last
/// cumulative count: binary search down to a linear tail of ≤ 8 entries (≤ 2 cache lines).
/// Measured against a branchless (cmov) search, with and without prefetching, a guide table
/// (Chen & Asau) and a plain linear scan on a Zipf bigram: as fast as the best and simpler — the
/// top levels of a context's search path stay in cache across draws and the branches speculate ahead.
template <class Entry>
inline const Entry* find_entry(const Entry* first, std::uint32_t n, std::uint32_t u) noexcept {
  while (n > 8) {
    const std::uint32_t half = n / 2;
    if (first[half].cum <= u) {
      first += half + 1;
      n -= half + 1;
    } else {
      n = half;
    }
  }
  while (first->cum <= u) ++first;
  return first;
}

/// First element of [first, last) that is > u (the last one if none is); binary search down to a
/// short linear tail.
inline const double* find_cumulative(const double* first, const double* last, double u) noexcept {
  std::size_t len = static_cast<std::size_t>(last - first);
  while (len > 8) {
    const std::size_t half = len / 2;
    if (first[half] <= u) {
      first += half + 1;
      len -= half + 1;
    } else {
      len = half;
    }
  }
  while (*first <= u && first + 1 < last) ++first;
  return first;
}

}  // namespace

// ---- Options ------------------------------------------------------------------------------------

bool NgramOptions::IsValid(std::string* error) const {
  auto fail = [&](std::string message) {
    if (error) *error = std::move(message);
    return false;
  };
  if (order < 1 || order > 5)
    return fail("model.order = " + std::to_string(order) + ", but must be in [1, 5]");
  if (smoothing != Smoothing::mle && smoothing != Smoothing::add_k && smoothing != Smoothing::kneser_ney)
    return fail("model.smoothing = " + std::to_string(static_cast<int>(smoothing)) +
                ", but must be one of mle | add_k | kneser_ney");
  if (!(k >= 0) || !std::isfinite(k))
    return fail("model.add_k = " + format_number(k) + ", but must be finite and ≥ 0");
  if (smoothing == Smoothing::add_k && !(k > 0))
    return fail("model.add_k = " + format_number(k) + ", but must be > 0 when model.smoothing = add_k");
  return true;
}

// ---- Construction -------------------------------------------------------------------------------

NgramModel::NgramModel(NgramOptions options, std::size_t vocab_size)
    : options_(options), vocab_size_(vocab_size) {
  std::string error;
  if (!options_.IsValid(&error)) throw std::invalid_argument(error);
  if (vocab_size_ < 1) throw std::invalid_argument("ngram vocab_size = 0, but must be ≥ 1");
  // BOS = V + 1 must be a TokenId distinct from Vocabulary::kUnknown = 2^32 − 1.
  if (vocab_size_ > 0xFFFFFFFDull)
    throw std::invalid_argument("ngram vocab_size = " + std::to_string(vocab_size_) + ", but must be ≤ 4294967293");
  bits_ = static_cast<unsigned>(std::bit_width(static_cast<std::uint64_t>(vocab_size_ + 1)));
  const unsigned n = static_cast<unsigned>(options_.order);
  if (n * bits_ > 128)
    throw std::invalid_argument("ngram vocab_size = " + std::to_string(vocab_size_) + " needs " +
                                std::to_string(bits_) + " bits per token, so order " + std::to_string(n) +
                                " keys would need " + std::to_string(n * bits_) +
                                " bits; at most 128 are supported (order 5: vocab_size ≤ 33554430)");
  const unsigned ctx_bits = (n - 1) * bits_;
  ctx_mask_ = ctx_bits == 0 ? Key{0} : (Key{1} << ctx_bits) - 1;
  start_key_ = 0;
  for (unsigned i = 0; i + 1 < n; ++i) start_key_ = (start_key_ << bits_) | bos();
}

// ---- Fitting ------------------------------------------------------------------------------------

namespace {

/// In-place MSD radix sort (American flag sort; McIlroy, Bostic & McIlroy 1993, "Engineering Radix
/// Sort") of unsigned keys whose set bits are all below `shift + 8`: 8-bit digits from the top,
/// std::sort below 64 elements. O(1) extra memory (a recursion of ≤ 16 levels of 4 KiB), O(n · bits/8).
/// Measured on Brown trigram keys (51 bits): ~3× faster than std::sort on the same array.
template <class K>
void radix_sort(K* a, std::size_t n, int shift) {
  if (n < 64) {
    std::sort(a, a + n);
    return;
  }
  std::size_t count[256] = {};
  for (std::size_t i = 0; i < n; ++i) ++count[static_cast<unsigned>(a[i] >> shift) & 255u];
  std::size_t head[256], tail[256];
  std::size_t sum = 0;
  for (int d = 0; d < 256; ++d) {
    head[d] = sum;
    sum += count[d];
    tail[d] = sum;
  }
  for (int d = 0; d < 256; ++d) {
    while (head[d] < tail[d]) {
      K v = a[head[d]];
      unsigned dv = static_cast<unsigned>(v >> shift) & 255u;
      while (dv != static_cast<unsigned>(d)) {
        std::swap(v, a[head[dv]++]);
        dv = static_cast<unsigned>(v >> shift) & 255u;
      }
      a[head[d]++] = v;
    }
  }
  if (shift == 0) return;
  const int next = std::max(shift - 8, 0);
  std::size_t begin = 0;
  for (int d = 0; d < 256; ++d) {
    if (count[d] > 1) radix_sort(a + begin, count[d], next);
    begin += count[d];
  }
}

template <class K>
void radix_sort(std::vector<K>& keys, unsigned used_bits) {
  radix_sort(keys.data(), keys.size(), std::max(static_cast<int>(used_bits) - 8, 0));
}

/// Open-addressing hash (power-of-two capacity, load ≤ 1/2, linear probing) of the indices of `keys`.
template <class Key>
void build_slots(const std::vector<Key>& keys, std::vector<std::uint32_t>& slots) {
  const std::size_t capacity = std::bit_ceil(std::max<std::size_t>(2 * keys.size(), 16));
  slots.assign(capacity, 0xFFFFFFFFu);
  const std::size_t mask = capacity - 1;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    std::size_t s = hash_key(keys[i]) & mask;
    while (slots[s] != 0xFFFFFFFFu) s = (s + 1) & mask;
    slots[s] = static_cast<std::uint32_t>(i);
  }
}

template <class Key>
std::uint32_t lookup_slots(const std::vector<Key>& keys, const std::vector<std::uint32_t>& slots, Key key) noexcept {
  if (slots.empty()) return 0xFFFFFFFFu;
  const std::size_t mask = slots.size() - 1;
  std::size_t s = hash_key(key) & mask;
  for (;;) {
    const std::uint32_t idx = slots[s];
    if (idx == 0xFFFFFFFFu || keys[idx] == key) return idx;
    s = (s + 1) & mask;
  }
}

/// Modified Kneser–Ney discounts from count-of-counts n[1..4] (Chen & Goodman 1998, eq. 26), with the
/// fallback of the NgramModel class comment.
NgramModel::KnDiscounts estimate_discounts(const std::array<std::uint64_t, 5>& n) {
  NgramModel::KnDiscounts d;
  d.n1 = n[1];
  d.n2 = n[2];
  d.n3 = n[3];
  d.n4 = n[4];
  const double n1 = static_cast<double>(n[1]), n2 = static_cast<double>(n[2]), n3 = static_cast<double>(n[3]),
               n4 = static_cast<double>(n[4]);
  if (n[1] > 0 && n[2] > 0 && n[3] > 0 && n[4] > 0) {
    const double y = n1 / (n1 + 2 * n2);
    d.d1 = 1 - 2 * y * n2 / n1;
    d.d2 = 2 - 3 * y * n3 / n2;
    d.d3plus = 3 - 4 * y * n4 / n3;
    auto ok = [](double v, double hi) { return std::isfinite(v) && v > 0 && v <= hi; };
    if (ok(d.d1, 1) && ok(d.d2, 2) && ok(d.d3plus, 3)) return d;
  }
  d.fallback = true;
  if (n[1] > 0 && n[2] > 0) {
    const double y = n1 / (n1 + 2 * n2);  // in (0, 1)
    d.d1 = d.d2 = d.d3plus = y;
  } else {
    d.d1 = 0.5;
    d.d2 = 1.0;
    d.d3plus = 1.5;
  }
  return d;
}

inline double discount(const NgramModel::KnDiscounts& d, std::uint64_t a) noexcept {
  return a == 0 ? 0.0 : a == 1 ? d.d1 : a == 2 ? d.d2 : d.d3plus;
}

}  // namespace

template <class K>
void NgramModel::count_ngrams(const Corpus& corpus) {
  // Step 1: one packed key (context symbols oldest first, then next) per prediction.
  const unsigned b = bits_;
  const K sym_mask = (K{1} << b) - 1;
  const K ctx_mask = static_cast<K>(ctx_mask_);
  const K start = static_cast<K>(start_key_);
  const K eos_k = static_cast<K>(eos());
  std::vector<K> keys(corpus.num_tokens() + corpus.num_sentences());
  std::size_t p = 0;
  for (std::size_t s = 0; s < corpus.num_sentences(); ++s) {
    K ctx = start;
    for (TokenId t : corpus.sentence(s)) {
      const K next = (ctx << b) | static_cast<K>(t);
      keys[p++] = next;
      ctx = next & ctx_mask;
    }
    keys[p++] = (ctx << b) | eos_k;
  }

  // Step 2: sort in place, so that equal n-grams are adjacent and contexts contiguous and ascending.
  radix_sort(keys, static_cast<unsigned>(options_.order) * b);

  // Step 3: run-length encode into contexts and cumulative continuation counts.
  const std::size_t m = keys.size();
  const TokenId v = eos();
  for (std::size_t i = 0; i < m;) {
    const K ctx = keys[i] >> b;
    ctx_keys_.push_back(static_cast<Key>(ctx));
    const auto begin = static_cast<std::uint32_t>(entries_.size());
    std::uint32_t cum = 0;
    while (i < m && (keys[i] >> b) == ctx) {
      const K key = keys[i];
      std::size_t j = i + 1;
      while (j < m && keys[j] == key) ++j;
      const auto count = static_cast<std::uint32_t>(j - i);
      const auto token = static_cast<TokenId>(key & sym_mask);
      cum += count;
      entries_.push_back(Entry{cum, token, kNoContext});
      if (token < v) unigram_counts_[token] += count;
      i = j;
    }
    ctx_.push_back(ContextInfo{begin, cum});
  }
  ctx_.push_back(ContextInfo{static_cast<std::uint32_t>(entries_.size()), 0});
}

void NgramModel::build_index() {
  const std::size_t c = ctx_keys_.size();
  if (c >= kNoContext) throw std::invalid_argument("ngram fit: more than 2^32 − 2 distinct contexts");
  // Step 4: open-addressing hash of the contexts (power-of-two capacity, load ≤ 1/2).
  build_slots(ctx_keys_, slots_);
  start_ctx_ = find_context(start_key_);

  // Step 5: successor context of every entry. If (h, w) was seen with w ≠ EOS, the context
  // shift(h, w) was seen at the next position of the same sentence, so the lookup always succeeds.
  const TokenId v = eos();
  for (std::size_t i = 0; i < c; ++i) {
    for (std::uint32_t e = ctx_[i].begin; e < ctx_[i + 1].begin; ++e) {
      Entry& entry = entries_[e];
      entry.next_ctx = entry.token == v ? start_ctx_ : find_context(shift(ctx_keys_[i], entry.token));
    }
  }

  // Step 6 (MLE): the context-local sampling blocks.
  walk_.clear();
  if (options_.smoothing != Smoothing::mle) return;
  const std::uint64_t words = 2 * static_cast<std::uint64_t>(c) + 3 * static_cast<std::uint64_t>(entries_.size());
  if (words >= 0xFFFFFFFFull) return;
  std::vector<std::uint32_t> offset(c);
  std::uint32_t o = 0;
  for (std::size_t i = 0; i < c; ++i) {
    offset[i] = o;
    o += 2 + 3 * (ctx_[i + 1].begin - ctx_[i].begin);
  }
  walk_.resize(words);
  for (std::size_t i = 0; i < c; ++i) {
    std::uint32_t* block = walk_.data() + offset[i];
    block[0] = ctx_[i + 1].begin - ctx_[i].begin;
    block[1] = ctx_[i].total;
    for (std::uint32_t e = ctx_[i].begin, j = 2; e < ctx_[i + 1].begin; ++e, j += 3) {
      block[j] = entries_[e].cum;
      block[j + 1] = entries_[e].token;
      block[j + 2] = offset[entries_[e].next_ctx];
    }
  }
  walk_start_ = offset[start_ctx_];
}

void NgramModel::build_kneser_ney(FitReport& report) {
  const int n = options_.order;
  const unsigned b = bits_;
  const Key sym = (Key{1} << b) - 1;
  const Key bos_key = bos();
  kn_.assign(static_cast<std::size_t>(n), KnLevel{});
  auto record = [&](int k, const KnDiscounts& d) {
    if (!d.fallback) return;
    report.events.push_back(Event{
        -1, "kn_discount_fallback",
        "ngram fit: kneser_ney order " + std::to_string(k) + ": count-of-counts n1 = " + std::to_string(d.n1) +
            ", n2 = " + std::to_string(d.n2) + ", n3 = " + std::to_string(d.n3) + ", n4 = " + std::to_string(d.n4) +
            " do not give Chen & Goodman discounts in (0, i]; using " +
            (d.n1 > 0 && d.n2 > 0 ? "absolute discounting D = n1/(n1+2 n2) = " + format_number(d.d1) + " for all counts"
                                  : std::string("fixed D1 = 0.5, D2 = 1, D3+ = 1.5"))});
  };

  // Order n: raw counts over the shared contexts.
  std::vector<std::pair<Key, std::uint32_t>> grams;  // distinct (k+1)-grams (k+1 symbols) and adjusted counts
  {
    KnLevel& top = kn_[static_cast<std::size_t>(n - 1)];
    std::array<std::uint64_t, 5> nn{};
    for (std::size_t i = 0; i + 1 < ctx_.size(); ++i) {
      std::uint32_t prev = 0;
      for (std::uint32_t e = ctx_[i].begin; e < ctx_[i + 1].begin; ++e) {
        const std::uint32_t c = entries_[e].cum - prev;
        prev = entries_[e].cum;
        if (c <= 4) ++nn[c];
      }
    }
    top.d = estimate_discounts(nn);
    record(n, top.d);
    const std::size_t C = ctx_keys_.size();
    top.total.resize(C);
    top.backoff.resize(C);
    top.dcum.resize(entries_.size());
    if (n > 1) grams.reserve(entries_.size());
    for (std::size_t i = 0; i < C; ++i) {
      std::uint32_t prev = 0;
      double g = 0;
      for (std::uint32_t e = ctx_[i].begin; e < ctx_[i + 1].begin; ++e) {
        const std::uint32_t c = entries_[e].cum - prev;
        prev = entries_[e].cum;
        g += discount(top.d, c);
        top.dcum[e] = (e == ctx_[i].begin ? 0.0 : top.dcum[e - 1]) + std::max(0.0, static_cast<double>(c) - discount(top.d, c));
        if (n > 1) grams.emplace_back((ctx_keys_[i] << b) | entries_[e].token, c);
      }
      top.total[i] = static_cast<double>(ctx_[i].total);
      top.backoff[i] = g;
    }
  }

  // Orders n−1 … 1 from the distinct grams of the order above.
  for (int k = n - 1; k >= 1; --k) {
    const unsigned gram_bits = static_cast<unsigned>(k) * b;  // < 128 since n·b ≤ 128
    const Key gram_mask = (Key{1} << gram_bits) - 1;
    std::vector<std::pair<Key, std::uint32_t>> next;
    next.reserve(grams.size());
    for (const auto& [g, a] : grams) {
      const Key sub = g & gram_mask;
      const bool starts_bos = k >= 2 && ((sub >> ((k - 1) * b)) & sym) == bos_key;
      next.emplace_back(sub, starts_bos ? a : 1u);  // raw count after BOS, else one more left extension
    }
    std::vector<std::pair<Key, std::uint32_t>>().swap(grams);
    std::sort(next.begin(), next.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
    std::size_t w = 0;
    for (std::size_t i = 0; i < next.size(); ++i) {
      if (w > 0 && next[w - 1].first == next[i].first)
        next[w - 1].second += next[i].second;
      else
        next[w++] = next[i];
    }
    next.resize(w);

    KnLevel& level = kn_[static_cast<std::size_t>(k - 1)];
    std::array<std::uint64_t, 5> nn{};
    level.tokens.reserve(w);
    level.counts.reserve(w);
    for (std::size_t i = 0; i < w;) {
      const Key ctx = next[i].first >> b;
      level.ctx_keys.push_back(ctx);
      level.begin.push_back(static_cast<std::uint32_t>(level.tokens.size()));
      double total = 0;
      for (; i < w && (next[i].first >> b) == ctx; ++i) {
        level.tokens.push_back(static_cast<TokenId>(next[i].first & sym));
        level.counts.push_back(next[i].second);
        total += next[i].second;
        if (next[i].second <= 4) ++nn[next[i].second];
      }
      level.total.push_back(total);
    }
    level.begin.push_back(static_cast<std::uint32_t>(level.tokens.size()));
    level.d = estimate_discounts(nn);
    record(k, level.d);
    level.backoff.resize(level.ctx_keys.size());
    level.dcum.resize(level.tokens.size());
    for (std::size_t c = 0; c < level.ctx_keys.size(); ++c) {
      double g = 0, cum = 0;
      for (std::uint32_t e = level.begin[c]; e < level.begin[c + 1]; ++e) {
        g += discount(level.d, level.counts[e]);
        cum += std::max(0.0, static_cast<double>(level.counts[e]) - discount(level.d, level.counts[e]));
        level.dcum[e] = cum;
      }
      level.backoff[c] = g;
    }
    build_slots(level.ctx_keys, level.slots);
    grams.swap(next);
  }
}

FitReport NgramModel::fit(const Corpus& corpus, Rng& /*rng*/) {
  // Validate before touching the current fit.
  if (corpus.offsets.empty() || corpus.offsets.front() != 0 || corpus.offsets.back() != corpus.tokens.size())
    throw std::invalid_argument("ngram fit: corpus offsets are inconsistent (front must be 0 and back = " +
                                std::to_string(corpus.tokens.size()) + " tokens)");
  for (std::size_t i = 1; i < corpus.offsets.size(); ++i)
    if (corpus.offsets[i] < corpus.offsets[i - 1])
      throw std::invalid_argument("ngram fit: corpus offsets decrease at sentence " + std::to_string(i - 1));
  for (std::size_t i = 0; i < corpus.tokens.size(); ++i)
    if (corpus.tokens[i] >= vocab_size_)
      throw std::invalid_argument("ngram fit: token id " + std::to_string(corpus.tokens[i]) + " at position " +
                                  std::to_string(i) + " ≥ vocabulary size " + std::to_string(vocab_size_));
  if (corpus.num_tokens() + corpus.num_sentences() >= 0xFFFFFFFFull)
    throw std::invalid_argument("ngram fit: " + std::to_string(corpus.num_tokens() + corpus.num_sentences()) +
                                " predictions (tokens + sentences), but at most 4294967294 are supported");

  // Reset (keeping capacity: the loop refits every generation).
  fitted_ = false;
  num_train_tokens_ = corpus.num_tokens();
  num_train_sentences_ = corpus.num_sentences();
  start_ctx_ = kNoContext;
  ctx_keys_.clear();
  ctx_.clear();
  entries_.clear();
  slots_.clear();
  kn_.clear();
  walk_.clear();
  unigram_counts_.assign(vocab_size_, 0);

  FitReport report;
  if (corpus.num_tokens() == 0) {
    report.events.push_back(Event{-1, "empty_training_set",
                                  "ngram fit: the training corpus has " + std::to_string(corpus.num_sentences()) +
                                      " sentences and no tokens" +
                                      (corpus.num_sentences() == 0 ? "; the model generates nothing" : "")});
    if (corpus.num_sentences() == 0) return report;
  }

  if (static_cast<unsigned>(options_.order) * bits_ <= 64)
    count_ngrams<std::uint64_t>(corpus);
  else
    count_ngrams<Key>(corpus);
  build_index();
  if (options_.smoothing == Smoothing::kneser_ney) build_kneser_ney(report);
  fitted_ = true;

  // Mean training log-likelihood per prediction (nats): Σ_h Σ_w c(h,w) ln p(w|h) / Σ_h c(h).
  const double k = options_.smoothing == Smoothing::add_k ? options_.k : 0.0;
  const double outcomes = static_cast<double>(vocab_size_) + 1.0;
  const bool kn = options_.smoothing == Smoothing::kneser_ney;
  const std::size_t m = static_cast<std::size_t>(options_.order) - 1;
  double total = 0;
  std::uint64_t predictions = 0;
  for (std::size_t i = 0; i < ctx_keys_.size(); ++i) {
    const double log_denominator = std::log(static_cast<double>(ctx_[i].total) + k * outcomes);
    std::uint32_t prev = 0;
    for (std::uint32_t e = ctx_[i].begin; e < ctx_[i + 1].begin; ++e) {
      const double count = static_cast<double>(entries_[e].cum - prev);
      prev = entries_[e].cum;
      total += kn ? count * std::log(prob_kn(ctx_keys_[i], m, entries_[e].token))
                  : count * (std::log(count + k) - log_denominator);
    }
    predictions += ctx_[i].total;
  }
  report.lower_bound = predictions ? total / static_cast<double>(predictions) : 0.0;
  return report;
}

// ---- Lookup and probabilities -------------------------------------------------------------------

std::uint32_t NgramModel::find_context(Key key) const noexcept { return lookup_slots(ctx_keys_, slots_, key); }

std::uint32_t NgramModel::find_level_context(int k, Key key) const noexcept {
  if (k == options_.order) return find_context(key);
  const KnLevel& level = kn_[static_cast<std::size_t>(k - 1)];
  return lookup_slots(level.ctx_keys, level.slots, key);
}

double NgramModel::kn_discounted(int k, std::uint32_t c, TokenId w) const noexcept {
  const KnLevel& level = kn_[static_cast<std::size_t>(k - 1)];
  std::uint32_t a = 0;
  if (k == options_.order) {
    const Entry* first = entries_.data() + ctx_[c].begin;
    const Entry* last = entries_.data() + ctx_[c + 1].begin;
    const Entry* it = std::lower_bound(first, last, w, [](const Entry& e, TokenId t) { return e.token < t; });
    if (it != last && it->token == w) a = it->cum - (it == first ? 0 : it[-1].cum);
  } else {
    const TokenId* first = level.tokens.data() + level.begin[c];
    const TokenId* last = level.tokens.data() + level.begin[c + 1];
    const TokenId* it = std::lower_bound(first, last, w);
    if (it != last && *it == w) a = level.counts[static_cast<std::size_t>(it - level.tokens.data())];
  }
  return a == 0 ? 0.0 : std::max(0.0, static_cast<double>(a) - discount(level.d, a));
}

double NgramModel::prob_kn(Key key, std::size_t known, TokenId w) const noexcept {
  if (!fitted_ || w > eos()) return 0.0;
  double p = 1.0 / (static_cast<double>(vocab_size_) + 1.0);
  const int top = static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(options_.order), known + 1));
  for (int k = 1; k <= top; ++k) {
    const std::uint32_t c = find_level_context(k, key & ctx_mask(k));
    if (c == kNoContext) break;  // a context unseen at order k is unseen at every higher order
    const KnLevel& level = kn_[static_cast<std::size_t>(k - 1)];
    p = (kn_discounted(k, c, w) + level.backoff[c] * p) / level.total[c];
  }
  return p;
}

double NgramModel::prob_in_context(std::uint32_t ctx, TokenId w) const noexcept {
  const bool add_k = options_.smoothing == Smoothing::add_k;
  const double outcomes = static_cast<double>(vocab_size_) + 1.0;
  if (!fitted_ || w > eos()) return 0.0;
  if (ctx == kNoContext) return add_k ? 1.0 / outcomes : 0.0;
  const Entry* first = entries_.data() + ctx_[ctx].begin;
  const Entry* last = entries_.data() + ctx_[ctx + 1].begin;
  const double total = static_cast<double>(ctx_[ctx].total);
  const Entry* it = std::lower_bound(first, last, w, [](const Entry& e, TokenId t) { return e.token < t; });
  double count = 0;
  if (it != last && it->token == w) count = static_cast<double>(it->cum - (it == first ? 0 : it[-1].cum));
  if (add_k) return (count + options_.k) / (total + options_.k * outcomes);
  return count / total;
}

double NgramModel::prob(std::span<const TokenId> context, TokenId w) const {
  if (!fitted_) return 0.0;
  const std::size_t m = static_cast<std::size_t>(options_.order) - 1;
  Key key = start_key_;
  std::size_t known = m;  // trailing known symbols (BOS padding counts as known)
  const std::size_t used = std::min(m, context.size());
  for (std::size_t i = context.size() - used; i < context.size(); ++i) {
    if (context[i] >= vocab_size_) {
      key = shift(key, 0);  // placeholder: only the symbols after it are used
      known = 0;
    } else {
      key = shift(key, context[i]);
      known = std::min(known + 1, m);
    }
  }
  if (options_.smoothing == Smoothing::kneser_ney) return prob_kn(key, known, w);
  return prob_in_context(known >= m ? find_context(key) : kNoContext, w);
}

HeldoutScore NgramModel::score(const Corpus& heldout) const {
  HeldoutScore out;
  const std::size_t m = static_cast<std::size_t>(options_.order) - 1;
  const bool mle = options_.smoothing == Smoothing::mle;
  const bool kn = options_.smoothing == Smoothing::kneser_ney;
  auto predict = [&](Key key, std::size_t known, TokenId w) {
    ++out.predictions;
    const double p = kn ? prob_kn(key, known, w) : prob_in_context(known >= m ? find_context(key) : kNoContext, w);
    if (p > 0) {
      ++out.covered;
      out.log_prob += std::log(p);
    }
  };
  for (std::size_t s = 0; s < heldout.num_sentences(); ++s) {
    Key key = start_key_;
    std::size_t known = m;  // how many of the last n−1 context symbols are known (BOS counts as known)
    for (TokenId t : heldout.sentence(s)) {
      if (t >= vocab_size_ || !fitted_ || (mle && unigram_counts_[t] == 0)) ++out.oov;
      predict(key, known, t);
      if (t < vocab_size_) {
        key = shift(key, t);
        known = std::min(known + 1, m);
      } else {
        key = shift(key, 0);  // any symbol: the context stays unseen until the unknown token has shifted out
        known = 0;
      }
    }
    predict(key, known, eos());
  }
  return out;
}

std::vector<double> NgramModel::unigram() const {
  std::vector<double> p(vocab_size_, 0.0);
  if (!fitted_) return p;
  const double n = static_cast<double>(num_train_tokens_);
  if (options_.smoothing == Smoothing::kneser_ney) {
    double sum = 0;
    for (std::size_t w = 0; w < vocab_size_; ++w) sum += p[w] = prob_kn(0, 0, static_cast<TokenId>(w));
    for (double& x : p) x /= sum;
  } else if (options_.smoothing == Smoothing::add_k) {
    const double denom = n + options_.k * static_cast<double>(vocab_size_);
    for (std::size_t w = 0; w < vocab_size_; ++w) p[w] = (static_cast<double>(unigram_counts_[w]) + options_.k) / denom;
  } else if (num_train_tokens_ > 0) {
    for (std::size_t w = 0; w < vocab_size_; ++w) p[w] = static_cast<double>(unigram_counts_[w]) / n;
  }
  return p;
}

std::size_t NgramModel::support_size() const {
  if (!fitted_) return 0;
  if (options_.smoothing == Smoothing::add_k) return vocab_size_;
  if (options_.smoothing == Smoothing::kneser_ney) {
    const std::vector<double> u = unigram();
    return static_cast<std::size_t>(std::count_if(u.begin(), u.end(), [](double x) { return x > 0; }));
  }
  return static_cast<std::size_t>(
      std::count_if(unigram_counts_.begin(), unigram_counts_.end(), [](std::uint64_t c) { return c > 0; }));
}

std::size_t NgramModel::num_contexts() const { return ctx_keys_.size(); }

NgramModel::KnDiscounts NgramModel::kn_discounts(int k) const {
  if (options_.smoothing != Smoothing::kneser_ney)
    throw std::invalid_argument("ngram kn_discounts: model.smoothing is not kneser_ney");
  if (!fitted_) throw std::invalid_argument("ngram kn_discounts: the model is not fitted");
  if (k < 1 || k > options_.order)
    throw std::invalid_argument("ngram kn_discounts: order = " + std::to_string(k) + ", but must be in [1, " +
                                std::to_string(options_.order) + "]");
  return kn_[static_cast<std::size_t>(k - 1)].d;
}

// ---- Sampling -----------------------------------------------------------------------------------

/// State of one sample() call on the count-based fast paths (MLE / add_k without truncation): the
/// engine, the controls and (for τ ≠ 1) the lazily built tempered cumulative tables, parallel to entries_.
struct NgramModel::Sampler {
  const NgramModel& m;
  Rng& rng;
  const bool add_k;
  const bool tempered;
  const double inv_tau;
  const TokenId eos;
  std::unique_ptr<double[]> tcum;  ///< tempered cumulative weights (MLE) or seen excess weights (add_k)
  std::vector<double> tuni;        ///< add_k: tempered weight of each of the V+1 outcomes (uniform part)
  std::vector<std::uint8_t> ready;

  Sampler(const NgramModel& model, Rng& r, double temperature)
      : m(model),
        rng(r),
        add_k(model.options_.smoothing == Smoothing::add_k),
        tempered(temperature != 1.0),
        inv_tau(1.0 / temperature),
        eos(model.eos()) {
    if (tempered) {
      tcum = std::make_unique_for_overwrite<double[]>(m.entries_.size());  // filled per context on first visit
      tuni.assign(m.ctx_keys_.size(), 0.0);
      ready.assign(m.ctx_keys_.size(), 0);
    }
  }

  /// Builds the tempered table of context `c` (weights are divided by the largest one, so the top
  /// continuation has weight 1 and nothing overflows; small τ underflows the rest to 0 = argmax).
  void temper(std::uint32_t c) {
    const std::uint32_t b = m.ctx_[c].begin, e = m.ctx_[c + 1].begin;
    const double k = add_k ? m.options_.k : 0.0;
    std::uint32_t prev = 0, max_count = 0;
    for (std::uint32_t i = b; i < e; ++i) {
      max_count = std::max(max_count, m.entries_[i].cum - prev);
      prev = m.entries_[i].cum;
    }
    const double top = static_cast<double>(max_count) + k;
    const double uni = add_k ? std::pow(k / top, inv_tau) : 0.0;
    double cum = 0;
    prev = 0;
    for (std::uint32_t i = b; i < e; ++i) {
      const double count = static_cast<double>(m.entries_[i].cum - prev);
      prev = m.entries_[i].cum;
      cum += std::max(0.0, std::pow((count + k) / top, inv_tau) - uni);
      tcum[i] = cum;
    }
    tuni[c] = uni;
    ready[c] = 1;
  }

  /// An untempered draw from the counts of seen context `c`: u ~ U{0..c(h)−1}, first cum > u. A context
  /// with a single continuation is certain and uses no random number.
  const Entry* draw_counts(std::uint32_t c) {
    const ContextInfo info = m.ctx_[c];
    const std::uint32_t k = m.ctx_[c + 1].begin - info.begin;
    const Entry* first = m.entries_.data() + info.begin;
    if (k == 1) return first;
    const std::uint64_t u = boost::random::uniform_int_distribution<std::uint64_t>(0, info.total - 1)(rng);
    return find_entry(first, k, static_cast<std::uint32_t>(u));
  }

  /// A tempered draw from the seen part of context `c` (its table must be ready).
  const Entry* draw_tempered(std::uint32_t c, double u) {
    const std::uint32_t b = m.ctx_[c].begin, e = m.ctx_[c + 1].begin;
    const double* hit = find_cumulative(tcum.get() + b, tcum.get() + e, u);
    return m.entries_.data() + (hit - tcum.get());
  }

  TokenId draw_uniform() { return boost::random::uniform_int_distribution<TokenId>(0, eos)(rng); }

  /// One draw from context `c` (kNoContext = unseen, add_k only). Returns the entry drawn from the
  /// seen continuations, or nullptr and `w` for a draw from the uniform part.
  const Entry* draw(std::uint32_t c, TokenId& w) {
    if (c == kNoContext) {
      w = draw_uniform();
      return nullptr;
    }
    if (!tempered) {
      if (add_k) {
        const double seen = static_cast<double>(m.ctx_[c].total);
        const double all = seen + m.options_.k * (static_cast<double>(eos) + 1.0);
        if (!(boost::random::uniform_real_distribution<double>(0.0, all)(rng) < seen)) {
          w = draw_uniform();
          return nullptr;
        }
      }
      const Entry* hit = draw_counts(c);
      w = hit->token;
      return hit;
    }
    if (!ready[c]) temper(c);
    const double seen = tcum[m.ctx_[c + 1].begin - 1];
    const double all = seen + tuni[c] * (static_cast<double>(eos) + 1.0);
    const double u = boost::random::uniform_real_distribution<double>(0.0, all)(rng);
    if (!(u < seen)) {
      w = draw_uniform();
      return nullptr;
    }
    const Entry* hit = draw_tempered(c, u);
    w = hit->token;
    return hit;
  }

  /// Whether a sentence can start with a token (effective p(EOS | start) < 1), decided exactly.
  bool can_start_sentence() {
    const std::uint32_t c = m.start_ctx_;
    const std::uint32_t b = m.ctx_[c].begin, e = m.ctx_[c + 1].begin;
    const bool only_eos = e - b == 1 && m.entries_[b].token == eos;
    if (!tempered) return add_k || !only_eos;  // add_k: k(V+1) > 0 of uniform mass, V ≥ 1 types
    temper(c);
    if (add_k && tuni[c] > 0) return true;
    // EOS is the largest outcome id, so it is the last entry if present.
    const bool last_is_eos = m.entries_[e - 1].token == eos;
    const double non_eos = last_is_eos ? (e - 1 > b ? tcum[e - 2] : 0.0) : tcum[e - 1];
    return non_eos > 0;
  }
};

/// State of one sample() call on the general path (kneser_ney, or any truncation): see sample().
/// A context's distribution is p(w|h) = s_h(w) + g(h)·B(w) with s_h sparse on S_h (explicit values
/// p(w|h) for w ∈ S_h) and a background B shared by all contexts.
struct NgramModel::TableSampler {
  static constexpr std::uint32_t kNoTable = 0xFFFFFFFFu;
  /// One visited context after temperature and truncation.
  struct Table {
    std::uint32_t begin, end;    ///< kept explicit outcomes: pool_tok / pool_cum [begin, end)
    std::uint32_t sbegin, send;  ///< S_h, sorted by id: spool [sbegin, send) (rejected in background draws)
    std::uint32_t m;             ///< kept background = positions [0, m) of `border` minus S_h
    double explicit_w;           ///< Σ kept explicit weights
    double bg_w;                 ///< Σ kept background weights
    bool non_eos;                ///< some kept outcome ≠ EOS has weight > 0
  };
  struct Cand {
    double w;
    TokenId token;
    std::uint32_t pos;  ///< background position, or kNoTable for an explicit outcome
  };

  const NgramModel& m;
  Rng& rng;
  const SamplingControls& sc;
  const int n;
  const TokenId eos;
  const std::uint32_t outcomes;  ///< V + 1
  const bool kn;
  const bool direct;  ///< kneser_ney, τ = 1, no truncation: recursive draws, no tables
  const bool tempered;
  const double inv_tau;

  bool has_bg = false;
  std::vector<double> bprob;     ///< B(w), w ∈ [0, V]
  std::vector<double> tw;        ///< T(w) = (B(w) / B_max)^(1/τ)
  std::vector<TokenId> border;   ///< outcomes by (B desc, id asc)
  std::vector<double> bcum;      ///< V + 2: bcum[j + 1] = Σ_{i ≤ j} T(border[i])
  double bmax = 0;
  std::uint64_t bpositive = 0;   ///< outcomes with T > 0

  std::vector<Table> tables;
  std::vector<std::vector<std::uint32_t>> table_of;  ///< per order (index k−1): context → table
  std::uint32_t unseen_table = kNoTable;              ///< add_k: the unseen context
  std::vector<TokenId> pool_tok;
  std::vector<double> pool_cum;
  std::vector<TokenId> spool;
  std::vector<std::uint32_t> mark;  ///< mark[w] == stamp: w ∈ S_h of the table being built
  std::uint32_t stamp = 0;
  std::vector<std::pair<double, TokenId>> expl;
  std::vector<Cand> cand;

  TableSampler(const NgramModel& model, Rng& r, const SamplingControls& controls)
      : m(model),
        rng(r),
        sc(controls),
        n(model.options_.order),
        eos(model.eos()),
        outcomes(static_cast<std::uint32_t>(model.vocab_size_ + 1)),
        kn(model.options_.smoothing == Smoothing::kneser_ney),
        direct(kn && controls.temperature == 1.0 && !controls.truncates()),
        tempered(controls.temperature != 1.0),
        inv_tau(1.0 / controls.temperature) {
    if (direct) return;
    // The background and its tempered cumulative table in rank order: O(V log V) once per call.
    has_bg = m.options_.smoothing != Smoothing::mle;
    if (has_bg) {
      bprob.resize(outcomes);
      for (TokenId w = 0; w < outcomes; ++w)
        bprob[w] = kn ? m.prob_kn(0, 0, w) : 1.0 / static_cast<double>(outcomes);
      border.resize(outcomes);
      for (TokenId w = 0; w < outcomes; ++w) border[w] = w;
      if (kn)
        std::sort(border.begin(), border.end(), [&](TokenId x, TokenId y) {
          return bprob[x] > bprob[y] || (bprob[x] == bprob[y] && x < y);
        });
      bmax = bprob[border[0]];
      tw.resize(outcomes);
      bcum.assign(outcomes + 1, 0.0);
      for (std::uint32_t j = 0; j < outcomes; ++j) {
        const TokenId w = border[j];
        tw[w] = tempered ? std::pow(bprob[w] / bmax, inv_tau) : bprob[w] / bmax;
        bpositive += tw[w] > 0;
        bcum[j + 1] = bcum[j] + tw[w];
      }
      mark.assign(outcomes, 0);
    }
    if (kn) {
      table_of.resize(static_cast<std::size_t>(n));
      for (int k = 1; k <= n; ++k)
        table_of[static_cast<std::size_t>(k - 1)].assign(
            k == n ? m.ctx_keys_.size() : m.kn_[static_cast<std::size_t>(k - 1)].ctx_keys.size(), kNoTable);
    } else {
      table_of.assign(static_cast<std::size_t>(n), {});
      table_of[static_cast<std::size_t>(n - 1)].assign(m.ctx_keys_.size(), kNoTable);
    }
  }

  /// The deepest order k whose context (the last k−1 symbols of `key`) was seen, and that context.
  /// MLE / add_k: always order n (kNoContext = unseen).
  std::pair<int, std::uint32_t> locate(Key key) const noexcept {
    if (!kn) return {n, m.find_context(key)};
    for (int k = n; k > 1; --k) {
      const std::uint32_t c = m.find_level_context(k, key & m.ctx_mask(k));
      if (c != kNoContext) return {k, c};
    }
    return {1, m.find_level_context(1, 0)};
  }

  /// p(w|h) for w ∈ S_h of a kneser_ney context whose deepest seen order is k (contexts cs[2..k]).
  double kn_prob(int k, const std::uint32_t* cs, TokenId w) const noexcept {
    double p = bprob[w];
    for (int j = 2; j <= k; ++j) {
      const KnLevel& level = m.kn_[static_cast<std::size_t>(j - 1)];
      p = (m.kn_discounted(j, cs[j], w) + level.backoff[cs[j]] * p) / level.total[cs[j]];
    }
    return p;
  }

  /// Builds (once per call) the tempered, truncated table of context c of order k, last symbols `key`.
  std::uint32_t table(int k, std::uint32_t c, Key key) {
    std::uint32_t* slot = c == kNoContext ? &unseen_table : &table_of[static_cast<std::size_t>(k - 1)][c];
    if (*slot != kNoTable) return *slot;

    // Step 1: S_h with explicit probabilities, and the background weight g.
    expl.clear();
    double g = 0;
    const std::uint32_t sbegin = static_cast<std::uint32_t>(spool.size());
    if (!kn) {
      const bool add_k = m.options_.smoothing == Smoothing::add_k;
      const double kk = add_k ? m.options_.k : 0.0;
      if (c == kNoContext) {
        g = 1;
      } else {
        const double denom = static_cast<double>(m.ctx_[c].total) + kk * outcomes;
        std::uint32_t prev = 0;
        for (std::uint32_t e = m.ctx_[c].begin; e < m.ctx_[c + 1].begin; ++e) {
          const double count = static_cast<double>(m.entries_[e].cum - prev);
          prev = m.entries_[e].cum;
          expl.emplace_back((count + kk) / denom, m.entries_[e].token);
          spool.push_back(m.entries_[e].token);
        }
        g = kk * outcomes / denom;
      }
    } else {
      std::uint32_t cs[6] = {};
      g = 1;
      for (int j = 2; j <= k; ++j) {
        cs[j] = j == k ? c : m.find_level_context(j, key & m.ctx_mask(j));
        const KnLevel& level = m.kn_[static_cast<std::size_t>(j - 1)];
        g *= level.backoff[cs[j]] / level.total[cs[j]];
        if (j == n) {
          for (std::uint32_t e = m.ctx_[cs[j]].begin; e < m.ctx_[cs[j] + 1].begin; ++e)
            spool.push_back(m.entries_[e].token);
        } else {
          spool.insert(spool.end(), level.tokens.begin() + level.begin[cs[j]],
                       level.tokens.begin() + level.begin[cs[j] + 1]);
        }
      }
      std::sort(spool.begin() + sbegin, spool.end());
      spool.erase(std::unique(spool.begin() + sbegin, spool.end()), spool.end());
      for (std::size_t i = sbegin; i < spool.size(); ++i) expl.emplace_back(kn_prob(k, cs, spool[i]), spool[i]);
    }
    const auto send = static_cast<std::uint32_t>(spool.size());
    std::sort(expl.begin(), expl.end(),
              [](const auto& x, const auto& y) { return x.first > y.first || (x.first == y.first && x.second < y.second); });

    // Step 2: temperature, relative to the largest probability (no overflow; small τ underflows to 0).
    const bool bg = has_bg && g > 0;
    const double pmax = std::max(expl.empty() ? 0.0 : expl[0].first, bg ? g * bmax : 0.0);
    auto f = [&](double x) { return tempered ? std::pow(x / pmax, inv_tau) : x / pmax; };
    const double bg_factor = bg ? f(g * bmax) : 0.0;  // background weight of w = bg_factor · T(w)
    ++stamp;
    if (has_bg)
      for (std::uint32_t i = sbegin; i < send; ++i) mark[spool[i]] = stamp;

    Table t{static_cast<std::uint32_t>(pool_tok.size()), 0, sbegin, send, 0, 0.0, 0.0, false};
    double cum = 0;
    auto keep_explicit = [&](TokenId w, double weight) {
      cum += weight;
      pool_tok.push_back(w);
      pool_cum.push_back(cum);
      t.non_eos |= w != eos && weight > 0;
    };

    if (!sc.truncates()) {
      // Step 3a: everything is kept.
      for (const auto& [p, w] : expl) keep_explicit(w, f(p));
      if (bg_factor > 0) {
        double s_weight = 0;
        std::uint64_t s_positive = 0;
        for (std::uint32_t i = sbegin; i < send; ++i) {
          s_weight += tw[spool[i]];
          s_positive += tw[spool[i]] > 0;
        }
        const std::uint64_t rest = bpositive - s_positive;
        t.m = outcomes;
        t.bg_w = rest > 0 ? std::max(0.0, bg_factor * (bcum[outcomes] - s_weight)) : 0.0;
        const bool eos_in_rest = tw[eos] > 0 && mark[eos] != stamp;
        t.non_eos |= t.bg_w > 0 && rest > (eos_in_rest ? 1u : 0u);
      }
    } else {
      // Step 3b: rank (p desc, id asc) by merging S_h with the background order, then truncate.
      cand.clear();
      std::size_t i = 0;
      std::uint32_t j = 0;
      const std::size_t limit = sc.top_k > 0 ? static_cast<std::size_t>(sc.top_k) : SIZE_MAX;
      auto pull = [&]() -> bool {
        if (cand.size() >= limit) return false;
        if (bg_factor > 0)
          while (j < outcomes && mark[border[j]] == stamp) ++j;
        const bool have_e = i < expl.size();
        const bool have_b = bg_factor > 0 && j < outcomes;
        if (!have_e && !have_b) return false;
        bool take_e = have_e;
        if (have_e && have_b) {
          const double pb = g * bprob[border[j]];
          take_e = expl[i].first > pb || (expl[i].first == pb && expl[i].second < border[j]);
        }
        if (take_e) {
          cand.push_back(Cand{f(expl[i].first), expl[i].second, kNoTable});
          ++i;
        } else {
          cand.push_back(Cand{bg_factor * tw[border[j]], border[j], j});
          ++j;
        }
        return true;
      };
      std::size_t len = SIZE_MAX;
      double z = 0;
      if (sc.top_k > 0) {
        while (pull()) {
        }
        for (const Cand& x : cand) z += x.w;
        len = cand.size();
      } else if (sc.top_p < 1) {
        for (const auto& [p, w] : expl) z += f(p);
        if (bg_factor > 0) {
          double s_weight = 0;
          for (std::uint32_t s = sbegin; s < send; ++s) s_weight += tw[spool[s]];
          z += std::max(0.0, bg_factor * (bcum[outcomes] - s_weight));
        }
      }
      if (sc.top_p < 1) {
        const double target = sc.top_p * z;
        double acc = 0;
        std::size_t q = 0;
        for (;;) {
          if (q == cand.size() && !pull()) break;
          acc += cand[q].w;
          ++q;
          if (acc >= target) break;
        }
        len = std::min(len, q);
      }
      if (sc.min_p > 0) {
        if (cand.empty()) pull();
        std::size_t q = 0;
        if (!cand.empty()) {
          const double threshold = sc.min_p * cand[0].w;
          while (q < len) {
            if (q == cand.size() && !pull()) break;
            if (cand[q].w < threshold) break;
            ++q;
          }
        }
        len = std::min(len, q);
      }
      len = std::min(len, cand.size());
      for (std::size_t q = 0; q < len; ++q) {
        const Cand& x = cand[q];
        if (x.pos == kNoTable) {
          keep_explicit(x.token, x.w);
        } else {
          t.m = x.pos + 1;
          t.bg_w += x.w;
          t.non_eos |= x.token != eos && x.w > 0;
        }
      }
    }
    t.end = static_cast<std::uint32_t>(pool_tok.size());
    t.explicit_w = cum;
    tables.push_back(t);
    return *slot = static_cast<std::uint32_t>(tables.size() - 1);
  }

  /// One draw from table `ti`: the kept explicit outcomes by binary search, or the kept background by
  /// binary search over bcum with rejection of S_h members.
  TokenId draw(std::uint32_t ti) {
    const Table& t = tables[ti];
    const double u = boost::random::uniform_real_distribution<double>(0.0, t.explicit_w + t.bg_w)(rng);
    if (u < t.explicit_w || t.bg_w <= 0) {
      const double* first = pool_cum.data() + t.begin;
      const double* hit = find_cumulative(first, pool_cum.data() + t.end, u);
      return pool_tok[t.begin + static_cast<std::size_t>(hit - first)];
    }
    for (;;) {
      const double v = boost::random::uniform_real_distribution<double>(0.0, bcum[t.m])(rng);
      const auto it = std::upper_bound(bcum.begin() + 1, bcum.begin() + 1 + t.m, v);
      const auto pos = static_cast<std::size_t>(it - (bcum.begin() + 1));
      if (pos >= t.m) continue;
      const TokenId w = border[pos];
      if (tw[w] > 0 && !std::binary_search(spool.begin() + t.sbegin, spool.begin() + t.send, w)) return w;
    }
  }

  /// kneser_ney, τ = 1, no truncation: exact recursive draw — at order k, with probability
  /// Σ_w [a − D]⁺ / A the discounted counts (binary search over dcum), else back off to order k − 1;
  /// below order 1 a uniform draw over the V + 1 outcomes. `next` = successor context at order n
  /// when known (drawn from order n), else kNoContext.
  TokenId draw_direct(int k, std::uint32_t c, Key key, std::uint32_t& next) {
    next = kNoContext;
    for (; k >= 1; --k) {
      if (c == kNoContext) c = m.find_level_context(k, key & m.ctx_mask(k));
      const KnLevel& level = m.kn_[static_cast<std::size_t>(k - 1)];
      const std::uint32_t b = k == n ? m.ctx_[c].begin : level.begin[c];
      const std::uint32_t e = k == n ? m.ctx_[c + 1].begin : level.begin[c + 1];
      const double u = boost::random::uniform_real_distribution<double>(0.0, level.total[c])(rng);
      if (u < level.dcum[e - 1]) {
        const double* first = level.dcum.data() + b;
        const std::size_t idx = b + static_cast<std::size_t>(find_cumulative(first, level.dcum.data() + e, u) - first);
        if (k == n) {
          next = m.entries_[idx].next_ctx;
          return m.entries_[idx].token;
        }
        return level.tokens[idx];
      }
      c = kNoContext;
    }
    return boost::random::uniform_int_distribution<TokenId>(0, eos)(rng);
  }

  bool can_start_sentence() {
    if (direct) return true;  // the uniform floor gives every type p > 0 (all discounts are > 0)
    return tables[table(n, m.start_ctx_, m.start_key_)].non_eos;
  }
};

Corpus NgramModel::sample(std::size_t n_tokens, const SamplingControls& controls, Rng& rng) const {
  std::string error;
  if (!controls.IsValid(&error)) throw std::invalid_argument(error);
  Corpus out;
  if (!fitted_ || n_tokens == 0) return out;

  const bool general = options_.smoothing == Smoothing::kneser_ney || controls.truncates();
  std::optional<Sampler> sampler;
  std::optional<TableSampler> table_sampler;
  if (general) {
    table_sampler.emplace(*this, rng, controls);
    if (!table_sampler->can_start_sentence()) return out;
  } else {
    sampler.emplace(*this, rng, controls.temperature);
    if (!sampler->can_start_sentence()) return out;
  }

  out.tokens.reserve(n_tokens);
  // Expected sentence count from the training mean length (the offsets grow amortised beyond it).
  const double per_token = static_cast<double>(num_train_sentences_) /
                           static_cast<double>(std::max<std::uint64_t>(num_train_tokens_, 1));
  out.offsets.reserve(static_cast<std::size_t>(
                          std::min(1.1 * per_token * static_cast<double>(n_tokens), static_cast<double>(n_tokens))) +
                      2);

  const std::size_t max_len = static_cast<std::size_t>(controls.max_length);
  const TokenId v = eos();
  const int n = options_.order;
  std::size_t len = 0;  // tokens in the current sentence
  std::uint64_t empty_run = 0;

  if (general) {
    TableSampler& ts = *table_sampler;
    Key key = start_key_;
    int k = n;
    std::uint32_t ctx = start_ctx_;
    auto restart = [&] {
      key = start_key_;
      k = n;
      ctx = start_ctx_;
    };
    while (out.tokens.size() < n_tokens) {
      std::uint32_t next = kNoContext;
      const TokenId w = ts.direct ? ts.draw_direct(k, ctx, key, next) : ts.draw(ts.table(k, ctx, key));
      if (w == v) {
        if (len > 0) {
          out.offsets.push_back(out.tokens.size());
          len = 0;
          empty_run = 0;
        } else if (++empty_run >= kMaxConsecutiveEmpty) {
          break;
        }
        restart();
        continue;
      }
      out.tokens.push_back(w);
      if (++len == max_len) {
        out.offsets.push_back(out.tokens.size());
        len = 0;
        empty_run = 0;
        restart();
        continue;
      }
      key = shift(key, w);
      if (next != kNoContext) {
        k = n;
        ctx = next;
      } else {
        std::tie(k, ctx) = ts.locate(key);
      }
    }
    if (len > 0) out.offsets.push_back(out.tokens.size());
    return out;
  }

  const bool mle_exact = options_.smoothing == Smoothing::mle && controls.temperature == 1.0;
  if (mle_exact && !walk_.empty()) {
    // Hot path: one block per context, [k, c(h), (cum, token, next block) × k].
    const std::uint32_t* walk = walk_.data();
    std::uint32_t o = walk_start_;
    while (out.tokens.size() < n_tokens) {
      const std::uint32_t* block = walk + o;
      const std::uint32_t k = block[0];
      const std::uint32_t* e = block + 2;
      if (k > 1) {
        const auto u = static_cast<std::uint32_t>(
            boost::random::uniform_int_distribution<std::uint64_t>(0, block[1] - 1)(rng));
        std::uint32_t lo = 0, len = k;  // first entry with cum > u: binary search down to a linear tail
        while (len > 8) {
          const std::uint32_t half = len / 2;
          if (e[3 * (lo + half)] <= u) {
            lo += half + 1;
            len -= half + 1;
          } else {
            len = half;
          }
        }
        e += 3 * lo;
        while (e[0] <= u) e += 3;
      }
      const TokenId w = e[1];
      o = e[2];
      if (w == v) {
        if (len > 0) {
          out.offsets.push_back(out.tokens.size());
          len = 0;
          empty_run = 0;
        } else if (++empty_run >= kMaxConsecutiveEmpty) {
          break;
        }
        continue;
      }
      out.tokens.push_back(w);
      if (++len == max_len) {
        out.offsets.push_back(out.tokens.size());
        len = 0;
        empty_run = 0;
        o = walk_start_;
      }
    }
    if (len > 0) out.offsets.push_back(out.tokens.size());
    return out;
  }
  const bool needs_key = options_.smoothing == Smoothing::add_k;
  std::uint32_t ctx = start_ctx_;
  Key key = start_key_;  // maintained only when a uniform draw can leave the seen contexts (add_k)

  auto end_sentence = [&] {
    out.offsets.push_back(out.tokens.size());
    len = 0;
    ctx = start_ctx_;
    key = start_key_;
  };

  while (out.tokens.size() < n_tokens) {
    TokenId w;
    const Entry* hit;
    if (mle_exact) {  // hot path: counts only, successor contexts precomputed
      hit = sampler->draw_counts(ctx);
      w = hit->token;
    } else {
      hit = sampler->draw(ctx, w);
    }
    if (w == v) {
      if (len > 0) {
        end_sentence();
        empty_run = 0;
      } else if (++empty_run >= kMaxConsecutiveEmpty) {
        break;
      } else {
        ctx = start_ctx_;
        key = start_key_;
      }
      continue;
    }
    out.tokens.push_back(w);
    if (++len == max_len) {
      end_sentence();
      empty_run = 0;
      continue;
    }
    if (needs_key) {
      key = shift(key, w);
      ctx = hit ? hit->next_ctx : find_context(key);
    } else {
      ctx = hit->next_ctx;
    }
  }
  if (len > 0) out.offsets.push_back(out.tokens.size());
  return out;
}

}  // namespace collapse
