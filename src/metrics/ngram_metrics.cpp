#include "metrics/ngram_metrics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace collapse::metrics {

std::size_t distinct_types(const Corpus& sample) {
  std::vector<TokenId> t(sample.tokens);
  std::sort(t.begin(), t.end());
  return static_cast<std::size_t>(std::unique(t.begin(), t.end()) - t.begin());
}

double distinct_n(const Corpus& sample, int n) {
  if (n < 1 || n > 4) throw std::invalid_argument("distinct_n: n = " + std::to_string(n) + ", but must be in [1, 4]");
  // Pack an n-gram of 32-bit ids into 128 bits; exact for n ≤ 4.
  std::vector<unsigned __int128> grams;
  grams.reserve(sample.num_tokens());
  for (std::size_t s = 0; s < sample.num_sentences(); ++s) {
    const auto sent = sample.sentence(s);
    for (std::size_t i = 0; i + static_cast<std::size_t>(n) <= sent.size(); ++i) {
      unsigned __int128 key = 0;
      for (int j = 0; j < n; ++j) key = (key << 32) | sent[i + static_cast<std::size_t>(j)];
      grams.push_back(key);
    }
  }
  if (grams.empty()) return std::numeric_limits<double>::quiet_NaN();
  const double total = static_cast<double>(grams.size());
  std::sort(grams.begin(), grams.end());
  return static_cast<double>(std::unique(grams.begin(), grams.end()) - grams.begin()) / total;
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

}  // namespace collapse::metrics
