// Tests of src/core/check.hpp: message texts are part of the contract (DESIGN.md §2).

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/check.hpp"
#include "test_support.hpp"

using namespace collapse;

namespace {
using collapse::testing::invalid_argument_message;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
}  // namespace

TEST_SUITE("core/check") {

TEST_CASE("format_number: shortest round-trip form, nan and inf spelled out") {
  CHECK(format_number(1.5) == "1.5");
  CHECK(format_number(0.1) == "0.1");
  CHECK(format_number(100) == "100");
  CHECK(format_number(0) == "0");
  CHECK(format_number(-2.25) == "-2.25");
  CHECK(format_number(1e-300) == "1e-300");
  CHECK(format_number(kNaN) == "nan");
  CHECK(format_number(kInf) == "inf");
  CHECK(format_number(-kInf) == "-inf");
  for (double v : {0.1 + 0.2, 1.0 / 3.0, 6.02214076e23, -1.7976931348623157e308}) {
    CAPTURE(v);
    CHECK(std::stod(format_number(v)) == v);
  }
}

TEST_CASE("join: separates with ' | ' by default") {
  CHECK(join({}) == "");
  CHECK(join({"a"}) == "a");
  CHECK(join({"a", "b", "c"}) == "a | b | c");
  CHECK(join({"x", "y"}, ", ") == "x, y");
}

TEST_CASE("check_in_range: message names key, value and the closed interval") {
  CHECK(invalid_argument_message([] { check_in_range("loop.real_fraction", 1.5, 0, 1); }) ==
        "loop.real_fraction = 1.5, but must be in [0, 1]");
  CHECK(invalid_argument_message([] { check_in_range("loop.real_fraction", -0.25, 0, 1); }) ==
        "loop.real_fraction = -0.25, but must be in [0, 1]");
  CHECK(invalid_argument_message([] { check_in_range("loop.real_fraction", kNaN, 0, 1); }) ==
        "loop.real_fraction = nan, but must be in [0, 1]");
  CHECK_NOTHROW(check_in_range("k", 0, 0, 1));  // both ends are allowed
  CHECK_NOTHROW(check_in_range("k", 1, 0, 1));
  CHECK_NOTHROW(check_in_range("k", 0.5, 0, 1));
}

TEST_CASE("check_positive / check_nonnegative / check_at_least: messages and boundaries") {
  CHECK(invalid_argument_message([] { check_positive("model.tol", 0); }) == "model.tol = 0, but must be > 0");
  CHECK(invalid_argument_message([] { check_positive("model.tol", kNaN); }) == "model.tol = nan, but must be > 0");
  CHECK_NOTHROW(check_positive("model.tol", 1e-300));

  CHECK(invalid_argument_message([] { check_nonnegative("model.reg_covar", -1); }) ==
        "model.reg_covar = -1, but must be ≥ 0");
  CHECK_NOTHROW(check_nonnegative("model.reg_covar", 0));

  CHECK(invalid_argument_message([] { check_at_least("truth.heldout_samples", 0, 1); }) ==
        "truth.heldout_samples = 0, but must be ≥ 1");
  CHECK_NOTHROW(check_at_least("truth.heldout_samples", 1, 1));
}

TEST_CASE("check_one_of: message quotes the value and lists the allowed values") {
  const std::vector<std::string> allowed = {"replace", "mix", "accumulate"};
  CHECK(invalid_argument_message([&] { check_one_of("loop.anchoring", "mixx", allowed); }) ==
        "loop.anchoring = \"mixx\", but must be one of: replace | mix | accumulate");
  CHECK_NOTHROW(check_one_of("loop.anchoring", "accumulate", allowed));
  CHECK_THROWS_AS(check_one_of("loop.anchoring", "Mix", allowed), std::invalid_argument);  // case matters
}

TEST_CASE("check_size: message gives the actual and expected counts") {
  CHECK(invalid_argument_message([] { check_size("truth.means", 2, 3); }) ==
        "truth.means has 2 values, but must have 3");
  CHECK_NOTHROW(check_size("truth.means", 3, 3));
}

TEST_CASE("check_finite: names the key, the value and its position") {
  const double ok[] = {0.0, -1.0, 1e308};
  CHECK_NOTHROW(check_finite("x", ok, 3));
  const double bad[] = {1.0, 2.0, kInf, kNaN};
  const auto msg = invalid_argument_message([&] { check_finite("truth.means", bad, 4); });
  CHECK(msg.find("truth.means contains a non-finite value") == 0);
  CHECK(msg.find("inf") != std::string::npos);
  CHECK(msg.find("position 2") != std::string::npos);  // the first offender
  CHECK_NOTHROW(check_finite("x", bad, 2));             // only the first n values are read
}

TEST_CASE("NumericalError: is a runtime_error, not an invalid_argument") {
  const NumericalError e("covariance is not positive definite");
  const std::runtime_error* base = &e;
  CHECK(std::string(base->what()) == "covariance is not positive definite");
  CHECK(dynamic_cast<const std::invalid_argument*>(base) == nullptr);
}

}  // TEST_SUITE
