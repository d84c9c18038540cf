// Tests of the results file: write with ResultWriter, read back with read_results / read_trajectory.
#include <doctest/doctest.h>

#include "test_support.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "io/result_info.hpp"
#include "io/result_writer.hpp"

namespace fs = std::filesystem;
using namespace collapse;
using namespace collapse::io;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A fresh directory under the system temp dir, removed with its contents at scope exit.
struct TempDir {
  fs::path path;
  TempDir() {
    static std::atomic<int> counter{0};
    path = fs::temp_directory_path() /
           ("collapse_io_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

bool same(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no exception)";
}

ResultLayout test_layout() {
  ResultLayout layout;
  layout.generations = 5;
  layout.params = {{"loop.anchoring", ParamType::string},
                   {"loop.real_fraction", ParamType::float64},
                   {"loop.samples_per_generation", ParamType::int64},
                   {"loop.fresh", ParamType::boolean}};
  layout.metrics = {{"kl_divergence", "nats", "KL(truth || model), Monte Carlo estimate."},
                    {"distinct_types", "types", "Number of distinct types in the pool."},
                    {"never_measured", "1", "In the layout, absent from every run."}};
  layout.trajectories = {{"gmm_weights", "1", "Fitted mixture weights.", {3}},
                         {"gmm_means", "data units", "Fitted component means.", {3, 2}}};
  return layout;
}

FileAttributes test_attrs() {
  return {"2026-11-21T20:15:03Z", "collapse run exp.toml --set loop.anchoring=mix",
          "[experiment]\nname = \"unit-test\"\ngenerations = 4\n"};
}

// Three runs exercising padding: shorter metric vectors, smaller trajectory shapes, missing values.
std::vector<RunResult> test_runs() {
  std::vector<RunResult> runs(3);
  RunResult& a = runs[0];
  a.run_index = 0;
  a.run_key = 0xfedcba9876543210ULL;  // above 2^63: must survive as u64
  a.replicate = 0;
  a.seed = 18446744073709551615ULL;
  a.status = RunStatus::done;
  a.wall_seconds = 1.25;
  a.config_toml = "[loop]\nanchoring = \"replace\"\n# ünïcode\n";
  a.params = {{"loop.anchoring", std::string("replace")},
              {"loop.real_fraction", 0.1},
              {"loop.samples_per_generation", std::int64_t{-100}},
              {"loop.fresh", true}};
  a.metrics = {{"kl_divergence", {0.0, 0.5, 1.5, 2.5, 3.5}}, {"distinct_types", {10, 9, 8}}};
  // weights: shape {2} (layout {3}), 5 generations; means: shape {2, 1} (layout {3, 2}), 4 generations.
  a.trajectories["gmm_weights"] = {{2}, {0.5, 0.5, 0.6, 0.4, 0.7, 0.3, 0.8, 0.2, 0.9, 0.1}};
  a.trajectories["gmm_means"] = {{2, 1}, {1, 2, 3, 4, 5, 6, 7, 8}};
  a.events = {{2, "variance_floor", "component 1 hit the floor"}, {4, "em_not_converged", "200 iterations"}};

  RunResult& b = runs[1];
  b.run_index = 1;
  b.run_key = 42;
  b.replicate = 1;
  b.seed = 7;
  b.status = RunStatus::failed;
  b.wall_seconds = 0.5;
  b.config_toml = "[loop]\nanchoring = \"mix\"\n";
  b.params = {{"loop.anchoring", std::string("mix — ü")},
              {"loop.real_fraction", 0.25},
              {"loop.samples_per_generation", std::int64_t{1000}}};  // loop.fresh missing → false
  b.metrics = {{"kl_divergence", {0.25, kNaN}}};
  b.events = {{-1, "failed", "numerical error: singular covariance"}};
  b.error = "singular covariance";

  RunResult& c = runs[2];
  c.run_index = 7;
  c.run_key = 43;
  c.replicate = 2;
  c.seed = 8;
  c.status = RunStatus::partial;
  c.wall_seconds = 3.0;
  c.config_toml = "";
  c.params = {{"loop.anchoring", std::string("")},
              {"loop.real_fraction", std::int64_t{1}},  // int64 into a float64 column → 1.0
              {"loop.samples_per_generation", std::int64_t{0}},
              {"loop.fresh", false}};
  c.metrics = {{"kl_divergence", {}}, {"distinct_types", {1, 2, 3, 4, 5}}};
  c.trajectories["gmm_weights"] = {{3}, {0.2, 0.3, 0.5}};  // one generation
  return runs;
}

void write_file(const std::string& path, const std::vector<RunResult>& runs, bool close = true) {
  ResultWriter writer(path, test_attrs(), test_layout());
  for (const auto& r : runs) writer.write(r);
  if (close) writer.close();
}

// Returns offset of the int32 value of the root attribute "schema_version" in a file written by
// ResultWriter (attribute message version 1 in a version-1 object header: no checksums), or npos.
// Layout of the message body: version u8, reserved u8, name size u16, datatype size u16,
// dataspace size u16, then name, datatype and dataspace each padded to 8 bytes, then the data.
std::size_t schema_version_offset(const std::string& bytes) {
  const std::string name("schema_version\0", 15);
  const auto at = bytes.find(name);
  if (at == std::string::npos || at < 8) return std::string::npos;
  const auto* body = reinterpret_cast<const unsigned char*>(bytes.data() + at - 8);
  if (body[0] != 1) return std::string::npos;
  auto u16 = [&](int i) { return std::size_t(body[i]) | (std::size_t(body[i + 1]) << 8); };
  auto pad8 = [](std::size_t n) { return (n + 7) / 8 * 8; };
  const std::size_t data = at + pad8(u16(2)) + pad8(u16(4)) + pad8(u16(6));
  return data + 4 <= bytes.size() ? data : std::string::npos;
}

using collapse::testing::read_bytes;
using collapse::testing::write_bytes;

}  // namespace

TEST_SUITE("io/results") {

TEST_CASE("round trip: every value written is read back, NaN where padded") {
  TempDir dir;
  const std::string path = dir.file("results.h5");
  const auto runs = test_runs();
  write_file(path, runs);

  const ResultsFile f = read_results(path);
  CHECK(f.schema_version == 1);
  for (const char* key : {"software_version", "git_sha", "created_utc", "command_line", "experiment",
                          "boost_version", "hdf5_version"}) {
    CAPTURE(key);
    CHECK(f.string_attrs.contains(key));
  }
  CHECK(f.string_attrs.at("software_version") == software_version());
  CHECK(f.string_attrs.at("git_sha") == git_sha());
  CHECK(f.string_attrs.at("created_utc") == "2026-11-21T20:15:03Z");
  CHECK(f.string_attrs.at("command_line") == test_attrs().command_line);
  CHECK(f.string_attrs.at("experiment") == test_attrs().experiment);
  CHECK(f.string_attrs.at("hdf5_version").rfind("1.", 0) == 0);
  CHECK_FALSE(f.string_attrs.at("boost_version").empty());

  // /runs, including the param columns in layout order with their types.
  REQUIRE(f.param_columns.size() == 4);
  const auto layout = test_layout();
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(f.param_columns[i].name == layout.params[i].name);
    CHECK(f.param_columns[i].type == layout.params[i].type);
  }
  REQUIRE(f.runs.size() == 3);
  const char* statuses[] = {"done", "failed", "partial"};
  for (std::size_t i = 0; i < 3; ++i) {
    CAPTURE(i);
    CHECK(f.runs[i].run_index == runs[i].run_index);
    CHECK(f.runs[i].run_key == runs[i].run_key);
    CHECK(f.runs[i].replicate == runs[i].replicate);
    CHECK(f.runs[i].seed == runs[i].seed);
    CHECK(f.runs[i].status == statuses[i]);
    CHECK(f.runs[i].wall_seconds == runs[i].wall_seconds);
  }
  CHECK(f.runs[0].params.at("loop.anchoring") == ParamValue(std::string("replace")));
  CHECK(f.runs[0].params.at("loop.real_fraction") == ParamValue(0.1));
  CHECK(f.runs[0].params.at("loop.samples_per_generation") == ParamValue(std::int64_t{-100}));
  CHECK(f.runs[0].params.at("loop.fresh") == ParamValue(true));
  CHECK(f.runs[1].params.at("loop.anchoring") == ParamValue(std::string("mix — ü")));
  CHECK(f.runs[1].params.at("loop.real_fraction") == ParamValue(0.25));
  CHECK(f.runs[1].params.at("loop.samples_per_generation") == ParamValue(std::int64_t{1000}));
  CHECK(f.runs[1].params.at("loop.fresh") == ParamValue(false));
  CHECK(f.runs[2].params.at("loop.anchoring") == ParamValue(std::string("")));
  CHECK(f.runs[2].params.at("loop.real_fraction") == ParamValue(1.0));
  CHECK(f.runs[2].params.at("loop.fresh") == ParamValue(false));

  REQUIRE(f.runs_config.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) CHECK(f.runs_config[i] == runs[i].config_toml);

  // Metrics: layout order, attributes, values NaN-padded to 5 generations.
  REQUIRE(f.metric_info.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(f.metric_info[i].name == layout.metrics[i].name);
    CHECK(f.metric_info[i].units == layout.metrics[i].units);
    CHECK(f.metric_info[i].description == layout.metrics[i].description);
  }
  const std::vector<std::vector<double>> kl{{0.0, 0.5, 1.5, 2.5, 3.5},
                                           {0.25, kNaN, kNaN, kNaN, kNaN},
                                           {kNaN, kNaN, kNaN, kNaN, kNaN}};
  const std::vector<std::vector<double>> distinct{{10, 9, 8, kNaN, kNaN},
                                                 {kNaN, kNaN, kNaN, kNaN, kNaN},
                                                 {1, 2, 3, 4, 5}};
  for (const auto& [name, expected] : {std::pair{"kl_divergence", kl}, std::pair{"distinct_types", distinct}}) {
    const auto& got = f.metrics.at(name);
    REQUIRE(got.size() == 3);
    for (std::size_t r = 0; r < 3; ++r) {
      REQUIRE(got[r].size() == 5);
      for (std::size_t g = 0; g < 5; ++g) {
        CAPTURE(name);
        CAPTURE(r);
        CAPTURE(g);
        CHECK(same(got[r][g], expected[r][g]));
      }
    }
  }
  for (const auto& row : f.metrics.at("never_measured")) {
    for (double v : row) CHECK(std::isnan(v));
  }

  // Trajectories: infos, then the padded arrays.
  REQUIRE(f.trajectory_info.size() == 2);
  CHECK(f.trajectory_info[0].name == "gmm_weights");
  CHECK(f.trajectory_info[0].shape == std::vector<std::uint64_t>{3});
  CHECK(f.trajectory_info[0].units == "1");
  CHECK(f.trajectory_info[1].name == "gmm_means");
  CHECK(f.trajectory_info[1].shape == std::vector<std::uint64_t>{3, 2});
  CHECK(f.trajectory_info[1].description == "Fitted component means.");

  const TrajectoryArray w = read_trajectory(path, "gmm_weights");
  REQUIRE(w.dims == std::vector<std::uint64_t>{3, 5, 3});
  REQUIRE(w.values.size() == 45);
  auto wat = [&](std::size_t r, std::size_t g, std::size_t k) { return w.values[(r * 5 + g) * 3 + k]; };
  const auto& wa = runs[0].trajectories.at("gmm_weights").values;
  for (std::size_t g = 0; g < 5; ++g) {
    CHECK(wat(0, g, 0) == wa[g * 2 + 0]);
    CHECK(wat(0, g, 1) == wa[g * 2 + 1]);
    CHECK(std::isnan(wat(0, g, 2)));
    for (std::size_t k = 0; k < 3; ++k) CHECK(std::isnan(wat(1, g, k)));  // run without trajectories
  }
  CHECK(wat(2, 0, 0) == 0.2);
  CHECK(wat(2, 0, 1) == 0.3);
  CHECK(wat(2, 0, 2) == 0.5);
  for (std::size_t g = 1; g < 5; ++g) {
    for (std::size_t k = 0; k < 3; ++k) CHECK(std::isnan(wat(2, g, k)));
  }

  const TrajectoryArray m = read_trajectory(path, "gmm_means");
  REQUIRE(m.dims == std::vector<std::uint64_t>{3, 5, 3, 2});
  auto mat = [&](std::size_t r, std::size_t g, std::size_t k, std::size_t d) {
    return m.values[((r * 5 + g) * 3 + k) * 2 + d];
  };
  // Run 0: shape {2, 1}, 4 generations: value (g, k, 0) = 1 + 2g + k; everything else NaN.
  for (std::size_t g = 0; g < 5; ++g) {
    for (std::size_t k = 0; k < 3; ++k) {
      for (std::size_t d = 0; d < 2; ++d) {
        CAPTURE(g);
        CAPTURE(k);
        CAPTURE(d);
        if (g < 4 && k < 2 && d == 0) {
          CHECK(mat(0, g, k, d) == static_cast<double>(1 + 2 * g + k));
        } else {
          CHECK(std::isnan(mat(0, g, k, d)));
        }
        CHECK(std::isnan(mat(1, g, k, d)));
        CHECK(std::isnan(mat(2, g, k, d)));
      }
    }
  }

  // Events, in write order, with their run_index.
  REQUIRE(f.events.size() == 3);
  CHECK(f.events[0].first == 0);
  CHECK(f.events[0].second.generation == 2);
  CHECK(f.events[0].second.kind == "variance_floor");
  CHECK(f.events[0].second.message == "component 1 hit the floor");
  CHECK(f.events[1].first == 0);
  CHECK(f.events[1].second.generation == 4);
  CHECK(f.events[1].second.kind == "em_not_converged");
  CHECK(f.events[2].first == 1);
  CHECK(f.events[2].second.generation == -1);
  CHECK(f.events[2].second.message == "numerical error: singular covariance");
}

TEST_CASE("round trip: an empty file (no runs) reads back with its layout") {
  TempDir dir;
  const std::string path = dir.file("empty.h5");
  write_file(path, {});
  const ResultsFile f = read_results(path);
  CHECK(f.runs.empty());
  CHECK(f.runs_config.empty());
  CHECK(f.events.empty());
  CHECK(f.param_columns.size() == 4);
  CHECK(f.metric_info.size() == 3);
  CHECK(f.trajectory_info.size() == 2);
  CHECK(read_trajectory(path, "gmm_means").dims == std::vector<std::uint64_t>{0, 5, 3, 2});
}

TEST_CASE("write: a metric, trajectory or param that does not fit the layout is a logic_error") {
  TempDir dir;
  const std::string path = dir.file("bad.h5");
  ResultWriter writer(path, test_attrs(), test_layout());
  const RunResult good = test_runs()[0];

  RunResult r = good;
  r.metrics["not_in_layout"] = {1.0};
  CHECK_THROWS_AS(writer.write(r), std::logic_error);
  CHECK(message_of([&] { writer.write(r); }).find("'not_in_layout'") != std::string::npos);

  r = good;
  r.metrics["kl_divergence"].assign(6, 0.0);  // layout has 5 generations
  CHECK_THROWS_AS(writer.write(r), std::logic_error);

  r = good;
  r.trajectories["gmm_weights"] = {{4}, {1, 2, 3, 4}};  // shape {4} > {3}
  CHECK_THROWS_AS(writer.write(r), std::logic_error);
  r.trajectories["gmm_weights"] = {{2}, {1, 2, 3}};  // not a multiple of 2
  CHECK_THROWS_AS(writer.write(r), std::logic_error);
  r.trajectories["gmm_weights"] = {{3, 1}, {1, 2, 3}};  // wrong rank
  CHECK_THROWS_AS(writer.write(r), std::logic_error);
  r = good;
  r.trajectories["unknown"] = {{1}, {1}};
  CHECK_THROWS_AS(writer.write(r), std::logic_error);

  r = good;
  r.params["loop.samples_per_generation"] = 1.5;  // float into an int64 column
  CHECK_THROWS_AS(writer.write(r), std::logic_error);
  CHECK(message_of([&] { writer.write(r); }).find("'loop.samples_per_generation'") != std::string::npos);
  r = good;
  r.params["loop.unknown"] = std::int64_t{1};
  CHECK_THROWS_AS(writer.write(r), std::logic_error);

  // Rejected runs left nothing behind: the writer still works and the file has exactly one run.
  writer.write(good);
  CHECK(writer.runs_written() == 1);
  writer.close();
  CHECK_THROWS_AS(writer.write(good), std::logic_error);
  const ResultsFile f = read_results(path);
  CHECK(f.runs.size() == 1);
  CHECK(f.events.size() == good.events.size());
  CHECK(f.metrics.at("kl_divergence").size() == 1);
}

TEST_CASE("layout: duplicate or reserved column names are invalid_argument, and the file is not touched") {
  TempDir dir;
  const std::string path = dir.file("layout.h5");
  ResultLayout layout = test_layout();
  layout.params.push_back({"seed", ParamType::int64});
  CHECK_THROWS_AS(ResultWriter(path, test_attrs(), layout), std::invalid_argument);
  layout = test_layout();
  layout.metrics.push_back(layout.metrics.front());
  CHECK_THROWS_AS(ResultWriter(path, test_attrs(), layout), std::invalid_argument);
  layout = test_layout();
  layout.metrics.front().name = "a/b";
  CHECK_THROWS_AS(ResultWriter(path, test_attrs(), layout), std::invalid_argument);
  CHECK_FALSE(fs::exists(path));
}

TEST_CASE("create: an uncreatable file is a runtime_error naming the path") {
  TempDir dir;
  const std::string path = dir.file("no/such/dir/results.h5");
  CHECK_THROWS_AS(ResultWriter(path, test_attrs(), test_layout()), std::runtime_error);
  const std::string msg = message_of([&] { ResultWriter w(path, test_attrs(), test_layout()); });
  CHECK(msg.find("cannot create results file '" + path + "'") != std::string::npos);
  CHECK(msg.find("No such file or directory") != std::string::npos);
}

TEST_CASE("create: truncates an existing file") {
  TempDir dir;
  const std::string path = dir.file("results.h5");
  write_file(path, test_runs());
  write_file(path, {test_runs()[1]});
  const ResultsFile f = read_results(path);
  REQUIRE(f.runs.size() == 1);
  CHECK(f.runs[0].run_key == 42);
}

TEST_CASE("read: missing, non-HDF5 and wrong-schema files are runtime_errors naming the path") {
  TempDir dir;

  const std::string missing = dir.file("missing.h5");
  CHECK_THROWS_AS(read_results(missing), std::runtime_error);
  std::string msg = message_of([&] { read_results(missing); });
  CHECK(msg.find("'" + missing + "'") != std::string::npos);
  CHECK(msg.find("does not exist") != std::string::npos);

  const std::string text = dir.file("text.h5");
  write_bytes(text, "this is not an HDF5 file\n");
  CHECK_THROWS_AS(read_results(text), std::runtime_error);
  msg = message_of([&] { read_results(text); });
  CHECK(msg.find("'" + text + "'") != std::string::npos);
  CHECK(msg.find("not an HDF5 file") != std::string::npos);

  // schema_version 2: patch the attribute's int32 in a file we wrote (see schema_version_offset).
  const std::string v2 = dir.file("v2.h5");
  write_file(v2, test_runs());
  std::string bytes = read_bytes(v2);
  const std::size_t at = schema_version_offset(bytes);
  REQUIRE(at != std::string::npos);
  REQUIRE(bytes.substr(at, 4) == std::string("\x01\x00\x00\x00", 4));
  bytes[at] = 2;
  write_bytes(v2, bytes);
  CHECK_THROWS_AS(read_results(v2), std::runtime_error);
  msg = message_of([&] { read_results(v2); });
  CHECK(msg == "results file '" + v2 + "' has schema_version 2, but this build reads 1");

  // No schema_version at all: rename the attribute (same length) to something else.
  const std::string none = dir.file("none.h5");
  bytes = read_bytes(v2);
  const auto name_at = bytes.find("schema_version");
  REQUIRE(name_at != std::string::npos);
  bytes[name_at] = 'X';
  write_bytes(none, bytes);
  msg = message_of([&] { read_results(none); });
  CHECK(msg.find("'" + none + "'") != std::string::npos);
  CHECK(msg.find("no schema_version") != std::string::npos);

  CHECK(message_of([&] { read_trajectory(missing, "gmm_weights"); }).find("does not exist") != std::string::npos);
  const std::string good = dir.file("good.h5");
  write_file(good, test_runs());
  msg = message_of([&] { read_trajectory(good, "nope"); });
  CHECK(msg.find("no trajectory 'nope'") != std::string::npos);
}

TEST_CASE("crash safety: a process killed after two writes leaves a readable file with both runs") {
  TempDir dir;
  const std::string path = dir.file("killed.h5");
  const auto runs = test_runs();
  int ready[2], go[2];
  REQUIRE(::pipe(ready) == 0);
  REQUIRE(::pipe(go) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // Child: write two runs, tell the parent, wait for its go, then die without closing the file.
    int code = 0;
    try {
      auto* writer = new ResultWriter(path, test_attrs(), test_layout());  // never deleted, never closed
      writer->write(runs[0]);
      writer->write(runs[1]);
    } catch (...) {
      code = 1;
    }
    char byte = 'x';
    if (::write(ready[1], &byte, 1) != 1) code = 2;
    if (::read(go[0], &byte, 1) != 1) code = 3;
    ::_exit(code);
  }
  char byte = 0;
  REQUIRE(::read(ready[0], &byte, 1) == 1);

  // While the writer process is alive and holds the file open, the file is readable.
  const ResultsFile live = read_results(path);
  CHECK(live.runs.size() == 2);

  REQUIRE(::write(go[1], &byte, 1) == 1);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  for (int fd : {ready[0], ready[1], go[0], go[1]}) ::close(fd);

  const ResultsFile f = read_results(path);
  REQUIRE(f.runs.size() == 2);
  CHECK(f.runs[0].run_key == runs[0].run_key);
  CHECK(f.runs[1].status == "failed");
  CHECK(f.runs_config.size() == 2);
  CHECK(f.metrics.at("kl_divergence")[0][4] == 3.5);
  CHECK(f.events.size() == 3);
  CHECK(read_trajectory(path, "gmm_weights").dims == std::vector<std::uint64_t>{2, 5, 3});
}

TEST_CASE("describe: shows attributes, statuses, param columns, metrics with units, trajectories, events") {
  TempDir dir;
  const std::string path = dir.file("results.h5");
  write_file(path, test_runs());
  const std::string text = describe(read_results(path));
  CAPTURE(text);
  for (const char* s : {"unit-test", "collapse run exp.toml", "2026-11-21T20:15:03Z", "done", "failed",
                        "partial", "1 done, 1 failed, 1 partial", "loop.anchoring", "loop.real_fraction",
                        "loop.samples_per_generation", "loop.fresh", "replace", "kl_divergence", "nats",
                        "distinct_types", "types", "KL(truth || model)", "gmm_means", "(3, 2)",
                        "variance_floor", "em_not_converged"}) {
    CAPTURE(s);
    CHECK(text.find(s) != std::string::npos);
  }
  // Means over done runs only (run 0): kl at g=0 is 0 and at the last generation 3.5 (g=4).
  CHECK(text.find("3.5 (g=4)") != std::string::npos);
  CHECK(text.find("8 (g=2)") != std::string::npos);  // distinct_types: run 0 measured g ≤ 2
}

TEST_CASE("describe: more than 40 runs shows the first 20, '...' and the last 5") {
  TempDir dir;
  const std::string path = dir.file("many.h5");
  {
    ResultWriter writer(path, test_attrs(), test_layout());
    RunResult r = test_runs()[0];
    for (std::uint64_t i = 0; i < 45; ++i) {
      r.run_index = 1000 + i;
      writer.write(r);
    }
  }  // the destructor closes
  const ResultsFile f = read_results(path);
  REQUIRE(f.runs.size() == 45);
  const std::string text = describe(f);
  CAPTURE(text);
  CHECK(text.find("\n  1019 ") != std::string::npos);
  CHECK(text.find("\n  1020 ") == std::string::npos);
  CHECK(text.find("\n  1039 ") == std::string::npos);
  CHECK(text.find("\n  1040 ") != std::string::npos);
  CHECK(text.find("\n  1044 ") != std::string::npos);
  CHECK(text.find("\n  ...\n") != std::string::npos);
  CHECK(text.find("45 done") != std::string::npos);
}

}  // TEST_SUITE

TEST_SUITE("io/results/slow") {

TEST_CASE("crash safety: SIGKILL at random moments of a write loop leaves every committed run readable") {
  // The writer child writes runs as fast as it can; the parent kills it 0-150 ms after the file was
  // created, then reads back. Unlike the test above, the kill usually lands inside a write(). Each run's
  // values are a function of its index, so any corruption of committed rows shows up.
  TempDir dir;
  const std::string path = dir.file("stress.h5");
  ResultLayout layout = test_layout();
  layout.generations = 100;  // rows of 800 bytes: compressed metric chunks
  auto make_run = [](std::uint64_t i) {
    RunResult r;
    r.run_index = i;
    r.run_key = 1000 + i;
    r.status = RunStatus::done;
    r.config_toml = "run = " + std::to_string(i) + "\n";
    r.params = {{"loop.anchoring", std::string("replace")}, {"loop.real_fraction", 0.5},
                {"loop.samples_per_generation", static_cast<std::int64_t>(i)}, {"loop.fresh", true}};
    std::vector<double> kl(100);
    for (std::size_t g = 0; g < kl.size(); ++g) kl[g] = std::sin(static_cast<double>(i * 131 + g));
    r.metrics["kl_divergence"] = kl;
    std::vector<double> w(300);
    for (std::size_t k = 0; k < w.size(); ++k) w[k] = static_cast<double>(i) + static_cast<double>(k) / 1000;
    r.trajectories["gmm_weights"] = {{3}, w};
    if (i % 3 == 0) r.events = {{1, "variance_floor", "run " + std::to_string(i)}};
    return r;
  };
  std::uint64_t seed = 12345;
  for (int iteration = 0; iteration < 12; ++iteration) {
    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(ready[0]);
      try {
        auto* writer = new ResultWriter(path, test_attrs(), layout);
        char byte = 'x';
        if (::write(ready[1], &byte, 1) != 1) ::_exit(2);
        for (std::uint64_t i = 0;; ++i) writer->write(make_run(i));
      } catch (...) {
        ::_exit(1);
      }
    }
    ::close(ready[1]);
    char byte = 0;
    REQUIRE(::read(ready[0], &byte, 1) == 1);
    ::close(ready[0]);
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    ::usleep(static_cast<useconds_t>((seed >> 33) % 150000));
    ::kill(pid, SIGKILL);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFSIGNALED(status));

    CAPTURE(iteration);
    ResultsFile f;
    REQUIRE_NOTHROW(f = read_results(path));
    const std::size_t n = f.runs.size();
    MESSAGE("killed after " << n << " runs");
    REQUIRE(f.runs_config.size() == n);
    for (std::size_t i = 0; i < n; ++i) {
      const RunResult expected = make_run(i);
      REQUIRE(f.runs[i].run_index == i);
      REQUIRE(f.runs[i].params.at("loop.samples_per_generation") == ParamValue(static_cast<std::int64_t>(i)));
      REQUIRE(f.runs_config[i] == expected.config_toml);
      REQUIRE(f.metrics.at("kl_divergence")[i] == expected.metrics.at("kl_divergence"));
    }
    TrajectoryArray w;
    REQUIRE_NOTHROW(w = read_trajectory(path, "gmm_weights"));
    for (std::size_t i = 0; i < n; ++i) {
      const RunResult run = make_run(i);
      const auto& expected = run.trajectories.at("gmm_weights").values;
      for (std::size_t k = 0; k < expected.size(); ++k) {
        if (!(w.values[i * 300 + k] == expected[k])) {
          FAIL("trajectory of run " << i << " differs at " << k << ": " << w.values[i * 300 + k] << " vs "
                                    << expected[k]);
        }
      }
    }
    std::size_t committed_events = 0;
    for (const auto& [run_index, e] : f.events) committed_events += run_index < n ? 1 : 0;
    CHECK(committed_events == (n + 2) / 3);
  }
}

}  // TEST_SUITE
