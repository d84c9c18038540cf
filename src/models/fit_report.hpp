#pragma once
#include <string>
#include <vector>

#include "core/run_result.hpp"

namespace collapse {

/// What a fit did (Ceres-style summary instead of logging). `events` carry generation = -1; the loop
/// stamps the generation when it records them.
struct FitReport {
  int iterations = 0;         ///< EM iterations run (0 for closed-form fits such as n-gram counting)
  bool converged = true;      ///< false if EM stopped at max_iter
  double lower_bound = 0.0;   ///< EM: mean log-likelihood per training sample at the end (nats/sample)
  std::vector<Event> events;  ///< degenerate situations met and handled (variance floor, empty component, ...)
};

}  // namespace collapse
