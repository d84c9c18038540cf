#pragma once
// What one run hands to the result writer (DESIGN.md §4). Plain data: no HDF5 here.

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace collapse {

/// Name, units and description of a per-generation scalar metric, stored as HDF5 attributes.
struct MetricInfo {
  std::string name;         ///< dataset name under /metrics, e.g. "distinct_types"
  std::string units;        ///< e.g. "nats/sample", "types", "1" for dimensionless
  std::string description;  ///< one or two sentences: what is measured and how it is estimated
};

/// A per-generation array (e.g. fitted weights, K values per generation), stored under /trajectories.
struct TrajectoryInfo {
  std::string name;
  std::string units;
  std::string description;
  std::vector<std::uint64_t> shape;  ///< per-generation shape, e.g. {K} or {K, d}; the file pads to the max over runs
};

/// Something that happened in a run and was recorded instead of aborting it (collapse is the phenomenon).
struct Event {
  int generation = -1;   ///< -1 for run-level events
  std::string kind;      ///< short machine-readable tag, e.g. "variance_floor", "em_not_converged"
  std::string message;   ///< human-readable detail
};

/// Value of a swept parameter as stored in a /runs column.
using ParamValue = std::variant<std::int64_t, double, bool, std::string>;

enum class RunStatus : std::uint8_t { done = 0, failed = 1, partial = 2 };
const char* to_string(RunStatus s) noexcept;

struct TrajectoryData {
  std::vector<std::uint64_t> shape;  ///< this run's per-generation shape (≤ the file's, elementwise)
  std::vector<double> values;        ///< (generations+1) × prod(shape), row-major; NaN where not measured
};

struct RunResult {
  std::uint64_t run_index = 0;  ///< position in the expanded grid × replicates
  std::uint64_t run_key = 0;    ///< hash of the run's canonical parameter text (without replicate)
  std::uint64_t replicate = 0;
  std::uint64_t seed = 0;       ///< run_seed(master, run_key, replicate)
  RunStatus status = RunStatus::done;
  double wall_seconds = 0;
  std::string config_toml;                     ///< the run's fully expanded configuration
  std::map<std::string, ParamValue> params;    ///< swept parameter → value (column of /runs)
  std::map<std::string, std::vector<double>> metrics;  ///< name → per-generation values (length G+1)
  std::map<std::string, TrajectoryData> trajectories;
  std::vector<Event> events;
  std::string error;  ///< non-empty when status == failed
};

inline const char* to_string(RunStatus s) noexcept {
  switch (s) {
    case RunStatus::done: return "done";
    case RunStatus::failed: return "failed";
    case RunStatus::partial: return "partial";
  }
  return "?";
}

/// Software version and git sha baked in at build time.
const char* software_version() noexcept;
const char* git_sha() noexcept;

}  // namespace collapse
