#include "io/result_info.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>
#include <sstream>
#include <stdexcept>

#include "io/h5.hpp"
#include "io/result_source.hpp"

namespace collapse::io {

namespace {

std::string quoted(const std::string& path) { return "'" + path + "'"; }

hsize_t run_rows(hid_t file) {
  h5::Dataset runs(h5::open_dataset(file, "runs"));
  return h5::dataset_dims(runs.get()).at(0);
}

}  // namespace

ResultsFile read_results(const std::string& path) {
  h5::File file = detail::open_results(path);
  ResultsFile out;
  out.schema_version = kSchemaVersion;
  try {
    detail::ResultsSource source(path, std::move(file));
    out.string_attrs = source.string_attrs();
    out.total_runs = source.total_runs();
    out.param_columns = source.layout().params;
    out.runs = source.runs();
    out.runs_config = source.read_configs();
    out.metric_info = source.layout().metrics;
    out.trajectory_info = source.layout().trajectories;
    const hsize_t n = out.runs.size();
    const hsize_t g = source.layout().generations;
    for (const auto& info : out.metric_info) {
      const std::string full = "metrics/" + info.name;
      h5::Dataset ds(h5::open_dataset(source.file(), full));
      std::vector<double> flat(n * g);
      h5::read_rows(ds.get(), H5T_NATIVE_DOUBLE, n, flat.data());
      auto& rows = out.metrics[info.name];
      rows.resize(n);
      for (hsize_t r = 0; r < n; ++r) rows[r].assign(flat.begin() + r * g, flat.begin() + (r + 1) * g);
    }
    out.events = source.events();
  } catch (const std::runtime_error& e) {
    throw std::runtime_error("cannot read results file " + quoted(path) + ": " + e.what());
  }
  return out;
}

std::vector<std::uint64_t> done_run_indices(const std::string& path) {
  h5::File file = detail::open_results(path);
  std::vector<std::uint64_t> out;
  try {
    detail::ResultsSource source(path, std::move(file));
    for (const auto& r : source.runs()) {
      if (r.status == "done") out.push_back(r.run_index);
    }
  } catch (const std::runtime_error& e) {
    throw std::runtime_error("cannot read results file " + quoted(path) + ": " + e.what());
  }
  return out;
}

TrajectoryArray read_trajectory(const std::string& path, const std::string& name) {
  h5::File opened = detail::open_results(path);
  const hid_t file = opened.get();
  const std::string full = "trajectories/" + name;
  if (!h5::link_exists(file, "trajectories") || !h5::link_exists(file, full)) {
    throw std::runtime_error("results file " + quoted(path) + " has no trajectory '" + name + "'");
  }
  TrajectoryArray out;
  try {
    const hsize_t n = run_rows(file);
    h5::Dataset ds(h5::open_dataset(file, full));
    const auto dims = h5::dataset_dims(ds.get());
    if (dims.size() < 2) {
      throw std::runtime_error("'/" + full + "' has " + std::to_string(dims.size()) +
                               " dimensions, but should have at least 2 (run × generation × ...)");
    }
    out.info = {name, h5::read_string_attr(ds.get(), "units").value_or(""),
                h5::read_string_attr(ds.get(), "description").value_or(""), {dims.begin() + 2, dims.end()}};
    out.dims.assign(dims.begin(), dims.end());
    out.dims[0] = n;
    std::uint64_t total = 1;
    for (auto d : out.dims) total *= d;
    out.values.resize(total);
    h5::read_rows(ds.get(), H5T_NATIVE_DOUBLE, n, out.values.data());
  } catch (const std::runtime_error& e) {
    throw std::runtime_error("cannot read results file " + quoted(path) + ": " + e.what());
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// describe()

namespace {

std::string format_double(double v) {
  if (std::isnan(v)) return "nan";
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest text that reads back exactly
  return std::string(buf, r.ptr);
}

std::string format_mean(double v) {
  if (!std::isfinite(v)) return format_double(v);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string format_param(const ParamValue& v) {
  switch (v.index()) {
    case 0: return std::to_string(std::get<std::int64_t>(v));
    case 1: return format_double(std::get<double>(v));
    case 2: return std::get<bool>(v) ? "true" : "false";
    default: return std::get<std::string>(v);
  }
}

std::string format_shape(const std::vector<std::uint64_t>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + ")";
}

// Left-aligned columns separated by two spaces, each line indented by two spaces.
class Table {
 public:
  explicit Table(std::vector<std::string> header) : rows_{std::move(header)} {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void add_ellipsis() { rows_.push_back({}); }
  void print(std::ostringstream& os) const {
    std::vector<std::size_t> width(rows_.front().size(), 0);
    for (const auto& r : rows_) {
      for (std::size_t c = 0; c < r.size(); ++c) width[c] = std::max(width[c], r[c].size());
    }
    for (const auto& r : rows_) {
      std::string line = "  ";
      if (r.empty()) line += "...";
      for (std::size_t c = 0; c < r.size(); ++c) {
        line += r[c];
        if (c + 1 < r.size()) line += std::string(width[c] - r[c].size() + 2, ' ');
      }
      os << line << '\n';
    }
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

std::string attr_or(const ResultsFile& f, const std::string& key, const std::string& fallback = "?") {
  const auto it = f.string_attrs.find(key);
  return it == f.string_attrs.end() || it->second.empty() ? fallback : it->second;
}

}  // namespace

std::string describe(const ResultsFile& file) {
  std::ostringstream os;
  os << "collapse results file, schema v" << file.schema_version << '\n';
  os << "  software    collapse " << attr_or(file, "software_version") << " (git " << attr_or(file, "git_sha")
     << ")\n";
  os << "  created     " << attr_or(file, "created_utc") << '\n';
  os << "  command     " << attr_or(file, "command_line", "(none)") << '\n';
  const std::string name = detail::experiment_name(attr_or(file, "experiment", ""));
  if (!name.empty()) os << "  experiment  " << name << '\n';
  const std::string digest = attr_or(file, "experiment_digest", "");
  if (!digest.empty() || file.total_runs > 0) {
    os << "  digest      " << (digest.empty() ? "(none)" : digest);
    if (file.total_runs > 0) os << " (" << file.total_runs << " runs in the experiment)";
    os << '\n';
  }
  const std::string shard = attr_or(file, "shard", "");
  if (!shard.empty()) os << "  shard       " << shard << '\n';
  os << "  libraries   Boost " << attr_or(file, "boost_version") << ", HDF5 " << attr_or(file, "hdf5_version")
     << '\n';

  // Runs.
  std::map<std::string, std::size_t> by_status;
  for (const auto& r : file.runs) ++by_status[r.status];
  os << "\nruns: " << file.runs.size();
  if (!file.runs.empty()) {
    os << " (";
    bool first = true;
    for (const auto& [status, count] : by_status) {
      os << (first ? "" : ", ") << count << ' ' << status;
      first = false;
    }
    os << ')';
  }
  if (file.total_runs > 0) {
    // Distinct run indices of the experiment present here, done or not.
    std::set<std::uint64_t> present;
    for (const auto& r : file.runs) {
      if (r.run_index < file.total_runs) present.insert(r.run_index);
    }
    const std::uint64_t missing = file.total_runs - present.size();
    if (missing > 0) os << "; " << missing << " of the experiment's " << file.total_runs << " runs are not in this file";
  }
  os << '\n';
  if (!file.runs.empty()) {
    std::vector<std::string> header{"run_index", "replicate", "status", "wall s"};
    for (const auto& p : file.param_columns) header.push_back(p.name);
    Table table(std::move(header));
    auto add_run = [&](const RunRow& r) {
      char wall[32];
      std::snprintf(wall, sizeof wall, "%.3f", r.wall_seconds);
      std::vector<std::string> row{std::to_string(r.run_index), std::to_string(r.replicate), r.status, wall};
      for (const auto& p : file.param_columns) {
        const auto it = r.params.find(p.name);
        row.push_back(it == r.params.end() ? "" : format_param(it->second));
      }
      table.add(std::move(row));
    };
    const std::size_t n = file.runs.size();
    if (n > 40) {
      for (std::size_t i = 0; i < 20; ++i) add_run(file.runs[i]);
      table.add_ellipsis();
      for (std::size_t i = n - 5; i < n; ++i) add_run(file.runs[i]);
    } else {
      for (const auto& r : file.runs) add_run(r);
    }
    table.print(os);
  }

  // Metrics: mean over done runs at generation 0 and at the last generation any done run measured.
  std::size_t generations = 0;
  for (const auto& [_, rows] : file.metrics) {
    if (!rows.empty()) generations = std::max(generations, rows.front().size());
  }
  os << "\nmetrics: " << file.metric_info.size() << " (" << generations << " generations; means over done runs)\n";
  if (!file.metric_info.empty()) {
    Table table({"name", "units", "mean g=0", "mean at last g", "description"});
    for (const auto& info : file.metric_info) {
      const auto it = file.metrics.find(info.name);
      auto mean_at = [&](std::size_t g) {
        double sum = 0;
        std::size_t count = 0;
        for (std::size_t r = 0; it != file.metrics.end() && r < it->second.size() && r < file.runs.size(); ++r) {
          if (file.runs[r].status != "done" || g >= it->second[r].size()) continue;
          const double v = it->second[r][g];
          if (std::isfinite(v)) {
            sum += v;
            ++count;
          }
        }
        return count == 0 ? std::nan("") : sum / static_cast<double>(count);
      };
      std::string first = "-", last = "-";
      if (it != file.metrics.end()) {
        if (generations > 0 && std::isfinite(mean_at(0))) first = format_mean(mean_at(0));
        for (std::size_t g = generations; g-- > 0;) {
          const double m = mean_at(g);
          if (std::isfinite(m)) {
            last = format_mean(m) + " (g=" + std::to_string(g) + ")";
            break;
          }
        }
      }
      table.add({info.name, info.units, first, last, info.description});
    }
    table.print(os);
  }

  os << "\ntrajectories: " << file.trajectory_info.size() << '\n';
  if (!file.trajectory_info.empty()) {
    Table table({"name", "shape per generation", "units", "description"});
    for (const auto& t : file.trajectory_info) table.add({t.name, format_shape(t.shape), t.units, t.description});
    table.print(os);
  }

  std::map<std::string, std::size_t> by_kind;
  for (const auto& [_, e] : file.events) ++by_kind[e.kind];
  os << "\nevents: " << file.events.size() << '\n';
  for (const auto& [kind, count] : by_kind) os << "  " << kind << "  " << count << '\n';
  return os.str();
}

}  // namespace collapse::io
