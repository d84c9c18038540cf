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
struct TextTruthConfig {          ///< [truth] kind = "text_corpus"
  std::string train;              ///< one sentence per line
  std::string heldout;
};
using TruthConfig = std::variant<GaussianTruthConfig, CsvTruthConfig, TextTruthConfig>;

// ---- model -------------------------------------------------------------------------------------
using ModelConfig = std::variant<GmmOptions, NgramOptions>;

// ---- anchoring (DESIGN.md §2) ------------------------------------------------------------------
struct Replace {};                ///< every generation trains on the previous generation's samples only
struct Mix {                      ///< a share of real data in every generation's training set
  double real_fraction = 0.1;     ///< in [0, 1], share of samples_per_generation that is real
  bool fresh = true;              ///< true: new real draw each generation; false: the same real subset of generation 0's data
};
using Anchoring = std::variant<Replace, Mix>;

struct LoopConfig {
  int generations = 10;                  ///< G ≥ 0: models 0..G are fitted
  std::size_t samples_per_generation = 1000;  ///< training-set size: rows (GMM) or tokens (n-gram)
  Anchoring anchoring = Replace{};
  SamplingControls controls;
};

struct MetricsConfig {
  std::size_t sample_size = 0;     ///< size of the evaluation sample drawn from every model; 0 = samples_per_generation
  std::size_t tail_rank = 1000;    ///< n-gram tail mass: types ranked beyond r in the real data
  double tail_probability = 0.005; ///< GMM tail mass: beyond the truth's q and 1 − q quantiles
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
