// Experiment files: grid expansion, run keys and seeds, and the bad-input messages.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "sweep/experiment.hpp"
#include "test_support.hpp"

using namespace collapse;
using collapse::testing::contains;
using collapse::testing::TempDir;
namespace fs = std::filesystem;

namespace {

const char* kGaussian = R"(
[experiment]
name = "t"
generations = 3
replicates = 2
seed = 5

[truth]
kind = "gaussian_mixture"
weights = [1.0]
means = [[0.0]]
covariances = [[[1.0]]]

[model]
kind = "gaussian_mixture"
components = 1

[loop]
samples_per_generation = 50
anchoring = "replace"
real_fraction = 0.1
)";

std::string error_of(const std::string& path) {
  return collapse::testing::invalid_argument_message([&] { sweep::load_experiment(path); });
}

}  // namespace

TEST_SUITE("sweep/experiment") {
  TEST_CASE("grid x replicates: sizes, order, parameter columns") {
    TempDir d;
    const auto p = d.write("e.toml", std::string(kGaussian) + R"(
[sweep]
"loop.samples_per_generation" = [10, 20, 30]
loop.anchoring = ["replace", "mix"]
)");
    const auto e = sweep::load_experiment(p);
    REQUIRE(e.runs.size() == 12);
    REQUIRE(e.params.size() == 2);
    CHECK(e.params[0].name == "loop.samples_per_generation");  // file order
    CHECK(e.params[0].type == io::ParamType::int64);
    CHECK(e.params[1].name == "loop.anchoring");
    CHECK(e.params[1].type == io::ParamType::string);
    // run_index = combination · replicates + replicate; the last axis varies fastest.
    for (std::size_t i = 0; i < e.runs.size(); ++i) {
      CHECK(e.runs[i].run_index == i);
      CHECK(e.runs[i].replicate == i % 2);
    }
    CHECK(std::get<std::int64_t>(e.runs[0].params.at("loop.samples_per_generation")) == 10);
    CHECK(std::get<std::string>(e.runs[2].params.at("loop.anchoring")) == "mix");
    CHECK(e.runs[2].config.loop.samples_per_generation == 10);
    CHECK(std::holds_alternative<Mix>(e.runs[2].config.loop.anchoring));
    CHECK(e.runs[11].config.loop.samples_per_generation == 30);
    std::set<std::uint64_t> seeds;
    for (const auto& r : e.runs) seeds.insert(r.seed);
    CHECK(seeds.size() == 12);
    // Both replicates of one grid point share the key but not the seed.
    CHECK(e.runs[0].run_key == e.runs[1].run_key);
    CHECK(e.runs[0].run_key != e.runs[2].run_key);
    const auto layout = e.layout();
    CHECK(layout.generations == 4);
    CHECK(layout.trajectories.size() == 4);
  }

  TEST_CASE("run keys and seeds do not depend on other grid values or on [experiment]") {
    TempDir d;
    const auto a = sweep::load_experiment(d.write("a.toml", std::string(kGaussian) + "[sweep]\n\"loop.samples_per_generation\" = [10, 20]\n"));
    const auto b = sweep::load_experiment(d.write("b.toml", std::string(kGaussian) + "[sweep]\n\"loop.samples_per_generation\" = [5, 10, 20]\n"));
    // a: 10 → runs 0,1; 20 → runs 2,3. b: 10 → runs 2,3; 20 → runs 4,5.
    CHECK(a.runs[0].run_key == b.runs[2].run_key);
    CHECK(a.runs[1].seed == b.runs[3].seed);
    CHECK(a.runs[3].seed == b.runs[5].seed);
    const auto c = sweep::load_experiment(d.write("c.toml", std::string(kGaussian)), {"experiment.generations=9"});
    const auto base = sweep::load_experiment(d.write("base.toml", std::string(kGaussian)));
    CHECK(c.runs[0].run_key == base.runs[0].run_key);
    CHECK(c.runs[0].config.loop.generations == 9);
    const auto other_seed = sweep::load_experiment(d.write("s.toml", std::string(kGaussian)), {"experiment.seed=6"});
    CHECK(other_seed.runs[0].seed != base.runs[0].seed);
  }

  TEST_CASE("--set overrides a key, replaces a sweep axis, and takes bare words as strings") {
    TempDir d;
    const auto p = d.write("e.toml", std::string(kGaussian) + "[sweep]\n\"loop.anchoring\" = [\"replace\", \"mix\"]\n");
    const auto e = sweep::load_experiment(p, {"loop.anchoring=mix", "loop.real_fraction=0.5"});
    REQUIRE(e.runs.size() == 2);
    CHECK(e.params.empty());
    const auto* mix = std::get_if<Mix>(&e.runs[0].config.loop.anchoring);
    REQUIRE(mix != nullptr);
    CHECK(mix->real_fraction == 0.5);
  }

  TEST_CASE("[[sweep.zip]] pairs values instead of crossing them") {
    TempDir d;
    const auto e = sweep::load_experiment(d.write("z.toml", std::string(kGaussian) + R"(
[sweep]
"loop.samples_per_generation" = [10, 20]

[[sweep.zip]]
"loop.anchoring" = ["replace", "mix", "mix"]
"loop.real_fraction" = [0.0, 0.1, 0.5]
)"));
    REQUIRE(e.runs.size() == 2 * 3 * 2);
    REQUIRE(e.params.size() == 3);
    CHECK(e.params[1].name == "loop.anchoring");
    CHECK(e.params[2].name == "loop.real_fraction");
    CHECK(e.params[2].type == io::ParamType::float64);
    // Combination 2 (replicates 4, 5): samples 10, the third zipped setting.
    CHECK(std::get<std::string>(e.runs[4].params.at("loop.anchoring")) == "mix");
    CHECK(std::get<double>(e.runs[4].params.at("loop.real_fraction")) == 0.5);
    CHECK(std::get<Mix>(e.runs[4].config.loop.anchoring).real_fraction == 0.5);
    const auto msg = collapse::testing::invalid_argument_message([&] {
      sweep::load_experiment(d.write("bad.toml", std::string(kGaussian) +
                                                     "[[sweep.zip]]\n\"loop.anchoring\" = [\"replace\", \"mix\"]\n"
                                                     "\"loop.real_fraction\" = [0.0]\n"));
    });
    CHECK(contains(msg, "sweep.zip[0]: \"loop.real_fraction\" has 1 values, but \"loop.anchoring\" has 2"));
  }

  TEST_CASE("--set key=a,b,c adds a sweep axis; numbers stay numbers") {
    TempDir d;
    const auto p = d.write("e.toml", std::string(kGaussian));
    const auto e = sweep::load_experiment(p, {"loop.real_fraction=0.1,0.5", "loop.anchoring=replace,mix"});
    REQUIRE(e.runs.size() == 2 * 2 * 2);
    REQUIRE(e.params.size() == 2);
    CHECK(e.params[0].type == io::ParamType::float64);
    CHECK(e.params[1].type == io::ParamType::string);
    CHECK(std::get<std::string>(e.runs[2].params.at("loop.anchoring")) == "mix");
    // A quoted value with a comma is one value, not an axis.
    const auto one = sweep::load_experiment(p, {"experiment.name=\"a,b\""});
    CHECK(one.runs.size() == 2);
    CHECK(one.name == "a,b");
  }

  TEST_CASE("canonical run text: exact, shortest round-trip floats, sorted keys") {
    TempDir d;
    const auto e = sweep::load_experiment(d.write("c.toml", std::string(kGaussian)), {"loop.temperature=0.001"});
    const std::string& t = e.runs[0].config_toml;
    CHECK(contains(t, "temperature = 0.001\n"));
    CHECK(contains(t, "real_fraction = 0.1\n"));
    CHECK(contains(t, "weights = [1.0]\n"));
    CHECK(contains(t, "covariances = [[[1.0]]]\n"));
    CHECK(t.find("[experiment]") < t.find("[loop]"));
    CHECK(t.find("[loop]") < t.find("[model]"));
  }

  TEST_CASE("the digest identifies the full grid") {
    TempDir d;
    const auto p = d.write("e.toml", std::string(kGaussian));
    const auto a = sweep::load_experiment(p), b = sweep::load_experiment(p);
    CHECK(a.digest.size() == 16);
    CHECK(a.digest == b.digest);
    CHECK(sweep::load_experiment(p, {"loop.samples_per_generation=60"}).digest != a.digest);
    CHECK(sweep::load_experiment(p, {"experiment.replicates=3"}).digest != a.digest);
  }

  TEST_CASE("new anchorings, a schedule and analytic text truths parse to their typed form") {
    TempDir d;
    std::string text = kGaussian;
    auto edit = [&](const std::string& from, const std::string& to) { text.replace(text.find(from), from.size(), to); };
    edit("anchoring = \"replace\"", "anchoring = \"accumulate_subsample\"\ntrain_size = 30");
    edit("samples_per_generation = 50", "samples_per_generation = [50, 40, 30, 20]");
    const auto e = sweep::load_experiment(d.write("a.toml", text));
    const LoopConfig& loop = e.runs.front().config.loop;
    REQUIRE(std::holds_alternative<AccumulateSubsample>(loop.anchoring));
    CHECK(std::get<AccumulateSubsample>(loop.anchoring).train_size == 30);
    CHECK(loop.samples_at(0) == 50);
    CHECK(loop.samples_at(3) == 20);
    const auto z = sweep::load_experiment(d.write("z.toml", R"(
[experiment]
generations = 2
[truth]
kind = "zipf"
vocab_size = 50
exponent = 1.2
[model]
kind = "ngram"
order = 1
smoothing = "kneser_ney"
[loop]
samples_per_generation = 1000
top_k = 10
top_p = 0.9
)"));
    const RunConfig& c = z.runs.front().config;
    CHECK(std::get<ZipfTruthConfig>(c.truth).vocab_size == 50);
    CHECK(std::get<NgramOptions>(c.model).smoothing == Smoothing::kneser_ney);
    CHECK(c.loop.controls.top_k == 10);
    CHECK(c.loop.controls.top_p == 0.9);
  }

  TEST_CASE("bad input: one clear message naming the file, the key, the value and what is allowed") {
    TempDir d;
    auto with = [&](const std::string& name, const std::string& from, const std::string& to) {
      std::string text = kGaussian;
      const auto at = text.find(from);
      REQUIRE(at != std::string::npos);
      text.replace(at, from.size(), to);
      return d.write(name, text);
    };
    SUBCASE("out of range") {
      const auto p = with("r.toml", "real_fraction = 0.1", "real_fraction = 1.5");
      const auto msg = error_of(p);
      CHECK(contains(msg, p + ": "));
      CHECK(contains(msg, "loop.real_fraction = 1.5, but must be in [0, 1]"));
    }
    SUBCASE("unknown key with a hint") {
      const auto msg = error_of(with("u.toml", "anchoring = \"replace\"", "anchorng = \"replace\""));
      CHECK(contains(msg, "unknown key loop.anchorng"));
      CHECK(contains(msg, "did you mean loop.anchoring?"));
    }
    SUBCASE("unknown section") {
      CHECK(contains(error_of(d.write("s.toml", std::string(kGaussian) + "[loops]\nx = 1\n")), "unknown section [loops]; did you mean [loop]?"));
    }
    SUBCASE("wrong type") {
      const auto msg = error_of(with("t.toml", "samples_per_generation = 50", "samples_per_generation = \"many\""));
      CHECK(contains(msg, "loop.samples_per_generation = \"many\" is a string, but must be an integer"));
    }
    SUBCASE("unknown kind lists the allowed ones") {
      const auto msg = error_of(with("k.toml", "anchoring = \"replace\"", "anchoring = \"keep\""));
      CHECK(contains(msg, "loop.anchoring = \"keep\", but must be one of: replace | mix | accumulate | accumulate_subsample | augment"));
    }
    SUBCASE("empty sweep axis") {
      CHECK(contains(error_of(d.write("e.toml", std::string(kGaussian) + "[sweep]\n\"loop.samples_per_generation\" = []\n")),
                     "is an empty list"));
    }
    SUBCASE("a key swept twice") {
      CHECK(contains(error_of(d.write("dup.toml", std::string(kGaussian) +
                                                     "[sweep]\n\"loop.temperature\" = [1.0, 2.0]\nloop.temperature = [3.0]\n")),
                     "loop.temperature is swept twice"));
    }
    SUBCASE("a grid too large to hold") {
      CHECK(contains(error_of(with("big.toml", "replicates = 2", "replicates = 10000000")), "more than 1000000 runs"));
    }
    SUBCASE("experiment-wide keys cannot be swept") {
      CHECK(contains(error_of(d.write("x.toml", std::string(kGaussian) + "[sweep]\n\"experiment.seed\" = [1, 2]\n")),
                     "experiment.seed is a property of the whole experiment and cannot be swept"));
    }
    SUBCASE("a swept value out of range names the run") {
      const auto msg = error_of(d.write("w.toml", std::string(kGaussian) + "[sweep]\n\"loop.real_fraction\" = [0.5, 2.0]\n"));
      CHECK(contains(msg, "loop.real_fraction = 2, but must be in [0, 1]"));
      CHECK(contains(msg, "(in the run with loop.real_fraction = 2)"));
    }
    SUBCASE("missing data file") {
      const auto p = d.write("m.toml", R"(
[experiment]
generations = 1
[truth]
kind = "text_corpus"
train = "nowhere/train.txt"
heldout = "nowhere/heldout.txt"
[model]
kind = "ngram"
[loop]
samples_per_generation = 10
)");
      const auto msg = error_of(p);
      CHECK(contains(msg, "truth.train = \""));
      CHECK(contains(msg, "nowhere/train.txt\": cannot open file"));
    }
    SUBCASE("empty corpus") {
      d.write("empty.txt", "\n  \n");
      const auto p = d.write("c.toml", R"(
[experiment]
generations = 1
[truth]
kind = "text_corpus"
train = "empty.txt"
heldout = "empty.txt"
[model]
kind = "ngram"
[loop]
samples_per_generation = 10
)");
      CHECK(contains(error_of(p), "the corpus is empty"));
    }
    SUBCASE("model and truth of different families") {
      const auto msg = error_of(with("f.toml", "kind = \"gaussian_mixture\"\ncomponents", "kind = \"ngram\"\norder"));
      CHECK(contains(msg, "model.kind = \"ngram\" cannot be trained on truth.kind"));
    }
    SUBCASE("fewer samples per generation than components") {
      std::string text = kGaussian;
      text.replace(text.find("components = 1"), 14, "components = 3");
      text.replace(text.find("samples_per_generation = 50"), 27, "samples_per_generation = 2");
      CHECK(contains(error_of(d.write("n.toml", text)), "loop.samples_per_generation = 2, but must be ≥ model.components = 3"));
    }
    SUBCASE("more samples per generation than real training rows") {
      d.write("t.csv", "x\n1\n2\n3\n4\n5\n");
      const auto msg = error_of(d.write("csv.toml", R"(
[experiment]
generations = 1
[truth]
kind = "csv"
path = "t.csv"
heldout_fraction = 0.2
[model]
kind = "gaussian_mixture"
[loop]
samples_per_generation = 5
)"));
      CHECK(contains(msg, "loop.samples_per_generation = 5, but the real training rows"));
      CHECK(contains(msg, "it must be ≤ 4"));
    }
    SUBCASE("a schedule must have G + 1 sizes") {
      const auto msg = error_of(with("sch.toml", "samples_per_generation = 50", "samples_per_generation = [50, 40]"));
      CHECK(contains(msg, "loop.samples_per_generation has 2 values, but must be an integer ≥ 1 or an array of "
                          "experiment.generations + 1 = 4 integers ≥ 1"));
    }
    SUBCASE("a fixed real subset cannot outgrow generation 0's data") {
      const auto msg = error_of(with("fix.toml", "samples_per_generation = 50\nanchoring = \"replace\"\nreal_fraction = 0.1",
                                     "anchoring = \"mix\"\nreal_fraction = 1.0\nreal_source = \"fixed\"\n"
                                     "samples_per_generation = [10, 20, 20, 20]"));
      CHECK(contains(msg, "exceeds the 10 real units of generation 0"));
    }
    SUBCASE("truncated sampling is for n-grams only") {
      const auto msg = error_of(with("tk.toml", "anchoring = \"replace\"", "anchoring = \"replace\"\ntop_k = 5"));
      CHECK(contains(msg, "apply to model.kind = \"ngram\" only"));
    }
    SUBCASE("top_p out of range") {
      const auto msg = error_of(with("tp.toml", "anchoring = \"replace\"", "anchoring = \"replace\"\ntop_p = 0"));
      CHECK(contains(msg, "loop.top_p = 0, but must be in (0, 1]"));
    }
    SUBCASE("degenerate policy lists the allowed ones") {
      const auto msg = error_of(with("dg.toml", "components = 1", "components = 1\ndegenerate = \"ignore\""));
      CHECK(contains(msg, "model.degenerate = \"ignore\", but must be one of: keep | drop | reseed"));
    }
    SUBCASE("metrics.skip names registered metrics of the model's family") {
      const auto msg = error_of(d.write("sk.toml", std::string(kGaussian) + "[metrics]\nskip = [\"perplexity\"]\n"));
      CHECK(contains(msg, "metrics.skip entry = \"perplexity\", but must be one of: "));
      CHECK(contains(msg, "wasserstein2"));
    }
    SUBCASE("zipf truth parameters") {
      const auto msg = error_of(d.write("z.toml", R"(
[experiment]
generations = 1
[truth]
kind = "zipf_mandelbrot"
vocab_size = 100
exponent = 1.1
offset = -2
[model]
kind = "ngram"
[loop]
samples_per_generation = 10
)"));
      CHECK(contains(msg, "truth.offset = -2, but must be > -1"));
    }
    SUBCASE("TOML syntax error gives the line") {
      CHECK(contains(error_of(d.write("x.toml", "[experiment]\ngenerations = = 3\n")), "line 2"));
    }
    SUBCASE("missing experiment file") { CHECK(contains(error_of((fs::temp_directory_path() / "nope.toml").string()), "cannot open")); }
  }
}
