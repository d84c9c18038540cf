// Tests of src/sources/text_corpus.hpp: reading sentences, frequency-rank ids, drawing real text.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/math/distributions/chi_squared.hpp>

#include "core/rng.hpp"
#include "models/vocabulary.hpp"
#include "sources/text_corpus.hpp"
#include "test_support.hpp"

using namespace collapse;
// A missing exception gives "", which fails every contains(...) check on the message.
using collapse::testing::contains;
using collapse::testing::invalid_argument_message;
using collapse::testing::TempDir;

namespace {

using Sentence = std::vector<TokenId>;

std::vector<Sentence> sentences_of(const Corpus& c) {
  std::vector<Sentence> out;
  for (std::size_t i = 0; i < c.num_sentences(); ++i) {
    const auto s = c.sentence(i);
    out.emplace_back(s.begin(), s.end());
  }
  return out;
}

// Counts: the 2, cat 2, sat 2, dog 1, down 1, a 1 (9 tokens). Frequency ranks with ties by byte order:
// cat 0, sat 1, the 2, a 3, dog 4, down 5.
constexpr const char* kTrain = "the cat sat\n\nthe dog sat down\n   \na cat\n";
constexpr TokenId kCat = 0, kSat = 1, kThe = 2, kA = 3, kDog = 4, kDown = 5;

/// 30 distinct training sentences of 1..6 tokens ("wI_J" words), one per line.
std::string many_sentences() {
  std::ostringstream os;
  for (int i = 0; i < 30; ++i) {
    for (int j = 0; j <= i % 6; ++j) os << (j ? " " : "") << "w" << (i + j) % 11 << "_" << j;
    os << "\n";
  }
  return os.str();
}

}  // namespace

TEST_SUITE("sources/text_corpus") {

TEST_CASE("read_sentences: one sentence per non-blank line, split on any whitespace") {
  TempDir dir;
  const auto path = dir.write("s.txt", "a  b\tc\r\n\n   \r\nd\n  e f  \n");
  const auto s = read_sentences("truth.train", path);
  REQUIRE(s.size() == 3);
  CHECK(s[0] == std::vector<std::string>{"a", "b", "c"});
  CHECK(s[1] == std::vector<std::string>{"d"});
  CHECK(s[2] == std::vector<std::string>{"e", "f"});
}

TEST_CASE("read_sentences: an empty corpus is an error naming the key, the path and 'empty'") {
  TempDir dir;
  const auto path = dir.write("blank.txt", "\n  \n\t\n");
  const auto msg = invalid_argument_message([&] { read_sentences("truth.heldout", path); });
  CHECK(contains(msg, "truth.heldout"));
  CHECK(contains(msg, path));
  CHECK(contains(msg, "empty"));
  const auto empty = dir.write("empty.txt", "");
  CHECK(contains(invalid_argument_message([&] { read_sentences("truth.train", empty); }), "empty"));
}

TEST_CASE("read_sentences: a missing file is an error naming the key and the path") {
  TempDir dir;
  const std::string path = (dir.path() / "missing.txt").string();
  const auto msg = invalid_argument_message([&] { read_sentences("truth.train", path); });
  CHECK(contains(msg, "truth.train"));
  CHECK(contains(msg, path));
}

TEST_CASE("make_text_truth: ids are frequency ranks; held-out words outside the vocabulary are kUnknown") {
  TempDir dir;
  const auto train = dir.write("train.txt", kTrain);
  const auto heldout = dir.write("heldout.txt", "the bird sat\n\n a   dog \n");
  const auto t = make_text_truth(train, heldout);
  REQUIRE(t->vocab_size() == 6);
  CHECK(t->vocabulary.word(kCat) == "cat");
  CHECK(t->vocabulary.word(kSat) == "sat");
  CHECK(t->vocabulary.word(kThe) == "the");
  CHECK(t->vocabulary.word(kA) == "a");
  CHECK(t->vocabulary.word(kDog) == "dog");
  CHECK(t->vocabulary.word(kDown) == "down");
  for (TokenId id = 1; id < t->vocab_size(); ++id) CHECK(t->vocabulary.count(id - 1) >= t->vocabulary.count(id));

  CHECK(sentences_of(t->train) == std::vector<Sentence>{{kThe, kCat, kSat}, {kThe, kDog, kSat, kDown}, {kA, kCat}});
  CHECK(sentences_of(t->heldout) == std::vector<Sentence>{{kThe, Vocabulary::kUnknown, kSat}, {kA, kDog}});
  CHECK(contains(t->description, train));
}

TEST_CASE("make_text_truth: the unigram is counts / tokens and sums to 1") {
  TempDir dir;
  const auto t = make_text_truth(dir.write("train.txt", kTrain), dir.write("heldout.txt", "cat\n"));
  REQUIRE(t->unigram.size() == 6);
  const std::vector<double> expected = {2.0 / 9, 2.0 / 9, 2.0 / 9, 1.0 / 9, 1.0 / 9, 1.0 / 9};
  double sum = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CHECK(t->unigram[i] == doctest::Approx(expected[i]).epsilon(1e-15));
    sum += t->unigram[i];
  }
  CHECK(sum == doctest::Approx(1.0).epsilon(1e-14));
}

TEST_CASE("make_text_truth: an empty training or held-out file names its key") {
  TempDir dir;
  const auto good = dir.write("good.txt", kTrain);
  const auto blank = dir.write("blank.txt", "\n\n");
  const auto m1 = invalid_argument_message([&] { make_text_truth(blank, good); });
  CHECK(contains(m1, "truth.train"));
  CHECK(contains(m1, "empty"));
  const auto m2 = invalid_argument_message([&] { make_text_truth(good, blank); });
  CHECK(contains(m2, "truth.heldout"));
  CHECK(contains(m2, "empty"));
}

TEST_CASE("TextTruth::draw: exactly n tokens of whole training sentences, the last possibly cut") {
  TempDir dir;
  const auto t = make_text_truth(dir.write("train.txt", many_sentences()), dir.write("heldout.txt", "w1_0\n"));
  const auto train = sentences_of(t->train);
  REQUIRE(train.size() == 30);
  const std::size_t total = t->train.num_tokens();
  Rng rng = stream_rng(3, 1, Stream::mix);
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{20}, std::size_t{50}, total - 1,
                        total}) {
    CAPTURE(n);
    const Corpus d = t->draw(n, rng);
    CHECK(d.num_tokens() == n);
    const auto drawn = sentences_of(d);
    std::map<Sentence, int> uses;
    for (std::size_t i = 0; i < drawn.size(); ++i) {
      CAPTURE(i);
      CHECK(!drawn[i].empty());
      if (i + 1 < drawn.size()) {
        CHECK(std::find(train.begin(), train.end(), drawn[i]) != train.end());
        CHECK(++uses[drawn[i]] == 1);  // without replacement (training sentences are distinct)
      } else {
        // The last sentence is a (possibly whole) prefix of a training sentence.
        CHECK(std::any_of(train.begin(), train.end(), [&](const Sentence& s) {
          return s.size() >= drawn[i].size() && std::equal(drawn[i].begin(), drawn[i].end(), s.begin());
        }));
      }
    }
  }
  // The whole budget is every training sentence once, in some order.
  auto all = sentences_of(t->draw(total, rng));
  auto sorted_train = train;
  std::sort(all.begin(), all.end());
  std::sort(sorted_train.begin(), sorted_train.end());
  CHECK(all == sorted_train);
}

TEST_CASE("TextTruth::draw: more tokens than the training text is an error naming loop.samples_per_generation") {
  TempDir dir;
  const auto t = make_text_truth(dir.write("train.txt", kTrain), dir.write("heldout.txt", "cat\n"));
  Rng rng(1);
  const auto msg = invalid_argument_message([&] { t->draw(10, rng); });
  CHECK(contains(msg, "loop.samples_per_generation = 10"));
  CHECK(contains(msg, "9"));
  CHECK(t->draw(9, rng).num_tokens() == 9);
}

TEST_CASE("TextTruth::draw: the first sentence drawn is uniform over training sentences (chi-square, false alarm 1e-4)") {
  // H0: each of the S = 30 sentences comes first with probability 1/S, whatever its length. With 30000
  // draws the statistic is ~ chi-square(29); critical value at alpha = 1e-4 ≈ 66.15.
  TempDir dir;
  const auto t = make_text_truth(dir.write("train.txt", many_sentences()), dir.write("heldout.txt", "w1_0\n"));
  const auto train = sentences_of(t->train);
  std::map<Sentence, std::size_t> index;
  for (std::size_t i = 0; i < train.size(); ++i) index[train[i]] = i;
  constexpr std::size_t draws = 30000;
  std::vector<std::size_t> counts(train.size(), 0);
  Rng rng = stream_rng(8, 0, Stream::mix);
  for (std::size_t k = 0; k < draws; ++k) {
    const Corpus d = t->draw(6, rng);  // ≥ the longest sentence: the first one is never cut
    const auto first = d.sentence(0);
    ++counts[index.at(Sentence(first.begin(), first.end()))];
  }
  const double expected = static_cast<double>(draws) / static_cast<double>(counts.size());
  double chi2 = 0;
  std::ostringstream table;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    chi2 += (static_cast<double>(counts[i]) - expected) * (static_cast<double>(counts[i]) - expected) / expected;
    table << "  sentence " << i << " (" << train[i].size() << " tokens): " << counts[i] << "\n";
  }
  const double critical = boost::math::quantile(
      boost::math::complement(boost::math::chi_squared(static_cast<double>(counts.size() - 1)), 1e-4));
  INFO("observed first-sentence counts (expected " << expected << " each):\n" << table.str());
  INFO("chi-square = " << chi2 << ", critical = " << critical);
  CHECK(chi2 < critical);
}

}  // TEST_SUITE

TEST_SUITE("sources/text_corpus") {

TEST_CASE("make_text_truth: a real corpus has no analytic distribution and a memorization index of its training text") {
  TempDir dir;
  const auto t = make_text_truth(dir.write("train.txt", kTrain), dir.write("heldout.txt", "the bird sat\n"));
  CHECK_FALSE(t->analytic.has_value());
  CHECK_FALSE(t->is_analytic());
  CHECK(t->sentence_length == 0);
  REQUIRE(t->verbatim != nullptr);
  CHECK(t->verbatim->num_distinct_sentences() == 3);
  CHECK(t->verbatim->num_distinct_ngrams() == 0);  // no sentence has 8 tokens
  CHECK(t->vocab_size() == t->vocabulary.size());
  CHECK(t->word(kDog) == "dog");
  CHECK_THROWS_AS(t->word(6), std::out_of_range);
  for (const auto& s : sentences_of(t->train)) CHECK(t->verbatim->contains_sentence(s));
  CHECK_FALSE(t->verbatim->contains_sentence(Sentence{kThe, kCat}));        // a prefix
  CHECK_FALSE(t->verbatim->contains_sentence(Sentence{kThe, kCat, kSat, kSat}));  // an extension
  CHECK_FALSE(t->verbatim->contains_sentence(Sentence{}));
}

TEST_CASE("VerbatimIndex: exact sentence and 8-gram membership; 8-grams do not cross sentence boundaries") {
  Corpus train;
  train.add_sentence(std::vector<TokenId>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  train.add_sentence(std::vector<TokenId>{20, 21, 22, 23});
  train.add_sentence(std::vector<TokenId>{24, 25, 26, 27});
  train.add_sentence(std::vector<TokenId>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10});  // a duplicate
  constexpr TokenId hi = 0xFFFFFFFFu;
  train.add_sentence(std::vector<TokenId>{hi, hi, hi, hi, hi, hi, hi, 0, hi});
  const VerbatimIndex index(train);
  CHECK(index.num_distinct_sentences() == 4);
  CHECK(index.num_distinct_ngrams() == 3 + 2);
  CHECK(index.contains_sentence(Sentence{20, 21, 22, 23}));
  CHECK_FALSE(index.contains_sentence(Sentence{20, 21, 22}));
  const Sentence g1 = {1, 2, 3, 4, 5, 6, 7, 8}, g2 = {3, 4, 5, 6, 7, 8, 9, 10}, g3 = {2, 3, 4, 5, 6, 7, 8, 10};
  CHECK(index.contains_ngram(g1.data()));
  CHECK(index.contains_ngram(g2.data()));
  CHECK_FALSE(index.contains_ngram(g3.data()));
  const Sentence across = {20, 21, 22, 23, 24, 25, 26, 27};  // spans two training sentences
  CHECK_FALSE(index.contains_ngram(across.data()));
  const Sentence h1 = {hi, hi, hi, hi, hi, hi, hi, 0}, h2 = {hi, hi, hi, hi, hi, hi, 0, hi},
                 h3 = {hi, hi, hi, hi, hi, hi, hi, hi};
  CHECK(index.contains_ngram(h1.data()));
  CHECK(index.contains_ngram(h2.data()));
  CHECK_FALSE(index.contains_ngram(h3.data()));
}

TEST_CASE("VerbatimIndex: every 8-gram of a larger pseudo-random text is found, and shifted ones are not") {
  // 2000 sentences of 5..40 tokens over 50 types: many 8-grams, far more than the table's initial
  // probe distance, so exercises probing; a 8-gram with one id changed to an unseen id is never found.
  Corpus train;
  Rng rng(77);
  std::vector<TokenId> s;
  for (int k = 0; k < 2000; ++k) {
    s.resize(5 + rng() % 36);
    for (auto& t : s) t = static_cast<TokenId>(rng() % 50);
    train.add_sentence(s);
  }
  const VerbatimIndex index(train);
  bool all_found = true, none_found = true;
  for (std::size_t k = 0; k < train.num_sentences(); ++k) {
    const auto sent = train.sentence(k);
    all_found = all_found && index.contains_sentence(sent);
    for (std::size_t p = 0; p + 8 <= sent.size(); ++p) {
      all_found = all_found && index.contains_ngram(sent.data() + p);
      std::vector<TokenId> changed(sent.begin() + static_cast<std::ptrdiff_t>(p),
                                   sent.begin() + static_cast<std::ptrdiff_t>(p + 8));
      changed[p % 8] = 1000;
      none_found = none_found && !index.contains_ngram(changed.data());
    }
  }
  CHECK(all_found);
  CHECK(none_found);
  CHECK(index.memory_bytes() > 0);
}

TEST_CASE("NgramSet: grows from a tiny size hint and stays exact (set sizes equal a std::set reference)") {
  // 200 000 tokens over 3 000 ids: ~all trigrams distinct, far beyond the hint of 1 key, so the table
  // doubles many times; bigrams repeat often.
  Rng rng(31);
  std::vector<TokenId> tokens(200000);
  for (auto& t : tokens) t = static_cast<TokenId>(rng() % 3000);
  for (std::size_t n : {1, 2, 3}) {
    CAPTURE(n);
    NgramSet set(n, 1);
    std::set<std::vector<TokenId>> reference;
    std::size_t inserted = 0;
    for (std::size_t p = 0; p + n <= tokens.size(); ++p) {
      inserted += set.insert(tokens.data(), p) ? 1 : 0;
      reference.emplace(tokens.begin() + static_cast<std::ptrdiff_t>(p), tokens.begin() + static_cast<std::ptrdiff_t>(p + n));
    }
    CHECK(set.size() == reference.size());
    CHECK(inserted == reference.size());
    bool all = true;
    for (std::size_t p = 0; p + n <= tokens.size(); p += 97) all = all && set.contains(tokens.data(), tokens.data() + p);
    CHECK(all);
    const std::vector<TokenId> absent(n, 5000);
    CHECK_FALSE(set.contains(tokens.data(), absent.data()));
  }
  CHECK_THROWS_AS(NgramSet(0, 10), std::invalid_argument);
}

TEST_CASE("make_text_truth_split: floor(f·S) sentences held out, both parts in file order, vocabulary from train only") {
  TempDir dir;
  const auto path = dir.write("all.txt", many_sentences());
  const auto all = read_sentences("truth.train", path);
  REQUIRE(all.size() == 30);
  for (double f : {0.1, 0.25, 0.5, 0.9}) {
    CAPTURE(f);
    const auto t = make_text_truth_split(path, f, 5);
    const auto n_held = static_cast<std::size_t>(std::floor(f * 30));
    CHECK(t->heldout.num_sentences() == n_held);
    CHECK(t->train.num_sentences() == 30 - n_held);
    REQUIRE(t->verbatim != nullptr);
    // Decode both parts and merge them back in file order.
    auto decode = [&](const Corpus& c, std::size_t i) {
      std::vector<std::string> words;
      for (TokenId id : c.sentence(i)) words.push_back(id == Vocabulary::kUnknown ? "<unk>" : t->vocabulary.word(id));
      return words;
    };
    std::size_t it = 0, ih = 0;
    bool ordered = true;
    for (const auto& s : all) {
      if (it < t->train.num_sentences() && decode(t->train, it) == s) {
        ++it;
      } else if (ih < t->heldout.num_sentences()) {
        // Held-out words outside the training vocabulary are kUnknown.
        const auto h = decode(t->heldout, ih++);
        REQUIRE(h.size() == s.size());
        for (std::size_t w = 0; w < s.size(); ++w) ordered = ordered && (h[w] == s[w] || h[w] == "<unk>");
      } else {
        ordered = false;
      }
    }
    CHECK(ordered);
    CHECK(it == t->train.num_sentences());
    CHECK(ih == t->heldout.num_sentences());
    // Vocabulary = types of the training part.
    std::set<std::string> train_types;
    for (std::size_t i = 0; i < t->train.num_sentences(); ++i)
      for (const auto& w : decode(t->train, i)) train_types.insert(w);
    CHECK(t->vocab_size() == train_types.size());
  }
}

TEST_CASE("make_text_truth_split: the split depends only on the seed") {
  TempDir dir;
  const auto path = dir.write("all.txt", many_sentences());
  const auto a = make_text_truth_split(path, 0.3, 11), b = make_text_truth_split(path, 0.3, 11);
  CHECK(a->train.tokens == b->train.tokens);
  CHECK(a->train.offsets == b->train.offsets);
  CHECK(a->heldout.tokens == b->heldout.tokens);
  // Some other seed gives another held-out set (C(30, 9) ≈ 1.4e7 possible sets).
  bool differs = false;
  for (std::uint64_t seed = 12; seed < 16 && !differs; ++seed) {
    const auto c = make_text_truth_split(path, 0.3, seed);
    differs = c->train.num_tokens() != a->train.num_tokens() || c->vocab_size() != a->vocab_size() ||
              c->heldout.num_tokens() != a->heldout.num_tokens();
    if (!differs) {
      std::vector<std::string> wa, wc;
      for (TokenId id : a->train.tokens) wa.push_back(a->vocabulary.word(id));
      for (TokenId id : c->train.tokens) wc.push_back(c->vocabulary.word(id));
      differs = wa != wc;
    }
  }
  CHECK(differs);
}

TEST_CASE("make_text_truth_split: fraction 0 (or too few sentences to hold one out) makes held-out the whole file") {
  TempDir dir;
  const auto path = dir.write("all.txt", kTrain);  // 3 sentences: floor(0.3 · 3) = 0
  for (double f : {0.0, 0.3}) {
    CAPTURE(f);
    const auto t = make_text_truth_split(path, f, 1);
    CHECK(t->train.num_sentences() == 3);
    CHECK(sentences_of(t->heldout) == sentences_of(t->train));
  }
  // floor(0.4 · 3) = 1 sentence held out.
  const auto t = make_text_truth_split(path, 0.4, 1);
  CHECK(t->train.num_sentences() == 2);
  CHECK(t->heldout.num_sentences() == 1);
}

TEST_CASE("make_text_truth_split: a fraction outside [0, 0.9] or a bad file names its key") {
  TempDir dir;
  const auto path = dir.write("all.txt", kTrain);
  CHECK(contains(invalid_argument_message([&] { make_text_truth_split(path, 0.95, 1); }),
                 "truth.heldout_fraction = 0.95, but must be in [0, 0.9]"));
  CHECK(contains(invalid_argument_message([&] { make_text_truth_split(path, -0.1, 1); }),
                 "truth.heldout_fraction = -0.1, but must be in [0, 0.9]"));
  CHECK(contains(invalid_argument_message([&] { make_text_truth_split(path, std::nan(""), 1); }),
                 "truth.heldout_fraction = nan"));
  const auto blank = dir.write("blank.txt", "\n");
  const auto m = invalid_argument_message([&] { make_text_truth_split(blank, 0.1, 1); });
  CHECK(contains(m, "truth.train"));
  CHECK(contains(m, "empty"));
}

}  // TEST_SUITE

TEST_SUITE("sources/text_corpus slow") {

TEST_CASE("Brown: the memorization index finds every training sentence and reports its memory") {
  const auto brown = collapse::testing::brown_paths();
  if (!brown) {
    MESSAGE("Brown corpus not found (run scripts/setup.sh); skipped");
    return;
  }
  const auto t = make_text_truth(brown->train, brown->heldout);
  REQUIRE(t->verbatim != nullptr);
  bool all = true;
  for (std::size_t i = 0; i < t->train.num_sentences(); ++i) all = all && t->verbatim->contains_sentence(t->train.sentence(i));
  CHECK(all);
  MESSAGE("Brown train: " << t->train.num_sentences() << " sentences, " << t->train.num_tokens() << " tokens; "
                          << t->verbatim->num_distinct_sentences() << " distinct sentences, "
                          << t->verbatim->num_distinct_ngrams() << " distinct 8-grams; index "
                          << static_cast<double>(t->verbatim->memory_bytes()) / 1e6 << " MB");
  CHECK(t->verbatim->memory_bytes() < 64'000'000);
}

}  // TEST_SUITE
