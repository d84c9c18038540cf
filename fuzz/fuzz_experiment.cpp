// libFuzzer target: the experiment loader (TOML → validated runs → truths), collapse::sweep::load_experiment.
//
// The input is an experiment file. Lines of the form `#@set section.key=value` (TOML comments, so the
// file stays valid TOML) are also passed as --set overrides. The file is written as exp.toml into a
// per-process scratch directory that also holds small data files, so that relative truth paths in the
// input can load real data:
//   train.txt, heldout.txt   (truth.kind = "text_corpus")
//   data.csv                 (truth.kind = "csv", columns x, y, z)
//   empty.txt, blank.txt     (an empty file; only blank lines)
//
// Contract under test (sweep/experiment.hpp): load_experiment either returns an Experiment or throws
// std::invalid_argument. Anything else — another exception type, a crash, an ASan/UBSan report, a hang
// (-timeout) or runaway memory (-rss_limit_mb / -malloc_limit_mb) — is a finding.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "scratch_dir.hpp"
#include "sweep/experiment.hpp"

namespace {

void write_data_files() {
  using collapse::fuzz::write_scratch;
  write_scratch("train.txt",
                "the cat sat on the mat\n"
                "a dog sat on a log\n"
                "\n"
                "the dog saw the cat\n"
                "   spaces   and\ttabs\n"
                "unicode ünïcödé 猫 \xF0\x9F\x90\x88\n"
                "the end\n");
  write_scratch("heldout.txt", "the cat saw a dog\nan unseen sentence here\n");
  std::string csv = "x,y,z\n";
  for (int i = 0; i < 40; ++i)
    csv += std::to_string(i % 7) + "." + std::to_string(i % 3) + "," + std::to_string(50 + (i * 13) % 41) + "," +
           std::to_string(-i) + "e-1\n";
  write_scratch("data.csv", csv);
  write_scratch("empty.txt", "");
  write_scratch("blank.txt", "\n  \n\t\n");
}

std::vector<std::string> overrides_of(std::string_view text) {
  std::vector<std::string> out;
  constexpr std::string_view tag = "#@set ";
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(pos, end - pos);
    if (line.starts_with(tag) && out.size() < 8) out.emplace_back(line.substr(tag.size()));
    pos = end + 1;
  }
  return out;
}

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_experiment: invariant violated: %s\n", what);
  std::abort();
}

bool verbose = false;  // COLLAPSE_FUZZ_VERBOSE=1: print each outcome (for triaging seeds and reproducers)

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  write_data_files();
  verbose = std::getenv("COLLAPSE_FUZZ_VERBOSE") != nullptr;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::string path = collapse::fuzz::write_scratch("exp.toml", text);
  try {
    const collapse::sweep::Experiment e = collapse::sweep::load_experiment(path, overrides_of(text));
    // Every axis has ≥ 1 value and experiment.replicates ≥ 1, so an accepted experiment has ≥ 1 run
    // (the CLI relies on it: `collapse validate` reads runs.front()).
    if (e.runs.empty()) fail("load_experiment accepted an experiment with 0 runs");
    // The results file has one /runs column per swept key (io::ResultLayout refuses duplicates).
    for (std::size_t i = 0; i < e.params.size(); ++i)
      for (std::size_t j = 0; j < i; ++j)
        if (e.params[i].name == e.params[j].name) fail("swept key listed twice in Experiment::params");
    for (std::size_t i = 0; i < e.runs.size(); ++i)
      if (e.runs[i].run_index != i) fail("run_index is not the position in Experiment::runs");
    const auto layout = e.layout();
    if (verbose)
      std::fprintf(stderr, "fuzz_experiment: loaded %zu runs, %zu metrics\n", e.runs.size(), layout.metrics.size());
  } catch (const std::invalid_argument& err) {
    // The documented way to reject an experiment.
    if (verbose) std::fprintf(stderr, "fuzz_experiment: rejected: %s\n", err.what());
  }
  return 0;
}
