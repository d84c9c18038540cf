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

/// Size of the n-gram rank grid: ranks r_j = round(10^(j/10)), j = 0..70 (1 … 10^7).
inline constexpr std::uint64_t kRankGridSize = 71;
/// Number of head types in the n-gram trajectory unigram_head.
inline constexpr std::uint64_t kUnigramHeadSize = 64;
/// The rank grid r_j = round(10^(j/10)), j = 0..kRankGridSize−1 (non-decreasing; small ranks repeat).
std::vector<std::uint64_t> trajectory_rank_grid();

/// Looks up a metric's info. @throws std::logic_error if `name` is not registered for `family`.
const MetricInfo& metric_info(Family family, std::string_view name);

}  // namespace collapse::metrics
