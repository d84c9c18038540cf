#pragma once
// Reading a results file back: for `collapse info`, for tests and for tools. Like all of io, not
// thread-safe (the HDF5 library is built without thread safety): one thread at a time calls into io.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/run_result.hpp"
#include "io/result_writer.hpp"  // kSchemaVersion

namespace collapse::io {

struct RunRow {
  std::uint64_t run_index = 0, run_key = 0, replicate = 0, seed = 0;
  std::string status;
  double wall_seconds = 0;
  std::map<std::string, ParamValue> params;
};

struct ResultsFile {
  /// Root string attributes: software_version, git_sha, created_utc, command_line, experiment,
  /// boost_version, hdf5_version, experiment_digest ("" in files older than it), shard ("" unsharded).
  std::map<std::string, std::string> string_attrs;
  int schema_version = 0;
  std::uint64_t total_runs = 0;                      ///< runs in the experiment's full grid; 0 = not recorded
  std::vector<ParamColumn> param_columns;            ///< swept-parameter columns of /runs, in file order
  std::vector<RunRow> runs;
  std::vector<std::string> runs_config;
  std::vector<MetricInfo> metric_info;
  std::map<std::string, std::vector<std::vector<double>>> metrics;  ///< name → [run][generation]
  std::vector<TrajectoryInfo> trajectory_info;                      ///< shape = per-generation shape in the file
  /// (run_index, event) of the runs in /runs, in write order: the leading rows of /events whose run is in
  /// /runs (rows after them belong to a write that was interrupted before its /runs row).
  std::vector<std::pair<std::uint64_t, Event>> events;
};

/// Reads the whole file (metrics included; trajectories only their info, see read_trajectory()).
/// Rows are in write order; /runs decides how many runs there are (a longer metric dataset, from a
/// write interrupted before its /runs row, is cut to that length; so are that write's events). Param columns of /runs are typed by
/// their HDF5 class: 1-byte integer → bool, other integer → int64, float → double, string → string.
/// Opens the file without HDF5's file lock, so a file still being written can be inspected.
/// @throws std::runtime_error naming the path if it is missing, not HDF5, has no or another
///         schema_version than kSchemaVersion, or lacks /runs (or a dataset cannot be read, or is
///         shorter than /runs, or metrics and trajectories disagree on the number of generations).
ResultsFile read_results(const std::string& path);

/// run_index of every `done` row of /runs, in file order: the runs a resumed sweep can skip. Reads
/// /runs and the run_index column of /events only; opens without the file lock, like read_results().
/// @throws std::runtime_error as read_results().
std::vector<std::uint64_t> done_run_indices(const std::string& path);

/// One /trajectories dataset: dims = {runs, generations, shape...}, values row-major over dims.
struct TrajectoryArray {
  TrajectoryInfo info;               ///< shape = per-generation shape in the file (dims minus the first two)
  std::vector<std::uint64_t> dims;   ///< {runs, generations, shape...}
  std::vector<double> values;        ///< prod(dims) values, NaN where padded
};

/// Reads /trajectories/<name> (rows cut to the number of /runs rows, as read_results()).
/// @throws std::runtime_error naming the path as read_results(), or if there is no such trajectory.
TrajectoryArray read_trajectory(const std::string& path, const std::string& name);

/// Human-readable summary for `collapse info`: attributes (with the experiment digest, its total number
/// of runs and the shard, when recorded), run counts by status, a table of runs with
/// their swept parameters (first 20 and last 5 when there are more than 40), metrics with units,
/// description and the mean over `done` runs at generation 0 and at the last generation with a finite
/// value, trajectories with their shapes, and event counts by kind. Multi-line, ends with a newline.
std::string describe(const ResultsFile& file);

}  // namespace collapse::io
