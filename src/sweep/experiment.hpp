#pragma once
// Experiment file → the list of runs (grid × replicates), each validated, keyed and seeded.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/run_result.hpp"
#include "io/result_writer.hpp"
#include "loop/config.hpp"
#include "loop/run.hpp"

namespace collapse::sweep {

struct RunSpec {
  std::uint64_t run_index = 0;  ///< combination_index · replicates + replicate
  std::uint64_t replicate = 0;
  std::uint64_t run_key = 0;    ///< fnv1a64 of the canonical TOML of the run without [experiment] (DESIGN.md §3)
  std::uint64_t seed = 0;       ///< run_seed(experiment.seed, run_key, replicate)
  std::string config_toml;      ///< the fully expanded run table, as TOML (keys sorted)
  std::map<std::string, ParamValue> params;  ///< swept key → value
  RunConfig config;
  TruthHandle truth;
};

struct Experiment {
  std::string path;   ///< as given on the command line
  std::string text;   ///< the file's whole text (stored in the results file)
  std::string name;
  std::uint64_t seed = 0;
  std::uint64_t replicates = 1;
  std::vector<io::ParamColumn> params;  ///< swept keys in file order, with their column types
  std::vector<RunSpec> runs;
  /// 16 hex digits: FNV-1a over every run's (run_index, run_key, seed) of the full grid. Equal for
  /// every shard of one experiment; a results file to resume or merge must carry the same digest.
  std::string digest;

  /// Metric and trajectory layout covering every run (union of families, max K and d, max G + 1).
  io::ResultLayout layout() const;
};

/// Loads an experiment: parses the TOML, applies `overrides` ("section.key=value", value parsed as a
/// TOML value, else taken as a string; an override of a swept key replaces the axis), expands the
/// [sweep] grid × experiment.replicates, validates every run, and loads every distinct truth once
/// (so missing or empty data files fail here, before any results file exists).
/// @throws std::invalid_argument "<path>: <what is wrong>" naming the key, value and what is allowed.
Experiment load_experiment(const std::string& path, const std::vector<std::string>& overrides = {});

}  // namespace collapse::sweep
