#include "core/corpus.hpp"

#include <stdexcept>

namespace collapse {

Eigen::MatrixXd select(const Eigen::MatrixXd& x, std::span<const std::size_t> index) {
  Eigen::MatrixXd out(static_cast<Eigen::Index>(index.size()), x.cols());
  for (std::size_t i = 0; i < index.size(); ++i) out.row(static_cast<Eigen::Index>(i)) = x.row(static_cast<Eigen::Index>(index[i]));
  return out;
}

Corpus select(const Corpus& c, std::span<const std::size_t> index) {
  Corpus out;
  std::size_t n = 0;
  for (auto i : index) n += c.sentence_length(i);
  out.reserve(index.size(), n);
  for (auto i : index) out.add_sentence(c.sentence(i));
  return out;
}

void append(Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
  if (b.rows() == 0) return;
  if (a.rows() == 0) {
    a = b;
    return;
  }
  if (a.cols() != b.cols())
    throw std::invalid_argument("append: column counts differ (" + std::to_string(a.cols()) + " vs " +
                                std::to_string(b.cols()) + ")");
  const Eigen::Index r = a.rows();
  a.conservativeResize(r + b.rows(), Eigen::NoChange);
  a.bottomRows(b.rows()) = b;
}

void append(Corpus& a, const Corpus& b) {
  const std::size_t base = a.tokens.size();
  a.tokens.insert(a.tokens.end(), b.tokens.begin(), b.tokens.end());
  a.offsets.reserve(a.offsets.size() + b.num_sentences());
  for (std::size_t i = 1; i < b.offsets.size(); ++i) a.offsets.push_back(base + b.offsets[i]);
}

void truncate_to_size(Corpus& c, std::size_t size) {
  if (c.num_tokens() <= size) return;
  std::size_t s = 0;
  while (s < c.num_sentences() && c.offsets[s + 1] <= size) ++s;
  // Sentences [0, s) fit whole; sentence s is cut to end at `size` unless that leaves it empty.
  c.tokens.resize(size);
  c.offsets.resize(s + 1);
  if (c.offsets.back() < size) c.offsets.push_back(size);
}

void truncate_to_size(Eigen::MatrixXd& x, std::size_t size) {
  if (static_cast<std::size_t>(x.rows()) > size) x.conservativeResize(static_cast<Eigen::Index>(size), Eigen::NoChange);
}

}  // namespace collapse
