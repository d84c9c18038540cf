#include "sweep/scheduler.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
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

std::atomic<bool> g_stop{false};  // set by SIGINT / SIGTERM (lock-free: safe in a signal handler)
extern "C" void on_stop_signal(int) { g_stop.store(true); }

/// Installs the stop handlers for the lifetime of a sweep and restores the previous ones.
class StopSignals {
 public:
  StopSignals() {
    g_stop.store(false);
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~StopSignals() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  struct sigaction old_int_ {}, old_term_ {};
};

}  // namespace

std::pair<std::size_t, std::size_t> parse_shard(const std::string& text) {
  const auto slash = text.find('/');
  std::size_t i = 0, n = 0;
  bool ok = slash != std::string::npos && slash > 0 && slash + 1 < text.size();
  if (ok) {
    try {
      std::size_t used = 0;
      i = std::stoul(text.substr(0, slash), &used);
      ok = used == slash;
      n = std::stoul(text.substr(slash + 1), &used);
      ok = ok && used == text.size() - slash - 1 && text[0] != '-' && text[slash + 1] != '-';
    } catch (const std::exception&) {
      ok = false;
    }
  }
  if (!ok || n == 0 || i >= n)
    throw std::invalid_argument("--shard = \"" + text + "\", but must be i/N with 0 ≤ i < N (e.g. 0/4)");
  return {i, n};
}

SweepSummary run_sweep(const Experiment& experiment, const std::string& out_path, const SchedulerOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  if (options.shard_count == 0 || options.shard_index >= options.shard_count)
    throw std::invalid_argument("shard " + std::to_string(options.shard_index) + "/" + std::to_string(options.shard_count) +
                                " is not valid");
  const std::filesystem::path parent = std::filesystem::path(out_path).parent_path();
  if (!parent.empty() && !options.resume) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) throw std::runtime_error("cannot create the output directory '" + parent.string() + "': " + ec.message());
  }
  const std::string shard =
      options.shard_count > 1 ? std::to_string(options.shard_index) + "/" + std::to_string(options.shard_count) : "";
  io::FileAttributes attrs;
  attrs.created_utc = "";  // the writer stamps the time
  attrs.command_line = options.command_line;
  attrs.experiment = experiment.text;
  attrs.experiment_digest = experiment.digest;
  attrs.total_runs = experiment.runs.size();
  attrs.shard = shard;
  io::ResultWriter writer(out_path, attrs, experiment.layout(),
                          options.resume ? io::ResultWriter::Mode::resume : io::ResultWriter::Mode::create);

  // The runs of this process: its shard (interleaved by run_index), minus those already done.
  SweepSummary summary;
  std::vector<std::size_t> pending;
  {
    const auto& done = writer.done_runs();
    const std::set<std::uint64_t> done_set(done.begin(), done.end());
    for (std::size_t i = 0; i < experiment.runs.size(); ++i) {
      if (experiment.runs[i].run_index % options.shard_count != options.shard_index) continue;
      if (done_set.count(experiment.runs[i].run_index)) {
        ++summary.skipped;
        continue;
      }
      pending.push_back(i);
    }
  }
  const std::size_t total = pending.size();
  int threads = options.threads > 0 ? options.threads : static_cast<int>(std::thread::hardware_concurrency());
  threads = std::max(1, std::min<int>(threads, static_cast<int>(std::max<std::size_t>(total, 1))));

  StopSignals signals;
  std::mutex mutex;
  std::condition_variable ready;
  std::size_t dispatched = 0;                 // positions handed to workers (guarded by mutex)
  std::map<std::size_t, RunResult> finished;  // reorder buffer: position → result

  auto worker = [&] {
    for (;;) {
      std::size_t pos;
      {
        std::lock_guard lock(mutex);
        if (dispatched == total || g_stop.load()) return;
        pos = dispatched++;
      }
      const RunSpec& spec = experiment.runs[pending[pos]];
      RunResult r = run_generations(spec.config, spec.truth, {spec.run_index, spec.run_key, spec.replicate, spec.seed},
                                    &g_stop);
      r.config_toml = spec.config_toml;
      r.params = spec.params;
      {
        std::lock_guard lock(mutex);
        finished.emplace(pos, std::move(r));
      }
      ready.notify_one();
    }
  };
  std::vector<std::thread> pool;
  // If writing fails, stop handing out runs and join the workers before the error propagates.
  struct JoinOnExit {
    std::vector<std::thread>& pool;
    ~JoinOnExit() {
      g_stop.store(true);
      for (auto& t : pool)
        if (t.joinable()) t.join();
    }
  } join_on_exit{pool};
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker);

  Progress progress(total, options.quiet);
  std::size_t written = 0;
  for (; written < total; ++written) {
    RunResult r;
    {
      std::unique_lock lock(mutex);
      // Poll: a signal handler cannot notify the condition variable.
      while (!finished.count(written)) {
        if (g_stop.load() && written >= dispatched) break;
        ready.wait_for(lock, std::chrono::milliseconds(50));
      }
      if (!finished.count(written)) break;  // stopped: nothing more will arrive
      r = std::move(finished.at(written));
      finished.erase(written);
    }
    writer.write(r);
    switch (r.status) {
      case RunStatus::done: ++summary.done; break;
      case RunStatus::failed: ++summary.failed; break;
      case RunStatus::partial: ++summary.partial; break;
    }
    if (r.status == RunStatus::failed && !options.quiet)
      std::fprintf(stderr, "\n[collapse] run %llu failed: %s\n", static_cast<unsigned long long>(r.run_index),
                   r.error.c_str());
    progress.update(written + 1, written + 1 == total);
  }
  summary.interrupted = g_stop.load();
  summary.not_started = total - written;
  writer.close();
  summary.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace collapse::sweep
