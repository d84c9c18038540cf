#include "models/ngram_model.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <tuple>
#include <bit>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <type_traits>

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

/// Uniform integer on [0, range), range ≥ 1, from the raw 64-bit engine output: Lemire's nearly
/// divisionless method (Lemire 2019, "Fast Random Integer Generation in an Interval", ACM TOMACS 29(1)).
/// Exact: the multiply-shift maps 2^64 equally likely words onto [0, range) and the rare words of the
/// short last stripe (l < 2^64 mod range) are rejected; a division only when l < range.
inline std::uint64_t bounded(Rng& rng, std::uint64_t range) noexcept {
  static_assert(std::is_same_v<Rng::result_type, std::uint64_t> && Rng::word_size == 64, "needs a full 64-bit engine");
  __extension__ using U128 = unsigned __int128;
  U128 m = static_cast<U128>(rng()) * range;
  auto l = static_cast<std::uint64_t>(m);
  if (l < range) {
    const std::uint64_t t = (0 - range) % range;
    while (l < t) {
      m = static_cast<U128>(rng()) * range;
      l = static_cast<std::uint64_t>(m);
    }
  }
  return static_cast<std::uint64_t>(m >> 64);
}

/// Position of the first cumulative count > u in cum[0, n), n ≥ 1, u < cum[n − 1]: binary search down
/// to a linear tail of ≤ 8 counts (half a cache line).
inline std::uint32_t find_cum(const std::uint32_t* cum, std::uint32_t n, std::uint32_t u) noexcept {
  std::uint32_t lo = 0;
  while (n > 8) {
    const std::uint32_t half = n / 2;
    if (cum[lo + half] <= u) {
      lo += half + 1;
      n -= half + 1;
    } else {
      n = half;
    }
  }
  while (cum[lo] <= u) ++lo;
  return lo;
}

/// find_cum with conditional moves instead of branches (Khuong & Morin 2017, "Array Layouts for
/// Comparison-Based Searching"): no mispredictions, so the searches of interleaved streams overlap.
inline std::uint32_t find_cum_branchless(const std::uint32_t* cum, std::uint32_t n, std::uint32_t u) noexcept {
  const std::uint32_t* base = cum;
  while (n > 1) {
    const std::uint32_t half = n / 2;
    base += static_cast<std::size_t>(__builtin_expect_with_probability(base[half - 1] <= u, 1, 0.5)) * half;
    n -= half;
  }
  return static_cast<std::uint32_t>(base - cum) + (*base <= u);
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

namespace {

/// Natural logarithms of 0..4095 (index 0 unused), for the closed-form training log-likelihood.
const double* small_logs() {
  static const std::array<double, 4096> table = [] {
    std::array<double, 4096> t{};
    for (std::size_t i = 1; i < t.size(); ++i) t[i] = std::log(static_cast<double>(i));
    return t;
  }();
  return table.data();
}

inline double log_count(std::uint32_t c) noexcept {
  return c < 4096 ? small_logs()[c] : std::log(static_cast<double>(c));
}

}  // namespace

void NgramModel::count_unigrams(const Corpus& corpus) {
  // Order 1: one context; a dense histogram over the V + 1 outcomes.
  std::vector<std::uint32_t> counts(vocab_size_ + 1, 0);
  for (TokenId t : corpus.tokens) ++counts[t];
  counts[vocab_size_] = static_cast<std::uint32_t>(corpus.num_sentences());
  std::size_t e = 0;
  for (std::uint32_t c : counts) e += c > 0;
  cum_.resize(e);
  tok_.resize(e);
  std::uint32_t cum = 0;
  e = 0;
  for (std::size_t w = 0; w <= vocab_size_; ++w) {
    if (counts[w] == 0) continue;
    cum += counts[w];
    cum_[e] = cum;
    tok_[e++] = static_cast<TokenId>(w);
  }
  ctx_begin_ = {0, static_cast<std::uint32_t>(e)};
  for (std::size_t w = 0; w < vocab_size_; ++w) unigram_counts_[w] = counts[w];
  distinct_contexts_ = 1;
}

template <class R>
void NgramModel::count_ngrams(const Corpus& corpus) {
  // An n-gram (h1 … h_{n−1}, w) is split into its first context symbol h1 and the remainder
  // r = (h2 … h_{n−1}, w) of (n−1)·b bits, stored as R (32 bits when (n−1)·b ≤ 32).
  const std::size_t L = static_cast<std::size_t>(options_.order) - 1;  // context symbols, ≥ 1
  const unsigned b = bits_;
  const std::size_t nsym = vocab_size_ + 2;                              // symbols 0..V+1
  const unsigned rbits = static_cast<unsigned>(L) * b;
  const R rmask = rbits >= sizeof(R) * 8 ? ~R{0} : (R{1} << rbits) - 1;
  const unsigned top_shift = static_cast<unsigned>(L - 1) * b;          // h1 within a context
  const R sym = (R{1} << b) - 1;
  R start = 0;
  for (std::size_t i = 0; i < L; ++i) start = (start << b) | static_cast<R>(bos());
  const R eos_r = static_cast<R>(eos());

  // Step 1: counting sort by h1 (histogram, then scatter of the remainders): P values of sizeof(R).
  std::vector<std::uint32_t> bucket(nsym + 1, 0);
  auto for_each_gram = [&](auto&& f) {
    for (std::size_t s = 0; s < corpus.num_sentences(); ++s) {
      R ctx = start;
      for (TokenId t : corpus.sentence(s)) {
        const R r = ((ctx << b) | static_cast<R>(t)) & rmask;
        f(static_cast<std::size_t>(ctx >> top_shift), r);
        ctx = r;
      }
      f(static_cast<std::size_t>(ctx >> top_shift), ((ctx << b) | eos_r) & rmask);
    }
  };
  for_each_gram([&](std::size_t h1, R) { ++bucket[h1 + 1]; });
  for (std::size_t i = 1; i <= nsym; ++i) bucket[i] += bucket[i - 1];
  std::vector<R> buf(bucket[nsym]);
  {
    std::vector<std::uint32_t> pos(bucket.begin(), bucket.end() - 1);
    for_each_gram([&](std::size_t h1, R r) { buf[pos[h1]++] = r; });
  }

  // Step 2: sort every bucket (MSD radix sort; std::sort below 64 values).
  for (std::size_t u = 0; u < nsym; ++u) {
    const std::size_t lo = bucket[u], len = bucket[u + 1] - lo;
    if (len > 1) radix_sort(buf.data() + lo, len, std::max(static_cast<int>(rbits) - 8, 0));
  }

  // Step 3: two scans of the sorted runs — the first counts trie nodes and entries so that every array
  // is allocated exactly once at its final size, the second fills them. Level j ∈ [2, L] of the trie
  // holds the distinct prefixes (h1 … h_j); its nodes start a new run when r >> shift_j changes.
  std::array<unsigned, 6> shift_of{};  // shift_of[j]: r >> shift_of[j] = (h2 … h_j)
  for (std::size_t j = 2; j <= L; ++j) shift_of[j] = static_cast<unsigned>(L - j + 1) * b;
  std::array<std::size_t, 6> nodes{};
  std::size_t entries = 0;
  auto scan = [&](auto build, std::uint32_t* cumw) {
    constexpr bool kBuild = decltype(build)::value;
    std::size_t e = 0;
    std::uint32_t cum = 0;
    for (std::size_t u = 0; u < nsym; ++u) {
      const std::size_t lo = bucket[u], hi = bucket[u + 1];
      if constexpr (kBuild) {
        if (L == 1) ctx_begin_[u] = static_cast<std::uint32_t>(e);
        else first_[u] = static_cast<std::uint32_t>(nodes[2]);
      }
      cum = 0;
      R prev = 0;  // the previous run's value (buf[i − 1] may already hold a count: in-place writes)
      for (std::size_t i = lo; i < hi;) {
        const R r = buf[i];
        std::size_t k = i + 1;
        while (k < hi && buf[k] == r) ++k;
        const auto count = static_cast<std::uint32_t>(k - i);
        // The first level whose prefix differs from the previous run (all levels at a bucket start).
        std::size_t j = 2;
        if (i > lo)
          while (j <= L && (r >> shift_of[j]) == (prev >> shift_of[j])) ++j;
        prev = r;
        for (; j <= L; ++j) {
          if constexpr (kBuild) {
            node_sym_[j - 2][nodes[j]] = static_cast<TokenId>((r >> shift_of[j]) & sym);
            if (j < L)
              node_child_[j - 2][nodes[j]] = static_cast<std::uint32_t>(nodes[j + 1]);
            else
              ctx_begin_[nodes[j]] = static_cast<std::uint32_t>(e);
          }
          ++nodes[j];
          if (j == L) cum = 0;
        }
        cum += count;
        if constexpr (kBuild) {
          const auto w = static_cast<TokenId>(r & sym);
          cumw[e] = cum;  // e ≤ i: in place over runs already read
          tok_[e] = w;
          if (w < vocab_size_) unigram_counts_[w] += count;
        }
        ++e;
        i = k;
      }
    }
    entries = e;
  };
  scan(std::false_type{}, nullptr);
  const std::size_t E = entries;
  const std::size_t C = L == 1 ? nsym : nodes[L];
  if (C >= kNoContext) throw std::invalid_argument("ngram fit: more than 2^32 − 2 distinct contexts");
  tok_.resize(E);
  ctx_begin_.resize(C + 1);
  if (L >= 2) {
    first_.resize(nsym + 1);
    node_sym_.resize(L - 1);
    node_child_.resize(L - 1);
    for (std::size_t j = 2; j <= L; ++j) {
      node_sym_[j - 2].resize(nodes[j]);
      if (j < L) node_child_[j - 2].resize(nodes[j] + 1);
    }
  }
  std::uint32_t* cumw = nullptr;
  if constexpr (std::is_same_v<R, std::uint32_t>) {
    cumw = buf.data();
  } else {
    cum_.resize(E);
    cumw = cum_.data();
  }
  const std::array<std::size_t, 6> counted = nodes;
  nodes = {};
  scan(std::true_type{}, cumw);
  if (L == 1) {
    ctx_begin_[nsym] = static_cast<std::uint32_t>(E);
    distinct_contexts_ = 0;
    for (std::size_t u = 0; u < nsym; ++u) distinct_contexts_ += ctx_begin_[u + 1] > ctx_begin_[u];
  } else {
    first_[nsym] = static_cast<std::uint32_t>(counted[2]);
    for (std::size_t j = 2; j < L; ++j) node_child_[j - 2][counted[j]] = static_cast<std::uint32_t>(counted[j + 1]);
    ctx_begin_[C] = static_cast<std::uint32_t>(E);
    distinct_contexts_ = C;
  }
  if (L == 2) {
    // Order 3: replace each token w of context (h1, v) by the index of its successor context (v, w)
    // (a child of v; binary search from the previous entry's successor: both ascend in w).
    const TokenId* syms = node_sym_[0].data();
    for (std::uint32_t c = 0; c < C; ++c) {
      if (c + 8 < C) __builtin_prefetch(syms + first_[syms[c + 8]]);  // the next contexts' child ranges
      const TokenId v = syms[c];
      std::uint32_t lo = first_[v];
      const std::uint32_t hi = first_[v + 1];
      for (std::uint32_t e = ctx_begin_[c]; e < ctx_begin_[c + 1]; ++e) {
        const TokenId w = tok_[e];
        if (w == eos()) {
          tok_[e] = kEosCode;
          continue;
        }
        // Branchless lower bound (conditional moves): the outcomes are unpredictable.
        const TokenId* base = syms + lo;
        for (std::uint32_t len = hi - lo; len > 1;) {
          const std::uint32_t half = len / 2;
          base += static_cast<std::size_t>(__builtin_expect_with_probability(base[half - 1] < w, 1, 0.5)) * half;
          len -= half;
        }
        const auto a = static_cast<std::uint32_t>(base - syms) + (*base < w);
        tok_[e] = a;  // (v, w) exists: h1 v w was seen with w ≠ EOS
        lo = a + 1;
      }
    }
  }
  if constexpr (std::is_same_v<R, std::uint32_t>) {
    buf.resize(E);  // keeps the capacity P: a shrinking copy would raise the peak by 4 E bytes
    cum_ = std::move(buf);
  }
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
    const std::size_t C = context_slots();
    for (std::uint32_t i = 0; i < C; ++i)
      for (std::uint32_t e = ebegin(i); e < eend(i); ++e)
        if (const std::uint32_t c = entry_count(i, e); c <= 4) ++nn[c];
    top.d = estimate_discounts(nn);
    record(n, top.d);
    top.total.assign(C, 0.0);
    top.backoff.assign(C, 0.0);
    top.dcum.resize(tok_.size());
    if (n > 1) grams.reserve(tok_.size());
    for_each_context([&](std::uint32_t i, Key key) {
      double g = 0;
      for (std::uint32_t e = ebegin(i); e < eend(i); ++e) {
        const std::uint32_t c = entry_count(i, e);
        g += discount(top.d, c);
        top.dcum[e] = (e == ebegin(i) ? 0.0 : top.dcum[e - 1]) + std::max(0.0, static_cast<double>(c) - discount(top.d, c));
        if (n > 1) grams.emplace_back((key << b) | token(e), c);
      }
      top.total[i] = static_cast<double>(ctx_total(i));
      top.backoff[i] = g;
    });
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

  // Reset (the counting pass allocates every array at its exact size).
  fitted_ = false;
  num_train_tokens_ = corpus.num_tokens();
  num_train_sentences_ = corpus.num_sentences();
  start_ctx_ = kNoContext;
  distinct_contexts_ = 0;
  std::vector<std::uint32_t>().swap(first_);
  std::vector<std::vector<TokenId>>().swap(node_sym_);
  std::vector<std::vector<std::uint32_t>>().swap(node_child_);
  std::vector<std::uint32_t>().swap(ctx_begin_);
  std::vector<std::uint32_t>().swap(cum_);
  std::vector<TokenId>().swap(tok_);
  kn_.clear();
  unigram_counts_.assign(vocab_size_, 0);

  FitReport report;
  if (corpus.num_tokens() == 0) {
    report.events.push_back(Event{-1, "empty_training_set",
                                  "ngram fit: the training corpus has " + std::to_string(corpus.num_sentences()) +
                                      " sentences and no tokens" +
                                      (corpus.num_sentences() == 0 ? "; the model generates nothing" : "")});
    if (corpus.num_sentences() == 0) return report;
  }

  const unsigned rest_bits = static_cast<unsigned>(options_.order - 1) * bits_;
  if (options_.order == 1)
    count_unigrams(corpus);
  else if (rest_bits <= 32)
    count_ngrams<std::uint32_t>(corpus);
  else if (rest_bits <= 64)
    count_ngrams<std::uint64_t>(corpus);
  else
    count_ngrams<Key>(corpus);
  start_ctx_ = find_context(start_key_);
  if (options_.smoothing == Smoothing::kneser_ney) build_kneser_ney(report);
  fitted_ = true;

  // Mean training log-likelihood per prediction (nats): Σ_h Σ_w c(h,w) ln p(w|h) / Σ_h c(h).
  double total = 0;
  std::uint64_t predictions = 0;
  if (options_.smoothing == Smoothing::mle) {
    // Σ_h [Σ_w c ln c − c(h) ln c(h)]; counts of 1 contribute 0.
    const std::size_t C = context_slots();
    for (std::uint32_t i = 0; i < C; ++i) {
      const std::uint32_t b = ebegin(i), e = eend(i);
      if (b == e) continue;
      std::uint32_t prev = 0;
      for (std::uint32_t x = b; x < e; ++x) {
        const std::uint32_t c = cum_[x] - prev;
        prev = cum_[x];
        if (c > 1) total += c * log_count(c);
      }
      total -= prev * log_count(prev);
      predictions += prev;
    }
  } else {
    const double k = options_.smoothing == Smoothing::add_k ? options_.k : 0.0;
    const double outcomes = static_cast<double>(vocab_size_) + 1.0;
    const bool kn = options_.smoothing == Smoothing::kneser_ney;
    const std::size_t m = static_cast<std::size_t>(options_.order) - 1;
    for_each_context([&](std::uint32_t i, Key key) {
      const double log_denominator = std::log(static_cast<double>(ctx_total(i)) + k * outcomes);
      for (std::uint32_t e = ebegin(i); e < eend(i); ++e) {
        const double count = static_cast<double>(entry_count(i, e));
        total += kn ? count * std::log(prob_kn(key, m, token(e))) : count * (std::log(count + k) - log_denominator);
      }
      predictions += ctx_total(i);
    });
  }
  report.lower_bound = predictions ? total / static_cast<double>(predictions) : 0.0;
  return report;
}

// ---- Lookup and probabilities -------------------------------------------------------------------

template <class F>
void NgramModel::for_each_context(F&& f) const {
  const int n = options_.order;
  if (ctx_begin_.empty()) return;
  if (n == 1) {
    f(std::uint32_t{0}, Key{0});
    return;
  }
  const std::size_t nsym = vocab_size_ + 2;
  if (n == 2) {
    for (std::uint32_t u = 0; u < nsym; ++u)
      if (eend(u) > ebegin(u)) f(u, Key{u});
    return;
  }
  const int L = n - 1;
  auto rec = [&](auto& self, int j, std::uint32_t lo, std::uint32_t hi, Key prefix) -> void {
    const TokenId* syms = node_sym_[static_cast<std::size_t>(j - 2)].data();
    for (std::uint32_t x = lo; x < hi; ++x) {
      const Key key = (prefix << bits_) | syms[x];
      if (j == L) {
        f(x, key);
      } else {
        const std::uint32_t* child = node_child_[static_cast<std::size_t>(j - 2)].data();
        self(self, j + 1, child[x], child[x + 1], key);
      }
    }
  };
  for (std::uint32_t u = 0; u < nsym; ++u) rec(rec, 2, first_[u], first_[u + 1], Key{u});
}

namespace {
/// Index of `w` in the sorted range [lo, hi) of `syms`, or 0xFFFFFFFF: binary search down to a linear tail.
inline std::uint32_t find_symbol(const TokenId* syms, std::uint32_t lo, std::uint32_t hi, TokenId w) noexcept {
  while (hi - lo > 8) {
    const std::uint32_t mid = lo + (hi - lo) / 2;
    if (syms[mid] < w)
      lo = mid + 1;
    else
      hi = mid + 1;  // the first symbol ≥ w is in [lo, mid]
  }
  for (; lo < hi; ++lo)
    if (syms[lo] >= w) return syms[lo] == w ? lo : 0xFFFFFFFFu;
  return 0xFFFFFFFFu;
}
}  // namespace

std::uint32_t NgramModel::find_context(Key key) const noexcept {
  if (ctx_begin_.empty()) return kNoContext;
  const int n = options_.order;
  if (n == 1) return 0;
  const std::size_t nsym = vocab_size_ + 2;
  const Key sym = (Key{1} << bits_) - 1;
  const std::size_t L = static_cast<std::size_t>(n) - 1;
  const auto h1 = static_cast<std::size_t>((key >> ((L - 1) * bits_)) & sym);
  if (h1 >= nsym) return kNoContext;
  if (n == 2) return eend(static_cast<std::uint32_t>(h1)) > ebegin(static_cast<std::uint32_t>(h1)) ? static_cast<std::uint32_t>(h1) : kNoContext;
  std::uint32_t lo = first_[h1], hi = first_[h1 + 1];
  for (std::size_t j = 2;; ++j) {
    const auto s = static_cast<TokenId>((key >> ((L - j) * bits_)) & sym);
    const std::uint32_t x = find_symbol(node_sym_[j - 2].data(), lo, hi, s);
    if (x == kNoContext || j == L) return x;
    lo = node_child_[j - 2][x];
    hi = node_child_[j - 2][x + 1];
  }
}

std::uint32_t NgramModel::find_level_context(int k, Key key) const noexcept {
  if (k == options_.order) return find_context(key);
  const KnLevel& level = kn_[static_cast<std::size_t>(k - 1)];
  return lookup_slots(level.ctx_keys, level.slots, key);
}

std::uint32_t NgramModel::find_entry_index(std::uint32_t c, TokenId w) const noexcept {
  if (options_.order != 3) return find_symbol(tok_.data(), ebegin(c), eend(c), w);
  std::uint32_t lo = ebegin(c), hi = eend(c);  // tokens ascend with the successor codes
  while (lo < hi) {
    const std::uint32_t mid = lo + (hi - lo) / 2;
    if (token(mid) < w)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < eend(c) && token(lo) == w ? lo : kNoContext;
}

double NgramModel::kn_discounted(int k, std::uint32_t c, TokenId w) const noexcept {
  const KnLevel& level = kn_[static_cast<std::size_t>(k - 1)];
  std::uint32_t a = 0;
  if (k == options_.order) {
    const std::uint32_t x = find_entry_index(c, w);
    if (x != kNoContext) a = entry_count(c, x);
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
  const double total = static_cast<double>(ctx_total(ctx));
  const std::uint32_t x = find_entry_index(ctx, w);
  const double count = x == kNoContext ? 0.0 : static_cast<double>(entry_count(ctx, x));
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
      std::count_if(unigram_counts_.begin(), unigram_counts_.end(), [](std::uint32_t c) { return c > 0; }));
}

std::size_t NgramModel::num_contexts() const { return distinct_contexts_; }

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

/// State of one sample() call on the count-based paths (MLE / add_k without truncation, τ ≠ 1 or add_k):
/// the engine, the controls and (for τ ≠ 1) the lazily built tempered cumulative tables, parallel to cum_.
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
      tcum = std::make_unique_for_overwrite<double[]>(m.tok_.size());  // filled per context on first visit
      tuni.assign(m.context_slots(), 0.0);
      ready.assign(m.context_slots(), 0);
    }
  }

  /// Builds the tempered table of context `c` (weights are divided by the largest one, so the top
  /// continuation has weight 1 and nothing overflows; small τ underflows the rest to 0 = argmax).
  void temper(std::uint32_t c) {
    const std::uint32_t b = m.ebegin(c), e = m.eend(c);
    const double k = add_k ? m.options_.k : 0.0;
    std::uint32_t max_count = 0;
    for (std::uint32_t i = b; i < e; ++i) max_count = std::max(max_count, m.entry_count(c, i));
    const double top = static_cast<double>(max_count) + k;
    const double uni = add_k ? std::pow(k / top, inv_tau) : 0.0;
    double cum = 0;
    for (std::uint32_t i = b; i < e; ++i) {
      const double count = static_cast<double>(m.entry_count(c, i));
      cum += std::max(0.0, std::pow((count + k) / top, inv_tau) - uni);
      tcum[i] = cum;
    }
    tuni[c] = uni;
    ready[c] = 1;
  }

  /// An untempered draw from the counts of seen context `c`: u ~ U{0..c(h)−1}, first cum > u. A context
  /// with a single continuation is certain and uses no random number. Returns the entry index.
  std::uint32_t draw_counts(std::uint32_t c) {
    const std::uint32_t b = m.ebegin(c), e = m.eend(c);
    if (e - b == 1) return b;
    const auto u = static_cast<std::uint32_t>(bounded(rng, m.cum_[e - 1]));
    return b + find_cum(m.cum_.data() + b, e - b, u);
  }

  TokenId draw_uniform() { return static_cast<TokenId>(bounded(rng, static_cast<std::uint64_t>(eos) + 1)); }

  /// One draw from context `c` (kNoContext = unseen, add_k only): the token.
  TokenId draw(std::uint32_t c) {
    if (c == kNoContext) return draw_uniform();
    if (!tempered) {
      if (add_k) {
        const double seen = static_cast<double>(m.ctx_total(c));
        const double all = seen + m.options_.k * (static_cast<double>(eos) + 1.0);
        if (!(boost::random::uniform_real_distribution<double>(0.0, all)(rng) < seen)) return draw_uniform();
      }
      return m.token(draw_counts(c));
    }
    if (!ready[c]) temper(c);
    const std::uint32_t b = m.ebegin(c), e = m.eend(c);
    const double seen = tcum[e - 1];
    const double all = seen + tuni[c] * (static_cast<double>(eos) + 1.0);
    const double u = boost::random::uniform_real_distribution<double>(0.0, all)(rng);
    if (!(u < seen)) return draw_uniform();
    const double* hit = find_cumulative(tcum.get() + b, tcum.get() + e, u);
    return m.token(static_cast<std::uint32_t>(hit - tcum.get()));
  }

  /// Whether a sentence can start with a token (effective p(EOS | start) < 1), decided exactly.
  bool can_start_sentence() {
    const std::uint32_t c = m.start_ctx_;
    const std::uint32_t b = m.ebegin(c), e = m.eend(c);
    const bool only_eos = e - b == 1 && m.token(b) == eos;
    if (!tempered) return add_k || !only_eos;  // add_k: k(V+1) > 0 of uniform mass, V ≥ 1 types
    temper(c);
    if (add_k && tuni[c] > 0) return true;
    // EOS is the largest outcome id, so it is the last entry if present.
    const bool last_is_eos = m.token(e - 1) == eos;
    const double non_eos = last_is_eos ? (e - 1 > b ? tcum[e - 2] : 0.0) : tcum[e - 1];
    return non_eos > 0;
  }
};

/// State of one sample() call on the general path (kneser_ney, or any truncation): see sample().
/// Flattened tables (table()): a context's distribution is p(w|h) = s_h(w) + g(h)·B(w) with s_h sparse
/// on S_h (explicit values p(w|h) for w ∈ S_h) and a background B shared by all contexts.
/// kneser_ney layered path (`layered`; nodes, draw_node, truncated_table): one node per visited context
/// of each order, holding only its own seen continuations; lower orders are shared, scaled layers.
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
    double pscale = 1;           ///< weights are (p / pmax)^(1/τ): this is pmax^(1/τ) (absolute = pscale · w)
  };
  /// kneser_ney, layered path: one visited context (k, c) of order k ≥ 2 (see sample() in the header).
  /// Its distribution is its own seen continuations S_k(c) (exact p) plus the order k−1 context's
  /// distribution scaled by γ = G_k/A_k (tempered: by γ^(1/τ)) with S_k(c) removed.
  struct Node {
    // Untruncated draws (absolute tempered weights p^(1/τ)); the hot fields come first.
    int k = 0;
    std::uint32_t c = 0;
    std::uint32_t lower = 0;        ///< node of the order k−1 suffix, kBg for k = 2 (the background p_1)
    std::uint32_t fallback = kNoTable;  ///< too many expected rejections: the exact table (table())
    std::uint32_t xb = 0, xe = 0;   ///< S_k(c) in token order (k = n: parallel to the entries): xtok / xcum
    double e_w = 0;                 ///< Σ_{S_k(c)} p^(1/τ)
    double z = 0;                   ///< Σ over all V + 1 outcomes of p^(1/τ)
    bool draw_ready = false;
    bool z_exact = true;            ///< false if z suffers cancellation (rejected share ≈ 1)
    bool rank_ready = false;
    Key key = 0;                    ///< packed symbols whose last k−1 are the context
    std::uint32_t cs[6] = {};       ///< contexts of orders 2..k (suffixes)
    // Ranking (truncation): own seen continuations sorted (p desc, id asc), and the merged ranking
    // of the whole distribution, materialised lazily as far as it was needed.
    std::vector<std::pair<double, TokenId>> sx;
    std::vector<std::pair<double, TokenId>> ranked;
    std::size_t ri = 0, rj = 0;     ///< merge positions in sx and in the lower ranking
  };
  static constexpr std::uint32_t kBg = 0xFFFFFFFEu;
  /// Draw mode: fall back to the exact table when a draw from the context would need more than this
  /// many lower-layer attempts in expectation (share of the lower layer / (1 − rejected share)).
  static constexpr double kMaxExpectedAttempts = 8.0;
  /// Truncation: fall back to the exact table when the kept prefix needs more ranked outcomes.
  static constexpr std::size_t kMaxMerged = 4096;
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
  const bool layered;  ///< kneser_ney, n ≥ 2, τ ≥ 0.2, not direct: per-order cached layers

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
  std::vector<Node> nodes;
  std::vector<std::vector<std::uint32_t>> node_of;  ///< per order (index k−1): context → node
  std::vector<TokenId> xtok;
  std::vector<double> xcum;
  /// Parallel to pool_tok where filled by truncated_table (shorter otherwise): the successor context at
  /// order n of an explicit order-n outcome (n ≤ 3), else kNoContext.
  std::vector<std::uint32_t> pool_next;
  std::uint32_t last_pool = kNoTable;  ///< pool index of the last explicit table draw (draw())
  double bg_abs = 1;  ///< bmax^(1/τ): the background's absolute tempered weight of w is bg_abs · T(w)

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
        inv_tau(1.0 / controls.temperature),
        layered(kn && !direct && model.options_.order >= 2 && controls.temperature >= 0.2) {
    if (direct) return;
    // The background and its tempered cumulative table in rank order: O(V log V) once per call.
    has_bg = m.options_.smoothing != Smoothing::mle;
    if (has_bg) {
      bprob.resize(outcomes);
      if (kn && n == 1) {
        for (TokenId w = 0; w < outcomes; ++w) bprob[w] = m.prob_kn(0, 0, w);
      } else if (kn) {
        // p_1(w) = ([a_1(w) − D]⁺ + G_1 / (V + 1)) / A_1, as prob_kn computes it, in one pass over the
        // token-sorted order-1 entries (kept in the KnLevel for n ≥ 2).
        const KnLevel& level = m.kn_[0];
        const std::uint32_t c1 = m.find_level_context(1, 0);
        const double p0 = 1.0 / (static_cast<double>(m.vocab_size_) + 1.0);
        std::uint32_t e = level.begin[c1];
        const std::uint32_t end = level.begin[c1 + 1];
        for (TokenId w = 0; w < outcomes; ++w) {
          while (e < end && level.tokens[e] < w) ++e;
          const std::uint32_t a = e < end && level.tokens[e] == w ? level.counts[e] : 0;
          const double d = a == 0 ? 0.0 : std::max(0.0, static_cast<double>(a) - discount(level.d, a));
          bprob[w] = (d + level.backoff[c1] * p0) / level.total[c1];
        }
      } else {
        for (TokenId w = 0; w < outcomes; ++w) bprob[w] = 1.0 / static_cast<double>(outcomes);
      }
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
    bg_abs = pw(bmax);
    if (layered) {
      node_of.resize(static_cast<std::size_t>(n));
      for (int k = 2; k <= n; ++k)
        node_of[static_cast<std::size_t>(k - 1)].assign(
            k == n ? m.context_slots() : m.kn_[static_cast<std::size_t>(k - 1)].ctx_keys.size(), kNoTable);
    }
    if (kn) {
      table_of.resize(static_cast<std::size_t>(n));
      for (int k = 1; k <= n; ++k)
        table_of[static_cast<std::size_t>(k - 1)].assign(
            k == n ? m.context_slots() : m.kn_[static_cast<std::size_t>(k - 1)].ctx_keys.size(), kNoTable);
    } else {
      table_of.assign(static_cast<std::size_t>(n), {});
      table_of[static_cast<std::size_t>(n - 1)].assign(m.context_slots(), kNoTable);
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
        const double denom = static_cast<double>(m.ctx_total(c)) + kk * outcomes;
        for (std::uint32_t e = m.ebegin(c); e < m.eend(c); ++e) {
          const double count = static_cast<double>(m.entry_count(c, e));
          expl.emplace_back((count + kk) / denom, m.token(e));
          spool.push_back(m.token(e));
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
          for (std::uint32_t e = m.ebegin(cs[j]); e < m.eend(cs[j]); ++e) spool.push_back(m.token(e));
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
    const double pscale = pw(pmax);
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
    t.pscale = pscale;
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
      last_pool = t.begin + static_cast<std::uint32_t>(hit - first);
      return pool_tok[last_pool];
    }
    last_pool = kNoTable;
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
      const std::uint32_t b = k == n ? m.ebegin(c) : level.begin[c];
      const std::uint32_t e = k == n ? m.eend(c) : level.begin[c + 1];
      const double u = boost::random::uniform_real_distribution<double>(0.0, level.total[c])(rng);
      if (u < level.dcum[e - 1]) {
        const double* first = level.dcum.data() + b;
        const std::size_t idx = b + static_cast<std::size_t>(find_cumulative(first, level.dcum.data() + e, u) - first);
        if (k == n) {
          const TokenId w = m.token(static_cast<std::uint32_t>(idx));
          // The successor context at order n: (h, w) seen with w ≠ EOS implies its shift was seen.
          if (w != eos) next = n == 2 ? w : n == 3 ? m.tok_[idx] : kNoContext;
          return w;
        }
        return level.tokens[idx];
      }
      c = kNoContext;
    }
    return static_cast<TokenId>(bounded(rng, static_cast<std::uint64_t>(eos) + 1));
  }

  // ---- kneser_ney layered path ----------------------------------------------------------------------

  double pw(double p) const noexcept { return tempered ? std::pow(p, inv_tau) : p; }

  /// Whether w ∈ S_k(c), the continuations seen in context c of order k. Binary search.
  bool in_seen(int k, std::uint32_t c, TokenId w) const noexcept {
    if (k == n) return m.find_entry_index(c, w) != kNoContext;
    const KnLevel& level = m.kn_[static_cast<std::size_t>(k - 1)];
    const TokenId* first = level.tokens.data() + level.begin[c];
    const TokenId* last = level.tokens.data() + level.begin[c + 1];
    return std::binary_search(first, last, w);
  }

  /// Calls f(w, p_{k−1}(w|h⁻), p_k(w|h)) for every w ∈ S_k(c) of node x, in token order. Both are
  /// computed exactly as prob() does: p_j = ([a_j − D_j(a_j)]⁺ + G_j · p_{j−1}) / A_j. The seen counts
  /// come from the entries themselves; p_{k−1} walks the (token-sorted) order k−1 context alongside
  /// (S_k(c) ⊆ S_{k−1}(c⁻): every seen k-gram's suffix was seen), deeper orders use kn_prob.
  template <class F>
  void for_each_seen(const Node& x, F&& f) const {
    const KnLevel& level = m.kn_[static_cast<std::size_t>(x.k - 1)];
    const double g = level.backoff[x.c], a = level.total[x.c];
    auto disc = [](const KnLevel& l, std::uint32_t cnt) {
      return cnt == 0 ? 0.0 : std::max(0.0, static_cast<double>(cnt) - discount(l.d, cnt));
    };
    const KnLevel* low = x.k > 2 ? &m.kn_[static_cast<std::size_t>(x.k - 2)] : nullptr;
    const TokenId* lfirst = low ? low->tokens.data() + low->begin[x.cs[x.k - 1]] : nullptr;
    const TokenId* llast = low ? low->tokens.data() + low->begin[x.cs[x.k - 1] + 1] : nullptr;
    auto visit = [&](TokenId w, std::uint32_t cnt) {
      double pl;
      if (!low) {
        pl = bprob[w];
      } else {
        const double pll = kn_prob(x.k - 2, x.cs, w);
        lfirst = std::lower_bound(lfirst, llast, w);
        const std::uint32_t lc =
            lfirst != llast && *lfirst == w ? low->counts[static_cast<std::size_t>(lfirst - low->tokens.data())] : 0;
        const std::uint32_t c2 = x.cs[x.k - 1];
        pl = (disc(*low, lc) + low->backoff[c2] * pll) / low->total[c2];
      }
      f(w, pl, (disc(level, cnt) + g * pl) / a);
    };
    if (x.k == n) {
      for (std::uint32_t e = m.ebegin(x.c); e < m.eend(x.c); ++e) visit(m.token(e), m.entry_count(x.c, e));
    } else {
      for (std::uint32_t e = level.begin[x.c]; e < level.begin[x.c + 1]; ++e) visit(level.tokens[e], level.counts[e]);
    }
  }

  /// The node of context c of order k ≥ 2 (`key`: its last k−1 symbols), created with its suffix nodes.
  std::uint32_t node(int k, std::uint32_t c, Key key) {
    std::uint32_t& slot = node_of[static_cast<std::size_t>(k - 1)][c];
    if (slot != kNoTable) return slot;
    const std::uint32_t lower =
        k == 2 ? kBg : node(k - 1, m.find_level_context(k - 1, key & m.ctx_mask(k - 1)), key);
    Node x;
    x.k = k;
    x.c = c;
    x.key = key;
    x.lower = lower;
    if (lower != kBg) std::copy(std::begin(nodes[lower].cs), std::end(nodes[lower].cs), std::begin(x.cs));
    x.cs[k] = c;
    nodes.push_back(std::move(x));
    return node_of[static_cast<std::size_t>(k - 1)][c] = static_cast<std::uint32_t>(nodes.size() - 1);
  }

  /// Total absolute tempered weight of a node's (or the background's) distribution.
  double total_weight(std::uint32_t ni) const noexcept {
    return ni == kBg ? bg_abs * bcum[outcomes] : nodes[ni].z;
  }

  /// Prepares node ni (and its suffixes) for untruncated draws: the tempered cumulative weights of
  /// S_k(c), z = E + γ^(1/τ) (z_lower − Σ_{S_k(c)} p_{k−1}^(1/τ)). `allow_fallback`: if a
  /// draw needs more than kMaxExpectedAttempts lower-layer attempts in expectation, use the exact table
  /// (only valid without truncation).
  void ensure_draw(std::uint32_t ni, bool allow_fallback) {
    if (nodes[ni].draw_ready) return;
    const std::uint32_t lower = nodes[ni].lower;
    if (lower != kBg) ensure_draw(lower, allow_fallback);
    Node& x = nodes[ni];
    const double zl = total_weight(lower);
    x.xb = static_cast<std::uint32_t>(xtok.size());
    double e_w = 0, rejected = 0;
    for_each_seen(x, [&](TokenId w, double pl, double p) {
      e_w += pw(p);
      rejected += lower == kBg ? bg_abs * tw[w] : pw(pl);  // p_1^(1/τ) = bmax^(1/τ) T(w)
      xtok.push_back(w);
      xcum.push_back(e_w);
    });
    x.xe = static_cast<std::uint32_t>(xtok.size());
    x.e_w = e_w;
    const KnLevel& level = m.kn_[static_cast<std::size_t>(x.k - 1)];
    const double rest = zl - rejected;
    x.z_exact = rest > 1e-9 * zl && (lower == kBg || nodes[lower].z_exact);
    x.z = e_w + pw(level.backoff[x.c] / level.total[x.c]) * std::max(0.0, rest);
    x.draw_ready = true;
    // Expected lower-layer attempts per draw: (z − E)/z · zl/rest (geometric rejection).
    if (allow_fallback && (!x.z_exact || (x.z - e_w) * zl > kMaxExpectedAttempts * x.z * rest)) {
      const std::uint32_t ti = table(x.k, x.c, x.key);
      Node& y = nodes[ni];
      y.fallback = ti;
      y.z = tables[ti].pscale * (tables[ti].explicit_w + tables[ti].bg_w);
    }
  }

  TokenId draw_background() {
    for (;;) {
      const double v = boost::random::uniform_real_distribution<double>(0.0, bcum[outcomes])(rng);
      const auto it = std::upper_bound(bcum.begin() + 1, bcum.end(), v);
      const auto pos = static_cast<std::size_t>(it - (bcum.begin() + 1));
      if (pos >= outcomes) continue;
      const TokenId w = border[pos];
      if (tw[w] > 0) return w;
    }
  }

  /// An exact draw from node ni's full (tempered, untruncated) distribution: S_k(c) with its own
  /// weights, else a draw from the lower layer, rejecting members of S_k(c).
  /// `next`: set to the successor context at order n when known (an explicit draw at order n ≤ 3).
  TokenId draw_node(std::uint32_t ni, std::uint32_t* next = nullptr) {
    const Node& x = nodes[ni];
    if (x.fallback != kNoTable) return draw(x.fallback);
    const double u = boost::random::uniform_real_distribution<double>(0.0, x.z)(rng);
    if (u < x.e_w) {
      const double* first = xcum.data() + x.xb;
      const auto i = static_cast<std::uint32_t>(find_cumulative(first, xcum.data() + x.xe, u) - first);
      const TokenId w = xtok[x.xb + i];
      if (next && x.k == n && w != eos) *next = n == 2 ? w : n == 3 ? m.tok_[m.ebegin(x.c) + i] : kNoContext;
      return w;
    }
    for (;;) {
      const TokenId w = x.lower == kBg ? draw_background() : draw_node(x.lower);
      if (!in_seen(x.k, x.c, w)) return w;
    }
  }

  /// The idx-th outcome of the ranking (p desc, id asc) of node ni's distribution (kBg: p_1), with its
  /// probability; false past the end. Materialises the node's merged ranking lazily.
  bool ranked(std::uint32_t ni, std::size_t idx, double& p, TokenId& w) {
    if (ni == kBg) {
      if (idx >= outcomes) return false;
      w = border[idx];
      p = bprob[w];
      return true;
    }
    if (!nodes[ni].rank_ready) {
      Node& x = nodes[ni];
      for_each_seen(x, [&](TokenId t, double, double pt) { x.sx.emplace_back(pt, t); });
      std::sort(x.sx.begin(), x.sx.end(),
                [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
      x.rank_ready = true;
    }
    while (nodes[ni].ranked.size() <= idx) {
      Node& x = nodes[ni];  // the node vector does not grow while ranking
      double lp = 0;
      TokenId lw = 0;
      bool have_l = false;
      while (ranked(x.lower, x.rj, lp, lw)) {
        if (!in_seen(x.k, x.c, lw)) {
          have_l = true;
          break;
        }
        ++x.rj;
      }
      const bool have_e = x.ri < x.sx.size();
      if (!have_e && !have_l) return false;
      const KnLevel& level = m.kn_[static_cast<std::size_t>(x.k - 1)];
      const double pl = (0.0 + level.backoff[x.c] * lp) / level.total[x.c];  // as prob() computes it
      const bool take_e =
          have_e && (!have_l || x.sx[x.ri].first > pl || (x.sx[x.ri].first == pl && x.sx[x.ri].second < lw));
      if (take_e) {
        x.ranked.push_back(x.sx[x.ri++]);
      } else {
        x.ranked.emplace_back(pl, lw);
        ++x.rj;
      }
    }
    p = nodes[ni].ranked[idx].first;
    w = nodes[ni].ranked[idx].second;
    return true;
  }

  /// Truncated table of context c of order k ≥ 2: merges its own seen continuations (exact p, sorted)
  /// with the ranking of its order k−1 suffix node scaled by γ (members of S_k(c) skipped via `mark`),
  /// and keeps the truncated prefix as explicit outcomes (no background part). Falls back to table()
  /// if the prefix is longer than kMaxMerged or top_p's normaliser is numerically unreliable.
  std::uint32_t truncated_table(int k, std::uint32_t c, Key key) {
    std::uint32_t* slot = &table_of[static_cast<std::size_t>(k - 1)][c];
    if (*slot != kNoTable) return *slot;
    Node x;  // not stored: only the order k−1 ranking is cached
    x.k = k;
    x.c = c;
    x.lower = k == 2 ? kBg : node(k - 1, m.find_level_context(k - 1, key & m.ctx_mask(k - 1)), key);
    if (x.lower != kBg) std::copy(std::begin(nodes[x.lower].cs), std::end(nodes[x.lower].cs), std::begin(x.cs));
    x.cs[k] = c;
    const bool need_z = sc.top_k == 0 && sc.top_p < 1;
    expl.clear();
    ++stamp;
    double e_w = 0, rejected = 0;
    for_each_seen(x, [&](TokenId w, double pl, double p) {
      expl.emplace_back(p, w);
      mark[w] = stamp;
      if (need_z) {
        e_w += pw(p);
        rejected += pw(pl);
      }
    });
    std::sort(expl.begin(), expl.end(),
              [](const auto& u, const auto& v) { return u.first > v.first || (u.first == v.first && u.second < v.second); });
    const KnLevel& level = m.kn_[static_cast<std::size_t>(k - 1)];
    const double g = level.backoff[c], a = level.total[c];

    cand.clear();
    double p0 = 0;
    std::size_t i = 0, j = 0;
    auto f = [&](double v) { return tempered ? std::pow(v / p0, inv_tau) : v / p0; };
    auto pull = [&]() -> bool {
      double lp = 0;
      TokenId lw = 0;
      bool have_l = false;
      while (ranked(x.lower, j, lp, lw)) {
        if (mark[lw] != stamp) {
          have_l = true;
          break;
        }
        ++j;
      }
      const bool have_e = i < expl.size();
      if (!have_e && !have_l) return false;
      const double pl = (0.0 + g * lp) / a;  // as prob() computes it
      const bool take_e = have_e && (!have_l || expl[i].first > pl || (expl[i].first == pl && expl[i].second < lw));
      const double p = take_e ? expl[i].first : pl;
      const TokenId w = take_e ? expl[i].second : lw;
      take_e ? ++i : ++j;
      if (cand.empty()) p0 = p;
      cand.push_back(Cand{f(p), w, take_e ? 1u : 0u});
      return true;
    };
    if (!pull()) return table(k, c, key);
    std::size_t len = SIZE_MAX;
    double z = 0;
    if (sc.top_k > 0) {
      while (cand.size() < static_cast<std::size_t>(sc.top_k) && cand.size() <= kMaxMerged && pull()) {
      }
      if (cand.size() > kMaxMerged) return table(k, c, key);
      for (const Cand& y : cand) z += y.w;
      len = cand.size();
    } else if (sc.top_p < 1) {
      if (x.lower != kBg) ensure_draw(x.lower, false);
      if (x.lower != kBg && !nodes[x.lower].z_exact) return table(k, c, key);
      const double zl = total_weight(x.lower);
      const double rest = zl - rejected;
      if (!(rest > 1e-9 * zl)) return table(k, c, key);
      z = (e_w + pw(g / a) * rest) / pw(p0);
    }
    if (sc.top_p < 1) {
      const double target = sc.top_p * z;
      double acc = 0;
      std::size_t q = 0;
      for (;;) {
        if (q == cand.size()) {
          if (cand.size() > kMaxMerged) return table(k, c, key);
          if (!pull()) break;
        }
        acc += cand[q].w;
        ++q;
        if (acc >= target) break;
      }
      len = std::min(len, q);
    }
    if (sc.min_p > 0) {
      const double threshold = sc.min_p * cand[0].w;
      std::size_t q = 0;
      while (q < len) {
        if (q == cand.size()) {
          if (cand.size() > kMaxMerged) return table(k, c, key);
          if (!pull()) break;
        }
        if (cand[q].w < threshold) break;
        ++q;
      }
      len = std::min(len, q);
    }
    len = std::min(len, cand.size());
    const auto sb = static_cast<std::uint32_t>(spool.size());
    Table t{static_cast<std::uint32_t>(pool_tok.size()), 0, sb, sb, 0, 0.0, 0.0, false};
    double cum = 0;
    pool_next.resize(pool_tok.size(), kNoContext);
    for (std::size_t q = 0; q < len; ++q) {
      const TokenId w = cand[q].token;
      cum += cand[q].w;
      pool_tok.push_back(w);
      pool_cum.push_back(cum);
      t.non_eos |= w != eos && cand[q].w > 0;
      std::uint32_t next = kNoContext;
      if (k == n && cand[q].pos == 1 && w != eos) next = n == 2 ? w : n == 3 ? m.tok_[m.find_entry_index(c, w)] : kNoContext;
      pool_next.push_back(next);
    }
    t.end = static_cast<std::uint32_t>(pool_tok.size());
    t.explicit_w = cum;
    t.pscale = pw(p0);
    tables.push_back(t);
    return *slot = static_cast<std::uint32_t>(tables.size() - 1);
  }

  /// One draw from context c of order k on the layered path.
  TokenId draw_layered(int k, std::uint32_t c, Key key, std::uint32_t& next) {
    next = kNoContext;
    if (k < 2) return draw(table(k, c, key));
    if (sc.truncates()) {
      const TokenId w = draw(truncated_table(k, c, key));
      if (last_pool < pool_next.size()) next = pool_next[last_pool];
      return w;
    }
    const std::uint32_t ni = node(k, c, key);
    ensure_draw(ni, true);
    return draw_node(ni, &next);
  }

  bool can_start_sentence() {
    if (direct) return true;  // the uniform floor gives every type p > 0 (all discounts are > 0)
    if (layered && !sc.truncates()) return true;  // every p > 0 and τ ≥ 0.2: p^(1/τ) does not underflow
    if (layered) return tables[truncated_table(n, m.start_ctx_, m.start_key_)].non_eos;
    return tables[table(n, m.start_ctx_, m.start_key_)].non_eos;
  }
};

/// MLE at τ = 1 without truncation (the loop's hot path). K independent sentence streams ("chains")
/// are advanced in lockstep, one token each in turn, so that the cache misses of different chains
/// overlap (a single chain is a dependent walk through memory: context → entries → next context).
/// Sentence i of the output is taken from chain i mod K (its ⌊i / K⌋-th non-empty sentence), an order
/// fixed before anything is drawn; sentences are i.i.d., so the output has exactly the distribution of
/// consecutive sentences from one stream, cut at n_tokens (the cut one is a prefix of a sentence).
struct NgramModel::ChainSampler {
  static constexpr int K = 16;
  struct Chain {
    std::uint32_t c = 0;        ///< current context
    TokenId last = 0;           ///< order 3: the last context symbol
    Key key = 0;                ///< orders ≥ 4: the packed context
    std::uint32_t len = 0;      ///< tokens of the current sentence
    std::uint64_t empty_run = 0;
    bool dead = false;          ///< hit the consecutive-empty backstop
    std::vector<TokenId> buf;   ///< completed sentences not yet merged, then the current sentence
    std::vector<std::size_t> ends;  ///< ends in buf of the completed sentences
    std::size_t head = 0;       ///< first unmerged completed sentence (index into ends)
    std::size_t bhead = 0;      ///< its start in buf
    std::size_t cur = 0;        ///< start of the current sentence in buf
  };

  template <int Order>  // 1, 2, 3, or 0 = any order ≥ 4
  static void run(const NgramModel& m, std::size_t n_tokens, std::size_t max_len, Rng& rng, Corpus& out) {
    const std::uint32_t* cb = m.ctx_begin_.data();
    const std::uint32_t* cum = m.cum_.data();
    const TokenId* tok = m.tok_.data();
    const TokenId eos = m.eos(), bos = m.bos();
    const TokenId* syms = Order == 3 ? m.node_sym_[0].data() : nullptr;
    std::array<Chain, K> ch;
    auto restart = [&](Chain& x) {
      x.c = m.start_ctx_;
      x.last = bos;
      x.key = m.start_key_;
    };
    for (Chain& x : ch) {
      restart(x);
      x.buf.reserve(std::min<std::size_t>(n_tokens / K + 64, 4096));
    }
    auto finish_sentence = [&](Chain& x) {
      x.ends.push_back(x.buf.size());
      x.cur = x.buf.size();
      x.len = 0;
      x.empty_run = 0;
      restart(x);
    };
    auto step = [&](Chain& x) {
      const std::uint32_t b = cb[x.c], e = cb[x.c + 1];
      __builtin_prefetch(tok + b);
      std::uint32_t idx = b;
      if (e - b > 1) {
        const std::uint32_t total = cum[e - 1];
        const auto u = static_cast<std::uint32_t>(bounded(rng, total));
        // All counts 1 (total = number of continuations, common in sparse contexts): entry u itself.
        idx = b + (total == e - b ? u : find_cum_branchless(cum + b, e - b, u));
      }
      const TokenId code = tok[idx];
      const TokenId w = Order == 3 ? (code == kEosCode ? eos : syms[code]) : code;
      if (w == eos) {
        if (x.len > 0) {
          finish_sentence(x);
        } else {
          if (++x.empty_run >= kMaxConsecutiveEmpty) x.dead = true;
          restart(x);
        }
        return;
      }
      x.buf.push_back(w);
      if (++x.len == max_len) {
        finish_sentence(x);
        return;
      }
      if constexpr (Order == 1) {
        x.c = 0;
      } else if constexpr (Order == 2) {
        x.c = w;  // dense bigram contexts; seen because (h, w) was seen with w ≠ EOS
      } else if constexpr (Order == 3) {
        x.c = code;  // order 3 stores the successor context in place of the token
      } else {
        x.key = m.shift(x.key, w);
        x.c = m.find_context(x.key);
      }
      __builtin_prefetch(cb + x.c);
    };
    // Moves the sentences that are next in output order into `out`; true when done.
    std::size_t front = 0;
    auto flush = [&]() -> bool {
      for (;;) {
        Chain& x = ch[front];
        const std::size_t need = n_tokens - out.tokens.size();
        if (x.head < x.ends.size()) {
          const std::size_t end = x.ends[x.head];
          const std::size_t take = std::min(end - x.bhead, need);
          out.tokens.insert(out.tokens.end(), x.buf.begin() + static_cast<std::ptrdiff_t>(x.bhead),
                            x.buf.begin() + static_cast<std::ptrdiff_t>(x.bhead + take));
          out.offsets.push_back(out.tokens.size());
          x.bhead = end;
          ++x.head;
          if (x.bhead >= 4096 && 2 * x.bhead >= x.buf.size()) {  // drop the merged prefix
            x.buf.erase(x.buf.begin(), x.buf.begin() + static_cast<std::ptrdiff_t>(x.bhead));
            x.ends.erase(x.ends.begin(), x.ends.begin() + static_cast<std::ptrdiff_t>(x.head));
            for (std::size_t& y : x.ends) y -= x.bhead;
            x.cur -= x.bhead;
            x.head = 0;
            x.bhead = 0;
          }
          front = (front + 1) % K;
          if (out.tokens.size() == n_tokens) return true;
          continue;
        }
        if (x.len >= need) {  // the frontier sentence is in progress and long enough: cut it
          out.tokens.insert(out.tokens.end(), x.buf.begin() + static_cast<std::ptrdiff_t>(x.cur),
                            x.buf.begin() + static_cast<std::ptrdiff_t>(x.cur + need));
          out.offsets.push_back(out.tokens.size());
          return true;
        }
        return x.dead;
      }
    };
    for (;;) {
      for (int r = 0; r < 16; ++r)
        for (int j = 0; j < K; ++j) {
          // Second prefetch stage: the entries of the chain due K/2 steps later (its context's
          // offsets were prefetched when that context was reached).
          const std::uint32_t ac = ch[(j + K / 2) % K].c;
          const std::uint32_t ab = cb[ac], ae = cb[ac + 1];
          __builtin_prefetch(cum + ab);
          __builtin_prefetch(cum + ae - 1);              // c(h), the draw's range
          __builtin_prefetch(cum + ab + (ae - ab) / 2);  // the binary search's first probe
          __builtin_prefetch(tok + ab);
          if (!ch[j].dead) step(ch[j]);
        }
      if (flush()) break;
    }
  }
};

namespace {

/// Cuts a stream of drawn tokens into sentences, as sample() documents: EOS ends a non-empty
/// sentence, an empty one (EOS first) is discarded, max_length cuts a sentence without EOS, and
/// kMaxConsecutiveEmpty empty sentences in a row stop sampling.
class SentenceAssembler {
 public:
  enum class Next { token, restart, stop };  ///< continue the sentence / start a new one / stop sampling
  SentenceAssembler(Corpus& out, std::size_t max_len) : out_(out), max_len_(max_len) {}
  Next eos() {
    if (len_ > 0) return close();
    return ++empty_run_ >= kMaxConsecutiveEmpty ? Next::stop : Next::restart;
  }
  Next token(TokenId w) {
    out_.tokens.push_back(w);
    return ++len_ == max_len_ ? close() : Next::token;
  }
  void finish() {
    if (len_ > 0) out_.offsets.push_back(out_.tokens.size());
  }

 private:
  Next close() {
    out_.offsets.push_back(out_.tokens.size());
    len_ = 0;
    empty_run_ = 0;
    return Next::restart;
  }
  Corpus& out_;
  std::size_t max_len_;
  std::size_t len_ = 0;  // tokens in the current sentence
  std::uint64_t empty_run_ = 0;
};

}  // namespace

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
  SentenceAssembler sentences(out, max_len);

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
      const TokenId w = ts.direct    ? ts.draw_direct(k, ctx, key, next)
                        : ts.layered ? ts.draw_layered(k, ctx, key, next)
                                     : ts.draw(ts.table(k, ctx, key));
      const auto step = w == v ? sentences.eos() : sentences.token(w);
      if (step == SentenceAssembler::Next::stop) break;
      if (step == SentenceAssembler::Next::restart) {
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
    sentences.finish();
    return out;
  }

  if (options_.smoothing == Smoothing::mle && controls.temperature == 1.0) {
    switch (n) {
      case 1: ChainSampler::run<1>(*this, n_tokens, max_len, rng, out); break;
      case 2: ChainSampler::run<2>(*this, n_tokens, max_len, rng, out); break;
      case 3: ChainSampler::run<3>(*this, n_tokens, max_len, rng, out); break;
      default: ChainSampler::run<0>(*this, n_tokens, max_len, rng, out); break;
    }
    return out;
  }

  // add_k, or MLE at τ ≠ 1: one sentence after another.
  std::uint32_t ctx = start_ctx_;
  Key key = start_key_;
  auto restart = [&] {
    ctx = start_ctx_;
    key = start_key_;
  };
  while (out.tokens.size() < n_tokens) {
    const TokenId w = sampler->draw(ctx);
    const auto step = w == v ? sentences.eos() : sentences.token(w);
    if (step == SentenceAssembler::Next::stop) break;
    if (step == SentenceAssembler::Next::restart) {
      restart();
      continue;
    }
    key = shift(key, w);
    ctx = find_context(key);  // MLE: always seen (h w was seen with w ≠ EOS); add_k: may be unseen
  }
  sentences.finish();
  return out;
}

}  // namespace collapse
