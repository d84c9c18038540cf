#include "sweep/scheduler.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

namespace collapse::sweep {

namespace {

class Progress {
 public:
  Progress(std::size_t total, bool quiet) : total_(total), quiet_(quiet), tty_(isatty(STDERR_FILENO) != 0) {}
  void update(std::size_t done, bool final = false) {
    if (quiet_) return;
    const auto now = std::chrono::steady_clock::now();
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double since = std::chrono::duration<double>(now - last_).count();
    if (!final && since < (tty_ ? 0.2 : 5.0)) return;
    last_ = now;
    const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0;
    const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : 0;
    std::fprintf(stderr, "%s[collapse] %zu/%zu runs  %.1f runs/s  elapsed %.1f s  ETA %.0f s%s", tty_ ? "\r" : "", done,
                 total_, rate, elapsed, eta, tty_ && !final ? "   " : "\n");
    std::fflush(stderr);
  }

 private:
  std::size_t total_;
  bool quiet_, tty_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now(), last_ = start_;
};

}  // namespace

SweepSummary run_sweep(const Experiment& experiment, const std::string& out_path, const SchedulerOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const std::filesystem::path parent = std::filesystem::path(out_path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) throw std::runtime_error("cannot create the output directory '" + parent.string() + "': " + ec.message());
  }
  io::ResultWriter writer(out_path, {/*created_utc: now*/ "", options.command_line, experiment.text}, experiment.layout());

  const std::size_t total = experiment.runs.size();
  int threads = options.threads > 0 ? options.threads : static_cast<int>(std::thread::hardware_concurrency());
  threads = std::max(1, std::min<int>(threads, static_cast<int>(std::max<std::size_t>(total, 1))));

  std::atomic<std::size_t> next{0};
  std::mutex mutex;
  std::condition_variable ready;
  std::map<std::size_t, RunResult> finished;  // reorder buffer: position → result

  auto worker = [&] {
    for (std::size_t i; (i = next.fetch_add(1)) < total;) {
      const RunSpec& spec = experiment.runs[i];
      RunResult r = run_generations(spec.config, spec.truth, {spec.run_index, spec.run_key, spec.replicate, spec.seed});
      r.config_toml = spec.config_toml;
      r.params = spec.params;
      {
        std::lock_guard lock(mutex);
        finished.emplace(i, std::move(r));
      }
      ready.notify_one();
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker);

  // If writing fails, stop handing out runs and join the workers before the error propagates.
  struct JoinOnExit {
    std::atomic<std::size_t>& next;
    std::size_t total;
    std::vector<std::thread>& pool;
    ~JoinOnExit() {
      next.store(total);
      for (auto& t : pool)
        if (t.joinable()) t.join();
    }
  } join_on_exit{next, total, pool};

  SweepSummary summary;
  Progress progress(total, options.quiet);
  for (std::size_t written = 0; written < total; ++written) {
    RunResult r;
    {
      std::unique_lock lock(mutex);
      ready.wait(lock, [&] { return finished.count(written) > 0; });
      r = std::move(finished.at(written));
      finished.erase(written);
    }
    writer.write(r);
    (r.status == RunStatus::done ? summary.done : summary.failed)++;
    if (r.status != RunStatus::done && !options.quiet)
      std::fprintf(stderr, "\n[collapse] run %llu failed: %s\n", static_cast<unsigned long long>(r.run_index),
                   r.error.c_str());
    progress.update(written + 1, written + 1 == total);
  }
  writer.close();
  summary.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace collapse::sweep
