#include "io/result_writer.hpp"

#include <boost/version.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <ctime>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>

#include "io/h5.hpp"

namespace collapse::io {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr std::size_t kConversionBufferBytes = 64 * 1024;  // ≥ one row of /runs or /events
constexpr std::size_t kStatusBytes = 8;       // fixed-length status column ("partial" + NUL fits)
constexpr std::uint64_t kTableChunkRows = 64;  // /runs, /runs_config (uncompressed: fixed-size chunks)
constexpr std::uint64_t kEventChunkRows = 256;  // /events (uncompressed)
constexpr int kGzipLevel = 4;
constexpr std::uint64_t kMinCompressedRowBytes = 512;
constexpr hsize_t kMetaBlockBytes = 64 * 1024;         // HDF5 default 2 KiB
constexpr hsize_t kSmallDataBlockBytes = 1024 * 1024;  // HDF5 default 2 KiB

// The fixed columns of /runs, in order; param columns may not reuse these names.
constexpr const char* kFixedRunColumns[] = {"run_index", "run_key", "replicate", "seed", "status",
                                            "wall_seconds"};

const char* type_name(ParamType t) {
  switch (t) {
    case ParamType::int64: return "int64";
    case ParamType::float64: return "float64";
    case ParamType::boolean: return "boolean";
    case ParamType::string: return "string";
  }
  return "?";
}

const char* value_type_name(const ParamValue& v) {
  switch (v.index()) {
    case 0: return "int64";
    case 1: return "float64";
    case 2: return "boolean";
    default: return "string";
  }
}

std::uint64_t product(const std::vector<std::uint64_t>& shape) {
  std::uint64_t p = 1;
  for (auto d : shape) p *= d;
  return p;
}

std::string shape_text(const std::vector<std::uint64_t>& shape) {
  std::string s = "{";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "}";
}

std::string now_utc_iso8601() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void check_name(const std::string& what, const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
    throw std::invalid_argument(what + " name '" + name +
                                "' is not valid: it must be non-empty and contain no '/'");
  }
}

void validate_layout(const ResultLayout& layout) {
  std::set<std::string> columns(std::begin(kFixedRunColumns), std::end(kFixedRunColumns));
  for (const auto& p : layout.params) {
    if (p.name.empty()) throw std::invalid_argument("ResultLayout: a param column has an empty name");
    if (!columns.insert(p.name).second) {
      throw std::invalid_argument("ResultLayout: param column '" + p.name +
                                  "' is duplicated or reuses a fixed /runs column name");
    }
  }
  std::set<std::string> names;
  for (const auto& m : layout.metrics) {
    check_name("metric", m.name);
    if (!names.insert(m.name).second) throw std::invalid_argument("ResultLayout: metric '" + m.name + "' is duplicated");
  }
  names.clear();
  for (const auto& t : layout.trajectories) {
    check_name("trajectory", t.name);
    if (!names.insert(t.name).second) {
      throw std::invalid_argument("ResultLayout: trajectory '" + t.name + "' is duplicated");
    }
  }
}

// Options of /runs, /runs_config, /events: uncompressed chunks have a fixed size, so HDF5 rewrites a
// chunk in place when a row is added to it, and every earlier row stays where the file says it is.
h5::ExtendibleOptions table_options(std::uint64_t chunk_rows) {
  h5::ExtendibleOptions opts;
  opts.chunk_rows = chunk_rows;
  opts.gzip_level = 0;
  return opts;
}

// Options of /metrics/* and /trajectories/*: one run per chunk (split along generations above 1 MiB),
// NaN fill, shuffle + gzip unless a row is under kMinCompressedRowBytes (deflate's framing would make
// it bigger). A chunk is written once, complete, and never rewritten or moved.
h5::ExtendibleOptions array_options(std::uint64_t row_bytes) {
  h5::ExtendibleOptions opts;
  opts.chunk_rows = 1;
  opts.gzip_level = row_bytes >= kMinCompressedRowBytes ? kGzipLevel : 0;
  opts.shuffle = true;
  opts.fill_double = &kNaN;
  return opts;
}

// One row of /events in memory.
struct EventRow {
  std::uint64_t run_index;
  std::int64_t generation;
  const char* kind;
  const char* message;
};

}  // namespace

// Crash safety. HDF5 1.10 has no journal: a flush writes dirty raw-data chunks, then dirty metadata
// (chunk indexes, object headers), the superblock with the end-of-file address (EOA) last. A process
// killed in the middle of a later write must not damage what an earlier, completed write() flushed.
// Three things did, each seen in a stress test (SIGKILL at random moments of a write loop, then read
// every dataset with h5py; tests/io "io/results/slow" is the in-tree version):
//   1. a gzip chunk shared by many runs grows when a row is added, so HDF5 moves it and frees its old
//      space, which the next allocation reuses while the on-disk index of the last flush still points
//      there ("inflate() failed"). 64-row gzip chunks everywhere: 14 of 15 kills broke the file.
//      Fix: compressed datasets (/metrics, /trajectories) hold one run per chunk, written once,
//      complete, never rewritten; tables whose chunks hold many runs (/runs, /runs_config, /events) are
//      uncompressed: fixed-size chunks are rewritten in place, every earlier row unchanged. Nothing the
//      file references is ever freed, so HDF5's free-space reuse is harmless.
//   2. metadata reaching the disk before the superblock points past the EOA the file still records
//      ("addr overflow"), even in rows /runs already counted: 1 of 30 kills with fix 1 alone.
//      Fix: two flushes per run: first everything but /runs, then the /runs row, the run's commit
//      record. /runs is clean during the first flush, so a kill there leaves /runs and every row it
//      counts intact.
//   3. the same with a new /events chunk: the whole of /events unreadable (1 of 40 kills with 1 + 2).
//      Fix: large allocation blocks (64 KiB metadata, 1 MiB raw data; HDF5's default is 2 KiB), so the
//      EOA recorded at one flush covers the allocations of the next dozens of runs.
// With all three: 0 of 160 kills (G = 5, 100, 1000). What remains is a kill in the few milliseconds of
// a flush that takes a new allocation block. The cost: ~1 KB of file overhead a run (chunk indexes of
// one-run chunks; 2000 runs × 13 datasets × 100 generations: 17.9 MB file for 15.9 MB of chunks) and
// under 90 KB of unused block space in a small file. A graceful stop (close()) has no such risk.
struct ResultWriter::Impl {
  std::string path;
  ResultLayout layout;

  // Declared first so it is destroyed last (objects in the file close before it).
  h5::File file;

  h5::Datatype vstr;           // vlen UTF-8 string (memory and file)
  h5::Datatype runs_mem_type;  // compound, one row of /runs in memory (8-byte slots)
  std::size_t runs_row_bytes = 0;
  h5::Datatype events_mem_type;

  h5::Dataset runs, runs_config, events;
  h5::PropList dxpl;  // small type-conversion buffers for the per-run writes
  std::vector<h5::Dataset> metrics;       // layout.metrics order
  std::vector<h5::Dataset> trajectories;  // layout.trajectories order
  std::map<std::string, std::size_t> metric_index, trajectory_index, param_index;

  std::uint64_t rows = 0;
  bool closed = false;
  bool broken = false;

  std::vector<double> scratch;
  std::vector<unsigned char> row_buffer;

  void create(const FileAttributes& attrs);
  void create_runs_table();
  void create_events_table();
  void validate(const RunResult& run) const;
  void append(const RunResult& run);
};

namespace {
constexpr std::size_t kParamOffset = 48;  // first param slot in the /runs memory row
constexpr std::size_t kSlot = 8;          // every param slot: int64, double, uint8 (+pad) or char*
}  // namespace

void ResultWriter::Impl::create(const FileAttributes& attrs) {
  h5::silence_error_printing();
  // Crash safety (see the comment on ResultWriter::Impl): large aggregator blocks, so the end-of-file
  // address recorded at one flush covers the allocations of the next ones.
  h5::PropList fapl(h5::check_id(H5Pcreate(H5P_FILE_ACCESS), "cannot create a file access property list"));
  h5::check(H5Pset_meta_block_size(fapl.get(), kMetaBlockBytes), "cannot set the metadata block size");
  h5::check(H5Pset_small_data_block_size(fapl.get(), kSmallDataBlockBytes), "cannot set the small data block size");
  const hid_t fid = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get());
  if (fid < 0) throw std::runtime_error("cannot create results file '" + path + "': " + h5::error_detail());
  file = h5::File(fid);

  try {
    const hid_t root = file.get();
    h5::write_int_attr(root, "schema_version", kSchemaVersion);
    h5::write_string_attr(root, "software_version", software_version());
    h5::write_string_attr(root, "git_sha", git_sha());
    h5::write_string_attr(root, "created_utc", attrs.created_utc.empty() ? now_utc_iso8601() : attrs.created_utc);
    h5::write_string_attr(root, "command_line", attrs.command_line);
    h5::write_string_attr(root, "experiment", attrs.experiment);
    h5::write_string_attr(root, "boost_version", BOOST_LIB_VERSION);
    unsigned major = 0, minor = 0, release = 0;
    h5::check(H5get_libversion(&major, &minor, &release), "cannot query the HDF5 version");
    h5::write_string_attr(root, "hdf5_version",
                          std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(release));

    vstr = h5::vlen_string_type();
    dxpl = h5::small_transfer_plist(kConversionBufferBytes);
    create_runs_table();

    runs_config = h5::create_extendible(root, "runs_config", vstr.get(), {}, table_options(kTableChunkRows));

    // Groups remember link creation order, so readers list metrics in layout order.
    h5::PropList gcpl(h5::check_id(H5Pcreate(H5P_GROUP_CREATE), "cannot create a group property list"));
    h5::check(H5Pset_link_creation_order(gcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED),
              "cannot set link creation order");
    h5::Group metrics_group(h5::check_id(H5Gcreate2(root, "metrics", H5P_DEFAULT, gcpl.get(), H5P_DEFAULT),
                                         "cannot create group '/metrics'"));
    h5::Group traj_group(h5::check_id(H5Gcreate2(root, "trajectories", H5P_DEFAULT, gcpl.get(), H5P_DEFAULT),
                                      "cannot create group '/trajectories'"));

    const hsize_t generations = layout.generations;
    for (std::size_t i = 0; i < layout.metrics.size(); ++i) {
      const auto& info = layout.metrics[i];
      const hsize_t inner[] = {generations};
      metrics.push_back(
          h5::create_extendible(metrics_group.get(), info.name, H5T_IEEE_F64LE, inner,
                                array_options(generations * sizeof(double))));
      h5::write_string_attr(metrics.back().get(), "units", info.units);
      h5::write_string_attr(metrics.back().get(), "description", info.description);
      metric_index[info.name] = i;
    }
    for (std::size_t i = 0; i < layout.trajectories.size(); ++i) {
      const auto& info = layout.trajectories[i];
      std::vector<hsize_t> inner{generations};
      inner.insert(inner.end(), info.shape.begin(), info.shape.end());
      trajectories.push_back(
          h5::create_extendible(traj_group.get(), info.name, H5T_IEEE_F64LE, inner,
                                array_options(generations * product(info.shape) * sizeof(double))));
      h5::write_string_attr(trajectories.back().get(), "units", info.units);
      h5::write_string_attr(trajectories.back().get(), "description", info.description);
      trajectory_index[info.name] = i;
    }
    for (std::size_t i = 0; i < layout.params.size(); ++i) param_index[layout.params[i].name] = i;

    create_events_table();
    h5::check(H5Fflush(file.get(), H5F_SCOPE_GLOBAL), "cannot flush");
  } catch (const std::runtime_error& e) {
    throw std::runtime_error("cannot create results file '" + path + "': " + e.what());
  }
}

void ResultWriter::Impl::create_runs_table() {
  runs_row_bytes = kParamOffset + kSlot * layout.params.size();
  runs_mem_type = h5::Datatype(h5::check_id(H5Tcreate(H5T_COMPOUND, runs_row_bytes), "cannot create /runs type"));
  const hid_t t = runs_mem_type.get();
  const std::string what = "cannot build the /runs row type";
  h5::check(H5Tinsert(t, "run_index", 0, H5T_NATIVE_UINT64), what);
  h5::check(H5Tinsert(t, "run_key", 8, H5T_NATIVE_UINT64), what);
  h5::check(H5Tinsert(t, "replicate", 16, H5T_NATIVE_UINT64), what);
  h5::check(H5Tinsert(t, "seed", 24, H5T_NATIVE_UINT64), what);
  h5::Datatype status = h5::fixed_string_type(kStatusBytes);
  h5::check(H5Tinsert(t, "status", 32, status.get()), what);
  h5::check(H5Tinsert(t, "wall_seconds", 40, H5T_NATIVE_DOUBLE), what);
  for (std::size_t i = 0; i < layout.params.size(); ++i) {
    const auto& p = layout.params[i];
    hid_t member = H5T_NATIVE_INT64;
    switch (p.type) {
      case ParamType::int64: member = H5T_NATIVE_INT64; break;
      case ParamType::float64: member = H5T_NATIVE_DOUBLE; break;
      case ParamType::boolean: member = H5T_NATIVE_UINT8; break;
      case ParamType::string: member = vstr.get(); break;
    }
    h5::check(H5Tinsert(t, p.name.c_str(), kParamOffset + kSlot * i, member),
              "cannot add column '" + p.name + "' to /runs");
  }
  // The file type is the same compound without the padding after boolean columns.
  h5::Datatype file_type(h5::check_id(H5Tcopy(t), what));
  h5::check(H5Tpack(file_type.get()), what);

  runs = h5::create_extendible(file.get(), "runs", file_type.get(), {}, table_options(kTableChunkRows));
  row_buffer.assign(runs_row_bytes, 0);
}

void ResultWriter::Impl::create_events_table() {
  events_mem_type = h5::Datatype(h5::check_id(H5Tcreate(H5T_COMPOUND, sizeof(EventRow)), "cannot create /events type"));
  const hid_t t = events_mem_type.get();
  const std::string what = "cannot build the /events row type";
  h5::check(H5Tinsert(t, "run_index", offsetof(EventRow, run_index), H5T_NATIVE_UINT64), what);
  h5::check(H5Tinsert(t, "generation", offsetof(EventRow, generation), H5T_NATIVE_INT64), what);
  h5::check(H5Tinsert(t, "kind", offsetof(EventRow, kind), vstr.get()), what);
  h5::check(H5Tinsert(t, "message", offsetof(EventRow, message), vstr.get()), what);
  h5::Datatype file_type(h5::check_id(H5Tcopy(t), what));
  h5::check(H5Tpack(file_type.get()), what);
  events = h5::create_extendible(file.get(), "events", file_type.get(), {}, table_options(kEventChunkRows));
}

void ResultWriter::Impl::validate(const RunResult& run) const {
  const std::string who = "ResultWriter '" + path + "', run " + std::to_string(run.run_index) + ": ";
  for (const auto& [name, values] : run.metrics) {
    if (!metric_index.contains(name)) {
      throw std::logic_error(who + "metric '" + name + "' is not in the layout");
    }
    if (values.size() > layout.generations) {
      throw std::logic_error(who + "metric '" + name + "' has " + std::to_string(values.size()) +
                             " generations, but the layout has " + std::to_string(layout.generations));
    }
  }
  for (const auto& [name, data] : run.trajectories) {
    const auto it = trajectory_index.find(name);
    if (it == trajectory_index.end()) {
      throw std::logic_error(who + "trajectory '" + name + "' is not in the layout");
    }
    const auto& max_shape = layout.trajectories[it->second].shape;
    bool fits = data.shape.size() == max_shape.size();
    for (std::size_t j = 0; fits && j < max_shape.size(); ++j) fits = data.shape[j] <= max_shape[j];
    if (!fits) {
      throw std::logic_error(who + "trajectory '" + name + "' has shape " + shape_text(data.shape) +
                             ", but the layout allows at most " + shape_text(max_shape));
    }
    const std::uint64_t per_generation = product(data.shape);
    if (per_generation == 0 ? !data.values.empty() : data.values.size() % per_generation != 0) {
      throw std::logic_error(who + "trajectory '" + name + "' has " + std::to_string(data.values.size()) +
                             " values, which is not a multiple of its shape " + shape_text(data.shape));
    }
    if (per_generation != 0 && data.values.size() / per_generation > layout.generations) {
      throw std::logic_error(who + "trajectory '" + name + "' has " +
                             std::to_string(data.values.size() / per_generation) +
                             " generations, but the layout has " + std::to_string(layout.generations));
    }
  }
  for (const auto& [name, value] : run.params) {
    const auto it = param_index.find(name);
    if (it == param_index.end()) {
      throw std::logic_error(who + "param '" + name + "' is not a column of the layout");
    }
    const ParamType type = layout.params[it->second].type;
    const bool ok = (type == ParamType::int64 && value.index() == 0) ||
                    (type == ParamType::float64 && (value.index() == 1 || value.index() == 0)) ||
                    (type == ParamType::boolean && value.index() == 2) ||
                    (type == ParamType::string && value.index() == 3);
    if (!ok) {
      throw std::logic_error(who + "param '" + name + "' is a " + value_type_name(value) +
                             " value, but the column has type " + type_name(type));
    }
  }
}

void ResultWriter::Impl::append(const RunResult& run) {
  const hsize_t generations = layout.generations;

  // Metrics: one NaN-padded row each.
  for (std::size_t i = 0; i < layout.metrics.size(); ++i) {
    scratch.assign(generations, kNaN);
    if (const auto it = run.metrics.find(layout.metrics[i].name); it != run.metrics.end()) {
      std::copy(it->second.begin(), it->second.end(), scratch.begin());
    }
    h5::append_rows(metrics[i].get(), H5T_NATIVE_DOUBLE, 1, scratch.data(), dxpl.get());
  }

  // Trajectories: copy each element of the run's [g × shape] block into the padded [G × max_shape].
  for (std::size_t i = 0; i < layout.trajectories.size(); ++i) {
    const auto& max_shape = layout.trajectories[i].shape;
    const std::uint64_t padded_per_gen = product(max_shape);
    scratch.assign(generations * padded_per_gen, kNaN);
    if (const auto it = run.trajectories.find(layout.trajectories[i].name); it != run.trajectories.end()) {
      const auto& data = it->second;
      const std::uint64_t per_gen = product(data.shape);
      const std::size_t rank = max_shape.size();
      std::vector<std::uint64_t> stride(rank), index(rank);  // row-major strides of the padded shape
      std::uint64_t step = 1;
      for (std::size_t j = 0; j < rank; ++j) {
        stride[rank - 1 - j] = step;
        step *= max_shape[rank - 1 - j];
      }
      const std::uint64_t run_generations = per_gen == 0 ? 0 : data.values.size() / per_gen;
      for (std::uint64_t g = 0; g < run_generations; ++g) {
        std::fill(index.begin(), index.end(), 0);
        for (std::uint64_t k = 0; k < per_gen; ++k) {
          std::uint64_t dst = g * padded_per_gen;
          for (std::size_t j = 0; j < rank; ++j) dst += index[j] * stride[j];
          scratch[dst] = data.values[g * per_gen + k];
          for (std::size_t j = rank; j-- > 0;) {  // odometer over data.shape
            if (++index[j] < data.shape[j]) break;
            index[j] = 0;
          }
        }
      }
    }
    h5::append_rows(trajectories[i].get(), H5T_NATIVE_DOUBLE, 1, scratch.data(), dxpl.get());
  }

  const char* config = run.config_toml.c_str();
  h5::append_rows(runs_config.get(), vstr.get(), 1, &config, dxpl.get());

  if (!run.events.empty()) {
    std::vector<EventRow> rows_out;
    rows_out.reserve(run.events.size());
    for (const auto& e : run.events) {
      rows_out.push_back({run.run_index, static_cast<std::int64_t>(e.generation), e.kind.c_str(), e.message.c_str()});
    }
    h5::append_rows(events.get(), events_mem_type.get(), rows_out.size(), rows_out.data(), dxpl.get());
  }

  // Phase 1 on disk: everything but /runs. Phase 2: the /runs row, the run's commit record. /runs
  // metadata is clean during phase 1, so a kill then leaves /runs (and every row it counts) intact.
  const std::string flush_what = "cannot flush results file '" + path + "'";
  h5::check(H5Fflush(file.get(), H5F_SCOPE_GLOBAL), flush_what);

  std::fill(row_buffer.begin(), row_buffer.end(), 0);
  unsigned char* row = row_buffer.data();
  std::memcpy(row + 0, &run.run_index, 8);
  std::memcpy(row + 8, &run.run_key, 8);
  std::memcpy(row + 16, &run.replicate, 8);
  std::memcpy(row + 24, &run.seed, 8);
  const char* status = to_string(run.status);
  std::memcpy(row + 32, status, std::min(std::strlen(status), kStatusBytes));
  std::memcpy(row + 40, &run.wall_seconds, 8);
  static const char* const kEmpty = "";
  for (std::size_t i = 0; i < layout.params.size(); ++i) {
    unsigned char* slot = row + kParamOffset + kSlot * i;
    const auto it = run.params.find(layout.params[i].name);
    const ParamValue* value = it == run.params.end() ? nullptr : &it->second;
    switch (layout.params[i].type) {
      case ParamType::int64: {
        const std::int64_t v = value ? std::get<std::int64_t>(*value) : 0;
        std::memcpy(slot, &v, 8);
        break;
      }
      case ParamType::float64: {
        const double v = !value                ? kNaN
                         : value->index() == 0 ? static_cast<double>(std::get<std::int64_t>(*value))
                                               : std::get<double>(*value);
        std::memcpy(slot, &v, 8);
        break;
      }
      case ParamType::boolean: {
        const std::uint8_t v = value && std::get<bool>(*value) ? 1 : 0;
        std::memcpy(slot, &v, 1);
        break;
      }
      case ParamType::string: {
        const char* v = value ? std::get<std::string>(*value).c_str() : kEmpty;
        std::memcpy(slot, &v, sizeof v);
        break;
      }
    }
  }
  h5::append_rows(runs.get(), runs_mem_type.get(), 1, row, dxpl.get());
  ++rows;

  h5::check(H5Fflush(file.get(), H5F_SCOPE_GLOBAL), flush_what);
}

ResultWriter::ResultWriter(const std::string& path, const FileAttributes& attrs, const ResultLayout& layout)
    : impl_(std::make_unique<Impl>()) {
  validate_layout(layout);
  impl_->path = path;
  impl_->layout = layout;
  impl_->create(attrs);
}

ResultWriter::~ResultWriter() {
  try {
    close();
  } catch (...) {
    // Destructors must not throw; close() explicitly to see the error.
  }
}

void ResultWriter::write(const RunResult& run) {
  Impl& im = *impl_;
  if (im.closed) throw std::logic_error("ResultWriter::write: results file '" + im.path + "' is already closed");
  if (im.broken) {
    throw std::logic_error("ResultWriter::write: an earlier write to results file '" + im.path +
                           "' failed; the writer is unusable");
  }
  im.validate(run);
  h5::silence_error_printing();
  try {
    im.append(run);
  } catch (...) {
    im.broken = true;
    throw;
  }
}

void ResultWriter::close() {
  Impl& im = *impl_;
  if (im.closed) return;
  im.closed = true;
  h5::silence_error_printing();
  im.metrics.clear();
  im.trajectories.clear();
  im.runs.reset();
  im.runs_config.reset();
  im.events.reset();
  im.runs_mem_type.reset();
  im.events_mem_type.reset();
  im.dxpl.reset();
  im.vstr.reset();
  if (im.file) {
    const std::string what = "cannot close results file '" + im.path + "'";
    const herr_t flushed = H5Fflush(im.file.get(), H5F_SCOPE_GLOBAL);
    const std::string detail = flushed < 0 ? h5::error_detail() : std::string();
    im.file.close(what);
    if (flushed < 0) throw std::runtime_error(what + ": " + detail);
  }
}

std::uint64_t ResultWriter::runs_written() const noexcept { return impl_->rows; }
const std::string& ResultWriter::path() const noexcept { return impl_->path; }

}  // namespace collapse::io
