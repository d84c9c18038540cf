#pragma once
// Analytic truths of the n-gram family: Zipf and Zipf–Mandelbrot categorical distributions over V
// word types, whose probabilities are known exactly. Each is a TextTruth (sources/text_corpus.hpp)
// with `analytic` set: draws are fresh iid tokens, grouped into sentences of a fixed length.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "sources/text_corpus.hpp"

namespace collapse {

/// The Zipf–Mandelbrot pmf p(r) = (r + offset)^(−exponent) / Σ_{k=1}^{V} (k + offset)^(−exponent),
/// r = 1..V, returned 0-based (element r − 1); offset = 0 is Zipf's law (Zipf 1949; Mandelbrot 1953).
/// Non-increasing in r; sums to 1 to rounding (the normaliser is summed from the smallest term up).
/// @throws std::invalid_argument naming truth.vocab_size (in [1, 10^7]), truth.exponent (> 0,
///         finite) or truth.offset (> −1, finite). Cost: O(V).
std::vector<double> zipf_mandelbrot_pmf(std::size_t vocab_size, double exponent, double offset);

/// Zipf truth: p(r) ∝ r^(−exponent), r = 1..V; type id r − 1, word "w<r>" (TextTruth::word; the
/// `vocabulary` member stays empty, as a string table of 10^7 types would cost ~1.7 GB and 40 s).
/// `unigram` is the exact pmf and `analytic` its alias table (O(V) setup, O(1) a draw); `train` is
/// empty (draws are fresh); `heldout` holds heldout_tokens iid tokens drawn once from
/// stream_rng(seed, -1, Stream::split), in sentences of sentence_length (the last one cut); no
/// memorization index (`verbatim` is null).
/// @param vocab_size       V in [1, 10^7] (truth.vocab_size).
/// @param exponent         s > 0, finite (truth.exponent).
/// @param sentence_length  ≥ 1 tokens per drawn sentence (truth.sentence_length).
/// @param heldout_tokens   in [1, 10^8] (truth.heldout_tokens).
/// @throws std::invalid_argument naming the key, the value and what is allowed.
/// Cost: O(V) time; memory 20 B per type (pmf 8 B, alias table 12 B; 40 B more transiently while
/// building) plus 4 B per held-out token.
std::shared_ptr<const TextTruth> make_zipf_truth(std::size_t vocab_size, double exponent, std::size_t sentence_length,
                                                 std::size_t heldout_tokens, std::uint64_t seed);

/// Zipf–Mandelbrot truth: p(r) ∝ (r + b)^(−a), r = 1..V; otherwise as make_zipf_truth.
/// @param a  exponent > 0, finite (truth.exponent).  @param b  offset > −1, finite (truth.offset).
/// @throws std::invalid_argument naming truth.vocab_size / truth.exponent / truth.offset /
///         truth.sentence_length / truth.heldout_tokens.
std::shared_ptr<const TextTruth> make_zipf_mandelbrot_truth(std::size_t vocab_size, double a, double b,
                                                            std::size_t sentence_length, std::size_t heldout_tokens,
                                                            std::uint64_t seed);

}  // namespace collapse
