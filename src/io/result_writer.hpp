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
// All datasets are chunked and extendible along the first axis. /metrics/* and /trajectories/* hold one
// run per chunk, shuffle + gzip (level 4) when a row is at least 512 bytes; /runs, /runs_config and
// /events are uncompressed (64-, 64- and 256-row chunks). Row i of /runs, /runs_config, /metrics/* and
// /trajectories/* is the same run (rows are in write order; run_index says which run of the grid it
// is). The file is flushed after every run, /runs last, so a sweep killed between two writes leaves a
// file that reads back with every run written, and one killed inside a write almost always does too
// (0 of 160 random SIGKILLs lost a committed run; see "Crash safety" in result_writer.cpp for why this
// layout rather than gzip everywhere). Other datasets may then hold one extra, possibly unreadable row
// after the last /runs row: readers take the number of runs from /runs.

#include <cstdint>
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
  std::string created_utc;   ///< ISO 8601, e.g. "2026-11-21T20:15:03Z"; empty = now (filled in by the writer)
  std::string command_line;
  std::string experiment;    ///< the experiment file's whole text
};

/// Writes one results file, run by run. Not thread-safe: one thread (the writer thread) owns it.
///
/// Each write() appends one row to /runs, /runs_config, every /metrics/<name> and every
/// /trajectories/<name>, appends the run's events to /events, then flushes the whole file
/// (H5Fflush, global scope). /runs is written last, so a row in /runs means the run is complete
/// everywhere. Cost of a write: O(generations · (metrics + Σ trajectory sizes)) plus one flush; the
/// datasets stay open, nothing is re-read.
///
/// While the writer holds the file, HDF5's file lock keeps other HDF5 writers (and, by default,
/// readers) out; read_results() opens without the lock, so `collapse info` works on a running sweep.
/// h5py can read the file concurrently with HDF5_USE_FILE_LOCKING=FALSE.
class ResultWriter {
 public:
  /// Creates (truncates) `path` with the empty schema: root attributes, /runs with one column per
  /// layout.params entry, one /metrics and /trajectories dataset per layout entry, /events.
  /// @throws std::invalid_argument  a bad layout (duplicate or reserved column names, duplicate or
  ///                                empty metric/trajectory names, names containing '/'); the file is
  ///                                not touched then.
  /// @throws std::runtime_error     "cannot create results file '<path>': <reason>" if it cannot be
  ///                                created (directory missing, not writable, locked by a writer).
  ResultWriter(const std::string& path, const FileAttributes& attrs, const ResultLayout& layout);
  /// Closes the file (errors are swallowed; call close() to see them).
  ~ResultWriter();
  ResultWriter(const ResultWriter&) = delete;
  ResultWriter& operator=(const ResultWriter&) = delete;

  /// Appends one run (a row everywhere, its events to /events) and flushes the file.
  /// Values are NaN-padded: a metric vector may be shorter than layout.generations, a trajectory's
  /// shape may be smaller than the layout's (elementwise); layout metrics/trajectories missing from
  /// the run are all NaN, layout params missing from the run are 0 / NaN / false / "".
  /// An int64 param value is accepted for a float64 column.
  /// @throws std::logic_error  (nothing written) a metric, trajectory or param not in the layout; a
  ///                           metric longer than layout.generations; a trajectory whose rank, shape,
  ///                           generation count or value count does not fit; a param value of the
  ///                           wrong type; write after close().
  /// @throws std::runtime_error  an HDF5 failure (naming the dataset); the writer is then unusable.
  void write(const RunResult& run);
  /// Flushes and closes; further writes throw. Idempotent. Also done by the destructor.
  /// @throws std::runtime_error  if HDF5 fails to flush or close the file.
  void close();

  /// Number of runs written so far (rows of /runs).
  std::uint64_t runs_written() const noexcept;
  /// The path given to the constructor.
  const std::string& path() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace collapse::io
