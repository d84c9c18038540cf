// collapse: the command line. The only file that sees argv and includes program_options.
//
//   collapse run EXPERIMENT.toml [-o OUT.h5] [--threads N] [--shard i/N] [--resume] [--set key=value]... [--quiet]
//   collapse validate EXPERIMENT.toml [--set key=value]...
//   collapse merge OUT.h5 SHARD.h5...
//   collapse info RESULTS.h5

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "io/result_info.hpp"
#include "io/result_merge.hpp"
#include "sweep/experiment.hpp"
#include "sweep/scheduler.hpp"

namespace po = boost::program_options;
using namespace collapse;

namespace {

constexpr const char* kUsage =
    "usage: collapse <command> [options]\n"
    "\n"
    "commands:\n"
    "  run EXPERIMENT.toml      run every (grid point, replicate) of an experiment, write HDF5\n"
    "  validate EXPERIMENT.toml check every key, expand the grid, print the run table; run nothing\n"
    "  merge OUT.h5 SHARD.h5... merge the files of a sharded sweep into one\n"
    "  info RESULTS.h5          summarise a results file: runs, swept parameters, metrics, statuses\n"
    "\n"
    "Run `collapse <command> --help` for the options of a command.\n";

std::string command_line(int argc, char** argv) {
  std::string s;
  for (int i = 0; i < argc; ++i) {
    if (i) s += ' ';
    s += argv[i];
  }
  return s;
}

/// Parses `EXPERIMENT.toml [options]`: the options of `opts` plus the positional experiment path.
/// @return the variables map; `experiment` is set from the positional argument.
po::variables_map parse_with_experiment(const std::vector<std::string>& args, const po::options_description& opts,
                                        std::string& experiment) {
  po::options_description hidden;
  hidden.add_options()("experiment", po::value(&experiment));
  po::options_description all;
  all.add(opts).add(hidden);
  po::positional_options_description pos;
  pos.add("experiment", 1);
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(all).positional(pos).run(), vm);
  po::notify(vm);
  return vm;
}

/// Prints the help of `opts` when asked or when the experiment is missing.
/// @return the exit code to return (0 for --help, 2 for a missing experiment), or -1 to go on.
int help_or_missing(const po::variables_map& vm, const po::options_description& opts, const std::string& experiment) {
  if (!vm.count("help") && !experiment.empty()) return -1;
  if (vm.count("help")) {
    std::cout << opts << "\n";
    return 0;
  }
  std::cerr << "collapse: error: missing EXPERIMENT.toml\n\n" << opts << "\n";
  return 2;
}

/// The shard of this process: --shard i/N, else a Slurm array task's (SLURM_ARRAY_TASK_ID minus
/// SLURM_ARRAY_TASK_MIN, of SLURM_ARRAY_TASK_COUNT), else 0/1.
std::pair<std::size_t, std::size_t> choose_shard(const std::string& flag, bool quiet) {
  if (!flag.empty()) return sweep::parse_shard(flag);
  const char* id = std::getenv("SLURM_ARRAY_TASK_ID");
  const char* count = std::getenv("SLURM_ARRAY_TASK_COUNT");
  if (!id || !count) return {0, 1};
  const char* min_env = std::getenv("SLURM_ARRAY_TASK_MIN");
  const char* max_env = std::getenv("SLURM_ARRAY_TASK_MAX");
  const long min = min_env ? std::strtol(min_env, nullptr, 10) : 0;
  const long n = std::strtol(count, nullptr, 10);
  // Task ids map to shards only for a contiguous array (--array=0-15, 0-15%4): ids min..max, count of them.
  if (max_env && std::strtol(max_env, nullptr, 10) - min + 1 != n)
    throw std::invalid_argument(std::string("this Slurm array is not contiguous (SLURM_ARRAY_TASK_MIN = ") +
                                (min_env ? min_env : "?") + ", SLURM_ARRAY_TASK_MAX = " + max_env +
                                ", SLURM_ARRAY_TASK_COUNT = " + count +
                                "), so the task id does not give the shard; pass --shard i/N (the sbatch script does "
                                "this when COLLAPSE_SHARDS=N is set)");
  const std::string text = std::to_string(std::strtol(id, nullptr, 10) - min) + "/" + count;
  const auto shard = sweep::parse_shard(text);
  if (!quiet) std::fprintf(stderr, "[collapse] Slurm array task: shard %s\n", text.c_str());
  return shard;
}

int cmd_run(const std::vector<std::string>& args, const std::string& cmdline) {
  po::options_description opts("collapse run EXPERIMENT.toml [options]");
  std::string experiment, out, shard;
  int threads = 0;
  std::vector<std::string> sets;
  opts.add_options()("help,h", "show this help")(
      "output,o", po::value(&out), "results file (default: results/<experiment.name>.h5)")(
      "threads,j", po::value(&threads)->default_value(0), "worker threads (0 = all cores)")(
      "shard", po::value(&shard),
      "run only shard i of N (i/N, 0-based; runs with run_index % N == i); default: from a Slurm array task")(
      "resume", "continue OUT.h5: skip its done runs, rerun partial or failed ones")(
      "set", po::value(&sets)->composing(),
      "override a key: --set loop.anchoring=mix; --set key=a,b,c adds a sweep axis (repeatable)")(
      "quiet,q", "no progress output");
  const po::variables_map vm = parse_with_experiment(args, opts, experiment);
  if (const int code = help_or_missing(vm, opts, experiment); code >= 0) return code;
  if (threads < 0) throw std::invalid_argument("--threads = " + std::to_string(threads) + ", but must be ≥ 0");
  const bool quiet = vm.count("quiet") > 0;
  const auto [shard_index, shard_count] = choose_shard(shard, quiet);
  const auto exp = sweep::load_experiment(experiment, sets);
  if (out.empty()) out = "results/" + exp.name + ".h5";
  sweep::SchedulerOptions options;
  options.threads = threads;
  options.quiet = quiet;
  options.command_line = cmdline;
  options.shard_index = shard_index;
  options.shard_count = shard_count;
  options.resume = vm.count("resume") > 0;
  if (!quiet)
    std::fprintf(stderr, "[collapse] %s: %zu runs (%zu grid points x %llu replicates)%s -> %s\n", exp.name.c_str(),
                 exp.runs.size(), exp.runs.size() / exp.replicates, static_cast<unsigned long long>(exp.replicates),
                 shard_count > 1 ? (", shard " + std::to_string(shard_index) + "/" + std::to_string(shard_count)).c_str() : "",
                 out.c_str());
  const auto summary = sweep::run_sweep(exp, out, options);
  if (summary.interrupted) {
    std::fprintf(stderr,
                 "[collapse] interrupted: %zu runs done, %zu partial, %zu not started; %s is valid.\n"
                 "[collapse] continue with: %s --resume\n",
                 summary.done + summary.skipped, summary.partial, summary.not_started, out.c_str(),
                 options.resume ? cmdline.substr(0, cmdline.rfind(" --resume")).c_str() : cmdline.c_str());
    return 130;
  }
  if (!quiet)
    std::fprintf(stderr, "[collapse] %zu done, %zu failed%s in %.2f s; results in %s\n", summary.done, summary.failed,
                 summary.skipped ? (", " + std::to_string(summary.skipped) + " already done").c_str() : "",
                 summary.wall_seconds, out.c_str());
  return summary.failed ? 1 : 0;
}

int cmd_merge(const std::vector<std::string>& args, const std::string& cmdline) {
  if (args.size() < 2 || args[0] == "--help" || args[0] == "-h") {
    std::cout << "collapse merge OUT.h5 SHARD.h5...\n"
                 "  merges the results files of one sharded experiment into OUT.h5 (runs in run_index order)\n";
    return args.empty() || (args[0] != "--help" && args[0] != "-h") ? 2 : 0;
  }
  const std::vector<std::string> shards(args.begin() + 1, args.end());
  const auto summary = io::merge_results(args[0], shards, cmdline);
  std::fprintf(stderr, "[collapse] merged %zu shard files into %s: %s\n", shards.size(), args[0].c_str(),
               summary.message.c_str());
  return summary.missing ? 1 : 0;
}

int cmd_validate(const std::vector<std::string>& args) {
  po::options_description opts("collapse validate EXPERIMENT.toml [options]");
  std::string experiment;
  std::vector<std::string> sets;
  opts.add_options()("help,h", "show this help")("set", po::value(&sets)->composing(), "override a key (repeatable)");
  const po::variables_map vm = parse_with_experiment(args, opts, experiment);
  if (const int code = help_or_missing(vm, opts, experiment); code >= 0) return code;
  const auto exp = sweep::load_experiment(experiment, sets);
  const auto layout = exp.layout();
  double values_per_run = static_cast<double>(layout.metrics.size());
  for (const auto& t : layout.trajectories) {
    double per = 1;
    for (auto d : t.shape) per *= static_cast<double>(d);
    values_per_run += per;
  }
  const double bytes = static_cast<double>(exp.runs.size()) *
                       (values_per_run * 8.0 * static_cast<double>(layout.generations) +
                        static_cast<double>(exp.runs.empty() ? 0 : exp.runs.front().config_toml.size()) + 64.0);
  std::printf("%s: valid. experiment \"%s\", seed %llu, digest %s, %zu runs, %llu generations each; "
              "results about %.1f MB uncompressed\n",
              experiment.c_str(), exp.name.c_str(), static_cast<unsigned long long>(exp.seed), exp.digest.c_str(),
              exp.runs.size(), static_cast<unsigned long long>(layout.generations), bytes / 1e6);
  std::printf("%-6s %-4s %-18s", "run", "rep", "run_key");
  for (const auto& p : exp.params) std::printf(" %s", p.name.c_str());
  std::printf("\n");
  for (const auto& r : exp.runs) {
    std::printf("%-6llu %-4llu %016llx  ", static_cast<unsigned long long>(r.run_index),
                static_cast<unsigned long long>(r.replicate), static_cast<unsigned long long>(r.run_key));
    for (const auto& p : exp.params)
      std::visit([](const auto& v) { std::cout << ' ' << v; }, r.params.at(p.name));
    std::cout << '\n';
  }
  return 0;
}

int cmd_info(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cout << "collapse info RESULTS.h5\n";
    return args.empty() ? 2 : 0;
  }
  std::cout << io::describe(io::read_results(args[0]));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string cmd = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  try {
    if (cmd == "run") return cmd_run(args, command_line(argc, argv));
    if (cmd == "validate") return cmd_validate(args);
    if (cmd == "info") return cmd_info(args);
    if (cmd == "merge") return cmd_merge(args, command_line(argc, argv));
    std::fprintf(stderr, "collapse: unknown command '%s'\n\n%s", cmd.c_str(), kUsage);
    return 2;
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "collapse %s: error: %s\n", cmd.c_str(), e.what());
    return 2;
  } catch (const po::error& e) {
    std::fprintf(stderr, "collapse %s: error: %s\n", cmd.c_str(), e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "collapse %s: error: %s\n", cmd.c_str(), e.what());
    return 1;
  }
}
