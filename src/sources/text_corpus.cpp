#include "sources/text_corpus.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

namespace collapse {

Corpus TextTruth::draw(std::size_t n_tokens, Rng& rng) const {
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

std::shared_ptr<const TextTruth> make_text_truth(const std::string& train_path, const std::string& heldout_path) {
  const auto train = read_sentences("truth.train", train_path);
  const auto heldout = read_sentences("truth.heldout", heldout_path);
  auto t = std::make_shared<TextTruth>();
  t->description = "text_corpus " + train_path;
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
  return t;
}

}  // namespace collapse
