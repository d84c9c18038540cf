#pragma once
// n-gram language model over integer token ids with sentence boundaries, MLE, add-k or interpolated
// modified Kneser–Ney estimates, and exact ancestral sampling of whole sentences (with temperature,
// top-k, nucleus and min-p truncation).
//
// Storage (after fit; one layout serves prob(), score() and every sampler; see ngram_model.cpp):
//   contexts   a trie over the n−1 context symbols (KenLM-like; Pauls & Klein 2011): level 1 dense over
//              the first symbol (V + 3 offsets), levels 2..n−1 sorted 32-bit node symbols with child
//              offsets; the nodes of level n−1 are the contexts (bigram: the V + 2 dense slots; unigram:
//              one). No packed keys are stored; a lookup is n−2 binary searches.
//   entries    per context a contiguous, token-sorted range in two parallel 32-bit arrays: the
//              cumulative count and the token — for trigrams the index of the successor context (h2, w) in its place (the
//              token is that context's last symbol), so sampling walks context → entry → context
//              without a search; a bigram's successor is the dense slot w itself;
//   kneser_ney additionally keeps, per order k = 1..n−1, the adjusted (continuation) counts of the
//              k-grams grouped by their (k−1)-symbol context, with per-context totals and back-off mass,
//              and for order n the discounted cumulative counts parallel to the entries.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/corpus.hpp"
#include "core/rng.hpp"
#include "models/fit_report.hpp"
#include "models/sampling.hpp"

namespace collapse {

/// Estimator of p(w | h). Config values (model.smoothing): "mle" | "add_k" | "kneser_ney".
enum class Smoothing {
  mle,         ///< relative frequency c(h,w) / c(h) (SLP3 ch. 3)
  add_k,       ///< (c(h,w) + k) / (c(h) + k (V + 1))
  kneser_ney,  ///< interpolated modified Kneser–Ney (Chen & Goodman 1998 §3.5), see NgramModel
};

struct NgramOptions {
  int order = 2;                         ///< n ∈ [1, 5] (1 = unigram)
  Smoothing smoothing = Smoothing::mle;  ///< add_k: p(w|h) = (c(h,w) + k) / (c(h) + k (V + 1))
  double k = 0.0;                        ///< add-k pseudo-count: finite, ≥ 0; > 0 when smoothing = add_k;
                                         ///< ignored by mle and kneser_ney
  /// Ceres-style validation; messages use the config keys "model.order" and "model.add_k",
  /// e.g. "model.order = 7, but must be in [1, 5]".
  /// @return false and a message naming the field if invalid (error may be null).
  bool IsValid(std::string* error) const;
};

/// Held-out scoring of a corpus under the model (the metrics turn it into perplexity and rates).
struct HeldoutScore {
  double log_prob = 0;           ///< Σ ln p over covered predictions (nats)
  std::uint64_t predictions = 0; ///< all predicted positions: every token plus one EOS per sentence
  std::uint64_t covered = 0;     ///< predictions with p > 0 (these enter log_prob)
  std::uint64_t oov = 0;         ///< tokens outside the model's vocabulary: id ≥ V (kUnknown) or unigram p = 0
};

/// Order-n model. Internally the end-of-sentence token is id V and the begin-of-sentence pad id V+1;
/// contexts at a sentence start are padded with BOS. EOS is a predictable outcome, BOS is not.
/// Estimates follow Jurafsky & Martin, SLP3 ch. 3 (relative-frequency MLE; Laplace / add-k smoothing)
/// and Chen & Goodman 1998, "An Empirical Study of Smoothing Techniques for Language Modeling",
/// TR-10-98 §3.5 (interpolated modified Kneser–Ney):
///
///   p_k(w | h) = [a_k(h w) − D_k(a_k(h w))]⁺ / A_k(h) + G_k(h) / A_k(h) · p_{k−1}(w | h⁻),   k = n … 1,
///   p_0(w)     = 1 / (V + 1)   (uniform over the V types and EOS; BOS is never predicted),
///
/// with h⁻ = h without its oldest symbol, A_k(h) = Σ_w a_k(h w), G_k(h) = D_k1 N1(h·) + D_k2 N2(h·) +
/// D_k3+ N3+(h·) (N_i(h·) = number of w with a_k(h w) = i, resp. ≥ 3), and p_k(w | h) = p_{k−1}(w | h⁻)
/// when the context h was never seen at order k (A_k(h) = 0). Adjusted counts a_k: the raw count at the
/// highest order k = n and for k-grams that start with BOS (nothing can precede BOS; as in KenLM);
/// otherwise the continuation count N1+(· h w) = number of distinct symbols seen before h w.
/// Discounts per order from the count-of-counts n_i of that order's adjusted counts (Chen & Goodman
/// eq. 26): Y = n1/(n1 + 2 n2), D1 = 1 − 2Y n2/n1, D2 = 2 − 3Y n3/n2, D3+ = 3 − 4Y n4/n3.
/// Fallback (see kn_discounts): when some n_i (i = 1..4) is 0 or a D_i is not finite or outside
/// (0, i] (D3+: (0, 3]) — common on collapsed synthetic data — the order uses absolute discounting
/// D1 = D2 = D3+ = Y (Ney, Essen & Kneser 1994) if n1, n2 > 0, else the fixed D = 0.5, 1, 1.5, and fit()
/// records an event "kn_discount_fallback". Both keep every D_i in (0, i], so each p_k is a distribution
/// over the V + 1 outcomes with p > 0 everywhere.
///
/// A model that has not been fitted, or was fitted on a corpus with no sentences, is *empty*: it
/// generates nothing, prob() is 0 everywhere, unigram() is all zeros.
/// Not thread-safe for concurrent fit(); the const members may be called concurrently.
class NgramModel {
 public:
  /// Discounts of one order of a Kneser–Ney model and the count-of-counts they came from.
  struct KnDiscounts {
    double d1 = 0;      ///< D1 ∈ (0, 1]: subtracted from adjusted counts equal to 1
    double d2 = 0;      ///< D2 ∈ (0, 2]: from counts equal to 2
    double d3plus = 0;  ///< D3+ ∈ (0, 3]: from counts ≥ 3
    std::uint64_t n1 = 0, n2 = 0, n3 = 0, n4 = 0;  ///< number of k-grams with adjusted count 1, 2, 3, 4
    bool fallback = false;  ///< true if the Chen & Goodman estimates were replaced (see class comment)
  };

  /// @param options     validated with IsValid.
  /// @param vocab_size  V ≥ 1: token ids of fitted/scored corpora must be < V (kUnknown allowed when
  ///                    scoring). Packed n-gram keys (transient, used while counting and looking up)
  ///                    need n·⌈log2(V+2)⌉ ≤ 128 bits, i.e.
  ///                    V ≤ 2^25 − 2 for order 5, V ≤ 2^32 − 3 for orders ≤ 4.
  /// @throws std::invalid_argument  invalid options, V = 0, or V too large for the order.
  NgramModel(NgramOptions options, std::size_t vocab_size);

  /// Counts all n-grams of `corpus` (each sentence padded with n−1 BOS and one EOS; every token and
  /// the EOS are predictions) and builds the per-context continuation tables, replacing any previous
  /// fit. MLE: p(w|h) = c(h,w) / c(h) (SLP3 ch. 3); add_k as in NgramOptions; kneser_ney as in the
  /// class comment (adjusted counts and discounts for every order 1..n).
  /// Counting: a counting sort of the P predictions by their first context symbol, storing only the
  /// remaining (n−1)·⌈log2(V+2)⌉ bits (32-bit words when they fit: bigrams and, for V + 2 ≤ 2^16,
  /// trigrams; else 64-bit, or 128-bit for order 5 with V > 2^16 − 2), then an MSD radix sort per bucket
  /// and two scans of the sorted runs (the first sizes every array exactly, the second fills them; the
  /// cumulative counts are written in place over the 32-bit buffer). `rng` is unused (closed form) but
  /// kept for the Model contract.
  /// @return FitReport: iterations 0, converged, lower_bound = mean ln p(w|h) per training
  ///         prediction under the fitted model (nats/prediction; 0 if empty); events
  ///         "empty_training_set" (no tokens; with no sentences at all the model is empty) and, for
  ///         kneser_ney, one "kn_discount_fallback" per order whose discounts could not be estimated
  ///         (message: order, n1..n4, the discounts used).
  /// @throws std::invalid_argument  a token id ≥ V ("ngram fit: token id 70000 at position 12 ≥
  ///         vocabulary size 5000"; position = index into corpus.tokens), inconsistent offsets, or
  ///         ≥ 2^32 − 1 predictions (tokens + sentences).
  /// Cost: O(P · remainder bits / 8) time for P = tokens + sentences predictions (order 3 adds one
  /// binary search per distinct trigram to link successors); transient memory P remainders of 4 (or
  /// 8, 16) bytes, of which the 32-bit case is kept as the count array (capacity P, size E). The model
  /// keeps 8 bytes per distinct n-gram (E), 8 per trie node (4 per bigram slot), 4 (V + 3) for the first
  /// trie level and 4 per type (unigram counts). kneser_ney adds, per lower order, a sort of its
  /// distinct k-grams (O(G log G)) and ~20 bytes per k-gram + ~40 per context, and 8 bytes per entry.
  /// Measured on Brown (1.05M tokens, V ≈ 47k), MLE trigram: peak heap growth of fit ≈ 2.7 × the
  /// corpus's id array (4 bytes/token), model ≈ 2.66 × (bigram: 1.57 ×, 1.52 ×).
  FitReport fit(const Corpus& corpus, Rng& rng);

  /// Ancestral sampling: sentences are drawn one after another until `n_tokens` tokens are reached;
  /// the last sentence is cut so the total is exactly n_tokens. Each next token is an exact
  /// categorical draw from p(·|h) after the controls' pipeline (temperature → top_k → top_p → min_p,
  /// see SamplingControls). Real uniforms come from Boost.Random's uniform_real_distribution; bounded
  /// integers (count draws, the uniform outcome of add_k) from Lemire's exact method on the raw engine
  /// output (`bounded` in ngram_model.cpp; faster than boost::random::uniform_int_distribution).
  ///  - MLE, τ = 1, no truncation: u ~ U{0..c(h)−1}, then the first continuation whose cumulative count
  ///    exceeds u (branchless binary search; entry u itself when every count is 1): O(log |cont(h)|) a
  ///    draw; a context with a single continuation needs no random number. The successor context is
  ///    the entry's stored link (orders 2 and 3) or a trie lookup (orders ≥ 4). Sentences come from
  ///    16 independent streams advanced in lockstep, with prefetching, so that their cache misses
  ///    overlap; sentence i of the output is the ⌊i/16⌋-th sentence of stream i mod 16 — a fixed order,
  ///    so the output is distributed exactly as consecutive i.i.d. sentences of one stream (the random
  ///    bits differ from a single stream's). Measured on Brown (CPU time, shared machine): bigram and
  ///    trigram ≈ 25–30 M tokens/s.
  ///  - add_k, τ = 1, no truncation: with probability c(h)/(c(h)+k(V+1)) a draw from the counts as
  ///    above, else a uniform draw over the V+1 outcomes (V types + EOS); unseen contexts are uniform.
  ///    O(log |cont(h)|) plus a trie lookup of the next context (one stream).
  ///  - MLE / add_k, τ ≠ 1, no truncation: p^(1/τ) renormalised over the context's support (MLE: the
  ///    seen continuations; add_k: all V+1 outcomes, drawn as uniform part k^(1/τ) each plus the seen
  ///    excess (c+k)^(1/τ) − k^(1/τ)). Tempered cumulative tables are built lazily per visited
  ///    context, once per call (O(|cont(h)|) on first visit, then O(log |cont(h)|) a draw).
  ///  - kneser_ney (fallback, see below), and MLE / add_k with truncation: p(w|h) = s_h(w) + g(h)·B(w) with
  ///    s_h sparse on S_h (the continuations seen in h's contexts of orders ≥ 2; MLE/add_k: of h) and a
  ///    background B shared by all contexts (KN: p_1; add_k: uniform; MLE: none). Once per call B is
  ///    sorted (O(V log V)) and tempered; per visited context (its deepest seen order), lazily once per
  ///    call, S_h is tempered, ranked against the background and truncated (O(|S_h| log |S_h| + kept
  ///    background)); a draw is a binary search over the kept explicit outcomes or, for the background
  ///    part, a binary search over B's tempered cumulative table with rejection of S_h members
  ///    (expected ≤ 1 rejection per draw), then lookups of the next context (≤ n per token;
  ///    trie at order n, hash below).
  ///    kneser_ney at τ = 1 without truncation needs no tables: a recursive draw (order n's discounted
  ///    counts with probability Σ[a − D]⁺/A, else back off), O(n log |cont|) a draw.
  ///  - kneser_ney with τ ≠ 1 (τ ≥ 0.2) or truncation: the layered sampler. For a context h whose
  ///    deepest seen order is k, p(w|h) is exact on its own seen continuations S_k(h) and equals
  ///    γ_k(h)·p_{k−1}(w|h⁻) (γ = G/A) elsewhere, so the order k−1 distribution, tempered, is scaled by
  ///    the constant γ^(1/τ) and keeps its ranking. Each visited context of every order gets, lazily
  ///    once per call, a node: S_k(h) with exact p (one pass over its token-sorted entries, walking
  ///    the order k−1 context alongside; O(|S_k(h)|)) and the link to its suffix's node.
  ///    · τ ≠ 1, no truncation: z(h) = Σ_{S_k} p^(1/τ) + γ^(1/τ) (z(h⁻) − Σ_{w ∈ S_k} p_{k−1}(w|h⁻)^(1/τ));
  ///      a draw takes S_k(h) with probability E/z (binary search over its cumulative weights), else
  ///      draws from the suffix node (recursively; order 1 is the sorted, tempered p_1 table) and
  ///      rejects w ∈ S_k(h) (binary search), which is exact. A context whose expected number of
  ///      lower-layer attempts exceeds 8 (or whose z would cancel) falls back to the exact flattened
  ///      table below. An outcome drawn from the order-n node's own entries carries its successor
  ///      context (orders 2 and 3), as at τ = 1; otherwise the next context is looked up (≤ n lookups).
  ///      Measured on Brown, KN trigram, 200 k tokens a call, CPU time on a shared 2-core machine (±30 %
  ///      with load): τ = 0.8 ≈ 1.15–1.33 M tokens/s, τ = 0.7 ≈ 1.5 M (was ~17 k).
  ///    · truncation: the ranking (p desc, id asc) of h's distribution is the merge of S_k(h) sorted
  ///      by p with the suffix node's ranking scaled by γ, skipping S_k(h) members. Suffix nodes cache
  ///      their merged ranking, materialised only as far as needed, so contexts sharing a suffix share
  ///      it; top_k / top_p / min_p pull from the merge and keep the prefix as an explicit table
  ///      (top_p alone takes its normaliser from z above). O(|S_k(h)| log |S_k(h)| + kept + skipped)
  ///      per context. If the kept prefix exceeds 4096 outcomes (typical for top_p ≥ 0.9 on large
  ///      vocabularies, whose nucleus reaches deep into the unigram tail) the context falls back to the
  ///      exact flattened table. Kept order-n outcomes carry their successor context as above.
  ///      Measured as above: top_k = 50 ≈ 1.04–1.24 M tokens/s, top_k = 40 ≈ 1.3–1.5 M (was ~27 k);
  ///      top_p = 0.9 alone still takes the fallback (~12–16 k tokens/s).
  ///    The fallback (and kneser_ney at τ < 0.2, where p^(1/τ) in absolute scale could underflow) is
  ///    the flattened table described above: S_h includes the lower orders' continuations (thousands
  ///    for contexts ending in a frequent word), O(|S_h| n log) per new context.
  /// A sentence reaching controls.max_length tokens is cut there (no EOS). Empty sentences (EOS drawn
  /// first) are discarded. Termination rule: if the model cannot produce a non-empty sentence
  /// (empty model, or the effective p(EOS | sentence start) = 1 after the controls, checked exactly
  /// before drawing) the result is empty; as a backstop for near-degenerate models sampling also
  /// stops, returning fewer tokens, after 10^6 consecutive empty sentences.
  /// No allocation per token beyond the output's amortised growth (tokens are reserved up front) and,
  /// for MLE at τ = 1, the 16 streams' buffers of not yet merged sentences (compacted as they merge).
  /// @throws std::invalid_argument  invalid controls (SamplingControls::IsValid: "loop.temperature",
  ///         "loop.max_length", "loop.top_k", "loop.top_p", "loop.min_p").
  Corpus sample(std::size_t n_tokens, const SamplingControls& controls, Rng& rng) const;

  /// p(w | context) where `context` holds the preceding tokens of the sentence (only its last n−1 are
  /// used; if shorter it is BOS-padded). `w` may be eos(). A context whose last n−1 tokens contain an
  /// id ≥ V (e.g. Vocabulary::kUnknown) is an unseen context: MLE gives 0, add_k gives 1/(V+1),
  /// kneser_ney uses the tokens after the last such id (p_k for the longest known suffix).
  /// w > V gives 0. Empty model: 0. Under kneser_ney every w ≤ V has p > 0.
  /// Cost: one trie lookup (n−2 binary searches; kneser_ney: one hash lookup per lower order) +
  /// O(log |cont(h)|).
  double prob(std::span<const TokenId> context, TokenId w) const;

  /// Scores every sentence of `heldout` (all tokens and the EOS of each sentence) with prob().
  /// Ids ≥ V are allowed (they are oov, have p = 0, and make the following n−1 contexts unseen).
  /// Under kneser_ney every in-vocabulary prediction is covered (p > 0).
  /// Cost: O(P (1 + log |cont|)) for P predictions (kneser_ney: × n), no allocation.
  HeldoutScore score(const Corpus& heldout) const;

  /// The model's unigram distribution over the V types (EOS excluded). Size V; sums to 1 (all zeros if
  /// the model is empty, or MLE with N = 0). Cost O(V).
  ///  - MLE: c(w)/N from the token counts of the training corpus (N tokens);
  ///  - add_k: (c(w)+k)/(N+kV);
  ///  - kneser_ney: the model's own lowest order p_1(w) (continuation counts interpolated with the
  ///    uniform floor, i.e. the context-free distribution the model backs off to) renormalised over the
  ///    V types: p_1(w) / (1 − p_1(EOS)). Every type has p > 0 (the uniform floor).
  std::vector<double> unigram() const;
  /// Number of types w < V that the model can generate: types with unigram probability > 0, i.e. the
  /// support of the generated distribution at τ = 1 without truncation (MLE: types seen in training;
  /// add_k and kneser_ney: all V, through the smoothing floor). O(V).
  std::size_t support_size() const;
  /// Number of distinct contexts seen in training (BOS-padded ones included; 1 for a fitted unigram).
  std::size_t num_contexts() const;
  /// Discounts of order `k` ∈ [1, n] of a fitted kneser_ney model.
  /// @throws std::invalid_argument  not kneser_ney, not fitted, or k outside [1, n].
  KnDiscounts kn_discounts(int k) const;

  int order() const noexcept { return options_.order; }
  std::size_t vocab_size() const noexcept { return vocab_size_; }
  TokenId eos() const noexcept { return static_cast<TokenId>(vocab_size_); }
  TokenId bos() const noexcept { return static_cast<TokenId>(vocab_size_ + 1); }
  const NgramOptions& options() const noexcept { return options_; }

 private:
  /// Packed context key (≤ 4 symbols of ≤ 32 bits), oldest symbol highest: built transiently for
  /// lookups; the main tables store none, only the Kneser–Ney lower orders keep their context keys.
  __extension__ using Key = unsigned __int128;
  static constexpr std::uint32_t kNoContext = 0xFFFFFFFFu;
  static constexpr std::uint32_t kEosCode = 0xFFFFFFFFu;  ///< order 3: tok_ code of EOS

  /// One order k < n of a Kneser–Ney model (order n uses the main trie and entries for its contexts).
  struct KnLevel {
    std::vector<Key> ctx_keys;            ///< k < n: C_k sorted context keys (k−1 symbols)
    std::vector<std::uint32_t> slots;     ///< k < n: hash of the contexts
    std::vector<std::uint32_t> begin;     ///< k < n: C_k + 1 entry offsets
    std::vector<TokenId> tokens;          ///< k < n: per entry, token-sorted within a context
    std::vector<std::uint32_t> counts;    ///< k < n: per entry, adjusted count a_k(h w)
    std::vector<double> total;            ///< per context A_k(h) (k = n: c(h))
    std::vector<double> backoff;          ///< per context G_k(h) = Σ_w D_k(a_k(h w))
    std::vector<double> dcum;             ///< per entry (k = n: parallel to cum_/tok_) cumulative
                                          ///< discounted count Σ_{w' ≤ w} [a_k(h w') − D_k]⁺ (for sampling)
    KnDiscounts d;
  };
  struct Sampler;       // per-call sampling state for the count-based paths (ngram_model.cpp)
  struct TableSampler;  // per-call state of the general (sparse + background) sampler
  struct ChainSampler;  // MLE at τ = 1 without truncation: interleaved sentence streams

  template <class R>
  void count_ngrams(const Corpus& corpus);
  void count_unigrams(const Corpus& corpus);
  void build_kneser_ney(FitReport& report);
  /// Calls f(context index, packed context key) for every seen context, in key order.
  template <class F>
  void for_each_context(F&& f) const;
  std::uint32_t find_context(Key key) const noexcept;
  std::uint32_t find_level_context(int k, Key key) const noexcept;
  double prob_in_context(std::uint32_t ctx, TokenId w) const noexcept;
  /// p_KN(w | h) for the (n−1)-symbol key `key` of which the last `known` symbols are usable.
  double prob_kn(Key key, std::size_t known, TokenId w) const noexcept;
  /// Discounted adjusted count [a − D(a)]⁺ of token w in context c of order k (0 if absent).
  double kn_discounted(int k, std::uint32_t c, TokenId w) const noexcept;
  /// Entry index of token w in context c (kNoContext if absent). Binary search.
  std::uint32_t find_entry_index(std::uint32_t c, TokenId w) const noexcept;
  /// Token of entry e (order 3 stores the successor context there, see tok_).
  TokenId token(std::uint32_t e) const noexcept {
    const TokenId x = tok_[e];
    return options_.order != 3 ? x : x == kEosCode ? eos() : node_sym_[0][x];
  }
  std::uint32_t ebegin(std::uint32_t c) const noexcept { return ctx_begin_[c]; }
  std::uint32_t eend(std::uint32_t c) const noexcept { return ctx_begin_[c + 1]; }
  std::uint32_t ctx_total(std::uint32_t c) const noexcept {  ///< c(h) (0 for an unseen dense bigram slot)
    return ctx_begin_[c + 1] > ctx_begin_[c] ? cum_[ctx_begin_[c + 1] - 1] : 0;
  }
  std::uint32_t entry_count(std::uint32_t c, std::uint32_t e) const noexcept {
    return cum_[e] - (e == ctx_begin_[c] ? 0 : cum_[e - 1]);
  }
  /// Index space of contexts: C for orders 1 and ≥ 3, V + 2 dense slots (one per symbol) for bigrams.
  std::size_t context_slots() const noexcept { return ctx_begin_.empty() ? 0 : ctx_begin_.size() - 1; }
  Key shift(Key ctx, TokenId w) const noexcept { return ((ctx << bits_) | w) & ctx_mask_; }
  Key ctx_mask(int k) const noexcept {  ///< low (k−1)·bits_ bits
    const unsigned bits = static_cast<unsigned>(k - 1) * bits_;
    return bits == 0 ? Key{0} : (Key{1} << bits) - 1;
  }

  NgramOptions options_;
  std::size_t vocab_size_;
  unsigned bits_ = 0;      ///< bits per packed symbol: bit_width(V + 1)
  Key ctx_mask_ = 0;       ///< low (n−1)·bits_ bits
  Key start_key_ = 0;      ///< n−1 BOS symbols

  bool fitted_ = false;                    ///< fitted on ≥ 1 sentence
  std::uint64_t num_train_tokens_ = 0;     ///< N
  std::uint64_t num_train_sentences_ = 0;  ///< S
  std::uint32_t start_ctx_ = kNoContext;   ///< index of the all-BOS context
  std::size_t distinct_contexts_ = 0;      ///< C (seen contexts)
  // Context trie (orders ≥ 3; KenLM-like, Pauls & Klein 2011): level 1 is dense over the first context
  // symbol, levels 2..n−1 are sorted node symbols; the nodes of level n−1 are the contexts.
  std::vector<std::uint32_t> first_;                  ///< V + 3 offsets into level 2, by first symbol
  std::vector<std::vector<TokenId>> node_sym_;        ///< levels 2..n−1 (index j−2): node symbols
  std::vector<std::vector<std::uint32_t>> node_child_;///< levels 2..n−2: child offsets (nodes + 1)
  std::vector<std::uint32_t> ctx_begin_;  ///< context_slots() + 1: entries of c are [begin[c], begin[c+1])
  std::vector<std::uint32_t> cum_;        ///< per entry: cumulative count c(h, w') over w' ≤ token (the
                                          ///< counting buffer reused in place; capacity may exceed size)
  std::vector<TokenId> tok_;              ///< per entry, token-sorted per context: the next token in
                                          ///< [0, V]; order 3: the index of the successor context (h2, w)
                                          ///< instead (its last symbol is w), kEosCode for EOS — sampling
                                          ///< walks context → entry → context without a search
  std::vector<std::uint32_t> unigram_counts_;  ///< V token counts c(w)
  std::vector<KnLevel> kn_;                ///< kneser_ney: orders 1..n at index k−1
};

}  // namespace collapse
