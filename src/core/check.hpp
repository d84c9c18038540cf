#pragma once
// Uniform input checks (in the spirit of Stan Math's check_* helpers): every message names the key,
// the value and what is allowed, e.g. "loop.real_fraction = 1.5, but must be in [0, 1]".

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace collapse {

/// A data-driven numerical failure (e.g. a covariance that is not positive definite even after
/// regularisation). The loop turns it into an event and goes on; it is never a user error.
class NumericalError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Formats a double the way TOML would show it (shortest form that round-trips).
std::string format_number(double v);

/// @throws std::invalid_argument "<key> = <v>, but must be in [lo, hi]".
void check_in_range(std::string_view key, double v, double lo, double hi);
/// @throws std::invalid_argument "<key> = <v>, but must be > 0".
void check_positive(std::string_view key, double v);
/// @throws std::invalid_argument "<key> = <v>, but must be ≥ 0".
void check_nonnegative(std::string_view key, double v);
/// @throws std::invalid_argument "<key> = <v>, but must be ≥ <lo>".
void check_at_least(std::string_view key, double v, double lo);
/// @throws std::invalid_argument "<key> = "<v>", but must be one of: a | b | c".
void check_one_of(std::string_view key, std::string_view v, const std::vector<std::string>& allowed);
/// @throws std::invalid_argument "<key> has <n> values, but must have <expected>".
void check_size(std::string_view key, std::size_t n, std::size_t expected);
/// @throws std::invalid_argument "<key> contains a non-finite value".
void check_finite(std::string_view key, const double* values, std::size_t n);

/// "a | b | c"
std::string join(const std::vector<std::string>& items, std::string_view sep = " | ");

}  // namespace collapse
