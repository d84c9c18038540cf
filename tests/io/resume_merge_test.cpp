// Tests of sharded and resumed sweeps at the io level: identity attributes, ResultWriter in resume mode
// (refusals, repair of an interrupted write, removal of partial and failed rows) and merge_results().
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bit>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "io/result_info.hpp"
#include "io/result_merge.hpp"
#include "io/result_writer.hpp"
#include "io/writer_access.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace collapse;
using namespace collapse::io;
using collapse::testing::contains;
using collapse::testing::TempDir;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr const char* kDigest = "0123456789abcdef";

std::string file_in(const TempDir& dir, const std::string& name) { return (dir.path() / name).string(); }

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no exception)";
}

using collapse::testing::read_bytes;
using collapse::testing::write_bytes;

std::uint64_t bits(double v) { return std::bit_cast<std::uint64_t>(v); }

// Copies `from` to `to` with the root attribute schema_version (an int32 written by ResultWriter in a
// version-1 attribute message: name, datatype and dataspace padded to 8 bytes, then the value) set to
// `version`. See schema_version_offset() in results_test.cpp.
void copy_with_schema_version(const std::string& from, const std::string& to, char version) {
  std::string bytes = read_bytes(from);
  const std::string name("schema_version\0", 15);
  const auto at = bytes.find(name);
  REQUIRE(at != std::string::npos);
  REQUIRE(at >= 8);
  const auto* body = reinterpret_cast<const unsigned char*>(bytes.data() + at - 8);
  REQUIRE(body[0] == 1);
  auto u16 = [&](int i) { return std::size_t(body[i]) | (std::size_t(body[i + 1]) << 8); };
  auto pad8 = [](std::size_t n) { return (n + 7) / 8 * 8; };
  const std::size_t data = at + pad8(u16(2)) + pad8(u16(4)) + pad8(u16(6));
  REQUIRE(bytes.substr(data, 4) == std::string("\x01\x00\x00\x00", 4));
  bytes[data] = version;
  write_bytes(to, bytes);
}

ResultLayout layout() {
  ResultLayout l;
  l.generations = 4;
  l.params = {{"loop.anchoring", ParamType::string},
              {"loop.real_fraction", ParamType::float64},
              {"loop.samples", ParamType::int64},
              {"loop.fresh", ParamType::boolean}};
  l.metrics = {{"kl", "nats", "KL divergence."}, {"types", "types", "Distinct types."}};
  l.trajectories = {{"weights", "1", "Mixture weights.", {2}}, {"means", "data units", "Means.", {2, 2}}};
  return l;
}

FileAttributes attrs(const std::string& shard = "", const std::string& digest = kDigest) {
  FileAttributes a;
  a.created_utc = "2026-01-02T03:04:05Z";
  a.command_line = "collapse run exp.toml";
  a.experiment = "[experiment]\nname = \"resume-test\"\n";
  a.experiment_digest = digest;
  a.total_runs = 8;
  a.shard = shard;
  return a;
}

// Run `i` of an 8-run experiment: every value a function of i (and of `variant`, to tell a rerun from
// the original), including NaN payloads, -0.0 and padding, so any mix-up or bit change shows.
RunResult make_run(std::uint64_t i, RunStatus status = RunStatus::done, int variant = 0) {
  RunResult r;
  r.run_index = i;
  r.run_key = 0x9e3779b97f4a7c15ULL * (i / 2 + 1);
  r.replicate = i % 2;
  r.seed = 0xfedcba9876543210ULL ^ i;
  r.status = status;
  r.wall_seconds = 0.125 * static_cast<double>(i + 1) + variant;
  r.config_toml = "[loop]\nsamples = " + std::to_string(100 + i) + "\n# variant " + std::to_string(variant) + "\n";
  r.params = {{"loop.anchoring", std::string(i % 2 ? "mix" : "replace")},
              {"loop.real_fraction", 0.1 * static_cast<double>(i)},
              {"loop.samples", static_cast<std::int64_t>(100 + i)},
              {"loop.fresh", i % 3 == 0}};
  const double v = static_cast<double>(i) + 0.01 * variant;
  r.metrics["kl"] = {v, -0.0, std::bit_cast<double>(0x7ff8000000000123ULL + i), v / 3};
  if (i % 4 != 1) r.metrics["types"] = {10 * v, 9 * v};  // padded with NaN; absent for some runs
  r.trajectories["weights"] = {{2}, {0.5, 0.5, v, 1 - v, 0.25, 0.75}};  // 3 of 4 generations
  if (i % 2 == 0) r.trajectories["means"] = {{1, 2}, {v, -v, 2 * v, -2 * v}};  // smaller shape
  r.events = {{1, "variance_floor", "run " + std::to_string(i) + " variant " + std::to_string(variant)}};
  if (i % 3 == 0) r.events.push_back({-1, "em_not_converged", "run-level " + std::to_string(i)});
  return r;
}

void write_file(const std::string& path, const FileAttributes& a, const std::vector<RunResult>& runs) {
  ResultWriter w(path, a, layout());
  for (const auto& r : runs) w.write(r);
  w.close();
}

// The stored row of `run` in `f` (row `row`) equals what the writer stores for `run`: every column,
// the config, the metrics NaN-padded, bit for bit.
void check_row(const ResultsFile& f, std::size_t row, const RunResult& run) {
  CAPTURE(row);
  CAPTURE(run.run_index);
  REQUIRE(row < f.runs.size());
  const RunRow& r = f.runs[row];
  CHECK(r.run_index == run.run_index);
  CHECK(r.run_key == run.run_key);
  CHECK(r.replicate == run.replicate);
  CHECK(r.seed == run.seed);
  CHECK(r.status == to_string(run.status));
  CHECK(bits(r.wall_seconds) == bits(run.wall_seconds));
  CHECK(r.params == run.params);
  CHECK(f.runs_config.at(row) == run.config_toml);
  for (const auto& m : layout().metrics) {
    std::vector<double> expected(layout().generations, kNaN);
    if (const auto it = run.metrics.find(m.name); it != run.metrics.end()) {
      std::copy(it->second.begin(), it->second.end(), expected.begin());
    }
    const auto& got = f.metrics.at(m.name).at(row);
    REQUIRE(got.size() == expected.size());
    for (std::size_t g = 0; g < got.size(); ++g) {
      CAPTURE(m.name);
      CAPTURE(g);
      CHECK(bits(got[g]) == bits(expected[g]));
    }
  }
}

// The events of run `run_index` in `f`, in order.
std::vector<Event> events_of(const ResultsFile& f, std::uint64_t run_index) {
  std::vector<Event> out;
  for (const auto& [i, e] : f.events) {
    if (i == run_index) out.push_back(e);
  }
  return out;
}

bool same_events(const std::vector<Event>& a, const std::vector<Event>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].generation != b[i].generation || a[i].kind != b[i].kind || a[i].message != b[i].message) return false;
  }
  return true;
}

// Every value of a trajectory dataset, as bits.
std::vector<std::uint64_t> trajectory_bits(const std::string& path, const std::string& name) {
  const TrajectoryArray t = read_trajectory(path, name);
  std::vector<std::uint64_t> out;
  out.reserve(t.values.size());
  for (double v : t.values) out.push_back(bits(v));
  return out;
}

// Runs a child process that writes `before` runs, then stops `interrupted` between its two flushes
// (every dataset but /runs has it) and exits without closing the file, as a process killed there.
void write_interrupted(const std::string& path, const FileAttributes& a, const std::vector<RunResult>& before,
                       const RunResult& interrupted) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int code = 0;
    try {
      auto* w = new ResultWriter(path, a, layout());  // never closed
      for (const auto& r : before) w->write(r);
      detail::WriterAccess::stop_before_next_commit(*w);
      try {
        w->write(interrupted);
        code = 2;  // the hook did not fire
      } catch (const std::runtime_error& e) {
        if (std::strstr(e.what(), "test hook") == nullptr) code = 3;
      }
    } catch (...) {
      code = 1;
    }
    ::_exit(code);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
}

}  // namespace

TEST_SUITE("io/identity") {

TEST_CASE("identity attributes: experiment_digest, total_runs and shard are root attributes, shown by describe") {
  TempDir dir;
  const std::string path = file_in(dir, "a.h5");
  write_file(path, attrs("1/3"), {make_run(1), make_run(4)});
  const ResultsFile f = read_results(path);
  CHECK(f.string_attrs.at("experiment_digest") == kDigest);
  CHECK(f.string_attrs.at("shard") == "1/3");
  CHECK(f.total_runs == 8);
  const std::string text = describe(f);
  CAPTURE(text);
  CHECK(contains(text, "digest      0123456789abcdef (8 runs in the experiment)"));
  CHECK(contains(text, "shard       1/3"));
  CHECK(contains(text, "6 of the experiment's 8 runs are not in this file"));

  const std::string unsharded = file_in(dir, "b.h5");
  write_file(unsharded, attrs(""), {make_run(0)});
  CHECK(read_results(unsharded).string_attrs.at("shard").empty());
  CHECK_FALSE(contains(describe(read_results(unsharded)), "shard "));
}

TEST_CASE("identity attributes: a digest that is not 16 hex digits or a shard that is not i/N is invalid_argument") {
  TempDir dir;
  const std::string path = file_in(dir, "bad.h5");
  for (const char* digest : {"0123", "0123456789abcdeg", "0123456789abcdef0"}) {
    CAPTURE(digest);
    CHECK_THROWS_AS(ResultWriter(path, attrs("", digest), layout()), std::invalid_argument);
  }
  for (const char* shard : {"1", "3/3", "a/3", "/3", "1/", "-1/3", "1/3/4"}) {
    CAPTURE(shard);
    const std::string msg = message_of([&] { ResultWriter w(path, attrs(shard), layout()); });
    CHECK(contains(msg, "shard = \"" + std::string(shard) + "\""));
  }
  CHECK_FALSE(fs::exists(path));
  CHECK_NOTHROW(ResultWriter(path, attrs("2/3", "ABCDEF0123456789"), layout()));
}

TEST_CASE("write: a run_index already in the file is a logic_error and writes nothing") {
  TempDir dir;
  const std::string path = file_in(dir, "dup.h5");
  ResultWriter w(path, attrs(), layout());
  w.write(make_run(3));
  const std::string msg = message_of([&] { w.write(make_run(3, RunStatus::done, 1)); });
  CHECK(contains(msg, "run 3: this run is already in the file"));
  w.write(make_run(4));
  w.close();
  CHECK(read_results(path).runs.size() == 2);
}

TEST_CASE("done_run_indices: the done rows' run_index in file order") {
  TempDir dir;
  const std::string path = file_in(dir, "d.h5");
  write_file(path, attrs(), {make_run(5), make_run(2, RunStatus::failed), make_run(0), make_run(7, RunStatus::partial)});
  CHECK(done_run_indices(path) == std::vector<std::uint64_t>{5, 0});
  CHECK(contains(message_of([&] { done_run_indices(file_in(dir, "none.h5")); }), "does not exist"));
}

}  // TEST_SUITE

TEST_SUITE("io/resume") {

TEST_CASE("resume: partial and failed rows are dropped with their events; reruns and new runs append") {
  TempDir dir;
  const std::string path = file_in(dir, "r.h5");
  const RunResult r0 = make_run(0), r1_partial = make_run(1, RunStatus::partial), r2 = make_run(2),
                  r3_failed = make_run(3, RunStatus::failed);
  write_file(path, attrs(), {r0, r1_partial, r2, r3_failed});

  FileAttributes again = attrs();
  again.created_utc = "";  // a resumed file keeps its own attributes
  again.command_line = "collapse run exp.toml --resume";
  const RunResult r1 = make_run(1, RunStatus::done, 1), r3 = make_run(3, RunStatus::done, 1), r5 = make_run(5);
  {
    ResultWriter w(path, again, layout(), ResultWriter::Mode::resume);
    CHECK(w.done_runs() == std::vector<std::uint64_t>{0, 2});
    CHECK(w.runs_written() == 2);
    CHECK_FALSE(fs::exists(path + ".resume-tmp"));
    CHECK_THROWS_AS(w.write(make_run(2)), std::logic_error);  // already done
    w.write(r1);
    w.write(r5);
    w.write(r3);
    w.close();
  }

  const ResultsFile f = read_results(path);
  REQUIRE(f.runs.size() == 5);
  check_row(f, 0, r0);
  check_row(f, 1, r2);
  check_row(f, 2, r1);
  check_row(f, 3, r5);
  check_row(f, 4, r3);
  for (const auto& r : f.runs) CHECK(r.status == "done");
  CHECK(f.string_attrs.at("created_utc") == "2026-01-02T03:04:05Z");
  CHECK(f.string_attrs.at("command_line") == "collapse run exp.toml");
  CHECK(f.string_attrs.at("experiment_digest") == kDigest);
  CHECK(f.total_runs == 8);

  // Events: the dropped rows' are gone, the reruns' are there, in write order.
  CHECK(same_events(events_of(f, 0), r0.events));
  CHECK(same_events(events_of(f, 1), r1.events));
  CHECK(same_events(events_of(f, 3), r3.events));
  for (const auto& [i, e] : f.events) CHECK_FALSE(contains(e.message, "run 1 variant 0"));
  for (const auto& [i, e] : f.events) CHECK_FALSE(contains(e.message, "run 3 variant 0"));
  std::vector<std::uint64_t> order;
  for (const auto& [i, e] : f.events) {
    if (order.empty() || order.back() != i) order.push_back(i);
  }
  CHECK(order == std::vector<std::uint64_t>{0, 2, 1, 5, 3});

  // Trajectories follow their rows: equal to a file written directly in this order.
  const std::string direct = file_in(dir, "direct.h5");
  write_file(direct, attrs(), {r0, r2, r1, r5, r3});
  for (const char* name : {"weights", "means"}) {
    CAPTURE(name);
    CHECK(trajectory_bits(path, name) == trajectory_bits(direct, name));
  }
}

TEST_CASE("resume: a finished file keeps every run and its content; an empty file resumes to nothing") {
  TempDir dir;
  const std::string path = file_in(dir, "done.h5");
  const std::vector<RunResult> runs{make_run(0), make_run(1), make_run(2)};
  write_file(path, attrs(), runs);
  {
    ResultWriter w(path, attrs(), layout(), ResultWriter::Mode::resume);
    CHECK(w.done_runs() == std::vector<std::uint64_t>{0, 1, 2});
  }
  const ResultsFile f = read_results(path);
  REQUIRE(f.runs.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) check_row(f, i, runs[i]);
  CHECK(f.events.size() == 4);

  const std::string empty = file_in(dir, "empty.h5");
  write_file(empty, attrs(), {});
  ResultWriter w(empty, attrs(), layout(), ResultWriter::Mode::resume);
  CHECK(w.done_runs().empty());
  w.write(make_run(6));
  w.close();
  check_row(read_results(empty), 0, make_run(6));
}

TEST_CASE("resume refuses another experiment, shard or layout, and leaves the file's bytes unchanged") {
  TempDir dir;
  const std::string path = file_in(dir, "a.h5");
  write_file(path, attrs("0/2"), {make_run(0), make_run(2, RunStatus::partial)});
  const std::string before = read_bytes(path);
  auto resume_message_for = [&](const std::string& file, const FileAttributes& a) {
    return message_of([&] { ResultWriter w(file, a, layout(), ResultWriter::Mode::resume); });
  };
  auto resume_message = [&](const FileAttributes& a, const ResultLayout& l) {
    return message_of([&] { ResultWriter w(path, a, l, ResultWriter::Mode::resume); });
  };

  FileAttributes other = attrs("0/2", "fedcba9876543210");
  other.experiment = "[experiment]\nname = \"another\"\n";
  CHECK(resume_message(other, layout()) ==
        "cannot resume: '" + path +
            "' was written by another experiment (name 'resume-test', digest 0123456789abcdef) than this one "
            "(name 'another', digest fedcba9876543210)");

  std::string msg = resume_message(attrs("1/2"), layout());
  CHECK(msg == "cannot resume: '" + path + "' holds shard '0/2' of the experiment, but this is shard '1/2'");
  msg = resume_message(attrs(""), layout());
  CHECK(contains(msg, "but this is no shard (unsharded)"));

  FileAttributes more = attrs("0/2");
  more.total_runs = 9;
  CHECK(contains(resume_message(more, layout()), "records 8 runs in the experiment, but this one has 9"));

  ResultLayout l = layout();
  l.generations = 5;
  msg = resume_message(attrs("0/2"), l);
  CHECK(contains(msg, "cannot resume: '" + path + "' has another layout than this experiment"));
  CHECK(contains(msg, "generations: 4 in the file, 5 in this experiment"));
  l = layout();
  l.metrics[1].name = "tokens";
  l.trajectories[1].shape = {3, 2};
  l.params[2].type = ParamType::float64;
  msg = resume_message(attrs("0/2"), l);
  CHECK(contains(msg, "metric 'types' is in the file but not in this experiment"));
  CHECK(contains(msg, "metric 'tokens' is in this experiment but not in the file"));
  CHECK(contains(msg, "trajectory 'means' has shape (2, 2) per generation in the file, (3, 2) in this experiment"));
  CHECK(contains(msg, "param column 'loop.samples' is int64 in the file, float64 in this experiment"));
  l = layout();
  std::swap(l.metrics[0], l.metrics[1]);  // order and descriptions do not matter
  l.metrics[0].description = "changed";
  CHECK(resume_message(attrs("0/2"), l) == "(no exception)");  // repairs: drops the partial run
  const std::string repaired = read_bytes(path);
  CHECK(read_results(path).runs.size() == 1);

  // Refusals leave the file as it was, byte for byte.
  write_bytes(path, before);
  for (const auto& a : {other, attrs("1/2"), more}) {
    resume_message(a, layout());
    CHECK(read_bytes(path) == before);
  }
  CHECK(repaired != before);

  FileAttributes no_digest = attrs("0/2", "");
  CHECK_THROWS_AS(ResultWriter(path, no_digest, layout(), ResultWriter::Mode::resume), std::invalid_argument);
  CHECK(read_bytes(path) == before);

  // A file without a digest (written before resumable sweeps) cannot be checked, so it is refused.
  const std::string old_file = file_in(dir, "old.h5");
  write_file(old_file, attrs("0/2", ""), {make_run(0)});
  const std::string old_bytes = read_bytes(old_file);
  CHECK(contains(resume_message_for(old_file, attrs("0/2")), "' records no experiment digest"));
  CHECK(read_bytes(old_file) == old_bytes);

  // Another schema_version.
  const std::string v2 = file_in(dir, "v2.h5");
  copy_with_schema_version(path, v2, 2);
  const std::string v2_bytes = read_bytes(v2);
  CHECK(resume_message_for(v2, attrs("0/2")) == "cannot resume: '" + v2 + "' has schema_version 2, but this build writes 1");
  CHECK(read_bytes(v2) == v2_bytes);
}

TEST_CASE("resume refuses a missing, non-HDF5 or truncated file: cannot be recovered, bytes unchanged") {
  TempDir dir;
  const std::string missing = file_in(dir, "missing.h5");
  CHECK(message_of([&] { ResultWriter w(missing, attrs(), layout(), ResultWriter::Mode::resume); }) ==
        "cannot resume: results file '" + missing + "' does not exist");
  CHECK_FALSE(fs::exists(missing));

  const std::string text = file_in(dir, "text.h5");
  write_bytes(text, "not HDF5\n");
  std::string msg = message_of([&] { ResultWriter w(text, attrs(), layout(), ResultWriter::Mode::resume); });
  CHECK(msg == "cannot resume: '" + text +
                   "' is not a readable results file (not an HDF5 file); it cannot be recovered — move it away and "
                   "rerun");
  CHECK(read_bytes(text) == "not HDF5\n");

  const std::string good = file_in(dir, "good.h5");
  std::vector<RunResult> runs;
  for (std::uint64_t i = 0; i < 8; ++i) runs.push_back(make_run(i));
  write_file(good, attrs(), runs);
  const std::string bytes = read_bytes(good);
  const std::string cut = file_in(dir, "cut.h5");
  const std::string half = bytes.substr(0, bytes.size() / 2);
  write_bytes(cut, half);
  msg = message_of([&] { ResultWriter w(cut, attrs(), layout(), ResultWriter::Mode::resume); });
  CAPTURE(msg);
  CHECK(msg.rfind("cannot resume: '" + cut + "' is not a readable results file (", 0) == 0);
  CHECK(contains(msg, "); it cannot be recovered — move it away and rerun"));
  CHECK(read_bytes(cut) == half);
  CHECK_FALSE(fs::exists(cut + ".resume-tmp"));
}

TEST_CASE("resume refuses a file that another process is writing (file lock)") {
  TempDir dir;
  const std::string path = file_in(dir, "busy.h5");
  int ready[2], go[2];
  REQUIRE(::pipe(ready) == 0);
  REQUIRE(::pipe(go) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int code = 0;
    try {
      ResultWriter w(path, attrs(), layout());
      w.write(make_run(0));
      char byte = 'x';
      if (::write(ready[1], &byte, 1) != 1) code = 2;
      if (::read(go[0], &byte, 1) != 1) code = 3;
      w.close();
    } catch (...) {
      code = 1;
    }
    ::_exit(code);
  }
  char byte = 0;
  REQUIRE(::read(ready[0], &byte, 1) == 1);
  const std::string msg = message_of([&] { ResultWriter w(path, attrs(), layout(), ResultWriter::Mode::resume); });
  REQUIRE(::write(go[1], &byte, 1) == 1);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  for (int fd : {ready[0], ready[1], go[0], go[1]}) ::close(fd);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CAPTURE(msg);
  CHECK(contains(msg, "cannot resume: '" + path + "' is locked by another process"));
  CHECK(read_results(path).runs.size() == 1);  // the writer finished normally
}

TEST_CASE("repair: a write interrupted between its flushes is cut back, and the next run takes its rows") {
  TempDir dir;
  const std::string path = file_in(dir, "killed.h5");
  const RunResult r0 = make_run(0), r1 = make_run(1), lost = make_run(2, RunStatus::done, 7);
  write_interrupted(path, attrs(), {r0, r1}, lost);

  // The interrupted run is not in the file, though its rows are on disk after the committed ones.
  ResultsFile f = read_results(path);
  REQUIRE(f.runs.size() == 2);
  CHECK(events_of(f, 2).empty());

  const RunResult r2 = make_run(2), r4 = make_run(4);
  {
    ResultWriter w(path, attrs(), layout(), ResultWriter::Mode::resume);
    CHECK(w.done_runs() == std::vector<std::uint64_t>{0, 1});
    w.write(r2);
    w.write(r4);
  }
  f = read_results(path);
  REQUIRE(f.runs.size() == 4);
  check_row(f, 0, r0);
  check_row(f, 1, r1);
  check_row(f, 2, r2);  // not the interrupted run's values: the rows were cut back before appending
  check_row(f, 3, r4);
  CHECK(same_events(events_of(f, 2), r2.events));
  CHECK(same_events(events_of(f, 4), r4.events));
  for (const auto& [i, e] : f.events) CHECK_FALSE(contains(e.message, "variant 7"));
  const std::string direct = file_in(dir, "direct.h5");
  write_file(direct, attrs(), {r0, r1, r2, r4});
  CHECK(trajectory_bits(path, "means") == trajectory_bits(direct, "means"));
  CHECK(trajectory_bits(path, "weights") == trajectory_bits(direct, "weights"));
}

TEST_CASE("repair: an interrupted write and a partial row together (the rewrite drops both)") {
  TempDir dir;
  const std::string path = file_in(dir, "both.h5");
  const RunResult r0 = make_run(0), r1 = make_run(1, RunStatus::partial), lost = make_run(3, RunStatus::done, 7);
  write_interrupted(path, attrs(), {r0, r1}, lost);
  {
    ResultWriter w(path, attrs(), layout(), ResultWriter::Mode::resume);
    CHECK(w.done_runs() == std::vector<std::uint64_t>{0});
    w.write(make_run(3));
  }
  const ResultsFile f = read_results(path);
  REQUIRE(f.runs.size() == 2);
  check_row(f, 0, r0);
  check_row(f, 1, make_run(3));
  CHECK(f.events.size() == r0.events.size() + make_run(3).events.size());
}

}  // TEST_SUITE

TEST_SUITE("io/merge") {

TEST_CASE("merge: three interleaved shards equal the unsharded file, bit for bit") {
  TempDir dir;
  std::vector<RunResult> runs;
  for (std::uint64_t i = 0; i < 8; ++i) runs.push_back(make_run(i, i == 5 ? RunStatus::failed : RunStatus::done));
  const std::string reference = file_in(dir, "all.h5");
  write_file(reference, attrs(""), runs);
  std::vector<std::string> shards;
  for (std::uint64_t s = 0; s < 3; ++s) {
    std::vector<RunResult> mine;
    for (std::uint64_t i = s; i < 8; i += 3) mine.push_back(runs[i]);
    shards.push_back(file_in(dir, "s" + std::to_string(s) + ".h5"));
    write_file(shards.back(), attrs(std::to_string(s) + "/3"), mine);
  }
  const std::string out = file_in(dir, "merged.h5");
  // Shards in any order.
  const MergeSummary summary = merge_results(out, {shards[2], shards[0], shards[1]}, "collapse merge merged.h5 ...");
  CHECK(summary.runs_written == 8);
  CHECK(summary.total_runs == 8);
  CHECK(summary.missing == 0);
  CHECK(summary.first_missing.empty());
  CHECK(summary.by_status == std::map<std::string, std::uint64_t>{{"done", 7}, {"failed", 1}});
  CHECK(summary.warnings.empty());
  CHECK(summary.message == "8 runs (7 done, 1 failed); all 8 runs of the experiment are present");
  CHECK_FALSE(fs::exists(out + ".merge-tmp"));

  const ResultsFile a = read_results(reference), b = read_results(out);
  for (const auto& [key, value] : a.string_attrs) {
    CAPTURE(key);
    if (key == "created_utc" || key == "command_line") continue;
    CHECK(b.string_attrs.at(key) == value);
  }
  CHECK(a.string_attrs.size() == b.string_attrs.size());
  CHECK(b.string_attrs.at("command_line") == "collapse merge merged.h5 ...");
  CHECK(b.string_attrs.at("shard").empty());
  CHECK(b.string_attrs.at("created_utc") != "2026-01-02T03:04:05Z");
  CHECK(b.total_runs == 8);
  REQUIRE(b.runs.size() == 8);
  for (std::size_t i = 0; i < 8; ++i) check_row(b, i, runs[i]);
  CHECK(b.runs_config == a.runs_config);
  CHECK(b.param_columns.size() == a.param_columns.size());
  for (std::size_t i = 0; i < a.param_columns.size(); ++i) {
    CHECK(b.param_columns[i].name == a.param_columns[i].name);
    CHECK(b.param_columns[i].type == a.param_columns[i].type);
  }
  REQUIRE(b.metric_info.size() == a.metric_info.size());
  for (std::size_t i = 0; i < a.metric_info.size(); ++i) {
    CHECK(b.metric_info[i].name == a.metric_info[i].name);
    CHECK(b.metric_info[i].units == a.metric_info[i].units);
    CHECK(b.metric_info[i].description == a.metric_info[i].description);
  }
  for (const auto& [name, rows] : a.metrics) {
    for (std::size_t r = 0; r < rows.size(); ++r) {
      for (std::size_t g = 0; g < rows[r].size(); ++g) CHECK(bits(b.metrics.at(name)[r][g]) == bits(rows[r][g]));
    }
  }
  REQUIRE(b.trajectory_info.size() == a.trajectory_info.size());
  for (std::size_t i = 0; i < a.trajectory_info.size(); ++i) {
    const auto& t = a.trajectory_info[i];
    CHECK(b.trajectory_info[i].name == t.name);
    CHECK(b.trajectory_info[i].shape == t.shape);
    CHECK(b.trajectory_info[i].units == t.units);
    CHECK(trajectory_bits(out, t.name) == trajectory_bits(reference, t.name));
  }
  REQUIRE(b.events.size() == a.events.size());
  for (std::size_t i = 0; i < a.events.size(); ++i) {
    CHECK(b.events[i].first == a.events[i].first);
    CHECK(same_events({b.events[i].second}, {a.events[i].second}));
  }
}

TEST_CASE("merge: missing runs are counted and the first listed; an interrupted shard's extra rows are ignored") {
  TempDir dir;
  const std::string s0 = file_in(dir, "s0.h5"), s2 = file_in(dir, "s2.h5"), out = file_in(dir, "out.h5");
  write_file(s0, attrs("0/3"), {make_run(0), make_run(3), make_run(6, RunStatus::partial)});
  write_interrupted(s2, attrs("2/3"), {make_run(2)}, make_run(5, RunStatus::done, 7));
  const MergeSummary summary = merge_results(out, {s0, s2}, "merge");
  CHECK(summary.runs_written == 4);
  CHECK(summary.missing == 4);
  CHECK(summary.first_missing == std::vector<std::uint64_t>{1, 4, 5, 7});
  CHECK(summary.by_status == std::map<std::string, std::uint64_t>{{"done", 3}, {"partial", 1}});
  CHECK(summary.message == "4 runs (3 done, 1 partial); 4 of the experiment's 8 runs are missing: 1, 4, 5, 7");
  const ResultsFile f = read_results(out);
  REQUIRE(f.runs.size() == 4);
  check_row(f, 0, make_run(0));
  check_row(f, 1, make_run(2));
  check_row(f, 2, make_run(3));
  check_row(f, 3, make_run(6, RunStatus::partial));
  for (const auto& [i, e] : f.events) CHECK_FALSE(contains(e.message, "variant 7"));
}

TEST_CASE("merge refuses: another experiment, another layout, a run in two shards, a file twice, output = shard") {
  TempDir dir;
  const std::string a = file_in(dir, "a.h5"), b = file_in(dir, "b.h5"), c = file_in(dir, "c.h5"),
                    d = file_in(dir, "d.h5"), out = file_in(dir, "out.h5");
  write_file(a, attrs("0/2"), {make_run(0), make_run(2)});
  write_file(b, attrs("1/2"), {make_run(1), make_run(3)});
  FileAttributes other = attrs("1/2", "fedcba9876543210");
  other.experiment = "[experiment]\nname = \"another\"\n";
  write_file(c, other, {make_run(3)});
  auto merge_message = [&](const std::vector<std::string>& shards, const std::string& to) {
    try {
      merge_results(to, shards, "merge");
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    } catch (const std::exception& e) {
      return "(not invalid_argument) " + std::string(e.what());
    }
    return std::string("(no exception)");
  };

  CHECK(merge_message({a, c}, out) == "cannot merge: '" + c +
                                          "' is from another experiment (name 'another', digest fedcba9876543210) "
                                          "than '" + a + "' (name 'resume-test', digest 0123456789abcdef)");
  write_file(d, attrs("1/2"), {make_run(0)});
  CHECK(merge_message({a, b, d}, out) == "cannot merge: run 0 is in both '" + a + "' and '" + d + "'");
  CHECK(merge_message({a, a}, out) == "cannot merge: '" + a + "' and '" + a + "' are the same file");
  CHECK(contains(merge_message({a, b}, a), "cannot merge into '" + a + "': it is one of the shards"));
  CHECK(contains(merge_message({}, out), "no shard files given"));

  {
    ResultLayout l = layout();
    l.trajectories[0].shape = {3};
    ResultWriter w(d, attrs("1/2"), l);
    w.write(make_run(1));
  }
  const std::string msg = merge_message({a, d}, out);
  CHECK(contains(msg, "cannot merge: '" + d + "' has another layout than '" + a + "'"));
  CHECK(contains(msg, "trajectory 'weights' has shape (2) per generation in '" + a + "', (3) in '" + d + "'"));

  FileAttributes more = attrs("1/2");
  more.total_runs = 9;
  write_file(d, more, {make_run(1)});
  CHECK(contains(merge_message({a, d}, out), "records 9 runs in the experiment"));

  const std::string v2 = file_in(dir, "v2.h5");
  copy_with_schema_version(b, v2, 2);
  CHECK(merge_message({a, v2}, out) == "cannot merge: '" + a + "' has schema_version 1, but '" + v2 + "' has 2");

  CHECK_FALSE(fs::exists(out));  // nothing written by a refused merge
  CHECK(contains(message_of([&] { merge_results(out, {a, file_in(dir, "nope.h5")}, "merge"); }), "does not exist"));
  CHECK_FALSE(fs::exists(out));
}

TEST_CASE("merge: a complete merge replaces an existing output file; one shard alone is fine") {
  TempDir dir;
  const std::string a = file_in(dir, "a.h5"), out = file_in(dir, "out.h5");
  write_file(a, attrs(""), {make_run(1), make_run(0)});
  write_bytes(out, "old contents");
  const MergeSummary s = merge_results(out, {a}, "merge");
  CHECK(s.runs_written == 2);
  const ResultsFile f = read_results(out);
  REQUIRE(f.runs.size() == 2);
  CHECK(f.runs[0].run_index == 0);  // sorted
  CHECK(f.runs[1].run_index == 1);
}

}  // TEST_SUITE

TEST_SUITE("io/resume/slow") {

TEST_CASE("timing: resuming a finished 1000-run file (21 generations, 13 metrics) takes well under 1 s") {
  TempDir dir;
  const std::string path = file_in(dir, "big.h5");
  ResultLayout l;
  l.generations = 21;
  l.params = {{"loop.anchoring", ParamType::string}, {"loop.samples", ParamType::int64}};
  for (int m = 0; m < 13; ++m) l.metrics.push_back({"metric_" + std::to_string(m), "1", "A metric."});
  l.trajectories = {{"gmm_weights", "1", "Weights.", {2}}, {"gmm_means", "1", "Means.", {2, 1}}};
  auto run = [&](std::uint64_t i, RunStatus status) {
    RunResult r;
    r.run_index = i;
    r.run_key = i * 7919;
    r.seed = i;
    r.status = status;
    r.config_toml = std::string(600, 'x') + std::to_string(i);
    r.params = {{"loop.anchoring", std::string(i % 2 ? "mix" : "replace")}, {"loop.samples", std::int64_t{1000}}};
    for (const auto& m : l.metrics) {
      std::vector<double> v(21);
      for (std::size_t g = 0; g < v.size(); ++g) v[g] = std::sin(static_cast<double>(i * 31 + g));
      r.metrics[m.name] = v;
    }
    r.trajectories["gmm_weights"] = {{2}, std::vector<double>(42, 0.5)};
    r.trajectories["gmm_means"] = {{2, 1}, std::vector<double>(42, 1.5)};
    r.events = {{3, "em_not_converged", "100 iterations"}};
    return r;
  };
  FileAttributes a = attrs();
  a.total_runs = 1000;
  using Clock = std::chrono::steady_clock;
  auto t0 = Clock::now();
  {
    ResultWriter w(path, a, l);
    for (std::uint64_t i = 0; i < 1000; ++i) w.write(run(i, i == 500 ? RunStatus::failed : RunStatus::done));
  }
  const double write_s = std::chrono::duration<double>(Clock::now() - t0).count();

  // First resume: one failed row, so the file is rewritten without it.
  t0 = Clock::now();
  {
    ResultWriter w(path, a, l, ResultWriter::Mode::resume);
    CHECK(w.done_runs().size() == 999);
  }
  const double rewrite_s = std::chrono::duration<double>(Clock::now() - t0).count();
  {
    ResultWriter w(path, a, l, ResultWriter::Mode::resume);
    w.write(run(500, RunStatus::done));
  }
  // Now finished: resuming only reads.
  t0 = Clock::now();
  {
    ResultWriter w(path, a, l, ResultWriter::Mode::resume);
    CHECK(w.done_runs().size() == 1000);
  }
  const double resume_s = std::chrono::duration<double>(Clock::now() - t0).count();
  t0 = Clock::now();
  const MergeSummary s = merge_results(file_in(dir, "merged.h5"), {path}, "merge");
  const double merge_s = std::chrono::duration<double>(Clock::now() - t0).count();
  CHECK(s.runs_written == 1000);
  MESSAGE("1000 runs x 21 generations x 13 metrics (" << fs::file_size(path) / 1000 << " kB): write " << write_s
                                                       << " s; resume with 1 failed row (rewrite) " << rewrite_s
                                                       << " s; resume of the finished file " << resume_s
                                                       << " s; merge " << merge_s << " s");
  CHECK(resume_s < 0.5);
}

TEST_CASE("crash safety: SIGKILL at random moments of resumed write loops; every resume keeps every committed run") {
  // Each iteration: a child resumes the file (creates it the first time) and writes the runs it lacks,
  // in order, as fast as it can; the parent kills it 0-150 ms in. The parent then checks that every
  // committed run reads back exactly, and the next iteration resumes from there: so each resume repairs
  // a file killed at a random point, and each kill may land in a resume's own repair.
  TempDir dir;
  const std::string path = file_in(dir, "stress.h5");
  ResultLayout l = layout();
  l.generations = 100;  // rows of 800 bytes: compressed metric chunks
  // Even iterations write every fifth run as partial (the next resume rewrites the file without them),
  // odd ones write all runs done (the next resume only cuts back an interrupted write).
  auto run = [](std::uint64_t i, bool with_partial) {
    RunResult r = make_run(i % 8);
    r.run_index = i;
    r.config_toml = "run = " + std::to_string(i) + "\n";
    std::vector<double> kl(100);
    for (std::size_t g = 0; g < kl.size(); ++g) kl[g] = std::sin(static_cast<double>(i * 131 + g));
    r.metrics["kl"] = kl;
    r.status = with_partial && i % 5 == 4 ? RunStatus::partial : RunStatus::done;
    r.events = {{1, "variance_floor", "run " + std::to_string(i)}};
    return r;
  };
  FileAttributes a = attrs();
  a.total_runs = 1u << 30;
  std::uint64_t seed = 99;
  for (int iteration = 0; iteration < 12; ++iteration) {
    CAPTURE(iteration);
    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(ready[0]);
      try {
        auto* w = fs::exists(path) ? new ResultWriter(path, a, l, ResultWriter::Mode::resume) : new ResultWriter(path, a, l);
        char byte = 'x';
        if (::write(ready[1], &byte, 1) != 1) ::_exit(2);
        const auto& done = w->done_runs();
        const std::set<std::uint64_t> have(done.begin(), done.end());
        for (std::uint64_t i = 0;; ++i) {
          if (!have.contains(i)) w->write(run(i, iteration % 2 == 0));
        }
      } catch (...) {
        ::_exit(1);
      }
    }
    ::close(ready[1]);
    char byte = 0;
    const bool started = ::read(ready[0], &byte, 1) == 1;
    ::close(ready[0]);
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    if (started) ::usleep(static_cast<useconds_t>((seed >> 33) % 150000));
    ::kill(pid, SIGKILL);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE_MESSAGE(started, "the child failed to open the file: exit " << WEXITSTATUS(status));

    ResultsFile f;
    REQUIRE_NOTHROW(f = read_results(path));
    MESSAGE("iteration " << iteration << ": " << f.runs.size() << " runs committed");
    std::set<std::uint64_t> seen;
    for (std::size_t row = 0; row < f.runs.size(); ++row) {
      const std::uint64_t i = f.runs[row].run_index;
      const RunResult expected = run(i, f.runs[row].status == "partial");
      REQUIRE(seen.insert(i).second);
      REQUIRE(f.runs_config[row] == expected.config_toml);
      REQUIRE(f.runs[row].status == to_string(expected.status));
      REQUIRE(f.metrics.at("kl")[row] == expected.metrics.at("kl"));
      REQUIRE(same_events(events_of(f, f.runs[row].run_index), expected.events));
    }
    REQUIRE(f.events.size() == f.runs.size());
  }
}

}  // TEST_SUITE
