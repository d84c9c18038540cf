#pragma once
// A training set with provenance: every example knows whether it is real and which generation made it.

#include <algorithm>
#include <cstdint>
#include <limits>
#include <span>
#include <type_traits>
#include <vector>

#include "core/corpus.hpp"
#include "core/rng.hpp"

namespace collapse {

/// Provenance of one example: kReal, or the generation g ≥ 0 whose model generated it.
using Origin = std::int32_t;
inline constexpr Origin kReal = -1;

/// `origin[i]` is the provenance of example i of `data` (row i, or sentence i).
/// Invariant: origin.size() == num_examples(data).
template <class Data>
struct TrainingSet {
  Data data{};
  std::vector<Origin> origin;

  /// Appends all examples of `d`, each with provenance `o`.
  void add(const Data& d, Origin o) {
    append(data, d);
    origin.insert(origin.end(), num_examples(d), o);
  }
  /// Total size in units (rows, or tokens).
  std::size_t size() const noexcept { return total_size(data); }
  /// A uniform subsample of `units` units without replacement, provenance kept: the examples in a
  /// uniformly random order (partial Fisher–Yates from `rng`), the first ones up to `units` kept, the
  /// last sentence cut to hit a token budget exactly. The whole set if units ≥ size().
  /// Cost: O(k) for k rows; O(#sentences + units) for text.
  TrainingSet subsample(std::size_t units, Rng& rng) const {
    const std::size_t n = num_examples(data);
    // Rows have size 1, so k = units rows suffice; sentences need the whole permutation's prefix.
    const std::size_t k = std::is_same_v<Data, Corpus> ? n : std::min(units, n);
    const std::vector<std::size_t> order = sample_without_replacement(n, k, rng);
    std::size_t take = 0, got = 0;
    while (take < order.size() && got < units) got += example_size(data, order[take++]);
    TrainingSet out;
    const std::span<const std::size_t> kept(order.data(), take);
    out.data = select(data, kept);
    out.origin.reserve(take);
    for (auto i : kept) out.origin.push_back(origin[i]);
    truncate_to_size(out.data, units);
    out.origin.resize(num_examples(out.data));
    return out;
  }
  /// Share of the set's size (rows, or tokens) that is real; NaN for an empty set.
  double real_fraction() const {
    double real = 0, all = 0;
    for (std::size_t i = 0; i < origin.size(); ++i) {
      const double w = static_cast<double>(example_size(data, i));
      all += w;
      if (origin[i] == kReal) real += w;
    }
    return all > 0 ? real / all : std::numeric_limits<double>::quiet_NaN();
  }
  /// Mean age (generation − origin) of the synthetic part, weighted by size, for the training set of
  /// generation `generation`; NaN if there is no synthetic part. Under `replace` it is exactly 1.
  double mean_synthetic_age(int generation) const {
    double sum = 0, all = 0;
    for (std::size_t i = 0; i < origin.size(); ++i) {
      if (origin[i] == kReal) continue;
      const double w = static_cast<double>(example_size(data, i));
      sum += w * (generation - origin[i]);
      all += w;
    }
    return all > 0 ? sum / all : std::numeric_limits<double>::quiet_NaN();
  }
};

}  // namespace collapse
