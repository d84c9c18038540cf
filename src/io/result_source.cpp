#include "io/result_source.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <sstream>
#include <stdexcept>
#include <unordered_set>

namespace collapse::io::detail {

namespace {

std::string squote(const std::string& path) { return "'" + path + "'"; }

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

// A memory type holding one member `name` of a compound dataset as `native` (HDF5 matches by name).
h5::Datatype column_type(const std::string& name, hid_t native, std::size_t size) {
  h5::Datatype mt(h5::check_id(H5Tcreate(H5T_COMPOUND, size), "cannot create a column type"));
  h5::check(H5Tinsert(mt.get(), name.c_str(), 0, native), "cannot create a column type");
  return mt;
}

// Reads rows [first, first + n) of one member of a compound dataset as a native `T`.
template <class T>
std::vector<T> read_column(hid_t dset, const std::string& name, hid_t native, hsize_t n, hsize_t first = 0) {
  const h5::Datatype mt = column_type(name, native, sizeof(T));
  std::vector<T> out(n);
  h5::read_rows(dset, mt.get(), first, n, out.data());
  return out;
}

// Reads rows [first, first + n) as strings, either of a string dataset (column empty) or of one string
// member of a table.
std::vector<std::string> read_strings(hid_t dset, const std::string& column, hid_t string_type, hsize_t n,
                                      hsize_t first = 0) {
  const std::string what = "cannot read strings from " + h5::quoted_path(dset);
  h5::Datatype native(h5::check_id(H5Tget_native_type(string_type, H5T_DIR_DEFAULT), what));
  const bool vlen = h5::check(H5Tis_variable_str(string_type), what) > 0;
  const std::size_t size = vlen ? sizeof(char*) : H5Tget_size(string_type);
  h5::Datatype mt;
  if (column.empty()) {
    mt = h5::Datatype(h5::check_id(H5Tcopy(native.get()), what));
  } else {
    mt = column_type(column, native.get(), size);
  }
  std::vector<std::string> out(n);
  if (vlen) {
    std::vector<char*> buf(n, nullptr);
    h5::read_rows(dset, mt.get(), first, n, buf.data());
    for (hsize_t i = 0; i < n; ++i) out[i] = buf[i] != nullptr ? buf[i] : "";
    h5::reclaim_vlen(mt.get(), n, buf.data());
  } else {
    std::vector<char> buf(n * size, '\0');
    h5::read_rows(dset, mt.get(), first, n, buf.data());
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

// Reads /runs: every committed row and the param columns (typed by their HDF5 class: 1-byte integer →
// bool, other integer → int64, float → double, string → string).
void read_runs(hid_t file, std::vector<RunRow>& runs_out, std::vector<ParamColumn>& columns) {
  h5::Dataset runs(h5::open_dataset(file, "runs"));
  const hsize_t n = h5::dataset_dims(runs.get()).at(0);
  const auto members = compound_members(runs.get());
  const hid_t d = runs.get();

  const auto run_index = read_column<std::uint64_t>(d, "run_index", H5T_NATIVE_UINT64, n);
  const auto run_key = read_column<std::uint64_t>(d, "run_key", H5T_NATIVE_UINT64, n);
  const auto replicate = read_column<std::uint64_t>(d, "replicate", H5T_NATIVE_UINT64, n);
  const auto seed = read_column<std::uint64_t>(d, "seed", H5T_NATIVE_UINT64, n);
  const auto wall = read_column<double>(d, "wall_seconds", H5T_NATIVE_DOUBLE, n);
  const auto status = read_strings(d, "status", find_member(members, "status", d).type.get(), n);
  runs_out.resize(n);
  for (hsize_t i = 0; i < n; ++i) {
    auto& r = runs_out[i];
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
      for (hsize_t i = 0; i < n; ++i) runs_out[i].params[m.name] = v[i] != 0;
      columns.push_back({m.name, ParamType::boolean});
    } else if (m.cls == H5T_INTEGER) {
      const auto v = read_column<std::int64_t>(d, m.name, H5T_NATIVE_INT64, n);
      for (hsize_t i = 0; i < n; ++i) runs_out[i].params[m.name] = v[i];
      columns.push_back({m.name, ParamType::int64});
    } else if (m.cls == H5T_FLOAT) {
      const auto v = read_column<double>(d, m.name, H5T_NATIVE_DOUBLE, n);
      for (hsize_t i = 0; i < n; ++i) runs_out[i].params[m.name] = v[i];
      columns.push_back({m.name, ParamType::float64});
    } else if (m.cls == H5T_STRING) {
      auto v = read_strings(d, m.name, m.type.get(), n);
      for (hsize_t i = 0; i < n; ++i) runs_out[i].params[m.name] = std::move(v[i]);
      columns.push_back({m.name, ParamType::string});
    } else {
      throw std::runtime_error("column '" + m.name + "' of /runs has an unsupported type");
    }
  }
}

void read_info(hid_t dset, std::string& units, std::string& description) {
  units = h5::read_string_attr(dset, "units").value_or("");
  description = h5::read_string_attr(dset, "description").value_or("");
}

std::string shape_text(const std::vector<std::uint64_t>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + ")";
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// Opening

h5::File open_results(const std::string& path, bool lock) {
  h5::silence_error_printing();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    throw std::runtime_error("results file " + squote(path) + " does not exist");
  }
  if (std::filesystem::is_directory(path, ec)) {
    throw std::runtime_error("results file " + squote(path) + " is a directory");
  }
  const htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
  if (is_hdf5 < 0) {
    throw std::runtime_error("cannot read results file " + squote(path) + ": " + h5::error_detail());
  }
  if (is_hdf5 == 0) throw std::runtime_error("results file " + squote(path) + " is not an HDF5 file");

  // Readers that only inspect take no file lock: a sweep still writing the file holds it.
  h5::PropList fapl(h5::check_id(H5Pcreate(H5P_FILE_ACCESS), "cannot create a file access property list"));
  // With the lock: still open where the file system has no locks (as HDF5_USE_FILE_LOCKING=BEST_EFFORT).
  h5::check(H5Pset_file_locking(fapl.get(), lock, true), "cannot set file locking");
  const hid_t fid = H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get());
  if (fid < 0) throw std::runtime_error("cannot open results file " + squote(path) + ": " + h5::error_detail());
  h5::File file(fid);

  std::optional<std::int64_t> version;
  try {
    version = h5::read_int_attr(fid, "schema_version");
  } catch (const std::runtime_error& e) {
    throw std::runtime_error("results file " + squote(path) + " has an unreadable schema_version: " + e.what());
  }
  if (!version) {
    throw std::runtime_error("results file " + squote(path) +
                             " has no schema_version attribute; it is not a collapse results file");
  }
  if (*version != kSchemaVersion) {
    throw std::runtime_error("results file " + squote(path) + " has schema_version " + std::to_string(*version) +
                             ", but this build reads " + std::to_string(kSchemaVersion));
  }
  if (!h5::link_exists(fid, "runs")) {
    throw std::runtime_error("results file " + squote(path) + " has no /runs table");
  }
  return file;
}

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

RunStatus parse_status(const std::string& status) {
  if (status == "done") return RunStatus::done;
  if (status == "failed") return RunStatus::failed;
  if (status == "partial") return RunStatus::partial;
  throw std::runtime_error("a /runs row has status '" + status + "', but it must be done, failed or partial");
}

// ---------------------------------------------------------------------------------------------------
// ResultsSource

ResultsSource::ResultsSource(std::string path, h5::File file) : path_(std::move(path)), file_(std::move(file)) {
  const hid_t fid = file_.get();
  for (const auto& name : h5::attribute_names(fid)) {
    h5::Attribute attr(h5::check_id(H5Aopen(fid, name.c_str(), H5P_DEFAULT), "cannot open attribute '" + name + "'"));
    h5::Datatype type(h5::check_id(H5Aget_type(attr.get()), "cannot read attribute '" + name + "'"));
    if (H5Tget_class(type.get()) != H5T_STRING) continue;
    string_attrs_[name] = h5::read_string_attr(fid, name).value_or("");
  }
  total_runs_ = h5::read_uint64_attr(fid, "total_runs").value_or(0);

  read_runs(fid, runs_, layout_.params);
  const hsize_t n = runs_.size();

  auto note_length = [&](hid_t dset, const std::string& full) {
    const hsize_t rows = h5::dataset_dims(dset).at(0);
    if (rows < n) {
      throw std::runtime_error("'" + full + "' has " + std::to_string(rows) + " rows, but /runs has " +
                               std::to_string(n));
    }
    lengths_.emplace_back(full, rows);
  };
  if (h5::link_exists(fid, "runs_config")) {
    h5::Dataset cfg(h5::open_dataset(fid, "runs_config"));
    note_length(cfg.get(), "/runs_config");
  }

  // Metrics and trajectories: names in creation order, info, shapes; all share the generation axis.
  std::string generations_from;
  bool have_generations = false;
  auto note_generations = [&](hsize_t g, const std::string& full) {
    if (!have_generations) {
      layout_.generations = g;
      generations_from = full;
      have_generations = true;
    } else if (g != layout_.generations) {
      throw std::runtime_error("'" + full + "' has " + std::to_string(g) + " generations, but '" + generations_from +
                               "' has " + std::to_string(layout_.generations));
    }
  };
  for (const char* group_name : {"metrics", "trajectories"}) {
    if (!h5::link_exists(fid, group_name)) continue;
    const bool is_metric = std::strcmp(group_name, "metrics") == 0;
    h5::Group group(h5::check_id(H5Gopen2(fid, group_name, H5P_DEFAULT),
                                 std::string("cannot open /") + group_name));
    for (const auto& name : h5::link_names(group.get())) {
      const std::string full = std::string("/") + group_name + "/" + name;
      h5::Dataset ds = h5::open_dataset(fid, full.substr(1));
      const auto dims = h5::dataset_dims(ds.get());
      if (is_metric && dims.size() != 2) {
        throw std::runtime_error("'" + full + "' has " + std::to_string(dims.size()) +
                                 " dimensions, but should have 2 (run × generation)");
      }
      if (!is_metric && dims.size() < 2) {
        throw std::runtime_error("'" + full + "' has " + std::to_string(dims.size()) +
                                 " dimensions, but should have at least 2 (run × generation × ...)");
      }
      note_generations(dims[1], full);
      note_length(ds.get(), full);
      if (is_metric) {
        MetricInfo info{name, "", ""};
        read_info(ds.get(), info.units, info.description);
        layout_.metrics.push_back(std::move(info));
      } else {
        TrajectoryInfo info{name, "", "", {dims.begin() + 2, dims.end()}};
        read_info(ds.get(), info.units, info.description);
        layout_.trajectories.push_back(std::move(info));
      }
    }
  }

  // /events: the committed prefix (see the header), read chunk by chunk only if a whole read fails.
  if (h5::link_exists(fid, "events")) {
    h5::Dataset events(h5::open_dataset(fid, "events"));
    const hid_t d = events.get();
    event_rows_ = h5::dataset_dims(d).at(0);
    compound_members(d);  // checks that it is a table
    std::unordered_set<std::uint64_t> committed;
    committed.reserve(runs_.size() * 2);
    for (const auto& r : runs_) committed.insert(r.run_index);
    const h5::Datatype mt = column_type("run_index", H5T_NATIVE_UINT64, sizeof(std::uint64_t));
    std::vector<std::uint64_t> run_index(event_rows_);
    hsize_t readable = event_rows_;
    try {
      h5::read_rows(d, mt.get(), 0, event_rows_, run_index.data());
    } catch (const std::runtime_error&) {
      const hsize_t block = h5::chunk_rows(d);
      readable = 0;
      while (readable < event_rows_) {
        const hsize_t count = std::min(block - readable % block, event_rows_ - readable);
        try {
          h5::read_rows(d, mt.get(), readable, count, run_index.data() + readable);
        } catch (const std::runtime_error&) {
          break;
        }
        readable += count;
      }
    }
    committed_events_ = 0;
    while (committed_events_ < readable && committed.contains(run_index[committed_events_])) ++committed_events_;
  }
}

void ResultsSource::close() {
  config_.reset();
  config_type_.reset();
  metrics_.clear();
  trajectories_.clear();
  opened_ = false;
  file_.close("cannot close results file " + squote(path_));
}

std::string ResultsSource::attr(const std::string& name) const {
  const auto it = string_attrs_.find(name);
  return it == string_attrs_.end() ? std::string() : it->second;
}

bool ResultsSource::has_uncommitted_rows() const noexcept {
  if (event_rows_ > committed_events_) return true;
  return std::any_of(lengths_.begin(), lengths_.end(), [&](const auto& l) { return l.second > runs_.size(); });
}

std::vector<std::string> ResultsSource::read_configs() {
  const hid_t fid = file_.get();
  if (!h5::link_exists(fid, "runs_config")) return std::vector<std::string>(runs_.size());
  h5::Dataset cfg(h5::open_dataset(fid, "runs_config"));
  h5::Datatype type(h5::check_id(H5Dget_type(cfg.get()), "cannot read the type of /runs_config"));
  return read_strings(cfg.get(), "", type.get(), runs_.size());
}

const std::vector<std::pair<std::uint64_t, Event>>& ResultsSource::events() {
  if (events_) return *events_;
  std::vector<std::pair<std::uint64_t, Event>> out;
  const hid_t fid = file_.get();
  if (committed_events_ > 0) {
    h5::Dataset events(h5::open_dataset(fid, "events"));
    const hid_t d = events.get();
    const hsize_t n = committed_events_;
    const auto members = compound_members(d);
    const auto run_index = read_column<std::uint64_t>(d, "run_index", H5T_NATIVE_UINT64, n);
    const auto generation = read_column<std::int64_t>(d, "generation", H5T_NATIVE_INT64, n);
    auto kind = read_strings(d, "kind", find_member(members, "kind", d).type.get(), n);
    auto message = read_strings(d, "message", find_member(members, "message", d).type.get(), n);
    out.reserve(n);
    for (hsize_t i = 0; i < n; ++i) {
      out.push_back({run_index[i], Event{static_cast<int>(generation[i]), std::move(kind[i]), std::move(message[i])}});
    }
  }
  events_ = std::move(out);
  for (std::size_t i = 0; i < events_->size(); ++i) events_by_run_[(*events_)[i].first].push_back(i);
  return *events_;
}

RunResult ResultsSource::read_run(std::size_t row) {
  const hid_t fid = file_.get();
  if (!opened_) {
    if (h5::link_exists(fid, "runs_config")) {
      config_ = h5::open_dataset(fid, "runs_config");
      config_type_ = h5::Datatype(h5::check_id(H5Dget_type(config_.get()), "cannot read the type of /runs_config"));
    }
    for (const auto& m : layout_.metrics) {
      const std::string full = "metrics/" + m.name;
      metrics_.emplace_back(h5::open_dataset(fid, full));
    }
    for (const auto& t : layout_.trajectories) {
      const std::string full = "trajectories/" + t.name;
      trajectories_.emplace_back(h5::open_dataset(fid, full));
    }
    opened_ = true;
  }
  const RunRow& r = runs_.at(row);
  RunResult out;
  out.run_index = r.run_index;
  out.run_key = r.run_key;
  out.replicate = r.replicate;
  out.seed = r.seed;
  out.status = parse_status(r.status);
  out.wall_seconds = r.wall_seconds;
  out.params = r.params;
  if (config_) out.config_toml = read_strings(config_.get(), "", config_type_.get(), 1, row).front();
  const hsize_t g = layout_.generations;
  for (std::size_t i = 0; i < layout_.metrics.size(); ++i) {
    std::vector<double> values(g);
    h5::read_rows(metrics_[i].get(), H5T_NATIVE_DOUBLE, row, 1, values.data());
    out.metrics.emplace(layout_.metrics[i].name, std::move(values));
  }
  for (std::size_t i = 0; i < layout_.trajectories.size(); ++i) {
    const auto& info = layout_.trajectories[i];
    std::uint64_t per_generation = 1;
    for (auto d : info.shape) per_generation *= d;
    TrajectoryData data{info.shape, std::vector<double>(g * per_generation)};
    h5::read_rows(trajectories_[i].get(), H5T_NATIVE_DOUBLE, row, 1, data.values.data());
    out.trajectories.emplace(info.name, std::move(data));
  }
  const auto& all_events = events();
  if (const auto it = events_by_run_.find(r.run_index); it != events_by_run_.end()) {
    for (const std::size_t i : it->second) out.events.push_back(all_events[i].second);
  }
  return out;
}

FileAttributes attributes_of(const ResultsSource& source) {
  FileAttributes a;
  a.created_utc = source.attr("created_utc");
  a.command_line = source.attr("command_line");
  a.experiment = source.attr("experiment");
  a.experiment_digest = source.attr("experiment_digest");
  a.total_runs = source.total_runs();
  a.shard = source.attr("shard");
  a.software_version = source.attr("software_version");
  a.git_sha = source.attr("git_sha");
  a.boost_version = source.attr("boost_version");
  a.hdf5_version = source.attr("hdf5_version");
  return a;
}

// ---------------------------------------------------------------------------------------------------
// Layout comparison

std::string layout_difference(const ResultLayout& a, const std::string& a_name, const ResultLayout& b,
                              const std::string& b_name) {
  std::vector<std::string> diffs;
  const bool a_has_arrays = !a.metrics.empty() || !a.trajectories.empty();
  const bool b_has_arrays = !b.metrics.empty() || !b.trajectories.empty();
  if (a_has_arrays && b_has_arrays && a.generations != b.generations) {
    diffs.push_back("generations: " + std::to_string(a.generations) + " in " + a_name + ", " +
                    std::to_string(b.generations) + " in " + b_name);
  }
  auto compare_names = [&](const char* what, const std::vector<std::string>& x, const std::vector<std::string>& y) {
    const std::set<std::string> xs(x.begin(), x.end()), ys(y.begin(), y.end());
    for (const auto& n : x) {
      if (!ys.contains(n)) diffs.push_back(std::string(what) + " '" + n + "' is in " + a_name + " but not in " + b_name);
    }
    for (const auto& n : y) {
      if (!xs.contains(n)) diffs.push_back(std::string(what) + " '" + n + "' is in " + b_name + " but not in " + a_name);
    }
  };
  std::vector<std::string> am, bm;
  for (const auto& m : a.metrics) am.push_back(m.name);
  for (const auto& m : b.metrics) bm.push_back(m.name);
  compare_names("metric", am, bm);

  std::map<std::string, const TrajectoryInfo*> bt;
  for (const auto& t : b.trajectories) bt[t.name] = &t;
  std::vector<std::string> an, bn;
  for (const auto& t : a.trajectories) an.push_back(t.name);
  for (const auto& t : b.trajectories) bn.push_back(t.name);
  compare_names("trajectory", an, bn);
  for (const auto& t : a.trajectories) {
    const auto it = bt.find(t.name);
    if (it != bt.end() && it->second->shape != t.shape) {
      diffs.push_back("trajectory '" + t.name + "' has shape " + shape_text(t.shape) + " per generation in " + a_name +
                      ", " + shape_text(it->second->shape) + " in " + b_name);
    }
  }

  std::map<std::string, ParamType> bp;
  for (const auto& p : b.params) bp[p.name] = p.type;
  std::vector<std::string> ap_names, bp_names;
  for (const auto& p : a.params) ap_names.push_back(p.name);
  for (const auto& p : b.params) bp_names.push_back(p.name);
  compare_names("param column", ap_names, bp_names);
  for (const auto& p : a.params) {
    const auto it = bp.find(p.name);
    if (it != bp.end() && it->second != p.type) {
      diffs.push_back("param column '" + p.name + "' is " + to_string(p.type) + " in " + a_name + ", " +
                      to_string(it->second) + " in " + b_name);
    }
  }

  std::string out;
  for (std::size_t i = 0; i < diffs.size(); ++i) out += (i ? "; " : "") + diffs[i];
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Atomic replacement

namespace {
void fsync_path(const std::string& path, bool directory, const std::string& what) {
  const int fd = ::open(path.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  if (fd < 0) throw std::runtime_error(what + ": cannot open '" + path + "': " + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  // Some file systems cannot sync a directory (EINVAL); the rename itself is still atomic there.
  if (rc != 0 && !(directory && (err == EINVAL || err == EBADF))) {
    throw std::runtime_error(what + ": cannot sync '" + path + "': " + std::strerror(err));
  }
}
}  // namespace

void replace_file(const std::string& path, const std::string& target) {
  const std::string what = "cannot replace '" + target + "' by '" + path + "'";
  fsync_path(path, false, what);
  std::error_code ec;
  std::filesystem::rename(path, target, ec);
  if (ec) throw std::runtime_error(what + ": " + ec.message());
  std::string dir = std::filesystem::path(target).parent_path().string();
  if (dir.empty()) dir = ".";
  fsync_path(dir, true, what);
}

}  // namespace collapse::io::detail
