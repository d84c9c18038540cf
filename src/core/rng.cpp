#include "core/rng.hpp"

namespace collapse {

std::uint64_t splitmix64(std::uint64_t x) noexcept {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

std::uint64_t fnv1a64(std::string_view bytes) noexcept {
  std::uint64_t h = 0xCBF29CE484222325ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001B3ULL;
  }
  return h;
}

std::uint64_t run_seed(std::uint64_t master_seed, std::uint64_t run_key, std::uint64_t replicate) noexcept {
  return splitmix64(master_seed ^ splitmix64(run_key ^ splitmix64(replicate)));
}

Rng stream_rng(std::uint64_t seed, std::int64_t generation, Stream stream) noexcept {
  const std::uint64_t g = splitmix64(static_cast<std::uint64_t>(generation));
  const std::uint64_t s = splitmix64(seed ^ g ^ splitmix64(0xC0FFEEULL + static_cast<std::uint64_t>(stream)));
  return Rng(s);
}

}  // namespace collapse


#include <boost/random/uniform_int_distribution.hpp>
#include <numeric>
#include <utility>

namespace collapse {
std::vector<std::size_t> sample_without_replacement(std::size_t n, std::size_t k, Rng& rng) {
  std::vector<std::size_t> idx(n);
  std::iota(idx.begin(), idx.end(), std::size_t{0});
  if (k > n) k = n;
  for (std::size_t i = 0; i < k; ++i) {
    boost::random::uniform_int_distribution<std::size_t> pick(i, n - 1);
    std::swap(idx[i], idx[pick(rng)]);
  }
  idx.resize(k);
  return idx;
}
}  // namespace collapse
