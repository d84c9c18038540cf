#include "metrics/ngram_metrics.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>

#include "core/check.hpp"
#include "sources/verbatim_index.hpp"

namespace collapse::metrics {

std::size_t distinct_types(const Corpus& sample) {
  std::vector<TokenId> t(sample.tokens);
  std::sort(t.begin(), t.end());
  return static_cast<std::size_t>(std::unique(t.begin(), t.end()) - t.begin());
}

double distinct_n(const Corpus& sample, int n) {
  if (n < 1 || n > 4) throw std::invalid_argument("distinct_n: n = " + std::to_string(n) + ", but must be in [1, 4]");
  const auto order = static_cast<std::size_t>(n);
  std::size_t grams = 0;
  for (std::size_t s = 0; s < sample.num_sentences(); ++s)
    if (sample.sentence_length(s) >= order) grams += sample.sentence_length(s) - order + 1;
  if (grams == 0) return std::numeric_limits<double>::quiet_NaN();
  // Exact set of n-grams, stored as positions into sample.tokens (O(T) expected).
  // Sized for at most 2^16 distinct n-grams up front: unigram/bigram sets of a large sample stay small
  // (cache-resident) instead of reserving room for every position; larger sets grow by doubling.
  NgramSet set(order, std::min<std::size_t>(grams, std::size_t{1} << 16));
  for (std::size_t s = 0; s < sample.num_sentences(); ++s)
    for (std::size_t p = sample.offsets[s]; p + order <= sample.offsets[s + 1]; ++p) set.insert(sample.tokens.data(), p);
  return static_cast<double>(set.size()) / static_cast<double>(grams);
}

double entropy_bits(const std::vector<double>& p) {
  double h = 0;
  for (double x : p)
    if (x > 0) h -= x * std::log2(x);
  return h;
}

double gini_simpson(const std::vector<double>& p) {
  double s = 0;
  for (double x : p) s += x * x;
  return 1.0 - s;
}

double missing_mass(const std::vector<double>& model, const std::vector<double>& real) {
  double m = 0;
  for (std::size_t i = 0; i < real.size(); ++i)
    if (!(i < model.size() && model[i] > 0)) m += real[i];
  return m;
}

double tail_mass_beyond_rank(const std::vector<double>& model, std::size_t r) {
  double m = 0;
  for (std::size_t i = r; i < model.size(); ++i) m += model[i];
  return m;
}

// ---- Distances -----------------------------------------------------------------------------------

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double at(const std::vector<double>& v, std::size_t i) noexcept { return i < v.size() ? v[i] : 0.0; }

bool all_zero(const std::vector<double>& v) noexcept {
  return std::all_of(v.begin(), v.end(), [](double x) { return x == 0.0; });
}

}  // namespace

double kl_divergence_bits(const std::vector<double>& model, const std::vector<double>& truth) {
  if (all_zero(model) || all_zero(truth)) return kNaN;
  const std::size_t v = std::max(model.size(), truth.size());
  double kl = 0;
  for (std::size_t i = 0; i < v; ++i) {
    const double m = at(model, i), t = at(truth, i);
    if (m <= 0) continue;
    if (t <= 0) return std::numeric_limits<double>::infinity();
    kl += m * std::log2(m / t);
  }
  return std::max(kl, 0.0);  // ≥ 0 by Gibbs' inequality; clamp rounding
}

double js_divergence_bits(const std::vector<double>& p, const std::vector<double>& q) {
  if (all_zero(p) || all_zero(q)) return kNaN;
  const std::size_t v = std::max(p.size(), q.size());
  double js = 0;
  for (std::size_t i = 0; i < v; ++i) {
    const double a = at(p, i), b = at(q, i), m = 0.5 * (a + b);
    if (a > 0) js += 0.5 * a * std::log2(a / m);
    if (b > 0) js += 0.5 * b * std::log2(b / m);
  }
  return std::clamp(js, 0.0, 1.0);
}

double total_variation(const std::vector<double>& p, const std::vector<double>& q) {
  if (all_zero(p) || all_zero(q)) return kNaN;
  const std::size_t v = std::max(p.size(), q.size());
  double tv = 0;
  for (std::size_t i = 0; i < v; ++i) tv += std::abs(at(p, i) - at(q, i));
  return std::min(0.5 * tv, 1.0);
}

// ---- Rank–frequency ------------------------------------------------------------------------------

std::vector<std::uint64_t> rank_counts(const Corpus& sample) {
  const auto& tokens = sample.tokens;
  std::vector<std::uint64_t> counts;
  if (tokens.empty()) return counts;
  const TokenId max_id = *std::max_element(tokens.begin(), tokens.end());
  if (static_cast<std::size_t>(max_id) < 4 * tokens.size() + 65536) {
    std::vector<std::uint64_t> dense(static_cast<std::size_t>(max_id) + 1, 0);
    for (TokenId t : tokens) ++dense[t];
    for (std::uint64_t c : dense)
      if (c) counts.push_back(c);
  } else {
    std::vector<TokenId> sorted(tokens);
    std::sort(sorted.begin(), sorted.end());
    for (std::size_t i = 0; i < sorted.size();) {
      std::size_t j = i;
      while (j < sorted.size() && sorted[j] == sorted[i]) ++j;
      counts.push_back(j - i);
      i = j;
    }
  }
  std::sort(counts.begin(), counts.end(), std::greater<>());
  return counts;
}

double zipf_exponent_mle(std::span<const double> counts_descending) {
  std::size_t r_max = 0;
  std::size_t positive = 0;
  for (std::size_t i = 0; i < counts_descending.size(); ++i) {
    const double f = counts_descending[i];
    if (!(std::isfinite(f) && f >= 0))
      throw std::invalid_argument("zipf_exponent_mle: counts[" + std::to_string(i) + "] = " + format_number(f) +
                                  ", but must be finite and ≥ 0");
    if (f > 0) {
      r_max = i + 1;
      ++positive;
    }
  }
  if (positive < 2) return kNaN;
  // 1. Sufficient statistic: the observed mean log-rank m = Σ f_r ln r / N.
  std::vector<double> log_rank(r_max);
  double n = 0, sum_f_log = 0;
  for (std::size_t r = 1; r <= r_max; ++r) {
    log_rank[r - 1] = std::log(static_cast<double>(r));
    n += counts_descending[r - 1];
    sum_f_log += counts_descending[r - 1] * log_rank[r - 1];
  }
  const double target = sum_f_log / n;
  // 2. ℓ'(s)/N = E_s[ln r] − m (decreasing in s) and ℓ''(s)/N = −Var_s[ln r].
  auto score = [&](double s, double& slope) {
    double z = 0, e1 = 0, e2 = 0;
    for (double l : log_rank) {
      const double w = std::exp(-s * l);
      z += w;
      e1 += w * l;
      e2 += w * l * l;
    }
    e1 /= z;
    e2 /= z;
    slope = -(e2 - e1 * e1);
    return e1 - target;
  };
  constexpr double kLo = 0.0, kHi = 10.0;
  double slope = 0;
  if (score(kLo, slope) <= 0) return kLo;  // ℓ decreasing on [0, 10]: maximum at 0
  if (score(kHi, slope) >= 0) return kHi;  // ℓ increasing on [0, 10]: maximum at 10
  // 3. Newton from s = 1, kept inside the sign-change bracket [lo, hi] (bisection when it leaves it).
  double lo = kLo, hi = kHi, s = 1.0;
  for (int it = 0; it < 200; ++it) {
    const double g = score(s, slope);
    if (g == 0) return s;
    (g > 0 ? lo : hi) = s;
    double next = slope < 0 ? s - g / slope : 0.5 * (lo + hi);
    if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
    const double step = std::abs(next - s);
    s = next;
    if (step < 1e-12 || hi - lo < 1e-12) break;
  }
  return s;
}

double zipf_exponent_mle(const Corpus& sample) {
  const auto counts = rank_counts(sample);
  const std::vector<double> f(counts.begin(), counts.end());
  return zipf_exponent_mle(std::span<const double>(f));
}

std::vector<double> rank_frequency(const Corpus& sample, const std::vector<std::uint64_t>& ranks) {
  for (std::size_t i = 0; i < ranks.size(); ++i)
    if (ranks[i] == 0)
      throw std::invalid_argument("rank_frequency: ranks[" + std::to_string(i) + "] = 0, but ranks must be ≥ 1");
  if (sample.num_tokens() == 0) return std::vector<double>(ranks.size(), kNaN);
  const auto counts = rank_counts(sample);
  const double n = static_cast<double>(sample.num_tokens());
  std::vector<double> out(ranks.size());
  for (std::size_t i = 0; i < ranks.size(); ++i)
    out[i] = ranks[i] <= counts.size() ? static_cast<double>(counts[ranks[i] - 1]) / n : 0.0;
  return out;
}

// ---- Memorization --------------------------------------------------------------------------------

double verbatim_sentence_rate(const Corpus& generated, const VerbatimIndex& index) {
  const std::size_t s = generated.num_sentences();
  if (s == 0) return kNaN;
  std::size_t hits = 0;
  for (std::size_t i = 0; i < s; ++i) hits += index.contains_sentence(generated.sentence(i)) ? 1 : 0;
  return static_cast<double>(hits) / static_cast<double>(s);
}

double verbatim_ngram_rate(const Corpus& generated, const VerbatimIndex& index) {
  constexpr std::size_t n = VerbatimIndex::kNgramOrder;
  std::size_t total = 0, hits = 0;
  for (std::size_t s = 0; s < generated.num_sentences(); ++s)
    for (std::size_t p = generated.offsets[s]; p + n <= generated.offsets[s + 1]; ++p) {
      ++total;
      hits += index.contains_ngram(generated.tokens.data() + p) ? 1 : 0;
    }
  return total ? static_cast<double>(hits) / static_cast<double>(total) : kNaN;
}

}  // namespace collapse::metrics
