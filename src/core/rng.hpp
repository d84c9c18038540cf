#pragma once
// Reproducible randomness (DESIGN.md §3).
//
// Every draw of a run flows from (master seed, run_key, replicate) and then from
// (generation, stream). A run's bits therefore do not depend on the thread that runs it,
// on the shard it lands in, or on which other grid values exist.

#include <cstdint>
#include <string_view>

#include <boost/random/mersenne_twister.hpp>

namespace collapse {

/// The engine used everywhere. Boost's, so that the bit stream is the same with every standard library.
using Rng = boost::random::mt19937_64;

/// SplitMix64 finaliser (Steele, Lea & Flood 2014): a bijective 64-bit mixer.
/// Cost: a handful of multiply/xor-shift operations.
std::uint64_t splitmix64(std::uint64_t x) noexcept;

/// 64-bit FNV-1a hash of a byte string (used for run_key over a run's canonical parameter text).
std::uint64_t fnv1a64(std::string_view bytes) noexcept;

/// Purposes that get their own engine in every generation; the numeric values are part of the
/// reproducibility contract: never renumber, only append.
enum class Stream : std::uint32_t {
  fit = 1,      ///< model initialisation (k-means++), EM restarts
  sample = 2,   ///< generating the synthetic data of a generation
  filter = 3,   ///< verification / filtering of generated samples
  mix = 4,      ///< drawing real data and composing the next training set
  metric = 5,   ///< Monte Carlo estimates inside metrics
  split = 6,    ///< train / held-out split of a finite real data set
};

/// Seed of a run: splitmix64(master ⊕ splitmix64(run_key ⊕ splitmix64(replicate))).
/// Each input is mixed before it is combined, so that e.g. (run_key, replicate 1) and
/// (run_key ⊕ 1, replicate 0) do not collide as a plain XOR of the three would.
std::uint64_t run_seed(std::uint64_t master_seed, std::uint64_t run_key, std::uint64_t replicate) noexcept;

/// The engine for one (generation, stream) of a run. Generation may be -1 for run-level draws
/// (e.g. the held-out split).
Rng stream_rng(std::uint64_t run_seed, std::int64_t generation, Stream stream) noexcept;

}  // namespace collapse

#include <vector>
namespace collapse {
/// The first k entries of a uniformly random permutation of 0..n-1 (partial Fisher–Yates with
/// boost::random::uniform_int_distribution), i.e. k indices drawn uniformly without replacement, in
/// random order. k ≤ n. Cost: O(n) memory and time.
std::vector<std::size_t> sample_without_replacement(std::size_t n, std::size_t k, Rng& rng);
}  // namespace collapse
