#include "corpus.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <cmath>
#include <cstdio>
#include <memory>

#include "xgrad/errors.hpp"
#include "xgrad/tensor/generator.hpp"

namespace char_lm {

std::string default_corpus_path() { return XGRAD_CHAR_LM_DATA_DIR "/jargon.txt.gz"; }

std::string read_text(const std::string& path, std::size_t max_bytes) {
  // gzread passes a file without the gzip header through unchanged, so one path serves both.
  std::unique_ptr<gzFile_s, int (*)(gzFile)> f(gzopen(path.c_str(), "rb"), gzclose);
  if (!f) throw xgrad::IOError(fmt::format("read_text: cannot open '{}'", path));
  gzbuffer(f.get(), 1 << 17);
  std::string out;
  char buf[1 << 16];
  for (;;) {
    int n = gzread(f.get(), buf, sizeof buf);
    if (n < 0) {
      int code = 0;
      throw xgrad::IOError(fmt::format("read_text: '{}' is not readable gzip: {}", path, gzerror(f.get(), &code)));
    }
    if (n == 0) break;
    if (out.size() + std::size_t(n) > max_bytes)
      throw xgrad::IOError(fmt::format("read_text: '{}' holds more than {} MiB of text (after decompression); "
                                       "pass a smaller corpus", path, max_bytes >> 20));
    out.append(buf, std::size_t(n));
  }
  // gzread reports a stream that stops before its gzip trailer as the end of the data; gzerror tells.
  int code = Z_OK;
  const char* message = gzerror(f.get(), &code);
  if (code != Z_OK)
    throw xgrad::IOError(fmt::format("read_text: '{}' ends before its gzip stream does (a truncated file?): {}", path,
                                     message));
  return out;
}

Split split_tokens(const std::vector<std::int32_t>& tokens, double val_fraction, std::size_t context) {
  if (!(val_fraction > 0 && val_fraction < 1))
    throw xgrad::ValueError(fmt::format("split_tokens: val_fraction must be in (0, 1), got {}", val_fraction));
  const std::size_t n_val = std::size_t(double(tokens.size()) * val_fraction);
  const std::size_t n_train = tokens.size() - n_val;
  if (n_val <= context || n_train <= context)
    throw xgrad::ValueError(fmt::format(
        "split_tokens: {} tokens split {}/{} leave a side with no window of context {} plus its target",
        tokens.size(), n_train, n_val, context));
  return {{tokens.begin(), tokens.begin() + std::ptrdiff_t(n_train)},
          {tokens.begin() + std::ptrdiff_t(n_train), tokens.end()}};
}

BatchSampler::BatchSampler(const std::vector<std::int32_t>& tokens, std::size_t batch, std::size_t context)
    : tokens_(tokens), batch_(batch), context_(context) {
  if (batch == 0 || context == 0)
    throw xgrad::ValueError(fmt::format("BatchSampler: batch ({}) and context ({}) must be positive", batch, context));
  if (tokens.size() <= context)
    throw xgrad::ValueError(fmt::format("BatchSampler: {} tokens hold no window of context {} plus its target",
                                        tokens.size(), context));
}

Batch BatchSampler::sample(xgrad::Generator& gen) const {
  std::vector<std::size_t> starts(batch_);
  // next() % windows is biased by < windows / 2^64: negligible for any corpus.
  for (auto& s : starts) s = std::size_t(gen.next() % windows());
  return at(starts);
}

Batch BatchSampler::at(const std::vector<std::size_t>& starts) const {
  Batch b;
  b.inputs.reserve(starts.size() * context_);
  b.targets.reserve(starts.size() * context_);
  for (std::size_t s : starts) {
    if (s >= windows())
      throw xgrad::IndexError(fmt::format("BatchSampler::at: start {} is outside [0, {})", s, windows()));
    b.inputs.insert(b.inputs.end(), tokens_.begin() + std::ptrdiff_t(s), tokens_.begin() + std::ptrdiff_t(s + context_));
    b.targets.insert(b.targets.end(), tokens_.begin() + std::ptrdiff_t(s + 1),
                     tokens_.begin() + std::ptrdiff_t(s + context_ + 1));
  }
  return b;
}

double unigram_entropy(const std::vector<std::int32_t>& tokens, std::size_t vocab_size) {
  if (tokens.empty()) throw xgrad::ValueError("unigram_entropy: no tokens");
  std::vector<double> count(vocab_size, 0.0);
  for (auto t : tokens) {
    if (t < 0 || std::size_t(t) >= vocab_size)
      throw xgrad::IndexError(fmt::format("unigram_entropy: token {} is outside [0, {})", t, vocab_size));
    count[std::size_t(t)] += 1;
  }
  double h = 0, n = double(tokens.size());
  for (double c : count)
    if (c > 0) h -= c / n * std::log(c / n);
  return h;
}

}  // namespace char_lm
