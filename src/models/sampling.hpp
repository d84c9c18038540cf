#pragma once
// Generation controls shared by both model families.

namespace collapse {

/// How a model generates its synthetic data.
struct SamplingControls {
  /// Temperature τ > 0. n-gram: next-token probabilities p^(1/τ), renormalised over the context's
  /// support. Gaussian mixture: every covariance is scaled by τ² (the continuous analogue).
  /// τ = 1 is exact sampling from the fitted model.
  double temperature = 1.0;
  /// n-gram only: a sentence that reaches this many tokens without drawing end-of-sentence is cut
  /// there (no EOS is added). ≥ 1.
  int max_length = 200;
};

}  // namespace collapse
