#include "sources/text_corpus.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

#include <boost/random/uniform_int_distribution.hpp>
#include <boost/random/uniform_real_distribution.hpp>

#include "core/check.hpp"

namespace collapse {

// ---- AliasTable --------------------------------------------------------------------------------

AliasTable::AliasTable(std::span<const double> weights, const std::string& key) {
  const std::size_t v = weights.size();
  if (v == 0) throw std::invalid_argument(key + " is empty, but must have at least one weight");
  if (v >= Vocabulary::kUnknown)
    throw std::invalid_argument(key + " has " + std::to_string(v) + " weights, but at most " +
                                std::to_string(Vocabulary::kUnknown - 1) + " are supported");
  // 1. Total weight (Neumaier's compensated sum, so that the scaled columns average 1 to rounding).
  double sum = 0, carry = 0;
  for (std::size_t i = 0; i < v; ++i) {
    const double w = weights[i];
    if (!(std::isfinite(w) && w >= 0))
      throw std::invalid_argument(key + "[" + std::to_string(i) + "] = " + format_number(w) +
                                  ", but must be finite and ≥ 0");
    const double t = sum + w;
    carry += std::abs(sum) >= std::abs(w) ? (sum - t) + w : (w - t) + sum;
    sum = t;
  }
  sum += carry;
  if (!(sum > 0 && std::isfinite(sum)))
    throw std::invalid_argument(key + " sums to " + format_number(sum) + ", but must have a positive finite sum");
  // 2. Columns scaled to average 1: q_i = V p_i; split into small (< 1) and large (≥ 1).
  std::vector<double> q(v);
  std::vector<TokenId> small, large;
  small.reserve(v);
  large.reserve(v);
  for (std::size_t i = 0; i < v; ++i) {
    q[i] = weights[i] / sum * static_cast<double>(v);
    (q[i] < 1.0 ? small : large).push_back(static_cast<TokenId>(i));
  }
  // 3. Vose's pairing: each small column keeps its own mass and takes the rest from a large one.
  acceptance_.assign(v, 1.0);
  alias_.resize(v);
  for (std::size_t i = 0; i < v; ++i) alias_[i] = static_cast<TokenId>(i);
  while (!small.empty() && !large.empty()) {
    const TokenId l = small.back(), g = large.back();
    small.pop_back();
    large.pop_back();
    acceptance_[l] = q[l];
    alias_[l] = g;
    q[g] = (q[g] + q[l]) - 1.0;  // ≥ 0, as q[g] ≥ 1
    (q[g] < 1.0 ? small : large).push_back(g);
  }
  // 4. Columns left over in either list hold (to rounding) exactly 1: acceptance 1, as initialised.
}

TokenId AliasTable::operator()(Rng& rng) const {
  boost::random::uniform_int_distribution<TokenId> column(0, static_cast<TokenId>(size() - 1));
  boost::random::uniform_real_distribution<double> unit(0.0, 1.0);
  const TokenId i = column(rng);
  return unit(rng) < acceptance_[i] ? i : alias_[i];
}

void AliasTable::fill(std::span<TokenId> out, Rng& rng) const {
  boost::random::uniform_int_distribution<TokenId> column(0, static_cast<TokenId>(size() - 1));
  boost::random::uniform_real_distribution<double> unit(0.0, 1.0);
  for (auto& t : out) {
    const TokenId i = column(rng);
    t = unit(rng) < acceptance_[i] ? i : alias_[i];
  }
}

std::vector<double> AliasTable::probabilities() const {
  const std::size_t v = size();
  std::vector<double> p(v, 0.0);
  for (std::size_t i = 0; i < v; ++i) {
    p[i] += acceptance_[i];
    p[alias_[i]] += 1.0 - acceptance_[i];
  }
  for (auto& x : p) x /= static_cast<double>(v);
  return p;
}

// ---- TextTruth ---------------------------------------------------------------------------------

std::string TextTruth::word(TokenId id) const {
  if (!analytic) return vocabulary.word(id);
  if (id >= vocab_size())
    throw std::out_of_range("text truth: id " + std::to_string(id) + " is out of range [0, " +
                            std::to_string(vocab_size()) + ")");
  return "w" + std::to_string(static_cast<std::uint64_t>(id) + 1);
}

Corpus TextTruth::draw(std::size_t n_tokens, Rng& rng) const {
  if (analytic) {
    // Fresh iid tokens, cut into sentences of sentence_length (the last one shorter if need be).
    const std::size_t len = std::max<std::size_t>(sentence_length, 1);
    Corpus out;
    out.reserve(n_tokens / len + 1, n_tokens);
    out.tokens.resize(n_tokens);
    analytic->fill(out.tokens, rng);
    for (std::size_t end = len; end < n_tokens; end += len) out.offsets.push_back(end);
    if (n_tokens > 0) out.offsets.push_back(n_tokens);
    return out;
  }
  if (n_tokens > train.num_tokens())
    throw std::invalid_argument("loop.samples_per_generation = " + std::to_string(n_tokens) +
                                " tokens, but the real training text (" + description + ") has only " +
                                std::to_string(train.num_tokens()) +
                                " tokens; real sentences are drawn without replacement, so it must be ≤ " +
                                std::to_string(train.num_tokens()));
  // A uniformly random order of all sentences (full Fisher–Yates, O(S)); take them until the budget is reached.
  const std::size_t s = train.num_sentences();
  std::vector<std::size_t> order = sample_without_replacement(s, s, rng);
  std::size_t tokens = 0, k = 0;
  while (k < s && tokens < n_tokens) tokens += train.sentence_length(order[k++]);
  order.resize(k);
  Corpus out = select(train, order);
  truncate_to_size(out, n_tokens);
  return out;
}

std::vector<std::vector<std::string>> read_sentences(const std::string& key, const std::string& path) {
  std::ifstream in(path);
  if (!in)
    throw std::invalid_argument(key + " = \"" + path + "\": cannot open file (" + std::strerror(errno) +
                                "); for the Brown corpus run scripts/setup.sh first");
  std::vector<std::vector<std::string>> out;
  std::string line, word;
  while (std::getline(in, line)) {
    std::istringstream ss(line);
    std::vector<std::string> sentence;
    while (ss >> word) sentence.push_back(word);
    if (!sentence.empty()) out.push_back(std::move(sentence));
  }
  if (out.empty()) throw std::invalid_argument(key + " = \"" + path + "\": the corpus is empty (no non-blank line)");
  return out;
}

namespace {

using Sentences = std::vector<std::vector<std::string>>;

/// A real truth from tokenised sentences: vocabulary from `train`, `heldout` mapped onto it,
/// unigram = counts / tokens, memorization index of the training text.
std::shared_ptr<const TextTruth> build_text_truth(std::string description, const Sentences& train,
                                                  const Sentences& heldout) {
  auto t = std::make_shared<TextTruth>();
  t->description = std::move(description);
  std::unordered_map<std::string, std::uint64_t> counts;
  std::size_t n_tokens = 0;
  for (const auto& s : train) {
    n_tokens += s.size();
    for (const auto& w : s) ++counts[w];
  }
  t->vocabulary = Vocabulary::from_counts(counts);
  auto encode = [&](const std::vector<std::vector<std::string>>& sentences, Corpus& c) {
    std::vector<TokenId> ids;
    for (const auto& s : sentences) {
      ids.clear();
      for (const auto& w : s) ids.push_back(t->vocabulary.id(w));
      c.add_sentence(ids);
    }
  };
  t->train.reserve(train.size(), n_tokens);
  encode(train, t->train);
  encode(heldout, t->heldout);
  t->unigram.resize(t->vocabulary.size());
  for (std::size_t i = 0; i < t->unigram.size(); ++i)
    t->unigram[i] = static_cast<double>(t->vocabulary.count(static_cast<TokenId>(i))) / static_cast<double>(n_tokens);
  t->verbatim = std::make_shared<const VerbatimIndex>(t->train);
  return t;
}

}  // namespace

std::shared_ptr<const TextTruth> make_text_truth(const std::string& train_path, const std::string& heldout_path) {
  const auto train = read_sentences("truth.train", train_path);
  const auto heldout = read_sentences("truth.heldout", heldout_path);
  return build_text_truth("text_corpus " + train_path, train, heldout);
}

std::shared_ptr<const TextTruth> make_text_truth_split(const std::string& path, double heldout_fraction,
                                                       std::uint64_t seed) {
  check_in_range("truth.heldout_fraction", heldout_fraction, 0, 0.9);
  auto all = read_sentences("truth.train", path);
  const std::size_t s = all.size();
  const auto n_heldout = static_cast<std::size_t>(std::floor(heldout_fraction * static_cast<double>(s)));
  const std::string description = "text_corpus " + path + " (heldout_fraction " + format_number(heldout_fraction) + ")";
  if (n_heldout == 0) return build_text_truth(description, all, all);
  // The first n_heldout entries of a uniform permutation (partial Fisher–Yates) are held out.
  Rng rng = stream_rng(seed, -1, Stream::split);
  std::vector<char> held(s, 0);
  for (std::size_t i : sample_without_replacement(s, n_heldout, rng)) held[i] = 1;
  Sentences train, heldout;
  train.reserve(s - n_heldout);
  heldout.reserve(n_heldout);
  for (std::size_t i = 0; i < s; ++i) (held[i] ? heldout : train).push_back(std::move(all[i]));
  return build_text_truth(description, train, heldout);
}

}  // namespace collapse
