#pragma once
// Writes the results file, schema v1 (DESIGN.md §4, documented in README.md). The only writer of HDF5.
//
//   /                     attrs: schema_version (int 1), software_version, git_sha, created_utc,
//                                command_line, experiment (whole TOML text), boost_version, hdf5_version
//   /runs                 compound [run]: run_index u64, run_key u64, replicate u64, seed u64,
//                         status (fixed string: done | failed | partial), wall_seconds f64,
//                         one column per swept parameter (i64, f64, u8 for bool, or variable-length string)
//   /runs_config          variable-length string [run]: the run's fully expanded TOML
//   /metrics/<name>       f64 [run × generation], NaN where not measured; attrs units, description
//   /trajectories/<name>  f64 [run × generation × shape...], NaN-padded; attrs units, description
//   /events               compound [event]: run_index u64, generation i64, kind (vlen str), message (vlen str)
//
// All datasets are chunked, gzip-compressed and extendible along the first axis. Row i of /runs,
// /runs_config, /metrics/* and /trajectories/* is the same run (rows are in write order; run_index says
// which run of the grid it is). The file is flushed after every run, so a killed sweep leaves a valid file.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/run_result.hpp"

namespace collapse::io {

inline constexpr int kSchemaVersion = 1;

enum class ParamType { int64, float64, boolean, string };

struct ParamColumn {
  std::string name;  ///< e.g. "loop.anchoring" (the dotted key as swept)
  ParamType type;
};

/// Everything fixed before the first run is written.
struct ResultLayout {
  std::uint64_t generations = 0;            ///< number of generation columns (max G + 1 over runs)
  std::vector<ParamColumn> params;          ///< swept parameter columns of /runs
  std::vector<MetricInfo> metrics;          ///< union over runs; a run lacking one gets NaN
  std::vector<TrajectoryInfo> trajectories; ///< shape = elementwise max over runs
};

/// Root attributes written at creation (schema_version, boost_version, hdf5_version, software_version
/// and git_sha are filled in by the writer).
struct FileAttributes {
  std::string created_utc;   ///< ISO 8601, e.g. "2026-11-21T20:15:03Z"
  std::string command_line;
  std::string experiment;    ///< the experiment file's whole text
};

class ResultWriter {
 public:
  /// Creates (truncates) `path` with the empty schema. @throws std::runtime_error naming the path if
  /// it cannot be created.
  ResultWriter(const std::string& path, const FileAttributes& attrs, const ResultLayout& layout);
  ~ResultWriter();
  ResultWriter(const ResultWriter&) = delete;
  ResultWriter& operator=(const ResultWriter&) = delete;

  /// Appends one run (a row everywhere, its events to /events) and flushes the file.
  /// Metrics not in the layout are an error (std::logic_error); layout metrics missing from the run are NaN.
  void write(const RunResult& run);
  /// Flushes and closes; further writes throw. Also done by the destructor.
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace collapse::io
