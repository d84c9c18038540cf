#include "loop/run.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <type_traits>

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
  Recorder(RunResult& out, metrics::Family family, int generations, const std::vector<std::string>& skip)
      : out_(out), columns_(generations + 1), skip_(skip) {
    for (const auto& m : metrics::metric_infos(family)) out_.metrics[m.name].assign(columns_, kNaN);
  }
  /// Records metric `name` at generation g unless metrics.skip lists it (then it stays NaN).
  void set(const std::string& name, int g, double v) {
    if (wants(name)) out_.metrics.at(name)[static_cast<std::size_t>(g)] = v;
  }
  /// Records f() only if `name` is wanted: for metrics whose computation costs.
  template <class F>
  void compute(const std::string& name, int g, F&& f) {
    if (wants(name)) set(name, g, f());
  }
  bool wants(const std::string& name) const { return std::find(skip_.begin(), skip_.end(), name) == skip_.end(); }
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
  const std::vector<std::string>& skip_;
};

// ---- the two families (DESIGN.md §1): data type, model, truth, metrics -------------------------

struct GmmFamily {
  using Data = Eigen::MatrixXd;
  using Model = GaussianMixture;
  static constexpr metrics::Family family = metrics::Family::gaussian_mixture;

  const RunConfig& config;
  const ContinuousTruth& truth;

  /// With model.fit_covariance = false every covariance is held at the truth's: the analytic truth's
  /// overall covariance, or the sample covariance (MLE, /n) of a table's training rows.
  Model make_model() const {
    GmmOptions o = std::get<GmmOptions>(config.model);
    if (!o.fit_covariance) o.fixed_covariance = truth_covariance();
    return GaussianMixture(o);
  }

  Eigen::MatrixXd truth_covariance() const {
    if (truth.analytic) return metrics::overall_covariance(*truth.analytic);
    const Eigen::MatrixXd centred = truth.train.rowwise() - truth.train.colwise().mean();
    return centred.transpose() * centred / static_cast<double>(truth.train.rows());
  }

  void record(int g, const Model& model, const FitReport& fit, const TrainingSet<Data>& train, const Data& real0,
              Rng& rng, Recorder& rec) const {
    rec.compute("heldout_log_likelihood", g, [&] { return metrics::mean_log_likelihood(model, truth.heldout); });
    rec.set("total_variance", g, metrics::total_variance(model));
    const Eigen::VectorXd tails = metrics::tail_mass_per_dim(model, truth.lower_quantile, truth.upper_quantile);
    rec.set("tail_mass", g, tails.mean());
    rec.set("em_iterations", g, fit.iterations);
    rec.set("em_lower_bound", g, fit.lower_bound);
    rec.set("log_det_covariance", g, metrics::log_det_covariance(model));
    rec.set("live_components", g, metrics::live_components(model, train.size()));
    if (truth.analytic) {
      const GaussianMixture& t = *truth.analytic;
      const std::size_t mc = config.metrics.kl_samples;
      rec.compute("kl_truth_model", g, [&] { return metrics::kl_divergence(t, model, mc, rng); });
      rec.compute("kl_model_truth", g, [&] { return metrics::kl_divergence(model, t, mc, rng); });
      rec.compute("wasserstein2", g, [&] { return metrics::wasserstein2(model, t); });
      rec.compute("gelbrich_w2", g, [&] { return metrics::gelbrich_w2(model, t); });
      rec.compute("l2_distance", g, [&] { return metrics::l2_distance(model, t); });
    }
    if (config.metrics.dcr_samples > 0)
      rec.compute("dcr_median", g, [&] {
        return metrics::dcr_median(model.sample(config.metrics.dcr_samples, config.loop.controls, rng), real0);
      });

    // Trajectories: K slots (options' K; NaN for components dropped by the degenerate policy).
    const auto K = static_cast<std::uint64_t>(std::get<GmmOptions>(config.model).components);
    const auto d = static_cast<std::uint64_t>(model.dim());
    const auto order = metrics::canonical_component_order(model);
    double* w = rec.trajectory("gmm_weights", {K}, g);
    double* mu = rec.trajectory("gmm_means", {K, d}, g);
    double* cov = rec.trajectory("gmm_covariances", {K, d, d}, g);
    for (std::size_t i = 0; i < order.size() && i < K; ++i) {
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
  std::vector<std::uint64_t> ranks = metrics::trajectory_rank_grid();

  Model make_model() const { return NgramModel(std::get<NgramOptions>(config.model), truth.vocab_size()); }

  void record(int g, const Model& model, const FitReport&, const TrainingSet<Data>&, const Data&, Rng& rng,
              Recorder& rec) const {
    const auto unigram = model.unigram();
    rec.set("support_size", g, static_cast<double>(model.support_size()));
    rec.set("unigram_entropy", g, metrics::entropy_bits(unigram));
    rec.set("gini_simpson", g, metrics::gini_simpson(unigram));
    rec.set("missing_mass", g, metrics::missing_mass(unigram, truth.unigram));
    rec.set("tail_mass", g, metrics::tail_mass_beyond_rank(unigram, config.metrics.tail_rank));
    rec.set("kl_model_truth", g, metrics::kl_divergence_bits(unigram, truth.unigram));
    rec.set("js_divergence", g, metrics::js_divergence_bits(unigram, truth.unigram));
    rec.set("total_variation", g, metrics::total_variation(unigram, truth.unigram));

    const std::size_t m = config.metrics.sample_size ? config.metrics.sample_size : config.loop.samples_at(g);
    const Corpus sample = model.sample(m, config.loop.controls, rng);
    rec.set("distinct_types", g, static_cast<double>(metrics::distinct_types(sample)));
    for (int n = 1; n <= 4; ++n) rec.compute("distinct_" + std::to_string(n), g, [&] { return metrics::distinct_n(sample, n); });
    rec.compute("zipf_exponent", g, [&] { return metrics::zipf_exponent_mle(sample); });
    if (truth.verbatim) {
      rec.compute("verbatim_sentence_rate", g, [&] { return metrics::verbatim_sentence_rate(sample, *truth.verbatim); });
      rec.compute("verbatim_8gram_rate", g, [&] { return metrics::verbatim_ngram_rate(sample, *truth.verbatim); });
    }

    if (rec.wants("perplexity") || rec.wants("heldout_uncovered_rate") || rec.wants("heldout_oov_rate")) {
      const HeldoutScore s = model.score(truth.heldout);
      rec.set("perplexity", g, s.covered ? std::exp(-s.log_prob / static_cast<double>(s.covered)) : kNaN);
      rec.set("heldout_uncovered_rate", g,
              s.predictions ? 1.0 - static_cast<double>(s.covered) / static_cast<double>(s.predictions) : kNaN);
      const auto tokens = truth.heldout.num_tokens();
      rec.set("heldout_oov_rate", g, tokens ? static_cast<double>(s.oov) / static_cast<double>(tokens) : kNaN);
    }

    const auto freq = metrics::rank_frequency(sample, ranks);
    std::copy(freq.begin(), freq.end(), rec.trajectory("rank_frequency", {metrics::kRankGridSize}, g));
    // Σ_{w ≥ r_j} p(w) for the ascending grid, in one backward pass over the unigram distribution.
    double* tail = rec.trajectory("tail_mass_by_rank", {metrics::kRankGridSize}, g);
    double suffix = 0;
    std::size_t w = unigram.size();
    for (std::size_t j = ranks.size(); j-- > 0;) {
      for (; w > ranks[j]; --w) suffix += unigram[w - 1];
      tail[j] = w == ranks[j] ? suffix : 0.0;
    }
    double* head = rec.trajectory("unigram_head", {metrics::kUnigramHeadSize}, g);
    for (std::size_t i = 0; i < metrics::kUnigramHeadSize && i < unigram.size(); ++i) head[i] = unigram[i];
  }
};

/// Rounds share · n to whole units.
std::size_t share(double fraction, std::size_t n) {
  return static_cast<std::size_t>(std::llround(fraction * static_cast<double>(n)));
}

/// Runs the generations; returns false if `stop` ended it early.
template <class Family>
bool run_loop(const Family& fam, const RunConfig& config, std::uint64_t seed, const std::atomic<bool>* stop,
              RunResult& out) {
  using Data = typename Family::Data;
  const LoopConfig& loop = config.loop;
  Recorder rec(out, Family::family, loop.generations, config.metrics.skip);

  // Generation 0: n_0 units of real data. `real0` is kept for mix with a fixed real source (a prefix:
  // the real rows/sentences arrive in uniformly random order, so a prefix is a uniform subset) and
  // for augment; `all` holds everything generated so far under accumulate_subsample.
  const auto* subsample = std::get_if<AccumulateSubsample>(&loop.anchoring);
  const std::size_t train_size = subsample && subsample->train_size ? subsample->train_size : loop.samples_at(0);
  Data real0;
  TrainingSet<Data> train, all;
  {
    Rng rng = stream_rng(seed, 0, Stream::mix);
    real0 = fam.truth.draw(loop.samples_at(0), rng);
    train.add(real0, kReal);
    if (subsample) {
      all = train;
      train = all.subsample(train_size, rng);
    }
  }

  auto model = fam.make_model();
  for (int g = 0; g <= loop.generations; ++g) {
    if (stop && stop->load(std::memory_order_relaxed)) {
      out.events.push_back({g, "interrupted", "stopped before generation " + std::to_string(g) + " (signal)"});
      return false;
    }
    Rng fit_rng = stream_rng(seed, g, Stream::fit);
    const FitReport report = model.fit(train.data, fit_rng);
    rec.events(report.events, g);
    rec.set("training_size", g, static_cast<double>(train.size()));
    rec.set("real_fraction", g, train.real_fraction());
    rec.set("synthetic_age", g, train.mean_synthetic_age(g));
    Rng metric_rng = stream_rng(seed, g, Stream::metric);
    fam.record(g, model, report, train, real0, metric_rng, rec);
    if (g == loop.generations) break;

    // The training set of generation g + 1: n_{g+1} new units, composed by the anchoring rule.
    const std::size_t n = loop.samples_at(g + 1);
    Rng sample_rng = stream_rng(seed, g, Stream::sample);
    Rng mix_rng = stream_rng(seed, g + 1, Stream::mix);
    auto synthesize = [&](std::size_t units) {
      Data synth = model.sample(units, loop.controls, sample_rng);
      if (total_size(synth) < units)
        out.events.push_back({g, "short_sample",
                              "model generated " + std::to_string(total_size(synth)) + " of " + std::to_string(units) +
                                  " requested units (it only produces empty sentences)"});
      return synth;
    };
    std::visit(
        [&]<class A>(const A& a) {
          if constexpr (std::is_same_v<A, Replace>) {
            train = {};
            train.add(synthesize(n), static_cast<Origin>(g));
          } else if constexpr (std::is_same_v<A, Mix>) {
            const std::size_t real_size = share(a.real_fraction, n);
            train = {};
            if (real_size > 0) {
              if (a.fresh) {
                train.add(fam.truth.draw(real_size, mix_rng), kReal);
              } else {
                Data fixed = real0;
                truncate_to_size(fixed, real_size);
                train.add(fixed, kReal);
              }
            }
            train.add(synthesize(n - real_size), static_cast<Origin>(g));
          } else if constexpr (std::is_same_v<A, Accumulate>) {
            train.add(synthesize(n), static_cast<Origin>(g));
          } else if constexpr (std::is_same_v<A, AccumulateSubsample>) {
            all.add(synthesize(n), static_cast<Origin>(g));
            train = all.subsample(train_size, mix_rng);
          } else {
            static_assert(std::is_same_v<A, Augment>);
            train = {};
            train.add(real0, kReal);
            train.add(synthesize(share(a.synthetic_ratio, n)), static_cast<Origin>(g));
          }
        },
        loop.anchoring);
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
