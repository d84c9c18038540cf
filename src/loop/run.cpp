#include "loop/run.hpp"

#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "core/training_set.hpp"
#include "metrics/gmm_metrics.hpp"
#include "metrics/ngram_metrics.hpp"
#include "metrics/registry.hpp"

namespace collapse {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// Shared bookkeeping of a run's per-generation outputs.
class Recorder {
 public:
  Recorder(RunResult& out, metrics::Family family, int generations) : out_(out), columns_(generations + 1) {
    for (const auto& m : metrics::metric_infos(family)) out_.metrics[m.name].assign(columns_, kNaN);
  }
  void set(const std::string& name, int g, double v) { out_.metrics.at(name)[static_cast<std::size_t>(g)] = v; }
  /// Per-generation array `name` of shape `shape`; allocated (NaN) on first use.
  double* trajectory(const std::string& name, const std::vector<std::uint64_t>& shape, int g) {
    auto& t = out_.trajectories[name];
    std::size_t per = 1;
    for (auto s : shape) per *= s;
    if (t.values.empty()) {
      t.shape = shape;
      t.values.assign(columns_ * per, kNaN);
    }
    return t.values.data() + static_cast<std::size_t>(g) * per;
  }
  void events(const std::vector<Event>& evs, int g) {
    for (auto e : evs) {
      e.generation = g;
      out_.events.push_back(std::move(e));
    }
  }

 private:
  RunResult& out_;
  std::size_t columns_;
};

// ---- the two families (DESIGN.md §1): data type, model, truth, metrics -------------------------

struct GmmFamily {
  using Data = Eigen::MatrixXd;
  using Model = GaussianMixture;
  static constexpr metrics::Family family = metrics::Family::gaussian_mixture;

  const RunConfig& config;
  const ContinuousTruth& truth;

  Model make_model() const { return GaussianMixture(std::get<GmmOptions>(config.model)); }

  void record(int g, const Model& model, const FitReport& fit, Rng&, Recorder& rec) const {
    rec.set("heldout_log_likelihood", g, metrics::mean_log_likelihood(model, truth.heldout));
    rec.set("total_variance", g, metrics::total_variance(model));
    const Eigen::VectorXd tails = metrics::tail_mass_per_dim(model, truth.lower_quantile, truth.upper_quantile);
    rec.set("tail_mass", g, tails.mean());
    rec.set("em_iterations", g, fit.iterations);
    rec.set("em_lower_bound", g, fit.lower_bound);

    const auto K = static_cast<std::uint64_t>(model.components());
    const auto d = static_cast<std::uint64_t>(model.dim());
    const auto order = metrics::canonical_component_order(model);
    double* w = rec.trajectory("gmm_weights", {K}, g);
    double* mu = rec.trajectory("gmm_means", {K, d}, g);
    double* cov = rec.trajectory("gmm_covariances", {K, d, d}, g);
    for (std::size_t i = 0; i < K; ++i) {
      const int k = order[i];
      w[i] = model.weights()[k];
      for (std::size_t a = 0; a < d; ++a) {
        mu[i * d + a] = model.means()(k, static_cast<Eigen::Index>(a));
        for (std::size_t b = 0; b < d; ++b)
          cov[(i * d + a) * d + b] =
              model.covariances()[static_cast<std::size_t>(k)](static_cast<Eigen::Index>(a), static_cast<Eigen::Index>(b));
      }
    }
    double* t = rec.trajectory("tail_mass_per_dim", {d}, g);
    for (std::size_t a = 0; a < d; ++a) t[a] = tails[static_cast<Eigen::Index>(a)];
  }
};

struct NgramFamily {
  using Data = Corpus;
  using Model = NgramModel;
  static constexpr metrics::Family family = metrics::Family::ngram;

  const RunConfig& config;
  const TextTruth& truth;

  Model make_model() const { return NgramModel(std::get<NgramOptions>(config.model), truth.vocab_size()); }

  void record(int g, const Model& model, const FitReport&, Rng& rng, Recorder& rec) const {
    const auto unigram = model.unigram();
    rec.set("support_size", g, static_cast<double>(model.support_size()));
    rec.set("unigram_entropy", g, metrics::entropy_bits(unigram));
    rec.set("gini_simpson", g, metrics::gini_simpson(unigram));
    rec.set("missing_mass", g, metrics::missing_mass(unigram, truth.unigram));
    rec.set("tail_mass", g, metrics::tail_mass_beyond_rank(unigram, config.metrics.tail_rank));

    const std::size_t m = config.metrics.sample_size ? config.metrics.sample_size : config.loop.samples_per_generation;
    const Corpus sample = model.sample(m, config.loop.controls, rng);
    rec.set("distinct_types", g, static_cast<double>(metrics::distinct_types(sample)));
    rec.set("distinct_1", g, metrics::distinct_n(sample, 1));
    rec.set("distinct_2", g, metrics::distinct_n(sample, 2));

    const HeldoutScore s = model.score(truth.heldout);
    rec.set("perplexity", g, s.covered ? std::exp(-s.log_prob / static_cast<double>(s.covered)) : kNaN);
    rec.set("heldout_uncovered_rate", g,
            s.predictions ? 1.0 - static_cast<double>(s.covered) / static_cast<double>(s.predictions) : kNaN);
    const auto tokens = truth.heldout.num_tokens();
    rec.set("heldout_oov_rate", g, tokens ? static_cast<double>(s.oov) / static_cast<double>(tokens) : kNaN);
  }
};

/// Runs the generations; returns false if `stop` ended it early.
template <class Family>
bool run_loop(const Family& fam, const RunConfig& config, std::uint64_t seed, const std::atomic<bool>* stop,
              RunResult& out) {
  using Data = typename Family::Data;
  const LoopConfig& loop = config.loop;
  const std::size_t n = loop.samples_per_generation;
  Recorder rec(out, Family::family, loop.generations);

  // Generation 0: real data only.
  TrainingSet<Data> pool;
  Data fixed_real;
  {
    Rng rng = stream_rng(seed, 0, Stream::mix);
    Data real = fam.truth.draw(n, rng);
    if (const auto* mix = std::get_if<Mix>(&loop.anchoring); mix && !mix->fresh) {
      // The real rows/sentences arrive in uniformly random order, so a prefix is a uniform subset.
      fixed_real = real;
      truncate_to_size(fixed_real, static_cast<std::size_t>(std::llround(mix->real_fraction * static_cast<double>(n))));
    }
    pool.add(real, kReal);
  }

  auto model = fam.make_model();
  for (int g = 0; g <= loop.generations; ++g) {
    if (stop && stop->load(std::memory_order_relaxed)) {
      out.events.push_back({g, "interrupted", "stopped before generation " + std::to_string(g) + " (signal)"});
      return false;
    }
    Rng fit_rng = stream_rng(seed, g, Stream::fit);
    const FitReport report = model.fit(pool.data, fit_rng);
    rec.events(report.events, g);
    rec.set("real_fraction", g, pool.real_fraction());
    rec.set("synthetic_age", g, pool.mean_synthetic_age(g));
    Rng metric_rng = stream_rng(seed, g, Stream::metric);
    fam.record(g, model, report, metric_rng, rec);
    if (g == loop.generations) break;

    // The training set of generation g + 1.
    TrainingSet<Data> next;
    std::size_t real_size = 0;
    if (const auto* mix = std::get_if<Mix>(&loop.anchoring)) {
      real_size = static_cast<std::size_t>(std::llround(mix->real_fraction * static_cast<double>(n)));
      if (real_size > 0) {
        if (mix->fresh) {
          Rng mix_rng = stream_rng(seed, g + 1, Stream::mix);
          next.add(fam.truth.draw(real_size, mix_rng), kReal);
        } else {
          next.add(fixed_real, kReal);
        }
      }
    }
    Rng sample_rng = stream_rng(seed, g, Stream::sample);
    const Data synth = model.sample(n - real_size, loop.controls, sample_rng);
    if (total_size(synth) < n - real_size)
      out.events.push_back({g, "short_sample",
                            "model generated " + std::to_string(total_size(synth)) + " of " +
                                std::to_string(n - real_size) + " requested units (it only produces empty sentences)"});
    next.add(synth, static_cast<Origin>(g));
    pool = std::move(next);
  }
  return true;
}

}  // namespace

RunResult run_generations(const RunConfig& config, const TruthHandle& truth, const RunIdentity& id,
                          const std::atomic<bool>* stop) {
  RunResult out;
  out.run_index = id.run_index;
  out.run_key = id.run_key;
  out.replicate = id.replicate;
  out.seed = id.seed;
  const auto start = std::chrono::steady_clock::now();
  try {
    bool finished = false;
    if (std::holds_alternative<GmmOptions>(config.model)) {
      const auto& t = std::get<std::shared_ptr<const ContinuousTruth>>(truth);
      finished = run_loop(GmmFamily{config, *t}, config, id.seed, stop, out);
    } else {
      const auto& t = std::get<std::shared_ptr<const TextTruth>>(truth);
      finished = run_loop(NgramFamily{config, *t}, config, id.seed, stop, out);
    }
    out.status = finished ? RunStatus::done : RunStatus::partial;
  } catch (const std::exception& e) {
    out.status = RunStatus::failed;
    out.error = e.what();
    out.events.push_back({-1, "run_failed", e.what()});
  }
  out.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

}  // namespace collapse
