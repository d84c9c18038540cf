#pragma once
// A training set with provenance: every example knows whether it is real and which generation made it.

#include <cstdint>
#include <limits>
#include <vector>

#include "core/corpus.hpp"

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
