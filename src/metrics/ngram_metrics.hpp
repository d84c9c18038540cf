#pragma once
// Diversity, tail and fit metrics of n-gram models and their samples. Pure functions; no I/O.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/corpus.hpp"
#include "sources/verbatim_index.hpp"

namespace collapse::metrics {

/// Number of distinct token types in `sample` (types).
std::size_t distinct_types(const Corpus& sample);

/// distinct-n (Li et al. 2016, "A Diversity-Promoting Objective Function for Neural Conversation
/// Models", §4.2): number of distinct n-grams / total number of n-grams in `sample`, counting n-grams
/// inside sentences only (no boundary tokens). @param n in [1, 4]. @return in (0, 1]; NaN if the sample
/// has no n-gram. N-grams are compared exactly (an NgramSet of positions, see sources/verbatim_index.hpp).
/// @throws std::invalid_argument  n ∉ [1, 4].
/// Cost: O(n T) expected time for T tokens; memory 16–32 B per distinct n-gram.
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

// ---- Distances between distributions over the same V types ------------------------------------
// Entries beyond the shorter vector count as 0 (a model shorter than the vocabulary gives those types
// no mass). Inputs are taken as given (not renormalised); each should sum to 1.

/// Kullback–Leibler divergence KL(model ‖ truth) = Σ_w model(w) log2(model(w) / truth(w)) in bits
/// (Cover & Thomas 2006, eq. 2.26), with 0 log(0/q) = 0. Direction: the expected extra bits of coding
/// the model's samples with a code built for the truth; finite whenever the model's support lies inside
/// the truth's, so a collapsing model (shrinking support) stays finite.
/// @return in [0, +inf]; 0 iff equal; +inf if the model puts mass on a type the truth gives 0.
/// Cost: O(V).
double kl_divergence_bits(const std::vector<double>& model, const std::vector<double>& truth);

/// Jensen–Shannon divergence (Lin 1991) in bits: ½ KL(p ‖ m) + ½ KL(q ‖ m), m = (p + q) / 2.
/// Symmetric, always finite. @return in [0, 1]; 0 iff p = q, 1 iff the supports are disjoint. Cost: O(V).
double js_divergence_bits(const std::vector<double>& p, const std::vector<double>& q);

/// Total variation distance ½ Σ_w |p(w) − q(w)| (probability units). @return in [0, 1]. Cost: O(V).
double total_variation(const std::vector<double>& p, const std::vector<double>& q);

// ---- Rank–frequency (Zipf) ---------------------------------------------------------------------

/// The sample's type counts sorted descending: element r − 1 is the count f_r of the type of sample
/// rank r (ranks by frequency in this sample, not by vocabulary id). Cost: O(T) for ids < 4T + 2^16,
/// else O(T log T).
std::vector<std::uint64_t> rank_counts(const Corpus& sample);

/// Zipf exponent by maximum likelihood on the rank–frequency data, in the spirit of Clauset, Shalizi &
/// Newman (2009, "Power-law distributions in empirical data", SIAM Review 51(4), §3) — a likelihood
/// fit, not a least-squares line on the log–log plot, which is biased and has no valid error model.
/// What is fitted: the sample's R observed types, ranked by count (f_1 ≥ … ≥ f_R, N = Σ f_r), are
/// taken as N draws of a rank from the truncated discrete power law P(r) = r^(−s) / H_R(s),
/// r = 1..R, H_R(s) = Σ_{k=1}^{R} k^(−s). The log-likelihood
///   ℓ(s) = −s Σ_r f_r ln r − N ln H_R(s)
/// is concave (ℓ'' = −N Var_s[ln r] < 0), its derivative ℓ'(s) = N (E_s[ln r] − (1/N) Σ f_r ln r)
/// is decreasing, so the maximiser on [0, 10] is the root of ℓ' if it lies there, else the nearer end.
/// Solved by Newton's method safeguarded by bisection, to |Δs| < 1e-12.
/// Truncating at R (not at the true V) and ranking by sample counts (not true ranks) make it a
/// descriptive statistic of the sample's rank–frequency curve: close to the true exponent when most
/// types are well sampled, biased when the tail is sparsely observed.
/// @return s in [0, 10] (dimensionless); NaN if fewer than 2 types were observed (ℓ is flat).
/// Cost: O(T) for the counts + O(R) per Newton step (typically < 20 steps).
double zipf_exponent_mle(const Corpus& sample);

/// As zipf_exponent_mle, from counts f_1 ≥ … ≥ f_R (real numbers ≥ 0 allowed, e.g. expected counts;
/// zeros are dropped from the end). NaN if fewer than 2 positive counts.
/// @throws std::invalid_argument  a negative or non-finite count.
double zipf_exponent_mle(std::span<const double> counts_descending);

/// Relative frequency f_r / N of the type at each sample rank r of `ranks` (see rank_counts; 0 beyond
/// the R observed types). @param ranks each ≥ 1. @return same length as ranks, values in [0, 1];
/// all NaN if the sample is empty. @throws std::invalid_argument for a rank of 0.
/// Cost: O(T) (+ sort of the counts, O(R log R)).
std::vector<double> rank_frequency(const Corpus& sample, const std::vector<std::uint64_t>& ranks);

// ---- Memorization ------------------------------------------------------------------------------

/// Share of the generated sentences that equal a whole training sentence (exact match of the id
/// sequence; a sentence cut by the token budget only matches if the cut version is itself a training
/// sentence). @return in [0, 1]; NaN if `generated` has no sentence.
/// Cost: O(T) expected, no allocation.
double verbatim_sentence_rate(const Corpus& generated, const VerbatimIndex& index);

/// Share of the generated 8-grams (VerbatimIndex::kNgramOrder consecutive tokens inside one sentence)
/// that occur inside some training sentence. @return in [0, 1]; NaN if `generated` has no 8-gram
/// (every sentence shorter than 8 tokens). Cost: O(T) expected, no allocation.
double verbatim_ngram_rate(const Corpus& generated, const VerbatimIndex& index);

}  // namespace collapse::metrics
