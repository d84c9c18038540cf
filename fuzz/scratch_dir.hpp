#pragma once
// A per-process scratch directory for the fuzz targets (the readers under test take file paths):
// /dev/shm/collapse-fuzz-<pid> (tmpfs, so a write per input is cheap), else $TMPDIR or /tmp.
// Created on first use, reused for every input, removed at normal exit.

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>

namespace collapse::fuzz {

inline const std::filesystem::path& scratch_dir() {
  // Never destroyed (still reachable, so not a leak), so that the atexit cleanup may use it.
  static const std::filesystem::path* const dir = [] {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path base = fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm") : fs::temp_directory_path();
    auto* d = new fs::path(base / ("collapse-fuzz-" + std::to_string(::getpid())));
    fs::create_directories(*d);
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(scratch_dir(), ignored);
    });
    return d;
  }();
  return *dir;
}

/// Writes `bytes` to scratch_dir()/name (truncating) and returns the path.
inline std::string write_scratch(const std::string& name, std::string_view bytes) {
  const std::filesystem::path p = scratch_dir() / name;
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) std::abort();  // the harness itself failed (disk full?): not a finding in the code under test
  return p.string();
}

}  // namespace collapse::fuzz
