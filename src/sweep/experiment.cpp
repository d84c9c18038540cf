#include "sweep/experiment.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>

#include <toml++/toml.h>

#include "core/check.hpp"
#include "core/rng.hpp"
#include "metrics/registry.hpp"
#include "sources/continuous_truth.hpp"
#include "sources/zipf.hpp"
#include "sources/text_corpus.hpp"
#include "sweep/run_config.hpp"

namespace collapse::sweep {

namespace {

/// Canonical TOML text of a value: shortest round-trip floats (std::to_chars), escaped strings,
/// arrays inline. Our own rather than toml++'s formatter, so that run keys depend on the values only,
/// not on a library's formatting (Debian's toml++ 3.3 formatter has undefined behaviour for floats
/// below 0.1: fuzz/regressions/toml_formatter_small_float.toml).
void write_value(std::string& out, const toml::node& v) {
  if (const auto* i = v.as_integer()) {
    out += std::to_string(i->get());
  } else if (const auto* f = v.as_floating_point()) {
    const double x = f->get();
    std::string num = format_number(x);  // "nan", "inf", "-inf" are TOML too
    if (std::isfinite(x) && num.find_first_of(".eE") == std::string::npos) num += ".0";
    out += num;
  } else if (const auto* b = v.as_boolean()) {
    out += b->get() ? "true" : "false";
  } else if (const auto* str = v.as_string()) {
    out += '"';
    for (const unsigned char c : str->get()) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += static_cast<char>(c);
      } else if (c < 0x20 || c == 0x7F) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04X", c);
        out += buf;
      } else {
        out += static_cast<char>(c);
      }
    }
    out += '"';
  } else if (const auto* a = v.as_array()) {
    out += '[';
    for (std::size_t k = 0; k < a->size(); ++k) {
      if (k) out += ", ";
      write_value(out, (*a)[k]);
    }
    out += ']';
  } else if (const auto* t = v.as_table()) {  // an inline table inside an array or a value
    out += '{';
    bool first = true;
    for (auto&& [key, val] : *t) {
      out += first ? " " : ", ";
      first = false;
      out += "\"" + std::string(key.str()) + "\" = ";
      write_value(out, val);
    }
    out += " }";
  } else {
    std::ostringstream ss;  // dates and times: no float inside, toml++'s text is fine
    v.visit([&](const auto& x) { ss << x; });
    out += ss.str();
  }
}

/// Canonical TOML of a run table: [section] headers and keys in sorted order (toml::table is ordered).
std::string to_toml(const toml::table& t) {
  std::string out;
  for (auto&& [name, node] : t) {
    if (const toml::table* section = node.as_table()) {
      if (!out.empty()) out += '\n';
      out += "[" + std::string(name.str()) + "]\n";
      for (auto&& [key, value] : *section) {
        out += std::string(key.str()) + " = ";
        write_value(out, value);
        out += '\n';
      }
    } else {
      out += std::string(name.str()) + " = ";
      write_value(out, node);
      out += '\n';
    }
  }
  return out;
}

/// Splits "a.b.c" at dots.
std::vector<std::string> split_key(const std::string& key) {
  std::vector<std::string> parts;
  std::string cur;
  for (char c : key) {
    if (c == '.') {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  parts.push_back(cur);
  return parts;
}

/// Sets `key` (dotted "section.key") in `root` to a copy of `value`, creating the section if needed.
void set_dotted(toml::table& root, const std::string& key, const toml::node& value) {
  const auto parts = split_key(key);
  if (parts.size() != 2 || parts[0].empty() || parts[1].empty())
    throw std::invalid_argument("\"" + key + "\" is not a key of the form section.key (e.g. loop.anchoring)");
  toml::table* sec = root[parts[0]].as_table();
  if (!sec) {
    if (root.contains(parts[0]))
      throw std::invalid_argument(parts[0] + " is not a section, so " + key + " cannot be set");
    root.insert(parts[0], toml::table{});
    sec = root[parts[0]].as_table();
  }
  value.visit([&](const auto& v) { sec->insert_or_assign(parts[1], v); });
}

io::ParamType column_type(const std::vector<const toml::node*>& values) {
  bool all_int = true, all_num = true, all_bool = true;
  for (const auto* v : values) {
    all_int = all_int && v->is_integer();
    all_num = all_num && (v->is_integer() || v->is_floating_point());
    all_bool = all_bool && v->is_boolean();
  }
  if (all_int) return io::ParamType::int64;
  if (all_num) return io::ParamType::float64;
  if (all_bool) return io::ParamType::boolean;
  return io::ParamType::string;
}

ParamValue param_value(const toml::node& v, io::ParamType type) {
  switch (type) {
    case io::ParamType::int64: return v.as_integer()->get();
    case io::ParamType::float64:
      return v.is_integer() ? static_cast<double>(v.as_integer()->get()) : v.as_floating_point()->get();
    case io::ParamType::boolean: return v.as_boolean()->get();
    case io::ParamType::string: return v.is_string() ? v.as_string()->get() : describe_value(v);
  }
  return std::string();
}

/// Loads each distinct truth once; keyed by its canonical text and the experiment seed.
class TruthCache {
 public:
  TruthHandle get(const RunConfig& c, const toml::table& run_table, std::uint64_t master_seed) {
    std::string key = to_toml(*run_table["truth"].as_table());
    const bool table_truth = std::holds_alternative<CsvTruthConfig>(c.truth);
    // Quantiles/held-out depend on metrics.tail_probability, the split/held-out draw on the seed.
    key += "|q=" + format_number(c.metrics.tail_probability) + "|seed=" + std::to_string(master_seed);
    if (auto it = cache_.find(key); it != cache_.end()) return it->second;
    const std::uint64_t seed = splitmix64(master_seed ^ fnv1a64(key));
    TruthHandle h;
    if (const auto* g = std::get_if<GaussianTruthConfig>(&c.truth)) {
      h = make_gaussian_truth(g->weights, g->means, g->covariances, g->heldout_samples, c.metrics.tail_probability, seed);
    } else if (table_truth) {
      const auto& t = std::get<CsvTruthConfig>(c.truth);
      h = make_table_truth("csv " + t.path, read_csv(t.path, t.columns), t.heldout_fraction,
                           c.metrics.tail_probability, seed);
    } else if (const auto* z = std::get_if<ZipfTruthConfig>(&c.truth)) {
      h = z->mandelbrot ? make_zipf_mandelbrot_truth(z->vocab_size, z->exponent, z->offset, z->sentence_length,
                                                     z->heldout_tokens, seed)
                        : make_zipf_truth(z->vocab_size, z->exponent, z->sentence_length, z->heldout_tokens, seed);
    } else {
      const auto& t = std::get<TextTruthConfig>(c.truth);
      h = t.heldout.empty() ? make_text_truth_split(t.train, t.heldout_fraction, seed)
                            : make_text_truth(t.train, t.heldout);
    }
    cache_.emplace(key, h);
    return h;
  }

 private:
  std::map<std::string, TruthHandle> cache_;
};

/// A finite real data set must hold a generation's worth of real data (drawn without replacement);
/// checked here so that the error comes before any results file exists, not from inside a run.
void check_real_data_suffices(const RunConfig& c, const TruthHandle& truth) {
  // The largest real draw of a run: generation 0's, or a fresh real share under mix.
  std::size_t n = c.loop.samples_at(0);
  if (const auto* mix = std::get_if<Mix>(&c.loop.anchoring); mix && mix->fresh)
    for (int g = 1; g <= c.loop.generations; ++g)
      n = std::max(n, static_cast<std::size_t>(std::llround(mix->real_fraction * static_cast<double>(c.loop.samples_at(g)))));
  if (const auto* t = std::get_if<std::shared_ptr<const ContinuousTruth>>(&truth)) {
    const auto rows = static_cast<std::size_t>((*t)->train.rows());
    if (!(*t)->analytic && n > rows)
      throw std::invalid_argument("loop.samples_per_generation = " + std::to_string(n) + ", but the real training rows (" +
                                  (*t)->description + ", after holding out truth.heldout_fraction) number " +
                                  std::to_string(rows) + "; it must be ≤ " + std::to_string(rows));
  } else {
    const auto& text = *std::get<std::shared_ptr<const TextTruth>>(truth);
    if (!text.is_analytic() && n > text.train.num_tokens())
      throw std::invalid_argument("loop.samples_per_generation = " + std::to_string(n) + " tokens, but the real training text (" +
                                  text.description + ") has " + std::to_string(text.train.num_tokens()) +
                                  "; it must be ≤ " + std::to_string(text.train.num_tokens()));
  }
}

Experiment load_impl(const std::string& path, const std::vector<std::string>& overrides) {
  Experiment e;
  e.path = path;
  {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::invalid_argument("cannot open experiment file (does it exist?)");
    std::ostringstream ss;
    ss << in.rdbuf();
    e.text = ss.str();
  }
  toml::table root;
  try {
    root = toml::parse(e.text, path);
  } catch (const toml::parse_error& err) {
    throw std::invalid_argument("line " + std::to_string(err.source().begin.line) + ", column " +
                                std::to_string(err.source().begin.column) + ": " + std::string(err.description()));
  }

  // The sweep axes, in file order. An axis is one key with a list of values, or a [[sweep.zip]] block
  // of keys whose lists are paired element by element.
  struct Axis {
    std::vector<std::string> keys;
    std::vector<std::vector<const toml::node*>> settings;  // settings[i][j]: value of keys[j] in setting i
    std::size_t line;
  };
  std::vector<Axis> axes;
  toml::table sweep_table;
  if (toml::node* s = root.get("sweep")) {
    if (!s->is_table()) throw std::invalid_argument("sweep must be a section [sweep] of \"section.key\" = [values]");
    sweep_table = std::move(*root.get("sweep")->as_table());  // a move keeps source positions; a copy would not
    root.erase("sweep");
  }

  auto check_axis_key = [](const std::string& key, const std::string& where) {
    if (std::find(known_keys().begin(), known_keys().end(), key) == known_keys().end()) {
      const std::string hint = did_you_mean(key, known_keys());
      throw std::invalid_argument(where + ": unknown key " + key + (hint.empty() ? "" : "; did you mean " + hint + "?"));
    }
    if (key.starts_with("experiment.") && key != "experiment.generations")
      throw std::invalid_argument(where + ": " + key +
                                  " is a property of the whole experiment and cannot be swept (of [experiment], only "
                                  "experiment.generations can)");
  };
  // Flattens quoted keys ("loop.anchoring" = [...]) and nested tables (loop.anchoring = [...]) alike.
  std::function<void(const toml::table&, const std::string&, std::vector<std::pair<std::string, const toml::node*>>&)>
      flatten = [&](const toml::table& t, const std::string& prefix, auto& out) {
        for (auto&& [k, v] : t) {
          const std::string key = prefix + std::string(k.str());
          if (const toml::table* sub = v.as_table()) flatten(*sub, key + ".", out);
          else out.emplace_back(key, &v);
        }
      };
  auto list_of = [](const std::string& where, const toml::node& v) -> const toml::array& {
    const toml::array* a = v.as_array();
    if (!a) throw std::invalid_argument(where + " = " + describe_value(v) + " must be an array of values");
    if (a->empty()) throw std::invalid_argument(where + " is an empty list, but a sweep axis needs ≥ 1 value");
    return *a;
  };
  {
    std::vector<std::pair<std::string, const toml::node*>> entries;
    flatten(sweep_table, "", entries);
    for (const auto& [key, node] : entries) {
      if (key == "zip") {
        const toml::array* blocks = node->as_array();
        if (!blocks || !blocks->is_array_of_tables())
          throw std::invalid_argument("sweep.zip must be written as [[sweep.zip]] blocks of \"section.key\" = [values]");
        for (std::size_t b = 0; b < blocks->size(); ++b) {
          const std::string where = "sweep.zip[" + std::to_string(b) + "]";
          std::vector<std::pair<std::string, const toml::node*>> zipped;
          flatten(*(*blocks)[b].as_table(), "", zipped);
          if (zipped.empty()) throw std::invalid_argument(where + " is empty, but must pair ≥ 1 key");
          Axis axis{{}, {}, (*blocks)[b].source().begin.line};
          for (const auto& [zkey, znode] : zipped) {
            check_axis_key(zkey, where);
            const toml::array& values = list_of(where + ".\"" + zkey + "\"", *znode);
            if (axis.keys.empty()) axis.settings.resize(values.size());
            if (values.size() != axis.settings.size())
              throw std::invalid_argument(where + ": \"" + zkey + "\" has " + std::to_string(values.size()) +
                                          " values, but \"" + axis.keys.front() + "\" has " +
                                          std::to_string(axis.settings.size()) + "; zipped lists must have equal lengths");
            axis.keys.push_back(zkey);
            for (std::size_t i = 0; i < values.size(); ++i) axis.settings[i].push_back(&values[i]);
          }
          axes.push_back(std::move(axis));
        }
        continue;
      }
      const std::string where = "sweep.\"" + key + "\"";
      check_axis_key(key, where);
      Axis axis{{key}, {}, node->source().begin.line};
      for (const auto& x : list_of(where, *node)) axis.settings.push_back({&x});
      axes.push_back(std::move(axis));
    }
  }
  std::stable_sort(axes.begin(), axes.end(), [](const Axis& a, const Axis& b) { return a.line < b.line; });
  auto refuse_duplicate_keys = [&] {
    std::set<std::string> seen;
    for (const auto& a : axes)
      for (const auto& k : a.keys)
        if (!seen.insert(k).second)
          throw std::invalid_argument("sweep: " + k + " is swept twice (as \"" + k + "\", dotted, or in [[sweep.zip]]); "
                                      "give each key one axis");
  };
  refuse_duplicate_keys();

  // --set key=value overrides a key (and removes it from any axis); --set key=a,b,c makes a new axis.
  std::vector<std::unique_ptr<toml::table>> cli_values;  // owns the nodes of command-line axes
  auto remove_from_axes = [&](const std::string& key) {
    for (auto& axis : axes) {
      const auto it = std::find(axis.keys.begin(), axis.keys.end(), key);
      if (it == axis.keys.end()) continue;
      const auto j = static_cast<std::size_t>(it - axis.keys.begin());
      axis.keys.erase(it);
      for (auto& setting : axis.settings) setting.erase(setting.begin() + static_cast<std::ptrdiff_t>(j));
    }
    std::erase_if(axes, [](const Axis& a) { return a.keys.empty(); });
  };
  for (const auto& o : overrides) {
    const auto eq = o.find('=');
    if (eq == std::string::npos || eq == 0)
      throw std::invalid_argument("--set " + o + ": expected section.key=value or section.key=a,b,c");
    const std::string key = o.substr(0, eq), text = o.substr(eq + 1);
    auto parsed = std::make_unique<toml::table>();
    bool axis = false;
    try {
      *parsed = toml::parse("v = " + text);  // one TOML value: 0.5, "a,b", [1, 2], true
    } catch (const toml::parse_error&) {
      if (text.find(',') != std::string::npos) {
        axis = true;
        try {
          *parsed = toml::parse("v = [" + text + "]");  // numbers: 0.1,0.5
        } catch (const toml::parse_error&) {
          toml::array words;  // bare words: replace,mix
          std::string word;
          std::istringstream ss(text);
          while (std::getline(ss, word, ',')) words.push_back(word);
          parsed->insert_or_assign("v", std::move(words));
        }
      } else {
        parsed->insert_or_assign("v", text);  // a bare word is a string
      }
    }
    remove_from_axes(key);
    if (axis) {
      check_axis_key(key, "--set " + key);
      Axis a{{key}, {}, std::numeric_limits<std::size_t>::max()};
      for (const auto& x : list_of("--set " + key, *parsed->get("v"))) a.settings.push_back({&x});
      axes.push_back(std::move(a));
      cli_values.push_back(std::move(parsed));
    } else {
      set_dotted(root, key, *parsed->get("v"));
    }
  }
  refuse_duplicate_keys();  // --set axes too
  for (const auto& a : axes)
    for (std::size_t j = 0; j < a.keys.size(); ++j) {
      std::vector<const toml::node*> column;
      for (const auto& setting : a.settings) column.push_back(setting[j]);
      e.params.push_back({a.keys[j], column_type(column)});
    }
  auto param_type = [&](const std::string& key) {
    for (const auto& p : e.params)
      if (p.name == key) return p.type;
    return io::ParamType::string;
  };

  // Parse the base once for the experiment-level keys (also validates everything not swept).
  std::size_t combos = 1;
  // Refuse grids that could not be held anyway (each expanded run costs ~1 KB): at most 10^6 runs.
  constexpr std::size_t kMaxRuns = 1'000'000;
  const auto replicates = static_cast<std::size_t>(std::max<std::int64_t>(
      1, root["experiment"]["replicates"].value_or<std::int64_t>(1)));
  const std::string too_many = "the [sweep] grid times experiment.replicates has more than " +
                               std::to_string(kMaxRuns) + " runs; split the experiment into several files";
  for (const auto& a : axes) {
    if (combos > kMaxRuns / a.settings.size()) throw std::invalid_argument(too_many);
    combos *= a.settings.size();
  }
  if (combos > kMaxRuns / replicates) throw std::invalid_argument(too_many);
  const std::string base_dir = std::filesystem::path(path).parent_path().string();

  TruthCache truths;
  std::vector<std::size_t> pos(axes.size(), 0);
  for (std::size_t c = 0; c < combos; ++c) {
    toml::table run = root;
    std::map<std::string, ParamValue> params;
    for (std::size_t i = 0; i < axes.size(); ++i)
      for (std::size_t j = 0; j < axes[i].keys.size(); ++j) {
        const toml::node& value = *axes[i].settings[pos[i]][j];
        set_dotted(run, axes[i].keys[j], value);
        params[axes[i].keys[j]] = param_value(value, param_type(axes[i].keys[j]));
      }
    RunConfig config;
    try {
      config = parse_run_config(run, base_dir);
    } catch (const std::invalid_argument& err) {
      std::string where;
      for (const auto& [k, v] : params) {
        where += where.empty() ? " (in the run with " : ", ";
        where += k + " = " + std::visit([](const auto& x) {
          std::ostringstream ss;
          ss << x;
          return ss.str();
        }, v);
      }
      throw std::invalid_argument(std::string(err.what()) + (where.empty() ? "" : where + ")"));
    }
    if (c == 0) {
      e.name = config.name;
      e.seed = config.master_seed;
      e.replicates = replicates;  // validated by parse_run_config above
    }
    const TruthHandle truth = truths.get(config, run, config.master_seed);
    check_real_data_suffices(config, truth);
    // run_key: canonical text of everything but [experiment] (name, generations, replicates, seed).
    toml::table keyed = run;
    keyed.erase("experiment");
    const std::uint64_t run_key = fnv1a64(to_toml(keyed));
    const std::string text = to_toml(run);
    for (std::uint64_t r = 0; r < e.replicates; ++r) {
      RunSpec spec;
      spec.run_index = c * e.replicates + r;
      spec.replicate = r;
      spec.run_key = run_key;
      spec.seed = run_seed(config.master_seed, run_key, r);
      spec.config_toml = text;
      spec.params = params;
      spec.config = config;
      spec.truth = truth;
      e.runs.push_back(std::move(spec));
    }
    // Odometer over the axes, the last axis fastest.
    for (std::size_t i = axes.size(); i-- > 0;) {
      if (++pos[i] < axes[i].settings.size()) break;
      pos[i] = 0;
    }
  }
  std::string identity;
  for (const auto& r : e.runs)
    identity += std::to_string(r.run_index) + ":" + std::to_string(r.run_key) + ":" + std::to_string(r.seed) + ";";
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(fnv1a64(identity)));
  e.digest = hex;
  return e;
}

}  // namespace

Experiment load_experiment(const std::string& path, const std::vector<std::string>& overrides) {
  try {
    return load_impl(path, overrides);
  } catch (const std::invalid_argument& err) {
    throw std::invalid_argument(path + ": " + err.what());
  }
}

io::ResultLayout Experiment::layout() const {
  io::ResultLayout l;
  l.params = params;
  bool gmm = false, ngram = false;
  std::uint64_t K = 0, d = 0;
  for (const auto& r : runs) {
    l.generations = std::max<std::uint64_t>(l.generations, static_cast<std::uint64_t>(r.config.loop.generations) + 1);
    if (const auto* o = std::get_if<GmmOptions>(&r.config.model)) {
      gmm = true;
      K = std::max<std::uint64_t>(K, static_cast<std::uint64_t>(o->components));
      d = std::max<std::uint64_t>(d, static_cast<std::uint64_t>(
                                         std::get<std::shared_ptr<const ContinuousTruth>>(r.truth)->dim()));
    } else {
      ngram = true;
    }
  }
  auto add = [&](metrics::Family f) {
    for (const auto& m : metrics::metric_infos(f))
      if (std::none_of(l.metrics.begin(), l.metrics.end(), [&](const MetricInfo& x) { return x.name == m.name; }))
        l.metrics.push_back(m);
    for (auto& t : metrics::trajectory_infos(f, K, d)) l.trajectories.push_back(t);
  };
  if (gmm) add(metrics::Family::gaussian_mixture);
  if (ngram) add(metrics::Family::ngram);
  return l;
}

}  // namespace collapse::sweep
