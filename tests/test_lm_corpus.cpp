// char_lm corpus: reading plain and gzip text, the train/validation split, batches, the unigram baseline.
#ifdef XGRAD_CHAR_LM_TESTS  // defined where examples/CMakeLists.txt links char_lm_support
#include <unistd.h>
#include <zlib.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "char_lm/corpus.hpp"
#include "char_lm/vocab.hpp"
#include "xgrad/errors.hpp"
#include "xgrad/tensor/generator.hpp"

using namespace char_lm;
using Catch::Matchers::Contains;

namespace {
std::string temp_path(const std::string& name) { return "/tmp/xgrad_test_lm_" + std::to_string(::getpid()) + "_" + name; }
}  // namespace

TEST_CASE("read_text: a plain file and its gzip give the same bytes", "[lm]") {
  const std::string text = "line one\nzwei \xC3\xA9\n", plain = temp_path("plain.txt"), gz = temp_path("text.gz");
  std::ofstream(plain, std::ios::binary) << text;
  gzFile f = gzopen(gz.c_str(), "wb");
  REQUIRE(f);
  gzwrite(f, text.data(), unsigned(text.size()));
  gzclose(f);
  CHECK(read_text(plain) == text);
  CHECK(read_text(gz) == text);
  std::remove(plain.c_str());
  std::remove(gz.c_str());
  CHECK_THROWS_AS(read_text(temp_path("missing")), xgrad::IOError);
  CHECK_THROWS_WITH(read_text(temp_path("missing")), Contains("missing"));
}

TEST_CASE("read_text: a truncated gzip file and an oversized input are refused", "[lm]") {
  std::string text;
  for (int i = 0; i < 4000; ++i) text += "line " + std::to_string(i) + "\n";
  const std::string gz = temp_path("truncated.gz");
  gzFile f = gzopen(gz.c_str(), "wb");
  REQUIRE(f);
  gzwrite(f, text.data(), unsigned(text.size()));
  gzclose(f);
  REQUIRE(read_text(gz) == text);
  // Cut off the last 40 bytes: the 8-byte trailer and the end of the deflate stream.
  std::filesystem::resize_file(gz, std::filesystem::file_size(gz) - 40);
  CHECK_THROWS_WITH(read_text(gz), Contains("truncated") && Contains(gz));
  std::remove(gz.c_str());
  // A character device never ends: it is read up to the bound, then refused.
  CHECK_THROWS_WITH(read_text("/dev/zero", 1 << 20), Contains("more than 1 MiB"));
  const std::string plain = temp_path("big.txt");
  std::ofstream(plain, std::ios::binary) << std::string((1 << 20) + 1, 'a');
  CHECK_THROWS_AS(read_text(plain, 1 << 20), xgrad::IOError);
  CHECK(read_text(plain, 2 << 20).size() == (1 << 20) + 1);
  std::remove(plain.c_str());
}

TEST_CASE("The shipped Jargon File: 1,618,757 code points, 155 distinct, 3.2594 nats/char", "[lm]") {
  // Counts and entropy computed independently with Python's gzip + collections.Counter.
  const auto text = read_text(default_corpus_path());
  CHECK(text.size() == 1681817);
  const auto vocab = Vocab::from_text(text);
  CHECK(vocab.size() == 155);
  const auto tokens = vocab.encode(text);
  CHECK(tokens.size() == 1618757);
  CHECK(unigram_entropy(tokens, vocab.size()) == Approx(3.259425568646666).epsilon(1e-12));
}

TEST_CASE("unigram_entropy: by hand and its bad inputs", "[lm]") {
  CHECK(unigram_entropy({0, 1, 0, 1}, 2) == Approx(std::log(2.0)));
  CHECK(unigram_entropy({2, 2, 2}, 3) == 0.0);
  // p = (1/2, 1/4, 1/4): H = 1/2 ln 2 + 2 * 1/4 ln 4 = 1.5 ln 2
  CHECK(unigram_entropy({0, 0, 1, 2}, 3) == Approx(1.5 * std::log(2.0)));
  CHECK_THROWS_AS(unigram_entropy({}, 3), xgrad::ValueError);
  CHECK_THROWS_WITH(unigram_entropy({0, 3}, 3), Contains("token 3") && Contains("[0, 3)"));
}

TEST_CASE("split_tokens: a contiguous 90/10 split and its bad inputs", "[lm]") {
  std::vector<std::int32_t> t(100);
  for (int i = 0; i < 100; ++i) t[std::size_t(i)] = i;
  const auto s = split_tokens(t, 0.1, 8);
  REQUIRE(s.train.size() == 90);
  REQUIRE(s.val.size() == 10);
  CHECK(s.train.back() == 89);
  CHECK(s.val.front() == 90);
  CHECK_THROWS_AS(split_tokens(t, 0.0, 8), xgrad::ValueError);
  CHECK_THROWS_AS(split_tokens(t, 1.0, 8), xgrad::ValueError);
  CHECK_THROWS_WITH(split_tokens(t, 0.1, 10), Contains("90/10") && Contains("context 10"));
}

TEST_CASE("BatchSampler: targets are inputs shifted by one, and a seed fixes the batches", "[lm]") {
  std::vector<std::int32_t> t(50);
  for (int i = 0; i < 50; ++i) t[std::size_t(i)] = i;  // token == position, so a window shows its start
  BatchSampler sampler(t, 4, 8);
  CHECK(sampler.windows() == 42);
  xgrad::Generator g1(7), g2(7), g3(8);
  const Batch a = sampler.sample(g1), b = sampler.sample(g2), c = sampler.sample(g3);
  REQUIRE(a.inputs.size() == 32);
  REQUIRE(a.targets.size() == 32);
  CHECK(a.inputs == b.inputs);
  CHECK(a.inputs != c.inputs);
  for (std::size_t row = 0; row < 4; ++row) {
    const auto s = a.inputs[row * 8];
    CHECK(s <= 41);  // the last target, s + 8, must exist
    for (std::size_t j = 0; j < 8; ++j) {
      CHECK(a.inputs[row * 8 + j] == s + std::int64_t(j));
      CHECK(a.targets[row * 8 + j] == s + std::int64_t(j) + 1);
    }
  }
  const Batch last = sampler.at({41});
  CHECK(last.targets.back() == 49);
  CHECK_THROWS_AS(sampler.at({42}), xgrad::IndexError);
  CHECK_THROWS_AS(BatchSampler(t, 4, 50), xgrad::ValueError);
  CHECK_THROWS_WITH(BatchSampler(t, 0, 8), Contains("batch (0)"));
}
#endif
