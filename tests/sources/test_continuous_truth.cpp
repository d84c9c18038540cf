// Tests of src/sources/continuous_truth.hpp: CSV tables, empirical quantiles, table and analytic truths.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "core/rng.hpp"
#include "sources/continuous_truth.hpp"
#include "test_support.hpp"

using namespace collapse;
// A missing exception gives "", which fails every contains(...) check on the message.
using collapse::testing::contains;
using collapse::testing::invalid_argument_message;
using collapse::testing::TempDir;

namespace {

/// The rows of `m` as vectors, sorted: a multiset of rows.
std::vector<std::vector<double>> sorted_rows(const Eigen::MatrixXd& m) {
  std::vector<std::vector<double>> out;
  for (Eigen::Index i = 0; i < m.rows(); ++i) {
    std::vector<double> r;
    for (Eigen::Index j = 0; j < m.cols(); ++j) r.push_back(m(i, j));
    out.push_back(std::move(r));
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// n × 2 table: column 0 is the row number (distinct), column 1 is row mod 3 (repeats).
Eigen::MatrixXd numbered_rows(int n) {
  Eigen::MatrixXd m(n, 2);
  for (int i = 0; i < n; ++i) {
    m(i, 0) = i;
    m(i, 1) = i % 3;
  }
  return m;
}

Eigen::MatrixXd mat1(double v) { return Eigen::MatrixXd::Constant(1, 1, v); }

// Φ^{-1}(0.995) and Φ^{-1}(0.975).
constexpr double kZ995 = 2.5758293035489004;
constexpr double kZ975 = 1.959963984540054;

}  // namespace

TEST_SUITE("sources/continuous_truth") {

// ---- read_csv ----------------------------------------------------------------------------------

TEST_CASE("read_csv: reads all columns in file order") {
  TempDir dir;
  const auto path = dir.write("t.csv", "a,b,c\n1,2,3\n4.5,-5,6e2\n");
  const Eigen::MatrixXd m = read_csv(path, {});
  REQUIRE(m.rows() == 2);
  REQUIRE(m.cols() == 3);
  CHECK(m(0, 0) == 1.0);
  CHECK(m(0, 2) == 3.0);
  CHECK(m(1, 0) == 4.5);
  CHECK(m(1, 1) == -5.0);
  CHECK(m(1, 2) == 600.0);
}

TEST_CASE("read_csv: keeps the selected columns in the requested order") {
  TempDir dir;
  const auto path = dir.write("t.csv", "a,b,c\n1,2,3\n4,5,6\n");
  const Eigen::MatrixXd m = read_csv(path, {"c", "a"});
  REQUIRE(m.rows() == 2);
  REQUIRE(m.cols() == 2);
  CHECK(m(0, 0) == 3.0);
  CHECK(m(0, 1) == 1.0);
  CHECK(m(1, 0) == 6.0);
  CHECK(m(1, 1) == 4.0);
  const Eigen::MatrixXd b = read_csv(path, {"b"});
  CHECK(b.cols() == 1);
  CHECK(b(1, 0) == 5.0);
}

TEST_CASE("read_csv: tolerates CRLF, quoted headers, blanks around cells and blank lines") {
  TempDir dir;
  const auto path = dir.write("t.csv", "\"eruptions\", \"waiting\"\r\n3.6, 79\r\n\r\n 1.8 ,54\r\n");
  const Eigen::MatrixXd m = read_csv(path, {"waiting"});
  REQUIRE(m.rows() == 2);
  CHECK(m(0, 0) == 79.0);
  CHECK(m(1, 0) == 54.0);
}

TEST_CASE("read_csv: a missing file is an error naming the path") {
  TempDir dir;
  const std::string path = (dir.path() / "no_such_file.csv").string();
  const auto msg = invalid_argument_message([&] { read_csv(path, {}); });
  CHECK(contains(msg, path));
}

TEST_CASE("read_csv: an unknown column is an error listing the available ones") {
  TempDir dir;
  const auto path = dir.write("t.csv", "a,b,c\n1,2,3\n");
  const auto msg = invalid_argument_message([&] { read_csv(path, {"a", "z"}); });
  CHECK(contains(msg, "\"z\""));
  CHECK(contains(msg, "a | b | c"));
  CHECK(contains(msg, path));
}

TEST_CASE("read_csv: a non-numeric cell is an error with file:line and the column") {
  TempDir dir;
  const auto path = dir.write("t.csv", "a,b\n1,2\n3,oops\n");
  const auto msg = invalid_argument_message([&] { read_csv(path, {}); });
  CHECK(contains(msg, path + ":3"));
  CHECK(contains(msg, "column \"b\""));
  CHECK(contains(msg, "\"oops\""));
  // Trailing garbage and empty cells are not numbers either.
  const auto p2 = dir.write("u.csv", "a,b\n1.5x,2\n");
  CHECK(contains(invalid_argument_message([&] { read_csv(p2, {}); }), p2 + ":2"));
  const auto p3 = dir.write("v.csv", "a,b\n1,\n");
  CHECK(contains(invalid_argument_message([&] { read_csv(p3, {}); }), "column \"b\""));
  // A cell in a column that is not selected is not parsed.
  CHECK(read_csv(path, {"a"}).rows() == 2);
}

TEST_CASE("read_csv: a row with the wrong number of cells is an error with file:line") {
  TempDir dir;
  const auto path = dir.write("t.csv", "a,b\n1,2\n3,4,5\n");
  CHECK(contains(invalid_argument_message([&] { read_csv(path, {}); }), path + ":3"));
}

TEST_CASE("read_csv: a header without rows, or an empty file, is an error") {
  TempDir dir;
  const auto header_only = dir.write("h.csv", "a,b\n\n");
  const auto m1 = invalid_argument_message([&] { read_csv(header_only, {}); });
  CHECK(contains(m1, header_only));
  CHECK(contains(m1, "no rows"));
  const auto empty = dir.write("e.csv", "");
  const auto m2 = invalid_argument_message([&] { read_csv(empty, {}); });
  CHECK(contains(m2, empty));
  CHECK(contains(m2, "empty"));
}

TEST_CASE("read_csv: a non-finite value is an error") {
  TempDir dir;
  const auto path = dir.write("t.csv", "a\n1\nnan\n");
  CHECK(contains(invalid_argument_message([&] { read_csv(path, {}); }), path));
}

// ---- empirical_quantile ------------------------------------------------------------------------

TEST_CASE("empirical_quantile: matches numpy's linear method on hand cases") {
  // np.quantile(x, p) with the default method="linear": h = p (n − 1), x[⌊h⌋] + (h − ⌊h⌋)(x[⌊h⌋+1] − x[⌊h⌋]).
  CHECK(empirical_quantile({1, 2, 3, 4}, 0.25) == doctest::Approx(1.75).epsilon(1e-15));
  CHECK(empirical_quantile({4, 1, 3, 2}, 0.25) == doctest::Approx(1.75).epsilon(1e-15));  // input order irrelevant
  CHECK(empirical_quantile({1, 2, 3, 4}, 0.5) == doctest::Approx(2.5).epsilon(1e-15));
  CHECK(empirical_quantile({1, 2, 3, 4, 5}, 0.4) == doctest::Approx(2.6).epsilon(1e-15));
  CHECK(empirical_quantile({0, 1, 5, 10}, 0.9) == doctest::Approx(8.5).epsilon(1e-15));
  CHECK(empirical_quantile({10, 20}, 0.1) == doctest::Approx(11.0).epsilon(1e-15));
  CHECK(empirical_quantile({3, -7, 12}, 0.0) == -7.0);
  CHECK(empirical_quantile({3, -7, 12}, 1.0) == 12.0);
  CHECK(empirical_quantile({42}, 0.3) == 42.0);
}

TEST_CASE("empirical_quantile: no data or p outside [0, 1] is an error") {
  CHECK_THROWS_AS(empirical_quantile({}, 0.5), std::invalid_argument);
  CHECK_THROWS_AS(empirical_quantile({1, 2, 3}, 1.5), std::invalid_argument);
  CHECK_THROWS_AS(empirical_quantile({1, 2, 3}, -0.1), std::invalid_argument);
}

// ---- make_table_truth --------------------------------------------------------------------------

TEST_CASE("make_table_truth: holds out floor(f·n) rows; parts are disjoint and together are the table") {
  const Eigen::MatrixXd rows = numbered_rows(10);
  for (double f : {0.1, 0.25, 0.5, 0.9}) {
    CAPTURE(f);
    const auto t = make_table_truth("csv test", rows, f, 0.05, 7);
    const auto held = static_cast<Eigen::Index>(std::floor(f * 10));
    CHECK(t->heldout.rows() == held);
    CHECK(t->train.rows() == 10 - held);
    CHECK(t->train.cols() == 2);
    CHECK(t->heldout.cols() == 2);
    // Column 0 identifies the row: disjoint parts.
    std::set<double> train_ids, held_ids;
    for (Eigen::Index i = 0; i < t->train.rows(); ++i) train_ids.insert(t->train(i, 0));
    for (Eigen::Index i = 0; i < t->heldout.rows(); ++i) held_ids.insert(t->heldout(i, 0));
    for (double id : held_ids) CHECK(train_ids.count(id) == 0);
    // Union = all rows, as a multiset of whole rows.
    Eigen::MatrixXd both(10, 2);
    both << t->train, t->heldout;
    CHECK(sorted_rows(both) == sorted_rows(rows));
    // Each part keeps the table's row order.
    for (Eigen::Index i = 1; i < t->train.rows(); ++i) CHECK(t->train(i - 1, 0) < t->train(i, 0));
    for (Eigen::Index i = 1; i < t->heldout.rows(); ++i) CHECK(t->heldout(i - 1, 0) < t->heldout(i, 0));
  }
}

TEST_CASE("make_table_truth: the split is deterministic for a seed and varies with it") {
  const Eigen::MatrixXd rows = numbered_rows(20);
  const auto a = make_table_truth("csv test", rows, 0.25, 0.05, 7);
  const auto b = make_table_truth("csv test", rows, 0.25, 0.05, 7);
  CHECK(a->heldout == b->heldout);
  CHECK(a->train == b->train);
  std::set<std::vector<double>> splits;
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    const auto t = make_table_truth("csv test", rows, 0.25, 0.05, seed);
    splits.insert(std::vector<double>(t->heldout.col(0).data(), t->heldout.col(0).data() + t->heldout.rows()));
  }
  CHECK(splits.size() > 1);
}

TEST_CASE("make_table_truth: heldout_fraction 0 makes both parts the whole table") {
  const Eigen::MatrixXd rows = numbered_rows(7);
  const auto t = make_table_truth("csv test", rows, 0.0, 0.05, 7);
  CHECK(t->train == rows);
  CHECK(t->heldout == rows);
  CHECK(!t->analytic.has_value());
  CHECK(t->description == "csv test");
}

TEST_CASE("make_table_truth: quantiles are empirical over all rows, per column") {
  const Eigen::MatrixXd rows = numbered_rows(10);  // column 0: 0..9; column 1: 0,1,2,0,1,2,0,1,2,0
  const auto t = make_table_truth("csv test", rows, 0.5, 0.1, 7);
  REQUIRE(t->dim() == 2);
  CHECK(t->tail_probability == 0.1);
  // Column 0: h = 0.1·9 = 0.9 → 0.9; h = 0.9·9 = 8.1 → 8.1 (over all 10 rows, not the 5 training rows).
  CHECK(t->lower_quantile[0] == doctest::Approx(0.9).epsilon(1e-12));
  CHECK(t->upper_quantile[0] == doctest::Approx(8.1).epsilon(1e-12));
  // Column 1 sorted: 0 0 0 0 1 1 1 2 2 2.
  CHECK(t->lower_quantile[1] == doctest::Approx(0.0));
  CHECK(t->upper_quantile[1] == doctest::Approx(2.0));
}

TEST_CASE("make_table_truth: invalid heldout_fraction or tail_probability names the key") {
  const Eigen::MatrixXd rows = numbered_rows(10);
  CHECK(invalid_argument_message([&] { make_table_truth("t", rows, 0.95, 0.05, 1); }) ==
        "truth.heldout_fraction = 0.95, but must be in [0, 0.9]");
  CHECK(contains(invalid_argument_message([&] { make_table_truth("t", rows, -0.1, 0.05, 1); }),
                 "truth.heldout_fraction"));
  for (double q : {0.0, 0.5, 0.7, 1.5}) {
    CAPTURE(q);
    CHECK(contains(invalid_argument_message([&] { make_table_truth("t", rows, 0.2, q, 1); }),
                   "metrics.tail_probability"));
  }
}

TEST_CASE("ContinuousTruth::draw (table): distinct training rows; n > rows names loop.samples_per_generation") {
  const auto t = make_table_truth("csv test", numbered_rows(10), 0.2, 0.05, 3);
  REQUIRE(t->train.rows() == 8);
  std::set<double> train_ids;
  for (Eigen::Index i = 0; i < t->train.rows(); ++i) train_ids.insert(t->train(i, 0));
  Rng rng = stream_rng(5, 0, Stream::mix);
  for (std::size_t n : {0u, 1u, 5u, 8u}) {
    CAPTURE(n);
    const Eigen::MatrixXd d = t->draw(n, rng);
    REQUIRE(d.rows() == static_cast<Eigen::Index>(n));
    CHECK(d.cols() == 2);
    std::set<double> ids;
    for (Eigen::Index i = 0; i < d.rows(); ++i) {
      ids.insert(d(i, 0));
      CHECK(train_ids.count(d(i, 0)) == 1);
      CHECK(d(i, 1) == static_cast<double>(static_cast<int>(d(i, 0)) % 3));  // whole rows, not mixed cells
    }
    CHECK(ids.size() == n);  // without replacement
  }
  const auto msg = invalid_argument_message([&] { t->draw(9, rng); });
  CHECK(contains(msg, "loop.samples_per_generation = 9"));
  CHECK(contains(msg, "csv test"));
  CHECK(contains(msg, "8"));
}

// ---- make_gaussian_truth -----------------------------------------------------------------------

TEST_CASE("make_gaussian_truth: N(0, 1) quantiles at q = 0.005 are ±2.5758293035489") {
  const auto t = make_gaussian_truth(Eigen::VectorXd::Ones(1), Eigen::MatrixXd::Zero(1, 1), {mat1(1.0)}, 100, 0.005, 1);
  REQUIRE(t->dim() == 1);
  CHECK(std::abs(t->lower_quantile[0] + kZ995) < 1e-9);
  CHECK(std::abs(t->upper_quantile[0] - kZ995) < 1e-9);
  CHECK(t->tail_probability == 0.005);
  CHECK(t->analytic.has_value());
  CHECK(t->train.rows() == 0);
  CHECK(t->description == "gaussian_mixture K=1 d=1");
}

TEST_CASE("make_gaussian_truth: per-dimension quantiles use each marginal's scale and location") {
  // N((1, −2), [[4, 0.5], [0.5, 0.25]]): marginals N(1, 2²) and N(−2, 0.5²); q = 0.025.
  const Eigen::MatrixXd mu = (Eigen::MatrixXd(1, 2) << 1.0, -2.0).finished();
  const Eigen::MatrixXd S = (Eigen::MatrixXd(2, 2) << 4.0, 0.5, 0.5, 0.25).finished();
  const auto t = make_gaussian_truth(Eigen::VectorXd::Ones(1), mu, {S}, 10, 0.025, 1);
  REQUIRE(t->dim() == 2);
  CHECK(std::abs(t->lower_quantile[0] - (1.0 - 2.0 * kZ975)) < 1e-9);
  CHECK(std::abs(t->upper_quantile[0] - (1.0 + 2.0 * kZ975)) < 1e-9);
  CHECK(std::abs(t->lower_quantile[1] - (-2.0 - 0.5 * kZ975)) < 1e-9);
  CHECK(std::abs(t->upper_quantile[1] - (-2.0 + 0.5 * kZ975)) < 1e-9);
}

TEST_CASE("make_gaussian_truth: a symmetric mixture has symmetric quantiles at the right level") {
  const Eigen::VectorXd w = (Eigen::VectorXd(2) << 0.5, 0.5).finished();
  const Eigen::MatrixXd mu = (Eigen::MatrixXd(2, 1) << -3.0, 3.0).finished();
  const auto t = make_gaussian_truth(w, mu, {mat1(1.0), mat1(1.0)}, 10, 0.005, 1);
  CHECK(std::abs(t->lower_quantile[0] + t->upper_quantile[0]) < 1e-9);
  CHECK(std::abs(t->analytic->marginal_cdf(0, t->lower_quantile[0]) - 0.005) < 1e-12);
  CHECK(t->description == "gaussian_mixture K=2 d=1");
}

TEST_CASE("make_gaussian_truth: the held-out sample is deterministic for a seed and follows the truth") {
  const Eigen::MatrixXd mu = (Eigen::MatrixXd(1, 2) << 1.0, -2.0).finished();
  const Eigen::MatrixXd S = (Eigen::MatrixXd(2, 2) << 4.0, 0.5, 0.5, 0.25).finished();
  constexpr std::size_t n = 20000;
  const auto a = make_gaussian_truth(Eigen::VectorXd::Ones(1), mu, {S}, n, 0.005, 42);
  const auto b = make_gaussian_truth(Eigen::VectorXd::Ones(1), mu, {S}, n, 0.005, 42);
  const auto c = make_gaussian_truth(Eigen::VectorXd::Ones(1), mu, {S}, n, 0.005, 43);
  REQUIRE(a->heldout.rows() == static_cast<Eigen::Index>(n));
  REQUIRE(a->heldout.cols() == 2);
  CHECK(a->heldout == b->heldout);
  CHECK(a->heldout.row(0) != c->heldout.row(0));
  // Column means within 5 SE of (1, −2) (SE = σ_j/√n; false alarm ≈ 1.1e-6 for the two checks).
  const Eigen::RowVectorXd mean = a->heldout.colwise().mean();
  INFO("held-out column means: " << mean(0) << ", " << mean(1));
  CHECK(std::abs(mean(0) - 1.0) < 5 * 2.0 / std::sqrt(double(n)));
  CHECK(std::abs(mean(1) + 2.0) < 5 * 0.5 / std::sqrt(double(n)));
}

TEST_CASE("make_gaussian_truth: draw gives fresh n × d samples") {
  const auto t = make_gaussian_truth(Eigen::VectorXd::Ones(1), Eigen::MatrixXd::Zero(1, 3),
                                     {Eigen::MatrixXd::Identity(3, 3)}, 10, 0.005, 1);
  Rng rng = stream_rng(9, 0, Stream::mix);
  const Eigen::MatrixXd x = t->draw(50, rng);
  const Eigen::MatrixXd y = t->draw(50, rng);
  CHECK(x.rows() == 50);
  CHECK(x.cols() == 3);
  CHECK(x != y);
  CHECK(t->draw(200000, rng).rows() == 200000);  // no training-size limit for an analytic truth
}

TEST_CASE("make_gaussian_truth: invalid parameters name the experiment keys") {
  const Eigen::VectorXd w1 = Eigen::VectorXd::Ones(1);
  const Eigen::MatrixXd m1 = Eigen::MatrixXd::Zero(1, 1);
  CHECK(contains(invalid_argument_message([&] { make_gaussian_truth(w1, m1, {mat1(1.0)}, 0, 0.005, 1); }),
                 "truth.heldout_samples"));
  CHECK(contains(invalid_argument_message([&] { make_gaussian_truth(w1, m1, {mat1(1.0)}, 10, 0.6, 1); }),
                 "metrics.tail_probability"));
  CHECK(contains(invalid_argument_message([&] { make_gaussian_truth(w1, m1, {mat1(-1.0)}, 10, 0.005, 1); }),
                 "truth.covariances[0]"));
  const Eigen::VectorXd w2 = (Eigen::VectorXd(2) << 0.5, 0.4).finished();
  const Eigen::MatrixXd m2 = Eigen::MatrixXd::Zero(2, 1);
  CHECK(contains(invalid_argument_message([&] { make_gaussian_truth(w2, m2, {mat1(1.0), mat1(1.0)}, 10, 0.005, 1); }),
                 "truth.weights"));
}

}  // TEST_SUITE
