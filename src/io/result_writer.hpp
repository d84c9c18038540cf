#pragma once
// Writes the results file, schema v1 (DESIGN.md §4, documented in README.md). The only writer of HDF5.
//
//   /                     attrs: schema_version (int 1), software_version, git_sha, created_utc,
//                                command_line, experiment (whole TOML text), boost_version, hdf5_version,
//                                experiment_digest (16 hex digits, "" if unknown), total_runs (u64),
//                                shard ("i/N", "" for an unsharded file)
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
// is; a run_index occurs at most once). The file is flushed after every run, /runs last, so a sweep
// killed between two writes leaves a file that reads back with every run written, and one killed inside
// a write almost always does too (0 of 160 random SIGKILLs lost a committed run; see "Crash safety" in
// result_writer.cpp for why this layout rather than gzip everywhere). Other datasets may then hold one
// extra, possibly unreadable row after the last /runs row (and /events that run's events): readers take
// the number of runs from /runs; resuming cuts the extra rows off.

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/run_result.hpp"

namespace collapse::io {

namespace detail {
struct WriterAccess;
}

inline constexpr int kSchemaVersion = 1;

enum class ParamType { int64, float64, boolean, string };
/// "int64", "float64", "boolean" or "string".
const char* to_string(ParamType t) noexcept;

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

/// Root attributes written at creation (schema_version is the writer's; the provenance fields default
/// to this build's). In Mode::resume the file keeps its own attributes; the identity fields
/// (experiment_digest, total_runs, shard) must match them.
struct FileAttributes {
  std::string created_utc;   ///< ISO 8601, e.g. "2026-11-21T20:15:03Z"; empty = now (filled in by the writer)
  std::string command_line;
  std::string experiment;    ///< the experiment file's whole text
  /// Identity of the experiment: 16 lowercase or uppercase hex digits, a hash over the FULL grid's
  /// (run_index, run_key, seed), so every shard of one experiment has the same digest. "" = unknown
  /// (such a file cannot be resumed).
  std::string experiment_digest{};
  std::uint64_t total_runs = 0;  ///< runs in the experiment's full grid (all shards); 0 = unknown
  std::string shard{};           ///< "i/N" (0 ≤ i < N) for shard i of N; "" for an unsharded file
  // Provenance; empty = this build's. Set when a file is rebuilt from other files (merge, the rewrite
  // of a resumed file) so that it keeps the versions of the software that computed the runs.
  std::string software_version{};
  std::string git_sha{};
  std::string boost_version{};
  std::string hdf5_version{};
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
  enum class Mode {
    create,  ///< create `path`, truncating an existing file
    resume,  ///< continue an existing file of the same experiment (see the constructor)
  };

  /// Mode::create: creates (truncates) `path` with the empty schema: root attributes, /runs with one
  /// column per layout.params entry, one /metrics and /trajectories dataset per layout entry, /events.
  ///
  /// Mode::resume: opens the existing `path` to continue it; `attrs` other than the identity fields
  /// are ignored (the file keeps its own). Steps, each before the file is modified:
  ///   1. open read-only (with the file lock, so a sweep still writing the file is refused), check the
  ///      schema_version, read /runs and the shape of every dataset;
  ///   2. check identity: experiment_digest, shard and total_runs equal `attrs`'; the file's layout equals
  ///      `layout` (generations, metric and trajectory names, trajectory shapes, param columns and
  ///      their types; order, units and descriptions are not compared).
  /// Then the repairs:
  ///   3. if some rows are not `done` (partial or failed), the file is rewritten without them and their
  ///      events, so they can be rerun: copied to '<path>.resume-tmp' and renamed over `path` when
  ///      complete (a kill at any moment leaves the old or the new file; cost O(file size));
  ///   4. otherwise, datasets longer than /runs (a write killed between its flushes) are cut back to
  ///      /runs' length and /events to its committed rows (H5Dset_extent; O(1) per dataset).
  /// A finished file (all rows done, no extra rows) is only read: O(runs + events) small reads.
  /// done_runs() lists the runs kept; write() then appends as in Mode::create.
  ///
  /// @throws std::invalid_argument  a bad layout (duplicate or reserved column names, duplicate or
  ///                                empty metric/trajectory names, names containing '/'), or bad attrs
  ///                                (experiment_digest not 16 hex digits, shard not "i/N"; in resume
  ///                                mode an empty experiment_digest); the file is not touched then.
  /// @throws std::runtime_error     create: "cannot create results file '<path>': <reason>" if it cannot
  ///                                be created (directory missing, not writable, locked by a writer).
  ///                                resume, the file unchanged: "cannot resume: results file '<path>'
  ///                                does not exist"; "cannot resume: '<path>' is not a readable results
  ///                                file (<reason>); it cannot be recovered — move it away and rerun"
  ///                                (not HDF5, truncated, unreadable); "... is locked by another
  ///                                process ..."; "... has schema_version 2, but this build writes 1";
  ///                                "... was written by another experiment (name 'A', digest …) than this
  ///                                one (name 'B', digest …)"; "... holds shard '0/2' ..., but this is
  ///                                shard '1/2'"; "... has another layout than this experiment: <the
  ///                                differences>".
  ResultWriter(const std::string& path, const FileAttributes& attrs, const ResultLayout& layout,
               Mode mode = Mode::create);
  /// Closes the file (errors are swallowed; call close() to see them).
  ~ResultWriter();
  ResultWriter(const ResultWriter&) = delete;
  ResultWriter& operator=(const ResultWriter&) = delete;

  /// Appends one run (a row everywhere, its events to /events) and flushes the file.
  /// Values are NaN-padded: a metric vector may be shorter than layout.generations, a trajectory's
  /// shape may be smaller than the layout's (elementwise); layout metrics/trajectories missing from
  /// the run are all NaN, layout params missing from the run are 0 / NaN / false / "".
  /// An int64 param value is accepted for a float64 column.
  /// @throws std::logic_error  (nothing written) a run_index already in the file (written before, or
  ///                           kept by resume); a metric, trajectory or param not in the layout; a
  ///                           metric longer than layout.generations; a trajectory whose rank, shape,
  ///                           generation count or value count does not fit; a param value of the
  ///                           wrong type; write after close().
  /// @throws std::runtime_error  an HDF5 failure (naming the dataset); the writer is then unusable.
  void write(const RunResult& run);
  /// Flushes and closes; further writes throw. Idempotent. Also done by the destructor.
  /// @throws std::runtime_error  if HDF5 fails to flush or close the file.
  void close();

  /// Number of rows of /runs: in resume mode the runs kept from the file plus those written since.
  std::uint64_t runs_written() const noexcept;
  /// Resume mode: run_index of every run the file held when it was opened (all `done`, in file order);
  /// a sweep skips these. Create mode: empty. Not updated by write().
  const std::vector<std::uint64_t>& done_runs() const noexcept;
  /// The path given to the constructor.
  const std::string& path() const noexcept;

 private:
  friend struct detail::WriterAccess;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace collapse::io
