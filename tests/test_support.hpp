#pragma once
// Helpers shared by the unit tests: a scratch directory and checks of error messages.

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <stdexcept>
#include <optional>
#include <string>

#include <unistd.h>

namespace collapse::testing {

/// A uniquely named scratch directory under the system temp directory, removed with its contents.
class TempDir {
 public:
  TempDir() {
    static std::atomic<unsigned> counter{0};
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("collapse-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
             std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }

  /// Writes `text` verbatim (binary mode) to `name` inside the directory; returns the full path.
  std::string write(const std::string& name, const std::string& text) const {
    const auto p = path_ / name;
    std::ofstream out(p, std::ios::binary);
    out << text;
    return p.string();
  }

 private:
  std::filesystem::path path_;
};

/// The what() of the std::invalid_argument thrown by `f`, or "" if it throws none.
template <class F>
std::string invalid_argument_message(F&& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

/// The whole content of a file (binary).
inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

/// Replaces a file's content with `bytes`.
inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

/// Paths of the Brown corpus fetched by scripts/setup.sh (data/brown/{train,heldout}.txt).
struct BrownPaths {
  std::string train, heldout;
};
/// The Brown paths if both files exist, else nullopt (tests then skip with a MESSAGE).
inline std::optional<BrownPaths> brown_paths() {
  BrownPaths p{std::string(COLLAPSE_SOURCE_DIR) + "/data/brown/train.txt",
               std::string(COLLAPSE_SOURCE_DIR) + "/data/brown/heldout.txt"};
  if (!std::ifstream(p.train) || !std::ifstream(p.heldout)) return std::nullopt;
  return p;
}

}  // namespace collapse::testing
