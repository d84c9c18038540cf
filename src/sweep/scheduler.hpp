#pragma once
// Runs an experiment's runs on a thread pool; one thread writes the results file.

#include <string>

#include "sweep/experiment.hpp"

namespace collapse::sweep {

struct SchedulerOptions {
  int threads = 0;            ///< worker threads; 0 = all hardware threads. Each run is single-threaded.
  bool quiet = false;         ///< no progress output
  std::string command_line;   ///< stored in the file's attributes
};

struct SweepSummary {
  std::size_t done = 0;
  std::size_t failed = 0;
  double wall_seconds = 0;
};

/// Runs every run of `experiment` and writes `out_path` (created or truncated; parent directories are
/// created). Results are written in run_index order by the calling thread as soon as all earlier runs
/// are finished, and flushed run by run. Progress goes to stderr: a rewritten line on a terminal,
/// a plain line every few seconds otherwise, nothing when quiet. Metrics do not depend on `threads`.
/// @throws std::runtime_error if the results file cannot be created.
SweepSummary run_sweep(const Experiment& experiment, const std::string& out_path, const SchedulerOptions& options);

}  // namespace collapse::sweep
