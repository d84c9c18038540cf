#pragma once
// Internal access to ResultWriter for the io module and its tests; not part of the public API. Kept
// apart from result_source.hpp so that it does not include HDF5 (tests cannot).

namespace collapse::io {
class ResultWriter;
}

namespace collapse::io::detail {

/// Switches of ResultWriter that only the io module (merge, resume) and tests/io use.
struct WriterAccess {
  /// Turns the two flushes per write() off (on by default) for a file that is written to a temporary
  /// name and renamed into place only when complete: its crash safety comes from the rename. close()
  /// still flushes.
  static void set_flush_each_run(ResultWriter& writer, bool on) noexcept;
  /// Testing: the next write() stops after its first flush — every dataset but /runs holds the run —
  /// and throws std::runtime_error("... stopped before its commit (test hook)"); the writer is then
  /// unusable. This is the file a process killed between the two flushes leaves behind.
  static void stop_before_next_commit(ResultWriter& writer) noexcept;
};

}  // namespace collapse::io::detail
