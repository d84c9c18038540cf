#include "models/ngram_model.hpp"

#include <algorithm>
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
inline std::uint64_t hash_key(unsigned __int128 key) noexcept {
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
inline const Entry* find_entry(const Entry* first, std::uint64_t n, std::uint64_t u) noexcept {
  while (n > 8) {
    const std::uint64_t half = n / 2;
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

template <class K>
void NgramModel::count_ngrams(const Corpus& corpus) {
  // Step 1: one packed key (context symbols oldest first, then next) per prediction.
  const unsigned b = bits_;
  const K sym_mask = (K{1} << b) - 1;
  const K ctx_mask = static_cast<K>(ctx_mask_);
  const K start = static_cast<K>(start_key_);
  const K eos_k = static_cast<K>(eos());
  std::vector<K> keys;
  keys.reserve(corpus.num_tokens() + corpus.num_sentences());
  for (std::size_t s = 0; s < corpus.num_sentences(); ++s) {
    K ctx = start;
    for (TokenId t : corpus.sentence(s)) {
      const K next = (ctx << b) | static_cast<K>(t);
      keys.push_back(next);
      ctx = next & ctx_mask;
    }
    keys.push_back((ctx << b) | eos_k);
  }

  // Step 2: sort, so that equal n-grams are adjacent and contexts are contiguous and ascending.
  std::sort(keys.begin(), keys.end());

  // Step 3: run-length encode into contexts and cumulative continuation counts.
  const std::size_t m = keys.size();
  const TokenId v = eos();
  for (std::size_t i = 0; i < m;) {
    const K ctx = keys[i] >> b;
    ctx_keys_.push_back(static_cast<Key>(ctx));
    const std::uint64_t begin = entries_.size();
    std::uint64_t cum = 0;
    while (i < m && (keys[i] >> b) == ctx) {
      const K key = keys[i];
      std::size_t j = i + 1;
      while (j < m && keys[j] == key) ++j;
      const auto count = static_cast<std::uint64_t>(j - i);
      const auto token = static_cast<TokenId>(key & sym_mask);
      cum += count;
      entries_.push_back(Entry{cum, token, kNoContext});
      if (token < v) unigram_counts_[token] += count;
      i = j;
    }
    ctx_.push_back(ContextInfo{begin, cum});
  }
  ctx_.push_back(ContextInfo{entries_.size(), 0});
}

void NgramModel::build_index() {
  const std::size_t c = ctx_keys_.size();
  if (c >= kNoContext) throw std::invalid_argument("ngram fit: more than 2^32 − 2 distinct contexts");
  // Step 4: open-addressing hash of the contexts (power-of-two capacity, load ≤ 1/2).
  const std::size_t capacity = std::bit_ceil(std::max<std::size_t>(2 * c, 16));
  slots_.assign(capacity, kNoContext);
  const std::size_t mask = capacity - 1;
  for (std::size_t i = 0; i < c; ++i) {
    std::size_t s = hash_key(ctx_keys_[i]) & mask;
    while (slots_[s] != kNoContext) s = (s + 1) & mask;
    slots_[s] = static_cast<std::uint32_t>(i);
  }
  start_ctx_ = find_context(start_key_);

  // Step 5: successor context of every entry. If (h, w) was seen with w ≠ EOS, the context
  // shift(h, w) was seen at the next position of the same sentence, so the lookup always succeeds.
  const TokenId v = eos();
  for (std::size_t i = 0; i < c; ++i) {
    for (std::uint64_t e = ctx_[i].begin; e < ctx_[i + 1].begin; ++e) {
      Entry& entry = entries_[e];
      entry.next_ctx = entry.token == v ? start_ctx_ : find_context(shift(ctx_keys_[i], entry.token));
    }
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

  // Reset (keeping capacity: the loop refits every generation).
  fitted_ = false;
  num_train_tokens_ = corpus.num_tokens();
  num_train_sentences_ = corpus.num_sentences();
  start_ctx_ = kNoContext;
  ctx_keys_.clear();
  ctx_.clear();
  entries_.clear();
  slots_.clear();
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
  fitted_ = true;

  // Mean training log-likelihood per prediction (nats): Σ_h Σ_w c(h,w) ln p(w|h) / Σ_h c(h).
  const double k = options_.smoothing == Smoothing::add_k ? options_.k : 0.0;
  const double outcomes = static_cast<double>(vocab_size_) + 1.0;
  double total = 0;
  std::uint64_t predictions = 0;
  for (std::size_t i = 0; i < ctx_keys_.size(); ++i) {
    const double log_denominator = std::log(static_cast<double>(ctx_[i].total) + k * outcomes);
    std::uint64_t prev = 0;
    for (std::uint64_t e = ctx_[i].begin; e < ctx_[i + 1].begin; ++e) {
      const double count = static_cast<double>(entries_[e].cum - prev);
      prev = entries_[e].cum;
      total += count * (std::log(count + k) - log_denominator);
    }
    predictions += ctx_[i].total;
  }
  report.lower_bound = predictions ? total / static_cast<double>(predictions) : 0.0;
  return report;
}

// ---- Lookup and probabilities -------------------------------------------------------------------

std::uint32_t NgramModel::find_context(Key key) const noexcept {
  if (slots_.empty()) return kNoContext;
  const std::size_t mask = slots_.size() - 1;
  std::size_t s = hash_key(key) & mask;
  for (;;) {
    const std::uint32_t idx = slots_[s];
    if (idx == kNoContext || ctx_keys_[idx] == key) return idx;
    s = (s + 1) & mask;
  }
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
  bool unknown = false;
  const std::size_t used = std::min(m, context.size());
  for (std::size_t i = context.size() - used; i < context.size(); ++i) {
    if (context[i] >= vocab_size_) {
      unknown = true;
      break;
    }
    key = shift(key, context[i]);
  }
  return prob_in_context(unknown ? kNoContext : find_context(key), w);
}

HeldoutScore NgramModel::score(const Corpus& heldout) const {
  HeldoutScore out;
  const std::size_t m = static_cast<std::size_t>(options_.order) - 1;
  const bool mle = options_.smoothing == Smoothing::mle;
  auto predict = [&](std::uint32_t ctx, TokenId w) {
    ++out.predictions;
    const double p = prob_in_context(ctx, w);
    if (p > 0) {
      ++out.covered;
      out.log_prob += std::log(p);
    }
  };
  for (std::size_t s = 0; s < heldout.num_sentences(); ++s) {
    Key key = start_key_;
    std::size_t known = m;  // how many of the last n−1 context symbols are known (BOS counts as known)
    for (TokenId t : heldout.sentence(s)) {
      const std::uint32_t ctx = known >= m ? find_context(key) : kNoContext;
      if (t >= vocab_size_ || !fitted_ || (mle && unigram_counts_[t] == 0)) ++out.oov;
      predict(ctx, t);
      if (t < vocab_size_) {
        key = shift(key, t);
        known = std::min(known + 1, m);
      } else {
        key = shift(key, 0);  // any symbol: the context stays unseen until the unknown token has shifted out
        known = 0;
      }
    }
    predict(known >= m ? find_context(key) : kNoContext, eos());
  }
  return out;
}

std::vector<double> NgramModel::unigram() const {
  std::vector<double> p(vocab_size_, 0.0);
  if (!fitted_) return p;
  const double n = static_cast<double>(num_train_tokens_);
  if (options_.smoothing == Smoothing::add_k) {
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
  return static_cast<std::size_t>(
      std::count_if(unigram_counts_.begin(), unigram_counts_.end(), [](std::uint64_t c) { return c > 0; }));
}

std::size_t NgramModel::num_contexts() const { return ctx_keys_.size(); }

// ---- Sampling -----------------------------------------------------------------------------------

/// State of one sample() call: the engine, the controls and (for τ ≠ 1) the lazily built tempered
/// cumulative tables, parallel to entries_.
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
    const std::uint64_t b = m.ctx_[c].begin, e = m.ctx_[c + 1].begin;
    const double k = add_k ? m.options_.k : 0.0;
    std::uint64_t prev = 0, max_count = 0;
    for (std::uint64_t i = b; i < e; ++i) {
      max_count = std::max(max_count, m.entries_[i].cum - prev);
      prev = m.entries_[i].cum;
    }
    const double top = static_cast<double>(max_count) + k;
    const double uni = add_k ? std::pow(k / top, inv_tau) : 0.0;
    double cum = 0;
    prev = 0;
    for (std::uint64_t i = b; i < e; ++i) {
      const double count = static_cast<double>(m.entries_[i].cum - prev);
      prev = m.entries_[i].cum;
      cum += std::max(0.0, std::pow((count + k) / top, inv_tau) - uni);
      tcum[i] = cum;
    }
    tuni[c] = uni;
    ready[c] = 1;
  }

  /// An untempered draw from the counts of seen context `c`: u ~ U{0..c(h)−1}, first cum > u.
  const Entry* draw_counts(std::uint32_t c) {
    const ContextInfo info = m.ctx_[c];
    const std::uint64_t k = m.ctx_[c + 1].begin - info.begin;
    const std::uint64_t u = boost::random::uniform_int_distribution<std::uint64_t>(0, info.total - 1)(rng);
    return find_entry(m.entries_.data() + info.begin, k, u);
  }

  /// A tempered draw from the seen part of context `c` (its table must be ready).
  const Entry* draw_tempered(std::uint32_t c, double u) {
    const std::uint64_t b = m.ctx_[c].begin, e = m.ctx_[c + 1].begin;
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
    const std::uint64_t b = m.ctx_[c].begin, e = m.ctx_[c + 1].begin;
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

Corpus NgramModel::sample(std::size_t n_tokens, const SamplingControls& controls, Rng& rng) const {
  if (!(controls.temperature > 0) || !std::isfinite(controls.temperature))
    throw std::invalid_argument("loop.temperature = " + format_number(controls.temperature) +
                                ", but must be finite and > 0");
  check_at_least("loop.max_length", controls.max_length, 1);
  Corpus out;
  if (!fitted_ || n_tokens == 0) return out;

  Sampler sampler(*this, rng, controls.temperature);
  if (!sampler.can_start_sentence()) return out;

  out.tokens.reserve(n_tokens);
  // Expected sentence count from the training mean length (the offsets grow amortised beyond it).
  const double per_token = static_cast<double>(num_train_sentences_) /
                           static_cast<double>(std::max<std::uint64_t>(num_train_tokens_, 1));
  out.offsets.reserve(static_cast<std::size_t>(
                          std::min(1.1 * per_token * static_cast<double>(n_tokens), static_cast<double>(n_tokens))) +
                      2);

  const std::size_t max_len = static_cast<std::size_t>(controls.max_length);
  const bool mle_exact = options_.smoothing == Smoothing::mle && controls.temperature == 1.0;
  const bool needs_key = options_.smoothing == Smoothing::add_k;
  const TokenId v = eos();
  std::uint32_t ctx = start_ctx_;
  Key key = start_key_;  // maintained only when a uniform draw can leave the seen contexts (add_k)
  std::size_t len = 0;   // tokens in the current sentence
  std::uint64_t empty_run = 0;

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
      hit = sampler.draw_counts(ctx);
      w = hit->token;
    } else {
      hit = sampler.draw(ctx, w);
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
