#pragma once
// One run of the generation loop (DESIGN.md §1): fit, measure, sample, compose the next training set.

#include <atomic>
#include <cstdint>
#include <memory>
#include <variant>

#include "core/run_result.hpp"
#include "loop/config.hpp"
#include "sources/continuous_truth.hpp"
#include "sources/text_corpus.hpp"

namespace collapse {

/// The loaded truth a run uses, shared read-only between runs and threads.
using TruthHandle = std::variant<std::shared_ptr<const ContinuousTruth>, std::shared_ptr<const TextTruth>>;

struct RunIdentity {
  std::uint64_t run_index = 0;
  std::uint64_t run_key = 0;
  std::uint64_t replicate = 0;
  std::uint64_t seed = 0;  ///< run_seed(master, run_key, replicate); every draw of the run flows from it
};

/// Runs generations 0..G of one run.
///
/// Generation 0 trains on loop.samples_per_generation units (rows / tokens) of real data. Each
/// generation g: fit model g on its training set, record every metric, then build the training set of
/// g+1 from model g's samples and the anchoring rule:
///  - Replace: n synthetic units from model g;
///  - Mix{f, fresh}: round(f·n) real units (a new draw per generation if fresh, else the same uniform
///    subset of generation 0's real data) plus n − round(f·n) synthetic units from model g.
/// Every example keeps its provenance (kReal or the generation that produced it).
///
/// Randomness: engines stream_rng(seed, g, Stream::fit | sample | mix | metric); identical bits for
/// any thread or shard. Degenerate fits are recorded as events and the run goes on; a failure that
/// stops the run (e.g. a NumericalError) gives status `failed`, the error text, and the metrics of the
/// generations completed before it. Never throws.
/// @param truth must hold the truth type matching config.model (ContinuousTruth for GMM, TextTruth for n-gram).
/// @param stop  optional; checked before every generation. Once it is true the run ends with status
///              `partial` and the metrics of the generations completed so far (NaN after them).
RunResult run_generations(const RunConfig& config, const TruthHandle& truth, const RunIdentity& id,
                          const std::atomic<bool>* stop = nullptr);

}  // namespace collapse
