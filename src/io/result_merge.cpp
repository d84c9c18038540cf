#include "io/result_merge.hpp"

#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>

#include "io/h5.hpp"
#include "io/result_source.hpp"
#include "io/result_writer.hpp"

namespace collapse::io {

namespace {

std::string squote(const std::string& path) { return "'" + path + "'"; }

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  const bool same = std::filesystem::equivalent(a, b, ec);
  return !ec && same;
}

// schema_version of `path`, or nullopt if it cannot be read (open_results() then says why).
std::optional<std::int64_t> peek_schema_version(const std::string& path) {
  h5::silence_error_printing();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec) || H5Fis_hdf5(path.c_str()) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return std::nullopt;
  }
  h5::PropList fapl(H5Pcreate(H5P_FILE_ACCESS));
  if (!fapl) return std::nullopt;
  H5Pset_file_locking(fapl.get(), false, true);
  h5::File file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()));
  if (!file) {
    H5Eclear2(H5E_DEFAULT);
    return std::nullopt;
  }
  try {
    return h5::read_int_attr(file.get(), "schema_version");
  } catch (const std::runtime_error&) {
    return std::nullopt;
  }
}

std::string name_and_digest(const detail::ResultsSource& s) {
  std::string name = detail::experiment_name(s.attr("experiment"));
  const std::string digest = s.attr("experiment_digest");
  return "name '" + (name.empty() ? std::string("(none)") : name) + "', digest " +
         (digest.empty() ? std::string("(none)") : digest);
}

std::string join_indices(const std::vector<std::uint64_t>& v, std::uint64_t total) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  if (total > v.size()) s += ", ...";
  return s;
}

}  // namespace

MergeSummary merge_results(const std::string& out, const std::vector<std::string>& shards,
                           const std::string& command_line) {
  h5::silence_error_printing();
  if (shards.empty()) throw std::invalid_argument("cannot merge into " + squote(out) + ": no shard files given");

  // 1. The files: distinct, and none of them the output.
  for (std::size_t i = 0; i < shards.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (shards[i] == shards[j] || same_file(shards[i], shards[j])) {
        throw std::invalid_argument("cannot merge: " + squote(shards[j]) + " and " + squote(shards[i]) +
                                    " are the same file");
      }
    }
    if (shards[i] == out || same_file(shards[i], out)) {
      throw std::invalid_argument("cannot merge into " + squote(out) + ": it is one of the shards (" +
                                  squote(shards[i]) + "); choose another output file");
    }
  }

  // 2. Schema versions, before anything else is read.
  std::optional<std::int64_t> first_version;
  std::string first_version_file;
  for (const auto& path : shards) {
    const auto v = peek_schema_version(path);
    if (!v) continue;
    if (!first_version) {
      first_version = v;
      first_version_file = path;
    } else if (*v != *first_version) {
      throw std::invalid_argument("cannot merge: " + squote(first_version_file) + " has schema_version " +
                                  std::to_string(*first_version) + ", but " + squote(path) + " has " +
                                  std::to_string(*v));
    }
  }
  if (first_version && *first_version != kSchemaVersion) {
    throw std::invalid_argument("cannot merge: " + squote(first_version_file) + " has schema_version " +
                                std::to_string(*first_version) + ", but this build merges " +
                                std::to_string(kSchemaVersion));
  }

  // 3. Open every shard (with the shared file lock: a shard still being written is refused).
  std::vector<std::unique_ptr<detail::ResultsSource>> src;
  for (const auto& path : shards) {
    h5::File file = detail::open_results(path, /*lock=*/true);
    try {
      src.push_back(std::make_unique<detail::ResultsSource>(path, std::move(file)));
    } catch (const std::runtime_error& e) {
      throw std::runtime_error("cannot read results file " + squote(path) + ": " + e.what());
    }
  }

  // 4. Identity and layout: all equal to the first shard's.
  MergeSummary summary;
  const detail::ResultsSource& first = *src.front();
  for (std::size_t k = 1; k < src.size(); ++k) {
    const detail::ResultsSource& s = *src[k];
    if (s.attr("experiment_digest") != first.attr("experiment_digest")) {
      throw std::invalid_argument("cannot merge: " + squote(s.path()) + " is from another experiment (" +
                                  name_and_digest(s) + ") than " + squote(first.path()) + " (" +
                                  name_and_digest(first) + ")");
    }
    if (s.total_runs() != first.total_runs()) {
      throw std::invalid_argument("cannot merge: " + squote(s.path()) + " records " + std::to_string(s.total_runs()) +
                                  " runs in the experiment, but " + squote(first.path()) + " records " +
                                  std::to_string(first.total_runs()));
    }
    const std::string diff = detail::layout_difference(first.layout(), squote(first.path()), s.layout(), squote(s.path()));
    if (!diff.empty()) {
      throw std::invalid_argument("cannot merge: " + squote(s.path()) + " has another layout than " +
                                  squote(first.path()) + ": " + diff);
    }
    for (const char* key : {"software_version", "git_sha", "boost_version", "hdf5_version", "experiment"}) {
      if (s.attr(key) != first.attr(key)) {
        summary.warnings.push_back(std::string(key) + " differs between " + squote(first.path()) + " and " +
                                   squote(s.path()) + "; the merged file records " + squote(first.path()) + "'s");
      }
    }
  }
  if (first.attr("experiment_digest").empty()) {
    summary.warnings.push_back("the shards carry no experiment_digest, so whether they belong to one experiment "
                               "could not be checked");
  }

  // 5. Every run once, in run_index order.
  const std::uint64_t total = first.total_runs();
  std::map<std::uint64_t, std::pair<std::size_t, std::size_t>> order;  // run_index → (shard, row)
  for (std::size_t k = 0; k < src.size(); ++k) {
    const auto& runs = src[k]->runs();
    for (std::size_t row = 0; row < runs.size(); ++row) {
      const std::uint64_t index = runs[row].run_index;
      if (total > 0 && index >= total) {
        throw std::invalid_argument("cannot merge: run " + std::to_string(index) + " of " + squote(src[k]->path()) +
                                    " is outside the experiment's " + std::to_string(total) + " runs");
      }
      const auto [it, inserted] = order.emplace(index, std::make_pair(k, row));
      if (!inserted) {
        const std::size_t other = it->second.first;
        if (other == k) {
          throw std::invalid_argument("cannot merge: run " + std::to_string(index) + " is twice in " +
                                      squote(src[k]->path()));
        }
        throw std::invalid_argument("cannot merge: run " + std::to_string(index) + " is in both " +
                                    squote(src[other]->path()) + " and " + squote(src[k]->path()));
      }
    }
  }

  // 6. Write to a temporary name; rename into place when complete.
  const std::string tmp = out + ".merge-tmp";
  try {
    FileAttributes attrs = detail::attributes_of(first);
    attrs.created_utc = "";  // now
    attrs.command_line = command_line;
    attrs.shard = "";
    ResultWriter writer(tmp, attrs, first.layout());
    detail::WriterAccess::set_flush_each_run(writer, false);
    for (const auto& [index, where] : order) {
      const RunResult run = src[where.first]->read_run(where.second);
      writer.write(run);
      ++summary.by_status[to_string(run.status)];
    }
    writer.close();
    summary.runs_written = writer.runs_written();
    for (auto& s : src) s->close();
    detail::replace_file(tmp, out);
  } catch (const std::runtime_error& e) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw std::runtime_error("cannot write the merged file " + squote(out) + ": " + e.what());
  }

  // 7. Summary.
  summary.total_runs = total;
  if (total > 0) {
    std::uint64_t expected = 0;
    for (const auto& [index, _] : order) {
      for (; expected < index; ++expected) {
        ++summary.missing;
        if (summary.first_missing.size() < 10) summary.first_missing.push_back(expected);
      }
      expected = index + 1;
    }
    for (; expected < total; ++expected) {
      ++summary.missing;
      if (summary.first_missing.size() < 10) summary.first_missing.push_back(expected);
    }
  }
  std::string& m = summary.message;
  m = std::to_string(summary.runs_written) + " runs (";
  bool first_status = true;
  for (const auto& [status, count] : summary.by_status) {
    m += (first_status ? "" : ", ") + std::to_string(count) + " " + status;
    first_status = false;
  }
  if (first_status) m += "none";
  m += ")";
  if (total == 0) {
    m += "; the experiment's number of runs is not recorded";
  } else if (summary.missing == 0) {
    m += "; all " + std::to_string(total) + " runs of the experiment are present";
  } else {
    m += "; " + std::to_string(summary.missing) + " of the experiment's " + std::to_string(total) +
         " runs are missing: " + join_indices(summary.first_missing, summary.missing);
  }
  for (const auto& w : summary.warnings) m += "; warning: " + w;
  return summary;
}

}  // namespace collapse::io
