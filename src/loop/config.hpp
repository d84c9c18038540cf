#pragma once
// Typed configuration of one run (parsed and validated from TOML by sweep/run_config.cpp).

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include <Eigen/Core>

#include "models/gaussian_mixture.hpp"
#include "models/ngram_model.hpp"
#include "models/sampling.hpp"

namespace collapse {

// ---- truth -------------------------------------------------------------------------------------
struct GaussianTruthConfig {      ///< [truth] kind = "gaussian_mixture"
  Eigen::VectorXd weights;        ///< K
  Eigen::MatrixXd means;          ///< K × d
  std::vector<Eigen::MatrixXd> covariances;  ///< K of d × d
  std::size_t heldout_samples = 10000;       ///< rows drawn once from the truth for held-out log-likelihood
};
struct CsvTruthConfig {           ///< [truth] kind = "csv"
  std::string path;               ///< resolved against the experiment file's directory
  std::vector<std::string> columns;  ///< empty = all
  double heldout_fraction = 0.2;  ///< share of rows held out (fixed split per experiment seed)
};
struct TextTruthConfig {           ///< [truth] kind = "text_corpus"
  std::string train;              ///< one sentence per line
  std::string heldout;            ///< one sentence per line; empty = split off `train` (heldout_fraction)
  double heldout_fraction = 0.1;  ///< used only when `heldout` is empty: share of train's lines held out
};
struct ZipfTruthConfig {          ///< [truth] kind = "zipf" | "zipf_mandelbrot": p(r) ∝ (r + offset)^(−exponent), r = 1..V
  bool mandelbrot = false;        ///< false: offset = 0 (kind "zipf")
  std::size_t vocab_size = 10000; ///< V
  double exponent = 1.1;          ///< Zipf β or Zipf–Mandelbrot a; > 0
  double offset = 0.0;            ///< Zipf–Mandelbrot b > −1
  std::size_t sentence_length = 20;       ///< tokens per drawn sentence (the model learns end-of-sentence from it)
  std::size_t heldout_tokens = 100000;    ///< tokens drawn once from the truth for held-out perplexity
};
using TruthConfig = std::variant<GaussianTruthConfig, CsvTruthConfig, TextTruthConfig, ZipfTruthConfig>;

// ---- model -------------------------------------------------------------------------------------
using ModelConfig = std::variant<GmmOptions, NgramOptions>;

// ---- anchoring (DESIGN.md §2) ------------------------------------------------------------------
struct Replace {};                ///< every generation trains on the previous generation's samples only
struct Mix {                      ///< a share of real data in every generation's training set
  double real_fraction = 0.1;     ///< in [0, 1], share of the generation's size n_g that is real
  bool fresh = true;              ///< true: new real draw each generation; false: the same real subset of generation 0's data
};
struct Accumulate {};             ///< the training set of generation g is all data so far: real + every generation's samples
struct AccumulateSubsample {      ///< accumulate everything, train each generation on a uniform subsample of it
  std::size_t train_size = 0;     ///< units (rows / tokens) per training set; 0 = n_0
};
struct Augment {                  ///< generation 0's real data kept, plus fresh synthetic data from the last model
  double synthetic_ratio = 1.0;   ///< ≥ 0: synthetic units = round(ratio · n_g) next to the n_0 real units
};
using Anchoring = std::variant<Replace, Mix, Accumulate, AccumulateSubsample, Augment>;

struct LoopConfig {
  int generations = 10;                  ///< G ≥ 0: models 0..G are fitted
  /// n_g: new units (rows for tables, tokens for text) of generation g — real data at g = 0, samples
  /// of model g − 1 (plus real data under mix) for g ≥ 1. A constant, or a schedule of G + 1 values.
  std::size_t samples_per_generation = 1000;
  std::vector<std::size_t> schedule;     ///< empty = constant; else G + 1 values n_0 … n_G
  Anchoring anchoring = Replace{};
  SamplingControls controls;

  /// n_g (see samples_per_generation). @param g in [0, generations].
  std::size_t samples_at(int g) const {
    return schedule.empty() ? samples_per_generation : schedule[static_cast<std::size_t>(g)];
  }
};

struct MetricsConfig {
  std::size_t sample_size = 0;     ///< size of the evaluation sample drawn from every model; 0 = samples_per_generation
  std::size_t tail_rank = 1000;    ///< n-gram tail mass: types ranked beyond r in the real data
  double tail_probability = 0.005; ///< GMM tail mass: beyond the truth's q and 1 − q quantiles
  std::size_t kl_samples = 1000;   ///< GMM: Monte Carlo sample size of KL when not closed form; 0 = skip (NaN)
  std::size_t dcr_samples = 1000;  ///< GMM: generated rows measured for distance to closest real record; 0 = skip
  std::vector<std::string> skip;   ///< registered metric names not to compute (left NaN), e.g. {"wasserstein2"}
};

struct RunConfig {
  std::string name;
  std::uint64_t master_seed = 0;
  TruthConfig truth;
  ModelConfig model;
  LoopConfig loop;
  MetricsConfig metrics;
};

}  // namespace collapse
