#pragma once
// Runs an experiment's runs on a thread pool; one thread writes the results file.

#include <string>
#include <utility>

#include "sweep/experiment.hpp"

namespace collapse::sweep {

struct SchedulerOptions {
  int threads = 0;            ///< worker threads; 0 = all hardware threads. Each run is single-threaded.
  bool quiet = false;         ///< no progress output
  std::string command_line;   ///< stored in the file's attributes
  std::size_t shard_index = 0;  ///< this process runs the runs with run_index % shard_count == shard_index
  std::size_t shard_count = 1;  ///< ≥ 1; interleaved so that costs balance across shards
  bool resume = false;        ///< continue `out_path`: skip its done runs, rerun partial/failed ones
};

struct SweepSummary {
  std::size_t done = 0;
  std::size_t failed = 0;
  std::size_t partial = 0;    ///< runs stopped by a signal
  std::size_t skipped = 0;    ///< already done in the file (resume)
  std::size_t not_started = 0;  ///< runs of this shard left for a later --resume after a signal
  bool interrupted = false;   ///< SIGINT or SIGTERM arrived
  double wall_seconds = 0;
};

/// Runs the runs of `experiment` that belong to this shard and writes them to `out_path`, in run_index
/// order, flushed run by run (created or truncated; parent directories are created; with `resume` the
/// existing file is continued). Progress goes to stderr: a rewritten line on a terminal, a plain line
/// every few seconds otherwise, nothing when quiet. Metrics do not depend on threads or shards.
///
/// SIGINT / SIGTERM: no new run starts; running runs end as `partial` at their next generation and are
/// written; the function returns with `interrupted` set (the caller tells the user how to resume).
/// @throws std::runtime_error if the results file cannot be created, or (resume) is missing, damaged
///         beyond repair or belongs to another experiment.
SweepSummary run_sweep(const Experiment& experiment, const std::string& out_path, const SchedulerOptions& options);

/// Parses "i/N" (0 ≤ i < N). @throws std::invalid_argument naming --shard and what is allowed.
std::pair<std::size_t, std::size_t> parse_shard(const std::string& text);

}  // namespace collapse::sweep
