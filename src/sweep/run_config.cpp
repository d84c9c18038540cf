#include "sweep/run_config.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <set>
#include <sstream>
#include <stdexcept>

#include "core/check.hpp"
#include "metrics/registry.hpp"

namespace collapse::sweep {

namespace {

// Keys by section; kind-specific keys are listed with their kind for messages.
const std::vector<std::string> kExperimentKeys = {"name", "generations", "replicates", "seed"};
const std::vector<std::string> kTruthKinds = {"gaussian_mixture", "csv", "text_corpus", "zipf", "zipf_mandelbrot"};
const std::vector<std::string> kTruthGaussianKeys = {"kind", "weights", "means", "covariances", "heldout_samples"};
const std::vector<std::string> kTruthCsvKeys = {"kind", "path", "columns", "heldout_fraction"};
const std::vector<std::string> kTruthTextKeys = {"kind", "train", "heldout", "heldout_fraction"};
const std::vector<std::string> kTruthZipfKeys = {"kind", "vocab_size", "exponent", "sentence_length", "heldout_tokens"};
const std::vector<std::string> kTruthZipfMandelbrotKeys = {"kind",           "vocab_size",     "exponent",
                                                           "offset",         "sentence_length", "heldout_tokens"};
const std::vector<std::string> kModelKinds = {"gaussian_mixture", "ngram"};
const std::vector<std::string> kModelGmmKeys = {"kind",      "components", "covariance", "tol",        "max_iter",
                                                "reg_covar", "init",       "n_init",     "degenerate", "fit_covariance",
                                                "covariance_estimator"};
const std::vector<std::string> kModelNgramKeys = {"kind", "order", "smoothing", "add_k"};
const std::vector<std::string> kAnchorings = {"replace", "mix", "accumulate", "accumulate_subsample", "augment"};
const std::vector<std::string> kLoopKeys = {"samples_per_generation", "anchoring", "real_fraction", "real_source",
                                            "train_size", "synthetic_ratio", "temperature", "top_k", "top_p", "min_p",
                                            "max_length"};
const std::vector<std::string> kMetricsKeys = {"sample_size", "tail_rank", "tail_probability", "kl_samples",
                                               "dcr_samples", "skip"};
const std::vector<std::string> kSections = {"experiment", "truth", "model", "loop", "metrics", "sweep"};

std::string type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    default: return "a date/time";
  }
}

/// Reads the keys of one section, remembering which were used, so that leftovers are reported.
class Section {
 public:
  Section(const toml::table* table, std::string name, const std::vector<std::string>& allowed, std::string context = "")
      : table_(table), name_(std::move(name)), allowed_(allowed), context_(std::move(context)) {
    if (!table_) return;
    for (auto&& [k, v] : *table_) {
      const std::string key(k.str());
      if (std::find(allowed_.begin(), allowed_.end(), key) == allowed_.end()) {
        std::vector<std::string> full;
        for (const auto& a : allowed_) full.push_back(name_ + "." + a);
        const std::string hint = did_you_mean(name_ + "." + key, full);
        throw std::invalid_argument("unknown key " + name_ + "." + key + context_ +
                                    (hint.empty() ? "" : "; did you mean " + hint + "?") +
                                    " Allowed keys: " + join(allowed_, ", "));
      }
    }
  }
  std::string key(std::string_view k) const { return name_ + "." + std::string(k); }
  const toml::node* find(std::string_view k) const { return table_ ? table_->get(k) : nullptr; }

  [[noreturn]] void wrong_type(std::string_view k, const toml::node& n, std::string_view expected) const {
    throw std::invalid_argument(key(k) + " = " + describe_value(n) + " is " + type_name(n) + ", but must be " +
                                std::string(expected));
  }
  [[noreturn]] void missing(std::string_view k, std::string_view expected) const {
    throw std::invalid_argument("missing key " + key(k) + context_ + " (" + std::string(expected) + ")");
  }

  std::int64_t integer(std::string_view k, std::optional<std::int64_t> def, std::int64_t lo,
                       std::int64_t hi = std::numeric_limits<std::int64_t>::max()) const {
    const toml::node* n = find(k);
    if (!n) {
      if (!def) missing(k, "an integer ≥ " + std::to_string(lo));
      return *def;
    }
    if (!n->is_integer()) wrong_type(k, *n, "an integer");
    const std::int64_t v = n->as_integer()->get();
    if (v < lo || v > hi)
      throw std::invalid_argument(key(k) + " = " + std::to_string(v) + ", but must be " +
                                  (hi == std::numeric_limits<std::int64_t>::max()
                                       ? "≥ " + std::to_string(lo)
                                       : "in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]"));
    return v;
  }
  double number(std::string_view k, std::optional<double> def) const {
    const toml::node* n = find(k);
    if (!n) {
      if (!def) missing(k, "a number");
      return *def;
    }
    if (n->is_integer()) return static_cast<double>(n->as_integer()->get());
    if (!n->is_floating_point()) wrong_type(k, *n, "a number");
    return n->as_floating_point()->get();
  }
  std::string string(std::string_view k, std::optional<std::string> def,
                     const std::vector<std::string>& one_of = {}) const {
    const toml::node* n = find(k);
    std::string v;
    if (!n) {
      if (!def) missing(k, one_of.empty() ? "a string" : "one of: " + join(one_of));
      v = *def;
    } else {
      if (!n->is_string()) wrong_type(k, *n, one_of.empty() ? "a string" : "one of: " + join(one_of));
      v = n->as_string()->get();
    }
    if (!one_of.empty()) check_one_of(key(k), v, one_of);
    return v;
  }
  std::vector<double> numbers(std::string_view k, const toml::node& n) const {
    const toml::array* a = n.as_array();
    if (!a) wrong_type(k, n, "an array of numbers");
    std::vector<double> out;
    for (const auto& e : *a) {
      if (e.is_integer()) out.push_back(static_cast<double>(e.as_integer()->get()));
      else if (e.is_floating_point()) out.push_back(e.as_floating_point()->get());
      else wrong_type(k, n, "an array of numbers");
    }
    return out;
  }
  const toml::array& array(std::string_view k) const {
    const toml::node* n = find(k);
    if (!n) missing(k, "an array");
    if (!n->is_array()) wrong_type(k, *n, "an array");
    return *n->as_array();
  }

 private:
  const toml::table* table_;
  std::string name_;
  const std::vector<std::string>& allowed_;
  std::string context_;
};

std::string resolve(const std::string& base_dir, const std::string& p) {
  std::filesystem::path path(p);
  if (path.is_absolute() || base_dir.empty()) return path.lexically_normal().string();
  return (std::filesystem::path(base_dir) / path).lexically_normal().string();
}

/// `<section>.kind`: present, a string, one of `kinds` (it decides which other keys are allowed).
std::string read_kind(const toml::table& t, const std::string& section, const std::vector<std::string>& kinds) {
  const toml::node* kn = t.get("kind");
  if (!kn) throw std::invalid_argument("missing key " + section + ".kind (one of: " + join(kinds) + ")");
  if (!kn->is_string())
    throw std::invalid_argument(section + ".kind = " + describe_value(*kn) + " is " + type_name(*kn) +
                                ", but must be one of: " + join(kinds));
  std::string k = kn->as_string()->get();
  check_one_of(section + ".kind", k, kinds);
  return k;
}

TruthConfig parse_truth(const toml::table* t, const std::string& base_dir) {
  if (!t) throw std::invalid_argument("missing section [truth] (truth.kind must be one of: " + join(kTruthKinds) + ")");
  const std::string k = read_kind(*t, "truth", kTruthKinds);
  const std::string ctx = " for truth.kind = \"" + k + "\"";
  if (k == "gaussian_mixture") {
    Section s(t, "truth", kTruthGaussianKeys, ctx);
    GaussianTruthConfig c;
    const toml::node* wn = s.find("weights");
    if (!wn) s.missing("weights", "an array of K non-negative weights summing to 1");
    const auto w = s.numbers("weights", *wn);
    const toml::array& means = s.array("means");
    const toml::array& covs = s.array("covariances");
    const std::size_t K = w.size();
    if (K == 0) throw std::invalid_argument("truth.weights is empty, but must have one weight per component");
    check_size("truth.means", means.size(), K);
    check_size("truth.covariances", covs.size(), K);
    c.weights = Eigen::Map<const Eigen::VectorXd>(w.data(), static_cast<Eigen::Index>(K));
    std::size_t d = 0;
    for (std::size_t i = 0; i < K; ++i) {
      const auto m = s.numbers("means", means[i]);
      if (i == 0) {
        d = m.size();
        if (d == 0) throw std::invalid_argument("truth.means[0] is empty, but must have d ≥ 1 coordinates");
        c.means.resize(static_cast<Eigen::Index>(K), static_cast<Eigen::Index>(d));
      }
      check_size("truth.means[" + std::to_string(i) + "]", m.size(), d);
      for (std::size_t j = 0; j < d; ++j) c.means(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)) = m[j];
      const toml::array* rows = covs[i].as_array();
      if (!rows) s.wrong_type("covariances", covs[i], "an array of K d×d matrices (arrays of arrays)");
      check_size("truth.covariances[" + std::to_string(i) + "]", rows->size(), d);
      Eigen::MatrixXd cov(static_cast<Eigen::Index>(d), static_cast<Eigen::Index>(d));
      for (std::size_t a = 0; a < d; ++a) {
        const auto r = s.numbers("covariances", (*rows)[a]);
        check_size("truth.covariances[" + std::to_string(i) + "][" + std::to_string(a) + "]", r.size(), d);
        for (std::size_t b = 0; b < d; ++b) cov(static_cast<Eigen::Index>(a), static_cast<Eigen::Index>(b)) = r[b];
      }
      c.covariances.push_back(cov);
    }
    c.heldout_samples = static_cast<std::size_t>(s.integer("heldout_samples", 10000, 1, 10'000'000));
    return c;
  }
  if (k == "csv") {
    Section s(t, "truth", kTruthCsvKeys, ctx);
    CsvTruthConfig c;
    c.path = resolve(base_dir, s.string("path", std::nullopt));
    if (const toml::node* cols = s.find("columns")) {
      const toml::array* a = cols->as_array();
      if (!a) s.wrong_type("columns", *cols, "an array of column names");
      for (const auto& e : *a) {
        if (!e.is_string()) s.wrong_type("columns", *cols, "an array of column names (strings)");
        c.columns.push_back(e.as_string()->get());
      }
    }
    c.heldout_fraction = s.number("heldout_fraction", 0.2);
    check_in_range("truth.heldout_fraction", c.heldout_fraction, 0, 0.9);
    return c;
  }
  if (k == "zipf" || k == "zipf_mandelbrot") {
    const bool zm = k == "zipf_mandelbrot";
    Section s(t, "truth", zm ? kTruthZipfMandelbrotKeys : kTruthZipfKeys, ctx);
    ZipfTruthConfig c;
    c.mandelbrot = zm;
    c.vocab_size = static_cast<std::size_t>(s.integer("vocab_size", std::nullopt, 1, 10'000'000));
    c.exponent = s.number("exponent", std::nullopt);
    check_positive("truth.exponent", c.exponent);
    if (zm) {
      c.offset = s.number("offset", std::nullopt);
      if (!(c.offset > -1) || !std::isfinite(c.offset))
        throw std::invalid_argument("truth.offset = " + format_number(c.offset) + ", but must be > -1 and finite");
    }
    c.sentence_length = static_cast<std::size_t>(s.integer("sentence_length", 20, 1, 1'000'000));
    c.heldout_tokens = static_cast<std::size_t>(s.integer("heldout_tokens", 100'000, 1, 100'000'000));
    return c;
  }
  Section s(t, "truth", kTruthTextKeys, ctx);
  TextTruthConfig c;
  c.train = resolve(base_dir, s.string("train", std::nullopt));
  if (s.find("heldout")) {
    c.heldout = resolve(base_dir, s.string("heldout", std::nullopt));
    if (s.find("heldout_fraction"))
      throw std::invalid_argument("truth.heldout_fraction is only used without truth.heldout (the held-out text is "
                                  "then split off truth.train); give one of the two");
  } else {
    c.heldout_fraction = s.number("heldout_fraction", 0.1);
    check_in_range("truth.heldout_fraction", c.heldout_fraction, 0, 0.9);
  }
  return c;
}

/// loop.samples_per_generation: an integer ≥ 1, or a schedule of experiment.generations + 1 integers ≥ 1.
void read_samples_per_generation(const Section& s, LoopConfig& loop) {
  const toml::node* n = s.find("samples_per_generation");
  if (!n || !n->is_array()) {
    loop.samples_per_generation = static_cast<std::size_t>(s.integer("samples_per_generation", std::nullopt, 1));
    return;
  }
  const std::string expected = "an integer ≥ 1 or an array of experiment.generations + 1 = " +
                               std::to_string(loop.generations + 1) + " integers ≥ 1 (n_0 … n_G)";
  const toml::array& a = *n->as_array();
  if (a.size() != static_cast<std::size_t>(loop.generations) + 1)
    throw std::invalid_argument("loop.samples_per_generation has " + std::to_string(a.size()) +
                                " values, but must be " + expected);
  for (const auto& e : a) {
    if (!e.is_integer() || e.as_integer()->get() < 1) s.wrong_type("samples_per_generation", *n, expected);
    loop.schedule.push_back(static_cast<std::size_t>(e.as_integer()->get()));
  }
  loop.samples_per_generation = loop.schedule.front();
}

GmmInit parse_init(const std::string& v) {
  if (v == "kmeans") return GmmInit::kmeans;
  if (v == "k-means++") return GmmInit::kmeans_pp;
  if (v == "previous") return GmmInit::previous;
  return GmmInit::random;
}

ModelConfig parse_model(const toml::table* t) {
  if (!t) throw std::invalid_argument("missing section [model] (model.kind must be one of: " + join(kModelKinds) + ")");
  const std::string k = read_kind(*t, "model", kModelKinds);
  const std::string ctx = " for model.kind = \"" + k + "\"";
  std::string error;
  if (k == "gaussian_mixture") {
    Section s(t, "model", kModelGmmKeys, ctx);
    GmmOptions o;
    o.components = static_cast<int>(s.integer("components", 1, 1, 1000));
    const std::string cov = s.string("covariance", "full", {"full", "diagonal", "spherical"});
    o.covariance = cov == "full" ? CovarianceType::full : cov == "diagonal" ? CovarianceType::diagonal : CovarianceType::spherical;
    o.tol = s.number("tol", 1e-3);
    check_positive("model.tol", o.tol);
    o.max_iter = static_cast<int>(s.integer("max_iter", 100, 1, 1000000));
    o.reg_covar = s.number("reg_covar", 1e-6);
    check_nonnegative("model.reg_covar", o.reg_covar);
    o.init = parse_init(s.string("init", "kmeans", {"kmeans", "k-means++", "random", "previous"}));
    o.n_init = static_cast<int>(s.integer("n_init", 1, 1, 1000));
    const std::string degenerate = s.string("degenerate", "keep", {"keep", "drop", "reseed"});
    o.degenerate = degenerate == "keep"   ? DegeneratePolicy::keep
                   : degenerate == "drop" ? DegeneratePolicy::drop
                                          : DegeneratePolicy::reseed;
    if (const toml::node* fc = s.find("fit_covariance")) {
      if (!fc->is_boolean()) s.wrong_type("fit_covariance", *fc, "true or false");
      o.fit_covariance = fc->as_boolean()->get();
    }
    o.unbiased_covariance = s.string("covariance_estimator", "mle", {"mle", "unbiased"}) == "unbiased";
    // With fit_covariance = false the loop holds the covariance at the truth's (known only once the
    // truth is loaded); validate the other options with a placeholder.
    GmmOptions check = o;
    if (!o.fit_covariance) check.fixed_covariance = Eigen::MatrixXd::Identity(1, 1);
    if (!check.IsValid(&error)) throw std::invalid_argument(error);
    return o;
  }
  Section s(t, "model", kModelNgramKeys, ctx);
  NgramOptions o;
  o.order = static_cast<int>(s.integer("order", 2, 1, 5));
  const std::string sm = s.string("smoothing", "mle", {"mle", "add_k", "kneser_ney"});
  o.smoothing = sm == "mle" ? Smoothing::mle : sm == "add_k" ? Smoothing::add_k : Smoothing::kneser_ney;
  o.k = s.number("add_k", sm == "add_k" ? 1.0 : 0.0);
  if (o.smoothing == Smoothing::add_k) check_positive("model.add_k", o.k);
  else if (s.find("add_k") && o.k != 0)
    throw std::invalid_argument("model.add_k = " + format_number(o.k) +
                                " is only used with model.smoothing = \"add_k\" (model.smoothing is \"" + sm + "\")");
  if (!o.IsValid(&error)) throw std::invalid_argument(error);
  return o;
}

}  // namespace

std::string describe_value(const toml::node& node) {
  std::ostringstream ss;
  node.visit([&](const auto& v) { ss << v; });
  std::string s = ss.str();
  if (node.is_string()) s = "\"" + node.as_string()->get() + "\"";
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

std::string did_you_mean(const std::string& key, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_d = 4;
  for (const auto& c : candidates) {
    // Levenshtein distance, O(|a|·|b|).
    std::vector<std::size_t> prev(c.size() + 1), cur(c.size() + 1);
    for (std::size_t j = 0; j <= c.size(); ++j) prev[j] = j;
    for (std::size_t i = 1; i <= key.size(); ++i) {
      cur[0] = i;
      for (std::size_t j = 1; j <= c.size(); ++j)
        cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (key[i - 1] == c[j - 1] ? 0 : 1)});
      std::swap(prev, cur);
    }
    if (prev[c.size()] < best_d) {
      best_d = prev[c.size()];
      best = c;
    }
  }
  return best;
}

const std::vector<std::string>& known_keys() {
  static const std::vector<std::string> keys = [] {
    std::set<std::string> all;
    auto add = [&](const std::string& sec, const std::vector<std::string>& ks) {
      for (const auto& k : ks) all.insert(sec + "." + k);
    };
    add("experiment", kExperimentKeys);
    add("truth", kTruthGaussianKeys);
    add("truth", kTruthCsvKeys);
    add("truth", kTruthTextKeys);
    add("truth", kTruthZipfMandelbrotKeys);
    add("model", kModelGmmKeys);
    add("model", kModelNgramKeys);
    add("loop", kLoopKeys);
    add("metrics", kMetricsKeys);
    return std::vector<std::string>(all.begin(), all.end());
  }();
  return keys;
}

RunConfig parse_run_config(const toml::table& table, const std::string& base_dir) {
  for (auto&& [k, v] : table) {
    const std::string key(k.str());
    if (std::find(kSections.begin(), kSections.end(), key) == kSections.end()) {
      const std::string hint = did_you_mean(key, kSections);
      throw std::invalid_argument("unknown section [" + key + "]" + (hint.empty() ? "" : "; did you mean [" + hint + "]?") +
                                  " Allowed sections: " + join(kSections, ", "));
    }
    if (!v.is_table())
      throw std::invalid_argument(key + " = " + describe_value(v) + " is " + type_name(v) + ", but must be a section [" +
                                  key + "]");
  }
  RunConfig c;
  {
    Section s(table["experiment"].as_table(), "experiment", kExperimentKeys);
    c.name = s.string("name", "experiment");
    c.loop.generations = static_cast<int>(s.integer("generations", std::nullopt, 0, 1000000));
    s.integer("replicates", 1, 1, 10000000);
    c.master_seed = static_cast<std::uint64_t>(s.integer("seed", 0, 0));
  }
  c.truth = parse_truth(table["truth"].as_table(), base_dir);
  c.model = parse_model(table["model"].as_table());
  {
    Section s(table["loop"].as_table(), "loop", kLoopKeys);
    read_samples_per_generation(s, c.loop);
    const std::string anchoring = s.string("anchoring", "replace", kAnchorings);
    // The options of every anchoring are read (and checked) whatever the anchoring, so that one file can
    // sweep loop.anchoring; each takes effect only under its own anchoring.
    Mix m;
    m.real_fraction = s.number("real_fraction", anchoring == "mix" ? std::nullopt : std::optional<double>(0.0));
    check_in_range("loop.real_fraction", m.real_fraction, 0, 1);
    m.fresh = s.string("real_source", "fresh", {"fresh", "fixed"}) == "fresh";
    AccumulateSubsample sub;
    sub.train_size = static_cast<std::size_t>(s.integer("train_size", 0, 0));
    Augment aug;
    aug.synthetic_ratio = s.number("synthetic_ratio", 1.0);
    check_in_range("loop.synthetic_ratio", aug.synthetic_ratio, 0, 1000);
    if (anchoring == "mix") c.loop.anchoring = m;
    else if (anchoring == "accumulate") c.loop.anchoring = Accumulate{};
    else if (anchoring == "accumulate_subsample") c.loop.anchoring = sub;
    else if (anchoring == "augment") c.loop.anchoring = aug;
    else c.loop.anchoring = Replace{};
    if (anchoring == "mix" && !m.fresh)
      for (int g = 1; g <= c.loop.generations; ++g)
        if (std::llround(m.real_fraction * static_cast<double>(c.loop.samples_at(g))) >
            static_cast<long long>(c.loop.samples_at(0)))
          throw std::invalid_argument("loop.real_fraction × loop.samples_per_generation at generation " +
                                      std::to_string(g) + " exceeds the " + std::to_string(c.loop.samples_at(0)) +
                                      " real units of generation 0, which loop.real_source = \"fixed\" reuses");
    c.loop.controls.temperature = s.number("temperature", 1.0);
    check_positive("loop.temperature", c.loop.controls.temperature);
    c.loop.controls.max_length = static_cast<int>(s.integer("max_length", 200, 1, 1000000));
    c.loop.controls.top_k = static_cast<int>(s.integer("top_k", 0, 0, 100'000'000));
    c.loop.controls.top_p = s.number("top_p", 1.0);
    if (!(c.loop.controls.top_p > 0 && c.loop.controls.top_p <= 1))
      throw std::invalid_argument("loop.top_p = " + format_number(c.loop.controls.top_p) + ", but must be in (0, 1]");
    c.loop.controls.min_p = s.number("min_p", 0.0);
    check_in_range("loop.min_p", c.loop.controls.min_p, 0, 1);
  }
  {
    Section s(table["metrics"].as_table(), "metrics", kMetricsKeys);
    c.metrics.sample_size = static_cast<std::size_t>(s.integer("sample_size", 0, 0));
    c.metrics.tail_rank = static_cast<std::size_t>(s.integer("tail_rank", 1000, 0));
    c.metrics.kl_samples = static_cast<std::size_t>(s.integer("kl_samples", 1000, 0, 100'000'000));
    c.metrics.dcr_samples = static_cast<std::size_t>(s.integer("dcr_samples", 1000, 0, 10'000'000));
    c.metrics.tail_probability = s.number("tail_probability", 0.005);
    if (!(c.metrics.tail_probability > 0 && c.metrics.tail_probability < 0.5))
      throw std::invalid_argument("metrics.tail_probability = " + format_number(c.metrics.tail_probability) +
                                  ", but must be in (0, 0.5)");
    if (const toml::node* skip = s.find("skip")) {
      const auto family = std::holds_alternative<GmmOptions>(c.model) ? metrics::Family::gaussian_mixture
                                                                       : metrics::Family::ngram;
      std::vector<std::string> names;
      for (const auto& m : metrics::metric_infos(family)) names.push_back(m.name);
      const toml::array* a = skip->as_array();
      if (!a) s.wrong_type("skip", *skip, "an array of metric names");
      for (const auto& e : *a) {
        if (!e.is_string()) s.wrong_type("skip", *skip, "an array of metric names (strings)");
        const std::string name = e.as_string()->get();
        check_one_of("metrics.skip entry", name, names);
        c.metrics.skip.push_back(name);
      }
    }
  }
  if (const auto* gmm = std::get_if<GmmOptions>(&c.model)) {
    const SamplingControls& sc = c.loop.controls;
    if (sc.top_k != 0 || sc.top_p != 1.0 || sc.min_p != 0.0)
      throw std::invalid_argument("loop.top_k / loop.top_p / loop.min_p truncate a categorical next-token "
                                  "distribution and apply to model.kind = \"ngram\" only; a Gaussian mixture's "
                                  "generation control is loop.temperature (covariances × τ²)");
    // Every training set must hold at least one row per component.
    std::size_t smallest = c.loop.samples_per_generation;
    for (auto n : c.loop.schedule) smallest = std::min(smallest, n);
    if (const auto* sub = std::get_if<AccumulateSubsample>(&c.loop.anchoring); sub && sub->train_size)
      smallest = std::min(smallest, sub->train_size);
    if (smallest < static_cast<std::size_t>(gmm->components))
      throw std::invalid_argument("loop.samples_per_generation = " + std::to_string(smallest) +
                                  (std::holds_alternative<AccumulateSubsample>(c.loop.anchoring) ? " (or loop.train_size)" : "") +
                                  ", but must be ≥ model.components = " + std::to_string(gmm->components) +
                                  " (EM needs at least one sample per component)");
  }
  // Cross-section consistency: the model family must match the truth's data type.
  const bool text_truth = std::holds_alternative<TextTruthConfig>(c.truth) || std::holds_alternative<ZipfTruthConfig>(c.truth);
  const bool ngram = std::holds_alternative<NgramOptions>(c.model);
  if (text_truth != ngram)
    throw std::invalid_argument(std::string("model.kind = \"") + (ngram ? "ngram" : "gaussian_mixture") +
                                "\" cannot be trained on truth.kind = \"" +
                                (text_truth ? "text_corpus/zipf/zipf_mandelbrot" : "gaussian_mixture/csv") +
                                "\"; allowed pairs: ngram with text_corpus, zipf or zipf_mandelbrot; gaussian_mixture "
                                "with gaussian_mixture or csv");
  return c;
}

}  // namespace collapse::sweep
