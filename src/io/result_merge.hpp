#pragma once
// Merging the results files of a sharded sweep (`collapse merge`) into the file an unsharded sweep
// would have written.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace collapse::io {

/// What merge_results() wrote.
struct MergeSummary {
  std::uint64_t runs_written = 0;                 ///< rows of the merged /runs
  std::uint64_t total_runs = 0;                   ///< runs in the experiment's grid (0 = not recorded)
  std::uint64_t missing = 0;                      ///< run indices in [0, total_runs) in no shard
  std::vector<std::uint64_t> first_missing;       ///< the first (up to 10) of them, ascending
  std::map<std::string, std::uint64_t> by_status; ///< "done" / "failed" / "partial" → rows
  /// Things the caller should show but that did not stop the merge: shards computed by different
  /// software (software_version, git_sha, boost_version, hdf5_version) or with different experiment
  /// text, or shards without an experiment_digest (whose identity could not be checked).
  std::vector<std::string> warnings;
  /// One line, e.g. "12 runs (11 done, 1 failed); 2 of the experiment's 14 runs are missing: 5, 9".
  std::string message;
};

/// Merges the results files of one experiment's shards into `out`: every committed run of every shard,
/// sorted by run_index, with its /runs row, /runs_config, /metrics, /trajectories and /events copied bit
/// for bit — the datasets and root attributes an unsharded sweep writes (runs in run_index order),
/// except created_utc (now), command_line (`command_line`) and shard (""). The other root attributes
/// (experiment, software and library versions, experiment_digest, total_runs) and the units and
/// descriptions come from the first shard. Runs of any status are copied (a failed run stays failed);
/// rows after a shard's last /runs row (a write interrupted by a kill) are ignored. Shards are only
/// read. `out` is written to '<out>.merge-tmp' and renamed into place when complete, so an existing
/// `out` is replaced only by a complete merge.
/// Cost: O(total size of the shards); one run's values in memory at a time (plus every shard's /runs
/// table and events).
/// @param shards  one or more files written by ResultWriter for the same experiment (any order).
/// @throws std::invalid_argument  naming the files: no shards; a file given twice; `out` is one of the
///         shards; shards with different schema_version, experiment_digest, total_runs or layout (the
///         difference is named); a run_index in two shards ("run 17 is in both 'a.h5' and 'b.h5'") or
///         twice in one; a run_index ≥ total_runs.
/// @throws std::runtime_error  a shard is missing or unreadable (the read_results() message), or `out`
///         cannot be written.
MergeSummary merge_results(const std::string& out, const std::vector<std::string>& shards,
                           const std::string& command_line);

}  // namespace collapse::io
