#pragma once
// Reading an existing results file row by row: the part of the reader that resume (result_writer.cpp),
// merge (result_merge.cpp) and read_results (result_info.cpp) share. Private to the io module, like
// h5.hpp: nothing outside src/io includes this header.
//
// "Committed" below means: counted by /runs. A write() adds its /runs row last, so /runs is the commit
// record; other row-aligned datasets may hold one more row (a write killed between its two flushes),
// and /events may hold that run's events (or unreadable rows) after the committed ones.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/run_result.hpp"
#include "io/h5.hpp"
#include "io/result_info.hpp"
#include "io/result_writer.hpp"
#include "io/writer_access.hpp"

namespace collapse::io::detail {

/// Opens `path` read-only and checks what every reader checks: the file exists, is HDF5, has
/// schema_version == kSchemaVersion and a /runs table.
/// @param lock  take HDF5's (shared) file lock, so that a file a live writer holds is refused; readers
///              that only inspect (read_results) pass false.
/// @throws std::runtime_error  "results file '<path>' does not exist" / "... is not an HDF5 file" /
///         "... has schema_version 2, but this build reads 1" / "cannot open results file '<path>': ...".
h5::File open_results(const std::string& path, bool lock = false);

/// `name = "..."` of the [experiment] table in an experiment's TOML text, or "" if there is none.
std::string experiment_name(const std::string& toml);

/// "RunStatus" of a /runs status string. @throws std::runtime_error for anything but done/failed/partial.
RunStatus parse_status(const std::string& status);

/// One results file opened for reading: its metadata is read at construction, the values of a run on
/// demand (read_run). Not thread-safe (nor is HDF5).
class ResultsSource {
 public:
  /// Reads root attributes, the layout, every /runs row, the length of every row-aligned dataset and
  /// the number of committed /events rows. Cost: O(runs + events) small reads (the /events run_index
  /// column only); no metric or trajectory values are read.
  /// @param file  an open file that passed open_results().
  /// @throws std::runtime_error (without the path; callers add it) if a dataset is missing, malformed
  ///         or unreadable, or a row-aligned dataset is shorter than /runs.
  ResultsSource(std::string path, h5::File file);

  const std::string& path() const noexcept { return path_; }
  hid_t file() const noexcept { return file_.get(); }
  /// Closes the file (the metadata read so far stays available; read_run() no longer works).
  void close();

  /// Root string attributes (software_version, ..., experiment_digest, shard).
  const std::map<std::string, std::string>& string_attrs() const noexcept { return string_attrs_; }
  /// The string attribute `name`, or "" if absent.
  std::string attr(const std::string& name) const;
  /// Root attribute total_runs, 0 when absent (files written before it existed).
  std::uint64_t total_runs() const noexcept { return total_runs_; }
  /// The layout the file was created with: generations (from the first metric or trajectory; 0 if it
  /// has neither), param columns in /runs order, metrics and trajectories in creation order with their
  /// units, descriptions and per-generation shapes.
  const ResultLayout& layout() const noexcept { return layout_; }
  /// The committed /runs rows, in file order.
  const std::vector<RunRow>& runs() const noexcept { return runs_; }
  /// Row-aligned datasets (/runs_config, /metrics/*, /trajectories/*: full paths) with their lengths.
  const std::vector<std::pair<std::string, hsize_t>>& row_aligned_lengths() const noexcept { return lengths_; }
  /// Rows of /events, and how many leading ones are committed: events are appended in write order, so
  /// the committed ones are the longest prefix whose run_index is a /runs row (read chunk by chunk,
  /// stopping at the first unreadable chunk, which can only hold uncommitted rows).
  hsize_t event_rows() const noexcept { return event_rows_; }
  hsize_t committed_events() const noexcept { return committed_events_; }
  /// True when some dataset is longer than its committed part (a write was interrupted).
  bool has_uncommitted_rows() const noexcept;

  /// /runs_config of every committed row (empty strings if the file has no /runs_config).
  std::vector<std::string> read_configs();
  /// The committed events, in file order: (run_index, event). Read once, then cached.
  const std::vector<std::pair<std::uint64_t, Event>>& events();
  /// Row `row` of every dataset as a RunResult that ResultWriter::write() stores bit for bit: metrics as
  /// layout.generations values, trajectories at the file's (padded) shape, the run's committed events.
  /// RunResult::error is empty (the file does not store it). @throws std::runtime_error on a read error.
  RunResult read_run(std::size_t row);

 private:
  std::string path_;
  h5::File file_;
  std::map<std::string, std::string> string_attrs_;
  std::uint64_t total_runs_ = 0;
  ResultLayout layout_;
  std::vector<RunRow> runs_;
  std::vector<std::pair<std::string, hsize_t>> lengths_;
  hsize_t event_rows_ = 0, committed_events_ = 0;

  // Opened lazily by read_run().
  bool opened_ = false;
  h5::Dataset config_;
  h5::Datatype config_type_;
  std::vector<h5::Dataset> metrics_, trajectories_;
  std::optional<std::vector<std::pair<std::uint64_t, Event>>> events_;
  std::map<std::uint64_t, std::vector<std::size_t>> events_by_run_;  // run_index → indices into *events_
};

/// Root attributes of `source` as FileAttributes, so that a file rewritten from it keeps them all
/// (created_utc, command_line, experiment, provenance, identity).
FileAttributes attributes_of(const ResultsSource& source);

/// "" when `a` and `b` describe the same file layout; else the differences, "; "-separated, e.g.
/// "generations: 21 in 'a.h5', 11 in this experiment; metric 'kl' is in 'a.h5' but not in this
/// experiment". Metrics, trajectories and param columns are compared by name (order does not matter);
/// trajectory shapes and param types must be equal; units and descriptions are not compared.
std::string layout_difference(const ResultLayout& a, const std::string& a_name, const ResultLayout& b,
                              const std::string& b_name);

/// Writes `path` to disk (fsync) and renames it over `target`, then syncs the directory: `target` is
/// either the old file or the complete new one, whenever the process dies.
/// @throws std::runtime_error naming both paths.
void replace_file(const std::string& path, const std::string& target);

}  // namespace collapse::io::detail
