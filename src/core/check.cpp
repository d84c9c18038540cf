#include "core/check.hpp"

#include <charconv>
#include <cmath>

namespace collapse {

std::string format_number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  return std::string(buf, end);
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += sep;
    out += items[i];
  }
  return out;
}

namespace {
[[noreturn]] void fail(std::string_view key, double v, std::string_view rule) {
  throw std::invalid_argument(std::string(key) + " = " + format_number(v) + ", but must be " + std::string(rule));
}
}  // namespace

void check_in_range(std::string_view key, double v, double lo, double hi) {
  if (!(v >= lo && v <= hi)) fail(key, v, "in [" + format_number(lo) + ", " + format_number(hi) + "]");
}
void check_positive(std::string_view key, double v) {
  if (!(v > 0)) fail(key, v, "> 0");
}
void check_nonnegative(std::string_view key, double v) {
  if (!(v >= 0)) fail(key, v, "≥ 0");
}
void check_at_least(std::string_view key, double v, double lo) {
  if (!(v >= lo)) fail(key, v, "≥ " + format_number(lo));
}
void check_one_of(std::string_view key, std::string_view v, const std::vector<std::string>& allowed) {
  for (const auto& a : allowed)
    if (a == v) return;
  throw std::invalid_argument(std::string(key) + " = \"" + std::string(v) + "\", but must be one of: " + join(allowed));
}
void check_size(std::string_view key, std::size_t n, std::size_t expected) {
  if (n != expected)
    throw std::invalid_argument(std::string(key) + " has " + std::to_string(n) + " values, but must have " +
                                std::to_string(expected));
}
void check_finite(std::string_view key, const double* values, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (!std::isfinite(values[i]))
      throw std::invalid_argument(std::string(key) + " contains a non-finite value (" + format_number(values[i]) +
                                  " at position " + std::to_string(i) + ")");
}

}  // namespace collapse
