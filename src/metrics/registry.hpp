#pragma once
// The metric registry: names, units and descriptions that the results file stores as attributes.

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/run_result.hpp"

namespace collapse::metrics {

enum class Family { gaussian_mixture, ngram };

/// Every per-generation scalar metric a run of `family` records (including the provenance metrics
/// common to both families), in a stable order.
const std::vector<MetricInfo>& metric_infos(Family family);

/// Per-generation arrays a run records. @param components K, @param dim d (GMM only; ignored for n-gram).
std::vector<TrajectoryInfo> trajectory_infos(Family family, std::uint64_t components, std::uint64_t dim);

/// Looks up a metric's info. @throws std::logic_error if `name` is not registered for `family`.
const MetricInfo& metric_info(Family family, std::string_view name);

}  // namespace collapse::metrics
