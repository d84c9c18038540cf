#include "sources/zipf.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

#include "core/check.hpp"

namespace collapse {

namespace {

constexpr std::size_t kMaxVocab = 10'000'000;
constexpr std::size_t kMaxHeldout = 100'000'000;

void check_vocab_size(std::size_t v) {
  if (v < 1 || v > kMaxVocab)
    throw std::invalid_argument("truth.vocab_size = " + std::to_string(v) + ", but must be in [1, " +
                                std::to_string(kMaxVocab) + "]");
}

void check_exponent(double s) {
  if (!(std::isfinite(s) && s > 0))
    throw std::invalid_argument("truth.exponent = " + format_number(s) + ", but must be > 0 and finite");
}

void check_offset(double b) {
  if (!(std::isfinite(b) && b > -1))
    throw std::invalid_argument("truth.offset = " + format_number(b) + ", but must be > -1 and finite");
}

void check_sizes(std::size_t sentence_length, std::size_t heldout_tokens) {
  if (sentence_length < 1)
    throw std::invalid_argument("truth.sentence_length = " + std::to_string(sentence_length) + ", but must be ≥ 1");
  if (heldout_tokens < 1 || heldout_tokens > kMaxHeldout)
    throw std::invalid_argument("truth.heldout_tokens = " + std::to_string(heldout_tokens) + ", but must be in [1, " +
                                std::to_string(kMaxHeldout) + "]");
}

std::shared_ptr<const TextTruth> make_analytic(std::string description, std::vector<double> pmf,
                                               std::size_t sentence_length, std::size_t heldout_tokens,
                                               std::uint64_t seed) {
  auto t = std::make_shared<TextTruth>();
  t->description = std::move(description);
  t->analytic.emplace(pmf, "truth.pmf");
  t->unigram = std::move(pmf);
  t->sentence_length = sentence_length;
  Rng rng = stream_rng(seed, -1, Stream::split);
  t->heldout = t->draw(heldout_tokens, rng);
  return t;
}

}  // namespace

std::vector<double> zipf_mandelbrot_pmf(std::size_t vocab_size, double exponent, double offset) {
  check_vocab_size(vocab_size);
  check_exponent(exponent);
  check_offset(offset);
  std::vector<double> p(vocab_size);
  // Relative to the first term, ((r + b) / (1 + b))^(−a) ∈ (0, 1]: no overflow when 1 + b is tiny.
  for (std::size_t r = 1; r <= vocab_size; ++r)
    p[r - 1] = std::pow((static_cast<double>(r) + offset) / (1.0 + offset), -exponent);
  // Normaliser summed from the smallest term up, with compensation.
  double sum = 0, carry = 0;
  for (std::size_t i = vocab_size; i-- > 0;) {
    const double y = p[i] - carry;
    const double t = sum + y;
    carry = (t - sum) - y;
    sum = t;
  }
  for (auto& x : p) x /= sum;
  return p;
}

std::shared_ptr<const TextTruth> make_zipf_truth(std::size_t vocab_size, double exponent, std::size_t sentence_length,
                                                 std::size_t heldout_tokens, std::uint64_t seed) {
  auto pmf = zipf_mandelbrot_pmf(vocab_size, exponent, 0.0);
  check_sizes(sentence_length, heldout_tokens);
  return make_analytic("zipf V=" + std::to_string(vocab_size) + " exponent=" + format_number(exponent), std::move(pmf),
                       sentence_length, heldout_tokens, seed);
}

std::shared_ptr<const TextTruth> make_zipf_mandelbrot_truth(std::size_t vocab_size, double a, double b,
                                                            std::size_t sentence_length, std::size_t heldout_tokens,
                                                            std::uint64_t seed) {
  auto pmf = zipf_mandelbrot_pmf(vocab_size, a, b);
  check_sizes(sentence_length, heldout_tokens);
  return make_analytic("zipf_mandelbrot V=" + std::to_string(vocab_size) + " exponent=" + format_number(a) +
                           " offset=" + format_number(b),
                       std::move(pmf), sentence_length, heldout_tokens, seed);
}

}  // namespace collapse
