#include "io/result_writer.hpp"

#include <boost/version.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <unordered_set>

#include "io/h5.hpp"
#include "io/result_source.hpp"

namespace collapse::io {

const char* to_string(ParamType t) noexcept {
  switch (t) {
    case ParamType::int64: return "int64";
    case ParamType::float64: return "float64";
    case ParamType::boolean: return "boolean";
    case ParamType::string: return "string";
  }
  return "?";
}

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

bool is_hex_digest(const std::string& s) {
  return s.size() == 16 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
         });
}

// "i/N" with decimal digits only, 0 ≤ i < N.
bool is_shard(const std::string& s) {
  const auto slash = s.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 >= s.size() || slash > 19 || s.size() - slash > 20) {
    return false;
  }
  const auto digits = [](std::string_view v) {
    return std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  const std::string_view i(s.data(), slash), n(s.data() + slash + 1, s.size() - slash - 1);
  if (!digits(i) || !digits(n)) return false;
  return std::stoull(std::string(i)) < std::stoull(std::string(n));
}

void validate_attrs(const FileAttributes& attrs) {
  if (!attrs.experiment_digest.empty() && !is_hex_digest(attrs.experiment_digest)) {
    throw std::invalid_argument("FileAttributes: experiment_digest = \"" + attrs.experiment_digest +
                                "\", but must be 16 hexadecimal digits (or empty)");
  }
  if (!attrs.shard.empty() && !is_shard(attrs.shard)) {
    throw std::invalid_argument("FileAttributes: shard = \"" + attrs.shard +
                                "\", but must be i/N with 0 ≤ i < N (or empty for an unsharded file)");
  }
}

std::string or_default(const std::string& value, const std::string& fallback) {
  return value.empty() ? fallback : value;
}

std::string hdf5_library_version() {
  unsigned major = 0, minor = 0, release = 0;
  h5::check(H5get_libversion(&major, &minor, &release), "cannot query the HDF5 version");
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(release);
}

// The file access properties of every writer session (see "Crash safety" below).
h5::PropList writer_fapl() {
  h5::PropList fapl(h5::check_id(H5Pcreate(H5P_FILE_ACCESS), "cannot create a file access property list"));
  h5::check(H5Pset_meta_block_size(fapl.get(), kMetaBlockBytes), "cannot set the metadata block size");
  h5::check(H5Pset_small_data_block_size(fapl.get(), kSmallDataBlockBytes), "cannot set the small data block size");
  return fapl;
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
//
// Resume keeps these guarantees. It decides everything on a read-only open (so a refused resume never
// touches the file) and then takes one of two paths:
//   - rows to drop in the middle (partial or failed runs): compacting in place would rewrite and move
//     gzip chunks that the last flush's index still points at — exactly problem 1 — and a kill midway
//     would leave /runs and the other datasets disagreeing about which run a row is. So the kept rows
//     are copied into '<path>.resume-tmp' by a second writer (no per-run flushes: the file is not
//     referenced until complete), which is fsync'ed and renamed over the file. Any kill leaves the old
//     file or the new one; a stale .resume-tmp is truncated by the next resume.
//   - only an interrupted write's tail (rows after the last /runs row): H5Dset_extent cuts every
//     dataset back to /runs' length and /events to its committed prefix, without reading those rows.
//     This frees only chunks that no committed row references (one run per compressed chunk), and
//     /runs itself is not modified, so a kill during the cut leaves every committed run as it was.
// Appending then proceeds as above with the same access properties (writer_fapl()). The "io/resume/slow"
// stress test kills resumed write loops at random moments (including inside resumes) 12 times and
// checks every committed run after each.
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
  bool flush_each_run = true;                 // off only for files renamed into place (WriterAccess)
  bool stop_before_commit = false;            // test hook (WriterAccess::stop_before_next_commit)
  std::vector<std::uint64_t> done_runs;       // resume: the runs kept from the file
  std::unordered_set<std::uint64_t> written;  // run_index of every row of /runs

  std::vector<double> scratch;
  std::vector<unsigned char> row_buffer;

  void create(const FileAttributes& attrs);
  void resume(const FileAttributes& attrs);
  void rewrite_done_rows(detail::ResultsSource& source);
  void open_existing(const std::vector<std::uint64_t>& kept, hsize_t committed_events, bool cut_back);
  void make_types();
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
  h5::PropList fapl = writer_fapl();
  const hid_t fid = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get());
  if (fid < 0) throw std::runtime_error("cannot create results file '" + path + "': " + h5::error_detail());
  file = h5::File(fid);

  try {
    const hid_t root = file.get();
    h5::write_int_attr(root, "schema_version", kSchemaVersion);
    h5::write_string_attr(root, "software_version", or_default(attrs.software_version, software_version()));
    h5::write_string_attr(root, "git_sha", or_default(attrs.git_sha, git_sha()));
    h5::write_string_attr(root, "created_utc", or_default(attrs.created_utc, now_utc_iso8601()));
    h5::write_string_attr(root, "command_line", attrs.command_line);
    h5::write_string_attr(root, "experiment", attrs.experiment);
    h5::write_string_attr(root, "boost_version", or_default(attrs.boost_version, BOOST_LIB_VERSION));
    h5::write_string_attr(root, "hdf5_version", or_default(attrs.hdf5_version, hdf5_library_version()));
    h5::write_string_attr(root, "experiment_digest", attrs.experiment_digest);
    h5::write_uint64_attr(root, "total_runs", attrs.total_runs);
    h5::write_string_attr(root, "shard", attrs.shard);

    make_types();
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
    }

    create_events_table();
    h5::check(H5Fflush(file.get(), H5F_SCOPE_GLOBAL), "cannot flush");
  } catch (const std::runtime_error& e) {
    throw std::runtime_error("cannot create results file '" + path + "': " + e.what());
  }
}

// Memory types of a /runs row and an /events row, and the name → position maps of the layout.
void ResultWriter::Impl::make_types() {
  vstr = h5::vlen_string_type();
  dxpl = h5::small_transfer_plist(kConversionBufferBytes);

  runs_row_bytes = kParamOffset + kSlot * layout.params.size();
  runs_mem_type = h5::Datatype(h5::check_id(H5Tcreate(H5T_COMPOUND, runs_row_bytes), "cannot create /runs type"));
  {
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
  }
  row_buffer.assign(runs_row_bytes, 0);

  events_mem_type = h5::Datatype(h5::check_id(H5Tcreate(H5T_COMPOUND, sizeof(EventRow)), "cannot create /events type"));
  {
    const hid_t t = events_mem_type.get();
    const std::string what = "cannot build the /events row type";
    h5::check(H5Tinsert(t, "run_index", offsetof(EventRow, run_index), H5T_NATIVE_UINT64), what);
    h5::check(H5Tinsert(t, "generation", offsetof(EventRow, generation), H5T_NATIVE_INT64), what);
    h5::check(H5Tinsert(t, "kind", offsetof(EventRow, kind), vstr.get()), what);
    h5::check(H5Tinsert(t, "message", offsetof(EventRow, message), vstr.get()), what);
  }

  for (std::size_t i = 0; i < layout.metrics.size(); ++i) metric_index[layout.metrics[i].name] = i;
  for (std::size_t i = 0; i < layout.trajectories.size(); ++i) trajectory_index[layout.trajectories[i].name] = i;
  for (std::size_t i = 0; i < layout.params.size(); ++i) param_index[layout.params[i].name] = i;
}

void ResultWriter::Impl::create_runs_table() {
  // The file type is the memory type without the padding after boolean columns.
  const std::string what = "cannot build the /runs row type";
  h5::Datatype file_type(h5::check_id(H5Tcopy(runs_mem_type.get()), what));
  h5::check(H5Tpack(file_type.get()), what);
  runs = h5::create_extendible(file.get(), "runs", file_type.get(), {}, table_options(kTableChunkRows));
}

void ResultWriter::Impl::create_events_table() {
  const std::string what = "cannot build the /events row type";
  h5::Datatype file_type(h5::check_id(H5Tcopy(events_mem_type.get()), what));
  h5::check(H5Tpack(file_type.get()), what);
  events = h5::create_extendible(file.get(), "events", file_type.get(), {}, table_options(kEventChunkRows));
}

// ---------------------------------------------------------------------------------------------------
// Resume

namespace {

std::string shard_text(const std::string& shard) { return shard.empty() ? "no shard (unsharded)" : "shard '" + shard + "'"; }

std::string name_text(const std::string& experiment_toml) {
  const std::string name = detail::experiment_name(experiment_toml);
  return name.empty() ? "(none)" : name;
}

}  // namespace

void ResultWriter::Impl::resume(const FileAttributes& attrs) {
  h5::silence_error_printing();
  const std::string q = "'" + path + "'";
  const auto unreadable = [&](const std::string& why) {
    return std::runtime_error("cannot resume: " + q + " is not a readable results file (" + why +
                              "); it cannot be recovered — move it away and rerun");
  };

  // 1. Read-only inspection. Nothing before step 3 modifies the file.
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    throw std::runtime_error("cannot resume: results file " + q + " does not exist");
  }
  if (std::filesystem::is_directory(path, ec)) throw unreadable("it is a directory");
  const htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
  if (is_hdf5 < 0) throw unreadable(h5::error_detail());
  if (is_hdf5 == 0) throw unreadable("not an HDF5 file");

  std::optional<detail::ResultsSource> source;
  {
    // With HDF5's file lock (shared): a sweep still writing the file holds it exclusively.
    h5::PropList fapl(h5::check_id(H5Pcreate(H5P_FILE_ACCESS), "cannot create a file access property list"));
    h5::check(H5Pset_file_locking(fapl.get(), true, true), "cannot set file locking");
    const hid_t fid = H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get());
    if (fid < 0) {
      const std::string why = h5::error_detail();
      if (why.find("unable to lock") != std::string::npos) {
        throw std::runtime_error("cannot resume: " + q + " is locked by another process (is a sweep still writing it?): " +
                                 why);
      }
      throw unreadable(why);
    }
    h5::File ro(fid);
    std::optional<std::int64_t> version;
    try {
      version = h5::read_int_attr(fid, "schema_version");
    } catch (const std::runtime_error& e) {
      throw unreadable(std::string("unreadable schema_version: ") + e.what());
    }
    if (!version) {
      throw std::runtime_error("cannot resume: " + q +
                               " is not a collapse results file (it has no schema_version attribute); move it away "
                               "or choose another output file");
    }
    if (*version != kSchemaVersion) {
      throw std::runtime_error("cannot resume: " + q + " has schema_version " + std::to_string(*version) +
                               ", but this build writes " + std::to_string(kSchemaVersion));
    }
    if (!h5::link_exists(fid, "runs")) throw unreadable("it has no /runs table");
    try {
      source.emplace(path, std::move(ro));
    } catch (const std::runtime_error& e) {
      throw unreadable(e.what());
    }
  }

  // 2. Identity.
  const std::string file_digest = source->attr("experiment_digest");
  if (file_digest.empty()) {
    throw std::runtime_error("cannot resume: " + q + " records no experiment digest (it was written by a build "
                             "without resumable sweeps), so it cannot be checked against this experiment (name '" +
                             name_text(attrs.experiment) + "', digest " + attrs.experiment_digest +
                             "); move it away and rerun");
  }
  if (file_digest != attrs.experiment_digest) {
    throw std::runtime_error("cannot resume: " + q + " was written by another experiment (name '" +
                             name_text(source->attr("experiment")) + "', digest " + file_digest +
                             ") than this one (name '" +
                             name_text(attrs.experiment) + "', digest " + attrs.experiment_digest + ")");
  }
  const std::string file_shard = source->attr("shard");
  if (file_shard != attrs.shard) {
    throw std::runtime_error("cannot resume: " + q + " holds " + shard_text(file_shard) +
                             " of the experiment, but this is " + shard_text(attrs.shard));
  }
  if (source->total_runs() != attrs.total_runs) {
    throw std::runtime_error("cannot resume: " + q + " records " + std::to_string(source->total_runs()) +
                             " runs in the experiment, but this one has " + std::to_string(attrs.total_runs));
  }
  const std::string diff = detail::layout_difference(source->layout(), "the file", layout, "this experiment");
  if (!diff.empty()) {
    throw std::runtime_error("cannot resume: " + q + " has another layout than this experiment: " + diff);
  }
  std::set<std::uint64_t> seen;
  for (const auto& r : source->runs()) {
    if (!seen.insert(r.run_index).second) {
      throw unreadable("run " + std::to_string(r.run_index) + " has two rows in /runs");
    }
    try {
      detail::parse_status(r.status);
    } catch (const std::runtime_error& e) {
      throw unreadable(e.what());
    }
  }

  // 3. / 4. Repairs, then open for appending.
  const bool all_done = std::all_of(source->runs().begin(), source->runs().end(),
                                    [](const RunRow& r) { return r.status == "done"; });
  if (!all_done) rewrite_done_rows(*source);  // re-reads `source` from the rewritten file
  std::vector<std::uint64_t> kept;
  kept.reserve(source->runs().size());
  for (const auto& r : source->runs()) kept.push_back(r.run_index);
  const hsize_t committed_events = source->committed_events();
  const bool cut_back = source->has_uncommitted_rows();
  source.reset();  // HDF5 refuses a read-write open of a file this process holds read-only
  open_existing(kept, committed_events, cut_back);
}

// Copies the done rows of `source` (and their events) to '<path>.resume-tmp' and renames it over
// `path`; then re-reads `source` from the new file.
void ResultWriter::Impl::rewrite_done_rows(detail::ResultsSource& source) {
  const std::string q = "'" + path + "'";
  const std::string tmp = path + ".resume-tmp";
  const auto dropped = std::count_if(source.runs().begin(), source.runs().end(),
                                     [](const RunRow& r) { return r.status != "done"; });
  try {
    ResultWriter out(tmp, detail::attributes_of(source), source.layout());
    detail::WriterAccess::set_flush_each_run(out, false);
    for (std::size_t i = 0; i < source.runs().size(); ++i) {
      if (source.runs()[i].status == "done") out.write(source.read_run(i));
    }
    out.close();
    source.close();
  } catch (const std::exception& e) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw std::runtime_error("cannot resume: " + q + " could not be rewritten without its " + std::to_string(dropped) +
                             " partial or failed runs (the file is unchanged): " + e.what());
  }
  try {
    detail::replace_file(tmp, path);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error("cannot resume: " + std::string(e.what()) + " (the complete rewrite is '" + tmp +
                             "' if it is still there)");
  }
  const std::string what = "cannot resume: the rewritten " + q + " cannot be read back";
  h5::File ro;
  try {
    ro = detail::open_results(path, true);
    source = detail::ResultsSource(path, std::move(ro));
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(what + ": " + e.what());
  }
}

// Opens `path` for appending, with the datasets of `layout` (which matched the file's). `kept`: the
// run_index of every /runs row. With `cut_back`, first cuts datasets longer than /runs back to its
// length and /events to its `committed_events` rows.
void ResultWriter::Impl::open_existing(const std::vector<std::uint64_t>& kept, hsize_t committed_events,
                                       bool cut_back) {
  const std::string q = "'" + path + "'";
  rows = kept.size();
  done_runs = kept;
  written.insert(kept.begin(), kept.end());
  h5::PropList fapl = writer_fapl();
  const hid_t fid = H5Fopen(path.c_str(), H5F_ACC_RDWR, fapl.get());
  if (fid < 0) throw std::runtime_error("cannot resume: cannot open " + q + " for writing: " + h5::error_detail());
  file = h5::File(fid);
  try {
    const hid_t root = file.get();
    make_types();
    runs = h5::open_dataset(root, "runs");
    runs_config = h5::open_dataset(root, "runs_config");
    events = h5::open_dataset(root, "events");
    for (const auto& m : layout.metrics) {
      const std::string full = "metrics/" + m.name;
      metrics.emplace_back(h5::open_dataset(root, full));
    }
    for (const auto& t : layout.trajectories) {
      const std::string full = "trajectories/" + t.name;
      trajectories.emplace_back(h5::open_dataset(root, full));
    }
    if (cut_back) {
      // Rows after the last /runs row belong to a write that was killed before its commit: drop them
      // without reading them (they may be unreadable).
      auto cut = [&](hid_t dset, hsize_t keep) {
        if (h5::dataset_dims(dset).at(0) > keep) h5::set_rows(dset, keep);
      };
      cut(runs_config.get(), rows);
      for (const auto& d : metrics) cut(d.get(), rows);
      for (const auto& d : trajectories) cut(d.get(), rows);
      cut(events.get(), committed_events);
      h5::check(H5Fflush(root, H5F_SCOPE_GLOBAL), "cannot flush");
    }
  } catch (const std::runtime_error& e) {
    throw std::runtime_error("cannot resume: " + q + ": " + e.what());
  }
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
                             " value, but the column has type " + to_string(type));
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
  if (flush_each_run) h5::check(H5Fflush(file.get(), H5F_SCOPE_GLOBAL), flush_what);
  if (stop_before_commit) {
    throw std::runtime_error("ResultWriter '" + path + "', run " + std::to_string(run.run_index) +
                             ": stopped before its commit (test hook)");
  }

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
  written.insert(run.run_index);

  if (flush_each_run) h5::check(H5Fflush(file.get(), H5F_SCOPE_GLOBAL), flush_what);
}

ResultWriter::ResultWriter(const std::string& path, const FileAttributes& attrs, const ResultLayout& layout, Mode mode)
    : impl_(std::make_unique<Impl>()) {
  validate_layout(layout);
  validate_attrs(attrs);
  impl_->path = path;
  impl_->layout = layout;
  if (mode == Mode::create) {
    impl_->create(attrs);
    return;
  }
  if (attrs.experiment_digest.empty()) {
    throw std::invalid_argument("ResultWriter: resuming '" + path +
                                "' needs attrs.experiment_digest, to check that the file belongs to this experiment");
  }
  impl_->resume(attrs);
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
  if (im.written.contains(run.run_index)) {
    throw std::logic_error("ResultWriter '" + im.path + "', run " + std::to_string(run.run_index) +
                           ": this run is already in the file");
  }
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
const std::vector<std::uint64_t>& ResultWriter::done_runs() const noexcept { return impl_->done_runs; }

void detail::WriterAccess::set_flush_each_run(ResultWriter& writer, bool on) noexcept {
  writer.impl_->flush_each_run = on;
}
void detail::WriterAccess::stop_before_next_commit(ResultWriter& writer) noexcept {
  writer.impl_->stop_before_commit = true;
}
const std::string& ResultWriter::path() const noexcept { return impl_->path; }

}  // namespace collapse::io
