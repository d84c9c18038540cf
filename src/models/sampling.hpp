#pragma once
// Generation controls shared by both model families.

#include <cmath>
#include <string>

#include "core/check.hpp"

namespace collapse {

/// How a model generates its synthetic data.
///
/// n-gram next-token pipeline (NgramModel::sample): p(·|h) → temperature → top_k → top_p → min_p, each
/// step renormalising what is left, then one exact categorical draw (Boost.Random uniform
/// distributions). The truncations rank the outcomes (V types + EOS) by probability, descending, ties
/// broken by the smaller token id (EOS = V is the largest id), so the kept set is always a prefix of
/// that deterministic order. The Gaussian mixture uses `temperature` only and ignores the rest.
struct SamplingControls {
  /// Temperature τ > 0, finite. n-gram: next-token probabilities p^(1/τ), renormalised over the
  /// context's support. Gaussian mixture: every covariance is scaled by τ² (the continuous analogue).
  /// τ = 1 is exact sampling from the fitted model.
  double temperature = 1.0;
  /// n-gram only: a sentence that reaches this many tokens without drawing end-of-sentence is cut
  /// there (no EOS is added). ≥ 1.
  int max_length = 200;
  /// n-gram only: keep the k most probable next outcomes (after temperature); 0 = off. ≥ 0.
  /// top_k = 1 is greedy decoding (the argmax, ties by smallest id).
  int top_k = 0;
  /// n-gram only: nucleus sampling (Holtzman et al. 2020, "The Curious Case of Neural Text
  /// Degeneration", §3.1): keep the smallest prefix of the ranked outcomes whose cumulative
  /// probability (after temperature and top_k, renormalised) is ≥ top_p. In (0, 1]; 1 = off.
  double top_p = 1.0;
  /// n-gram only: keep the outcomes with p ≥ min_p · p_max (after temperature, top_k and top_p;
  /// p_max = the largest remaining probability). In [0, 1]; 0 = off.
  double min_p = 0.0;

  /// Whether any truncation (top_k, top_p, min_p) is active.
  bool truncates() const noexcept { return top_k != 0 || top_p != 1.0 || min_p != 0.0; }

  /// Ceres-style validation with the config keys as names, e.g.
  /// "loop.top_p = 0, but must be in (0, 1]".
  /// @return false and a message (error may be null) if a field is out of range.
  bool IsValid(std::string* error) const {
    auto fail = [&](std::string message) {
      if (error) *error = std::move(message);
      return false;
    };
    if (!(temperature > 0) || !std::isfinite(temperature))
      return fail("loop.temperature = " + format_number(temperature) + ", but must be finite and > 0");
    if (max_length < 1) return fail("loop.max_length = " + std::to_string(max_length) + ", but must be ≥ 1");
    if (top_k < 0) return fail("loop.top_k = " + std::to_string(top_k) + ", but must be ≥ 0 (0 = off)");
    if (!(top_p > 0 && top_p <= 1))
      return fail("loop.top_p = " + format_number(top_p) + ", but must be in (0, 1]");
    if (!(min_p >= 0 && min_p <= 1))
      return fail("loop.min_p = " + format_number(min_p) + ", but must be in [0, 1]");
    return true;
  }
};

}  // namespace collapse
