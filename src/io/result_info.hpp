#pragma once
// Reading a results file back: for `collapse info` and for tests.

#include <map>
#include <string>
#include <vector>

#include "core/run_result.hpp"

namespace collapse::io {

struct RunRow {
  std::uint64_t run_index = 0, run_key = 0, replicate = 0, seed = 0;
  std::string status;
  double wall_seconds = 0;
  std::map<std::string, ParamValue> params;
};

struct ResultsFile {
  std::map<std::string, std::string> string_attrs;  ///< root string attributes
  int schema_version = 0;
  std::vector<RunRow> runs;
  std::vector<std::string> runs_config;
  std::vector<MetricInfo> metric_info;
  std::map<std::string, std::vector<std::vector<double>>> metrics;  ///< name → [run][generation]
  std::vector<TrajectoryInfo> trajectory_info;                      ///< shape = per-generation shape in the file
  std::vector<std::pair<std::uint64_t, Event>> events;               ///< (run_index, event)
};

/// Reads the whole file (metrics included; trajectories only their info).
/// @throws std::runtime_error naming the path if it is missing, not HDF5 or not schema v1.
ResultsFile read_results(const std::string& path);

/// Human-readable summary for `collapse info`: attributes, runs with swept parameters and statuses,
/// metrics with units and the mean over runs at the first and last generation.
std::string describe(const ResultsFile& file);

}  // namespace collapse::io
