// Tests of src/metrics/registry.hpp: every metric is documented, names are unique and usable as HDF5
// dataset names, lookups fail loudly.

#include <doctest/doctest.h>

#include <algorithm>

#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "metrics/registry.hpp"

using namespace collapse;
using namespace collapse::metrics;

namespace {
const Family kFamilies[] = {Family::gaussian_mixture, Family::ngram};

/// Lower-case letters, digits and '_' only: a plain HDF5 dataset name (no '/', no '.').
bool is_plain_name(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}
}  // namespace

TEST_SUITE("metrics/registry") {

TEST_CASE("metric_infos: every metric has a plain unique name, units and a description") {
  for (Family f : kFamilies) {
    const auto& infos = metric_infos(f);
    CHECK(!infos.empty());
    std::set<std::string> names;
    for (const auto& m : infos) {
      CAPTURE(m.name);
      CHECK(is_plain_name(m.name));
      CHECK(!m.units.empty());
      CHECK(m.description.size() > 10);
      CHECK(names.insert(m.name).second);  // unique within the family
    }
  }
}

TEST_CASE("metric_infos: both families record the provenance metrics") {
  for (Family f : kFamilies) {
    CHECK(metric_info(f, "real_fraction").units == "1");
    CHECK(metric_info(f, "synthetic_age").units == "generations");
  }
}

TEST_CASE("metric_infos: family-specific metrics with their units") {
  CHECK(metric_info(Family::gaussian_mixture, "total_variance").units == "data units^2");
  CHECK(metric_info(Family::gaussian_mixture, "heldout_log_likelihood").units == "nats/sample");
  CHECK(metric_info(Family::ngram, "unigram_entropy").units == "bits");
  CHECK(metric_info(Family::ngram, "distinct_types").units == "types");
  // The order is stable: the same reference every call.
  CHECK(&metric_infos(Family::ngram) == &metric_infos(Family::ngram));
}

TEST_CASE("metric_info: unknown or other-family names throw std::logic_error naming the metric") {
  CHECK_THROWS_AS(metric_info(Family::ngram, "no_such_metric"), std::logic_error);
  try {
    metric_info(Family::ngram, "total_variance");  // a GMM metric
    FAIL("metric_info did not throw for a GMM metric asked of the n-gram family");
  } catch (const std::logic_error& e) {
    CHECK(std::string(e.what()).find("total_variance") != std::string::npos);
  }
  CHECK_THROWS_AS(metric_info(Family::gaussian_mixture, "perplexity"), std::logic_error);
}

TEST_CASE("trajectory_infos: GMM shapes follow K and d; n-gram shapes are fixed") {
  const auto ng = trajectory_infos(Family::ngram, 3, 2);
  REQUIRE(ng.size() == 3);
  for (const auto& info : ng) CHECK(info.shape == std::vector<std::uint64_t>{info.name == "unigram_head" ? kUnigramHeadSize : kRankGridSize});
  const auto grid = trajectory_rank_grid();
  REQUIRE(grid.size() == kRankGridSize);
  CHECK(grid[0] == 1);
  CHECK(grid[1] == 1);   // round(10^0.1) = round(1.26)
  CHECK(grid[5] == 3);   // round(10^0.5) = round(3.16)
  CHECK(grid[10] == 10);
  CHECK(grid[13] == 20);  // round(19.95)
  CHECK(grid[70] == 10000000);
  // Distinct ranks up to 100: 10 per decade (hand values of round(10^(j/10))).
  std::vector<std::uint64_t> upto100(grid.begin(), grid.begin() + 21);
  upto100.erase(std::unique(upto100.begin(), upto100.end()), upto100.end());
  CHECK(upto100 == std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6, 8, 10, 13, 16, 20, 25, 32, 40, 50, 63, 79, 100});
  CHECK(std::is_sorted(grid.begin(), grid.end()));
  const auto t = trajectory_infos(Family::gaussian_mixture, 3, 2);
  std::set<std::string> names;
  for (const auto& info : t) {
    CAPTURE(info.name);
    CHECK(is_plain_name(info.name));
    CHECK(!info.units.empty());
    CHECK(!info.description.empty());
    CHECK(names.insert(info.name).second);
  }
  auto shape_of = [&](const std::string& name) {
    for (const auto& info : t)
      if (info.name == name) return info.shape;
    FAIL("no trajectory named " << name);
    return std::vector<std::uint64_t>{};
  };
  CHECK(shape_of("gmm_weights") == std::vector<std::uint64_t>{3});
  CHECK(shape_of("gmm_means") == std::vector<std::uint64_t>{3, 2});
  CHECK(shape_of("gmm_covariances") == std::vector<std::uint64_t>{3, 2, 2});
  CHECK(shape_of("tail_mass_per_dim") == std::vector<std::uint64_t>{2});

  const auto t1 = trajectory_infos(Family::gaussian_mixture, 1, 5);
  CHECK(t1.size() == t.size());
}

}  // TEST_SUITE
