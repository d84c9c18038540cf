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

namespace collapse::io {

namespace {

// ---------------------------------------------------------------------------------------------------
// Opening

std::string quoted(const std::string& path) { return "'" + path + "'"; }

// Opens `path` read-only after the checks every reader makes; returns the file and the /runs row count.
struct OpenFile {
  h5::File file;
  int schema_version = 0;
};

OpenFile open_results(const std::string& path) {
  h5::silence_error_printing();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    throw std::runtime_error("results file " + quoted(path) + " does not exist");
  }
  if (std::filesystem::is_directory(path, ec)) {
    throw std::runtime_error("results file " + quoted(path) + " is a directory");
  }
  const htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
  if (is_hdf5 < 0) {
    throw std::runtime_error("cannot read results file " + quoted(path) + ": " + h5::error_detail());
  }
  if (is_hdf5 == 0) throw std::runtime_error("results file " + quoted(path) + " is not an HDF5 file");

  // No file lock: a sweep still writing the file holds it, and we only read.
  h5::PropList fapl(h5::check_id(H5Pcreate(H5P_FILE_ACCESS), "cannot create a file access property list"));
  H5Pset_file_locking(fapl.get(), false, true);
  const hid_t fid = H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get());
  if (fid < 0) throw std::runtime_error("cannot open results file " + quoted(path) + ": " + h5::error_detail());
  OpenFile out{h5::File(fid), 0};

  std::optional<std::int64_t> version;
  try {
    version = h5::read_int_attr(fid, "schema_version");
  } catch (const std::runtime_error& e) {
    throw std::runtime_error("results file " + quoted(path) + " has an unreadable schema_version: " + e.what());
  }
  if (!version) {
    throw std::runtime_error("results file " + quoted(path) +
                             " has no schema_version attribute; it is not a collapse results file");
  }
  if (*version != kSchemaVersion) {
    throw std::runtime_error("results file " + quoted(path) + " has schema_version " + std::to_string(*version) +
                             ", but this build reads " + std::to_string(kSchemaVersion));
  }
  out.schema_version = static_cast<int>(*version);
  if (!h5::link_exists(fid, "runs")) {
    throw std::runtime_error("results file " + quoted(path) + " has no /runs table");
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Columns of compound datasets

struct Member {
  std::string name;
  H5T_class_t cls;
  h5::Datatype type;
};

std::vector<Member> compound_members(hid_t dset) {
  const std::string what = "cannot read the type of " + h5::quoted_path(dset);
  h5::Datatype type(h5::check_id(H5Dget_type(dset), what));
  if (H5Tget_class(type.get()) != H5T_COMPOUND) throw std::runtime_error(h5::quoted_path(dset) + " is not a table");
  const int n = h5::check(H5Tget_nmembers(type.get()), what);
  std::vector<Member> out;
  for (int i = 0; i < n; ++i) {
    char* name = H5Tget_member_name(type.get(), static_cast<unsigned>(i));
    if (name == nullptr) throw std::runtime_error(what + ": " + h5::error_detail());
    Member m{name, H5Tget_member_class(type.get(), static_cast<unsigned>(i)), {}};
    H5free_memory(name);
    m.type = h5::Datatype(h5::check_id(H5Tget_member_type(type.get(), static_cast<unsigned>(i)), what));
    out.push_back(std::move(m));
  }
  return out;
}

// Reads one member of a compound dataset as a native `T` (rows [0, n)): HDF5 matches members by name.
template <class T>
std::vector<T> read_column(hid_t dset, const std::string& name, hid_t native, hsize_t n) {
  h5::Datatype mt(h5::check_id(H5Tcreate(H5T_COMPOUND, sizeof(T)), "cannot create a column type"));
  h5::check(H5Tinsert(mt.get(), name.c_str(), 0, native), "cannot create a column type");
  std::vector<T> out(n);
  h5::read_rows(dset, mt.get(), n, out.data());
  return out;
}

// Reads n strings, either from a string dataset (column empty) or from one string member of a table.
std::vector<std::string> read_strings(hid_t dset, const std::string& column, hid_t string_type, hsize_t n) {
  const std::string what = "cannot read strings from " + h5::quoted_path(dset);
  h5::Datatype native(h5::check_id(H5Tget_native_type(string_type, H5T_DIR_DEFAULT), what));
  const bool vlen = h5::check(H5Tis_variable_str(string_type), what) > 0;
  const std::size_t size = vlen ? sizeof(char*) : H5Tget_size(string_type);
  h5::Datatype mt;
  if (column.empty()) {
    mt = h5::Datatype(h5::check_id(H5Tcopy(native.get()), what));
  } else {
    mt = h5::Datatype(h5::check_id(H5Tcreate(H5T_COMPOUND, size), what));
    h5::check(H5Tinsert(mt.get(), column.c_str(), 0, native.get()), what);
  }
  std::vector<std::string> out(n);
  if (vlen) {
    std::vector<char*> buf(n, nullptr);
    h5::read_rows(dset, mt.get(), n, buf.data());
    for (hsize_t i = 0; i < n; ++i) out[i] = buf[i] != nullptr ? buf[i] : "";
    h5::reclaim_vlen(mt.get(), n, buf.data());
  } else {
    std::vector<char> buf(n * size, '\0');
    h5::read_rows(dset, mt.get(), n, buf.data());
    for (hsize_t i = 0; i < n; ++i) {
      std::string s(buf.data() + i * size, size);
      s.resize(std::min(s.size(), s.find('\0')));
      while (!s.empty() && s.back() == ' ') s.pop_back();
      out[i] = std::move(s);
    }
  }
  return out;
}

const Member& find_member(const std::vector<Member>& members, const std::string& name, hid_t dset) {
  for (const auto& m : members) {
    if (m.name == name) return m;
  }
  throw std::runtime_error(h5::quoted_path(dset) + " has no column '" + name + "'");
}

bool is_fixed_run_column(const std::string& name) {
  return name == "run_index" || name == "run_key" || name == "replicate" || name == "seed" || name == "status" ||
         name == "wall_seconds";
}

void read_runs(hid_t file, ResultsFile& out) {
  h5::Dataset runs(h5::check_id(H5Dopen2(file, "runs", H5P_DEFAULT), "cannot open /runs"));
  const hsize_t n = h5::dataset_dims(runs.get()).at(0);
  const auto members = compound_members(runs.get());
  const hid_t d = runs.get();

  const auto run_index = read_column<std::uint64_t>(d, "run_index", H5T_NATIVE_UINT64, n);
  const auto run_key = read_column<std::uint64_t>(d, "run_key", H5T_NATIVE_UINT64, n);
  const auto replicate = read_column<std::uint64_t>(d, "replicate", H5T_NATIVE_UINT64, n);
  const auto seed = read_column<std::uint64_t>(d, "seed", H5T_NATIVE_UINT64, n);
  const auto wall = read_column<double>(d, "wall_seconds", H5T_NATIVE_DOUBLE, n);
  const auto status = read_strings(d, "status", find_member(members, "status", d).type.get(), n);
  out.runs.resize(n);
  for (hsize_t i = 0; i < n; ++i) {
    auto& r = out.runs[i];
    r.run_index = run_index[i];
    r.run_key = run_key[i];
    r.replicate = replicate[i];
    r.seed = seed[i];
    r.status = status[i];
    r.wall_seconds = wall[i];
  }

  for (const auto& m : members) {
    if (is_fixed_run_column(m.name)) continue;
    if (m.cls == H5T_INTEGER && H5Tget_size(m.type.get()) == 1) {
      const auto v = read_column<std::uint8_t>(d, m.name, H5T_NATIVE_UINT8, n);
      for (hsize_t i = 0; i < n; ++i) out.runs[i].params[m.name] = v[i] != 0;
      out.param_columns.push_back({m.name, ParamType::boolean});
    } else if (m.cls == H5T_INTEGER) {
      const auto v = read_column<std::int64_t>(d, m.name, H5T_NATIVE_INT64, n);
      for (hsize_t i = 0; i < n; ++i) out.runs[i].params[m.name] = v[i];
      out.param_columns.push_back({m.name, ParamType::int64});
    } else if (m.cls == H5T_FLOAT) {
      const auto v = read_column<double>(d, m.name, H5T_NATIVE_DOUBLE, n);
      for (hsize_t i = 0; i < n; ++i) out.runs[i].params[m.name] = v[i];
      out.param_columns.push_back({m.name, ParamType::float64});
    } else if (m.cls == H5T_STRING) {
      auto v = read_strings(d, m.name, m.type.get(), n);
      for (hsize_t i = 0; i < n; ++i) out.runs[i].params[m.name] = std::move(v[i]);
      out.param_columns.push_back({m.name, ParamType::string});
    } else {
      throw std::runtime_error("column '" + m.name + "' of /runs has an unsupported type");
    }
  }
}

void read_events(hid_t file, ResultsFile& out) {
  if (!h5::link_exists(file, "events")) return;
  h5::Dataset events(h5::check_id(H5Dopen2(file, "events", H5P_DEFAULT), "cannot open /events"));
  const hid_t d = events.get();
  const hsize_t n = h5::dataset_dims(d).at(0);
  const auto members = compound_members(d);
  const auto run_index = read_column<std::uint64_t>(d, "run_index", H5T_NATIVE_UINT64, n);
  const auto generation = read_column<std::int64_t>(d, "generation", H5T_NATIVE_INT64, n);
  auto kind = read_strings(d, "kind", find_member(members, "kind", d).type.get(), n);
  auto message = read_strings(d, "message", find_member(members, "message", d).type.get(), n);
  // Events of a run whose write was interrupted (no /runs row) are not part of the file's content.
  std::set<std::uint64_t> committed;
  for (const auto& r : out.runs) committed.insert(r.run_index);
  out.events.reserve(n);
  for (hsize_t i = 0; i < n; ++i) {
    if (!committed.contains(run_index[i])) continue;
    out.events.push_back({run_index[i], Event{static_cast<int>(generation[i]), std::move(kind[i]), std::move(message[i])}});
  }
}

// Reads units/description of a dataset under /metrics or /trajectories.
void read_info(hid_t dset, std::string& units, std::string& description) {
  units = h5::read_string_attr(dset, "units").value_or("");
  description = h5::read_string_attr(dset, "description").value_or("");
}

void read_metrics(hid_t file, hsize_t runs, ResultsFile& out) {
  if (!h5::link_exists(file, "metrics")) return;
  h5::Group group(h5::check_id(H5Gopen2(file, "metrics", H5P_DEFAULT), "cannot open /metrics"));
  for (const auto& name : h5::link_names(group.get())) {
    h5::Dataset ds(h5::check_id(H5Dopen2(group.get(), name.c_str(), H5P_DEFAULT),
                                "cannot open '/metrics/" + name + "'"));
    MetricInfo info{name, "", ""};
    read_info(ds.get(), info.units, info.description);
    const auto dims = h5::dataset_dims(ds.get());
    if (dims.size() != 2) {
      throw std::runtime_error("'/metrics/" + name + "' has " + std::to_string(dims.size()) +
                               " dimensions, but should have 2 (run × generation)");
    }
    const hsize_t g = dims[1];
    std::vector<double> flat(runs * g);
    h5::read_rows(ds.get(), H5T_NATIVE_DOUBLE, runs, flat.data());
    auto& rows = out.metrics[name];
    rows.resize(runs);
    for (hsize_t r = 0; r < runs; ++r) rows[r].assign(flat.begin() + r * g, flat.begin() + (r + 1) * g);
    out.metric_info.push_back(std::move(info));
  }
}

TrajectoryInfo trajectory_info(hid_t dset, const std::string& name) {
  TrajectoryInfo info{name, "", "", {}};
  read_info(dset, info.units, info.description);
  const auto dims = h5::dataset_dims(dset);
  if (dims.size() < 2) {
    throw std::runtime_error("'/trajectories/" + name + "' has " + std::to_string(dims.size()) +
                             " dimensions, but should have at least 2 (run × generation × ...)");
  }
  info.shape.assign(dims.begin() + 2, dims.end());
  return info;
}

void read_trajectory_infos(hid_t file, ResultsFile& out) {
  if (!h5::link_exists(file, "trajectories")) return;
  h5::Group group(h5::check_id(H5Gopen2(file, "trajectories", H5P_DEFAULT), "cannot open /trajectories"));
  for (const auto& name : h5::link_names(group.get())) {
    h5::Dataset ds(h5::check_id(H5Dopen2(group.get(), name.c_str(), H5P_DEFAULT),
                                "cannot open '/trajectories/" + name + "'"));
    out.trajectory_info.push_back(trajectory_info(ds.get(), name));
  }
}

hsize_t run_rows(hid_t file) {
  h5::Dataset runs(h5::check_id(H5Dopen2(file, "runs", H5P_DEFAULT), "cannot open /runs"));
  return h5::dataset_dims(runs.get()).at(0);
}

}  // namespace

ResultsFile read_results(const std::string& path) {
  OpenFile opened = open_results(path);
  const hid_t file = opened.file.get();
  ResultsFile out;
  out.schema_version = opened.schema_version;
  try {
    for (const auto& name : h5::attribute_names(file)) {
      h5::Attribute attr(h5::check_id(H5Aopen(file, name.c_str(), H5P_DEFAULT), "cannot open attribute '" + name + "'"));
      h5::Datatype type(h5::check_id(H5Aget_type(attr.get()), "cannot read attribute '" + name + "'"));
      if (H5Tget_class(type.get()) != H5T_STRING) continue;
      out.string_attrs[name] = h5::read_string_attr(file, name).value_or("");
    }
    read_runs(file, out);
    const hsize_t n = out.runs.size();
    if (h5::link_exists(file, "runs_config")) {
      h5::Dataset cfg(h5::check_id(H5Dopen2(file, "runs_config", H5P_DEFAULT), "cannot open /runs_config"));
      h5::Datatype type(h5::check_id(H5Dget_type(cfg.get()), "cannot read the type of /runs_config"));
      out.runs_config = read_strings(cfg.get(), "", type.get(), n);
    }
    read_metrics(file, n, out);
    read_trajectory_infos(file, out);
    read_events(file, out);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error("cannot read results file " + quoted(path) + ": " + e.what());
  }
  return out;
}

TrajectoryArray read_trajectory(const std::string& path, const std::string& name) {
  OpenFile opened = open_results(path);
  const hid_t file = opened.file.get();
  const std::string full = "trajectories/" + name;
  if (!h5::link_exists(file, "trajectories") || !h5::link_exists(file, full)) {
    throw std::runtime_error("results file " + quoted(path) + " has no trajectory '" + name + "'");
  }
  TrajectoryArray out;
  try {
    const hsize_t n = run_rows(file);
    h5::Dataset ds(h5::check_id(H5Dopen2(file, full.c_str(), H5P_DEFAULT), "cannot open '/" + full + "'"));
    out.info = trajectory_info(ds.get(), name);
    const auto dims = h5::dataset_dims(ds.get());
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

// `name = "..."` in the [experiment] table of the experiment's TOML text, or "".
std::string experiment_name(const std::string& toml) {
  std::istringstream in(toml);
  std::string line, table;
  auto trim = [](std::string s) {
    const auto b = s.find_first_not_of(" \t\r");
    const auto e = s.find_last_not_of(" \t\r");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
  };
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    if (line[0] == '[') {
      const auto close = line.find(']');
      table = trim(line.substr(1, close == std::string::npos ? std::string::npos : close - 1));
      continue;
    }
    if (table != "experiment" || line.rfind("name", 0) != 0) continue;
    const std::string rest = trim(line.substr(4));
    if (rest.empty() || rest[0] != '=') continue;
    const std::string value = trim(rest.substr(1));
    if (value.size() >= 2 && value[0] == '"') {
      const auto end = value.find('"', 1);
      if (end != std::string::npos) return value.substr(1, end - 1);
    }
  }
  return "";
}

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
  const std::string name = experiment_name(attr_or(file, "experiment", ""));
  if (!name.empty()) os << "  experiment  " << name << '\n';
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
