#pragma once
// Diversity, tail and fit metrics of n-gram models and their samples. Pure functions; no I/O.

#include <cstddef>
#include <vector>

#include "core/corpus.hpp"

namespace collapse::metrics {

/// Number of distinct token types in `sample` (types).
std::size_t distinct_types(const Corpus& sample);

/// distinct-n (Li et al. 2016, "A Diversity-Promoting Objective Function for Neural Conversation
/// Models", §4.2): number of distinct n-grams / total number of n-grams in `sample`, counting n-grams
/// inside sentences only (no boundary tokens). @param n in [1, 4]. @return in (0, 1]; NaN if the sample
/// has no n-gram. Cost: O(T log T) for T tokens.
double distinct_n(const Corpus& sample, int n);

/// Shannon entropy of a distribution in bits: −Σ p log2 p (0 log 0 = 0). @param p sums to 1.
double entropy_bits(const std::vector<double>& p);

/// Gini–Simpson index 1 − Σ p² (probability that two independent draws differ). @param p sums to 1.
double gini_simpson(const std::vector<double>& p);

/// Missing mass: the real probability of the types the model can no longer produce,
/// Σ_{w : model(w) = 0} real(w). @param model, real  same length V.
double missing_mass(const std::vector<double>& model, const std::vector<double>& real);

/// Model probability of the types whose real frequency rank is > r (ids ≥ r, as vocabulary ids are
/// frequency ranks): Σ_{w ≥ r} model(w). 0 if r ≥ V.
double tail_mass_beyond_rank(const std::vector<double>& model, std::size_t r);

}  // namespace collapse::metrics
