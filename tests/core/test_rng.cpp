// Tests of src/core/rng.hpp: seed derivation (DESIGN.md §3) and sampling without replacement.

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <boost/math/distributions/chi_squared.hpp>

#include "core/rng.hpp"

using namespace collapse;

namespace {

constexpr std::uint64_t kGoldenGamma = 0x9E3779B97F4A7C15ULL;

/// Upper critical value of the chi-square distribution with `df` degrees of freedom at false-alarm
/// rate `alpha`: a statistic above it rejects uniformity with probability `alpha` under H0.
double chi_square_critical(double df, double alpha) {
  return boost::math::quantile(boost::math::complement(boost::math::chi_squared(df), alpha));
}

struct ChiSquare {
  double statistic = 0;
  std::string table;  // per-bucket counts, printed when the test fails
};

ChiSquare chi_square_uniform(const std::vector<std::size_t>& counts) {
  std::size_t total = 0;
  for (auto c : counts) total += c;
  const double expected = static_cast<double>(total) / static_cast<double>(counts.size());
  ChiSquare r;
  std::ostringstream os;
  os << "bucket: observed (expected " << expected << ")\n";
  for (std::size_t i = 0; i < counts.size(); ++i) {
    const double d = static_cast<double>(counts[i]) - expected;
    r.statistic += d * d / expected;
    os << "  " << i << ": " << counts[i] << "\n";
  }
  r.table = os.str();
  return r;
}

}  // namespace

TEST_SUITE("core/rng") {

TEST_CASE("splitmix64: equals the published SplitMix64 outputs for seed 0") {
  // Reference: Vigna's splitmix64.c (Steele, Lea & Flood 2014) seeded with state 0 yields
  // E220A8397B1DCDAF, 6E789E6AA1B965F4, 06C45D188009454F, F88BB8A8724C81EC. Its next() first adds the
  // golden gamma to the state and then mixes, as our splitmix64(x) does; so output i (0-based) of the
  // generator is splitmix64(i · gamma).
  CHECK(splitmix64(0) == 0xE220A8397B1DCDAFULL);
  CHECK(splitmix64(1 * kGoldenGamma) == 0x6E789E6AA1B965F4ULL);
  CHECK(splitmix64(2 * kGoldenGamma) == 0x06C45D188009454FULL);
  CHECK(splitmix64(3 * kGoldenGamma) == 0xF88BB8A8724C81ECULL);
}

TEST_CASE("splitmix64: is deterministic and distinct on nearby inputs") {
  std::set<std::uint64_t> seen;
  for (std::uint64_t x = 0; x < 1000; ++x) {
    CHECK(splitmix64(x) == splitmix64(x));
    seen.insert(splitmix64(x));
  }
  CHECK(seen.size() == 1000);  // a bijection never collides
}

TEST_CASE("fnv1a64: equals the published FNV-1a 64-bit test vectors") {
  CHECK(fnv1a64("") == 0xCBF29CE484222325ULL);  // the offset basis
  CHECK(fnv1a64("a") == 0xAF63DC4C8601EC8CULL);
  CHECK(fnv1a64("foobar") == 0x85944171F73967E8ULL);
}

TEST_CASE("fnv1a64: hashes every byte, including NUL and bytes ≥ 0x80") {
  using namespace std::string_view_literals;
  CHECK(fnv1a64("a\0"sv) != fnv1a64("a"sv));
  CHECK(fnv1a64("\xff"sv) != fnv1a64("\x7f"sv));
  CHECK(fnv1a64("ab") != fnv1a64("ba"));
}

TEST_CASE("run_seed: follows the documented formula and is deterministic") {
  for (std::uint64_t m : {0ULL, 7ULL, 0xFFFFFFFFFFFFFFFFULL})
    for (std::uint64_t k : {0ULL, 1ULL, 0x123456789ABCDEFULL})
      for (std::uint64_t r : {0ULL, 1ULL, 99ULL}) {
        CAPTURE(m);
        CAPTURE(k);
        CAPTURE(r);
        CHECK(run_seed(m, k, r) == splitmix64(m ^ splitmix64(k ^ splitmix64(r))));
        CHECK(run_seed(m, k, r) == run_seed(m, k, r));
      }
}

TEST_CASE("run_seed: differs across replicates, run keys and master seeds") {
  const std::uint64_t key = fnv1a64("model.components=2|loop.anchoring=replace");
  std::set<std::uint64_t> seeds;
  for (std::uint64_t r = 0; r < 100; ++r) seeds.insert(run_seed(7, key, r));
  CHECK(seeds.size() == 100);

  seeds.clear();
  for (std::uint64_t k = 0; k < 100; ++k) seeds.insert(run_seed(7, k, 0));
  CHECK(seeds.size() == 100);

  seeds.clear();
  for (std::uint64_t m = 0; m < 100; ++m) seeds.insert(run_seed(m, key, 0));
  CHECK(seeds.size() == 100);
}

TEST_CASE("run_seed: (key, replicate 1) and (key ^ 1, replicate 0) do not collide as a plain XOR would") {
  const std::uint64_t key = fnv1a64("x");
  CHECK(run_seed(7, key, 1) != run_seed(7, key ^ 1, 0));
  CHECK(run_seed(7, key, 0) != run_seed(7 ^ 1, key ^ 1, 0));
}

TEST_CASE("Stream: numeric values are the reproducibility contract") {
  CHECK(static_cast<std::uint32_t>(Stream::fit) == 1);
  CHECK(static_cast<std::uint32_t>(Stream::sample) == 2);
  CHECK(static_cast<std::uint32_t>(Stream::filter) == 3);
  CHECK(static_cast<std::uint32_t>(Stream::mix) == 4);
  CHECK(static_cast<std::uint32_t>(Stream::metric) == 5);
  CHECK(static_cast<std::uint32_t>(Stream::split) == 6);
}

TEST_CASE("stream_rng: every (generation, stream) gets a different engine") {
  const std::uint64_t seed = run_seed(7, fnv1a64("run"), 3);
  const Stream streams[] = {Stream::fit, Stream::sample, Stream::filter, Stream::mix, Stream::metric, Stream::split};
  std::set<std::uint64_t> first;
  std::size_t engines = 0;
  for (std::int64_t g = -1; g <= 50; ++g)
    for (Stream s : streams) {
      Rng rng = stream_rng(seed, g, s);
      first.insert(rng());
      ++engines;
    }
  CHECK(first.size() == engines);
}

TEST_CASE("stream_rng: is deterministic and depends on the run seed") {
  Rng a = stream_rng(42, 3, Stream::sample);
  Rng b = stream_rng(42, 3, Stream::sample);
  for (int i = 0; i < 100; ++i) CHECK(a() == b());
  Rng c = stream_rng(43, 3, Stream::sample);
  Rng d = stream_rng(42, 3, Stream::sample);
  CHECK(c() != d());
}

TEST_CASE("sample_without_replacement: k distinct indices, all < n") {
  Rng rng(12345);
  for (std::size_t n : {1u, 2u, 5u, 17u, 100u})
    for (std::size_t k = 0; k <= n; k += (n / 4 + 1)) {
      const auto idx = sample_without_replacement(n, k, rng);
      CAPTURE(n);
      CAPTURE(k);
      REQUIRE(idx.size() == k);
      CHECK(std::all_of(idx.begin(), idx.end(), [&](std::size_t i) { return i < n; }));
      CHECK(std::set<std::size_t>(idx.begin(), idx.end()).size() == k);
    }
}

TEST_CASE("sample_without_replacement: k = n is a permutation; k > n is clipped to n; n = 0 is empty") {
  Rng rng(1);
  auto all = sample_without_replacement(10, 10, rng);
  std::sort(all.begin(), all.end());
  CHECK(all == std::vector<std::size_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});

  auto clipped = sample_without_replacement(4, 9, rng);
  CHECK(clipped.size() == 4);
  std::sort(clipped.begin(), clipped.end());
  CHECK(clipped == std::vector<std::size_t>{0, 1, 2, 3});

  CHECK(sample_without_replacement(0, 0, rng).empty());
  CHECK(sample_without_replacement(0, 3, rng).empty());
  CHECK(sample_without_replacement(5, 0, rng).empty());
}

TEST_CASE("sample_without_replacement: same engine state gives the same draw") {
  Rng a(99), b(99);
  CHECK(sample_without_replacement(50, 20, a) == sample_without_replacement(50, 20, b));
}

TEST_CASE("sample_without_replacement: the index in position 0 is uniform (chi-square, false alarm 1e-4)") {
  // H0: position 0 is uniform on 0..n-1. With N = 100000 draws the statistic is ~ chi-square(n − 1);
  // the critical value at alpha = 1e-4 (df = 9: ≈ 33.72) makes a false alarm a 1-in-10^4 event.
  constexpr std::size_t n = 10, k = 3, draws = 100000;
  Rng rng = stream_rng(2024, 0, Stream::mix);
  std::vector<std::size_t> counts(n, 0);
  for (std::size_t t = 0; t < draws; ++t) ++counts[sample_without_replacement(n, k, rng)[0]];
  const auto r = chi_square_uniform(counts);
  const double critical = chi_square_critical(n - 1, 1e-4);
  INFO(r.table);
  INFO("chi-square = " << r.statistic << ", critical (df " << n - 1 << ", alpha 1e-4) = " << critical);
  CHECK(r.statistic < critical);
}

TEST_CASE("sample_without_replacement: ordered pairs (positions 0, 1) are uniform (chi-square, false alarm 1e-4)") {
  // Joint uniformity of the first two positions over the n(n − 1) = 30 ordered pairs (df = 29,
  // critical ≈ 66.15 at alpha = 1e-4), i.e. the joint law and not only the marginal of position 0.
  constexpr std::size_t n = 6, k = 2, draws = 60000;
  Rng rng = stream_rng(77, 5, Stream::mix);
  std::vector<std::size_t> counts(n * n, 0);
  for (std::size_t t = 0; t < draws; ++t) {
    const auto idx = sample_without_replacement(n, k, rng);
    ++counts[idx[0] * n + idx[1]];
  }
  std::vector<std::size_t> pairs;  // drop the impossible diagonal (i, i)
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      if (i != j) {
        pairs.push_back(counts[i * n + j]);
      } else {
        CHECK(counts[i * n + j] == 0);
      }
    }
  const auto r = chi_square_uniform(pairs);
  const double critical = chi_square_critical(static_cast<double>(pairs.size() - 1), 1e-4);
  INFO(r.table);
  INFO("chi-square = " << r.statistic << ", critical (df " << pairs.size() - 1 << ", alpha 1e-4) = " << critical);
  CHECK(r.statistic < critical);
}

}  // TEST_SUITE
