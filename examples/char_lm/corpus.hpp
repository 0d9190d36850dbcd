#pragma once
// The training text: a UTF-8 file, plain or gzip-compressed, split into train and validation tokens.
#include <cstdint>
#include <string>
#include <vector>

namespace xgrad {
class Generator;
}

namespace char_lm {

/// The shipped default corpus, examples/data/jargon.txt.gz (The Jargon File 4.4.7, public domain).
std::string default_corpus_path();
/// The largest corpus read_text accepts by default, after decompression: 512 MiB (the tokens take 4 bytes
/// per character on top).
inline constexpr std::size_t kMaxCorpusBytes = std::size_t{512} << 20;

/// The bytes of a file, gunzipped when it starts with the gzip magic; throws xgrad::IOError naming the path
/// when it cannot be read, when a gzip stream ends early (a truncated file), or when it holds more than
/// `max_bytes` (a device such as /dev/zero, a pipe or an oversized file is read only that far).
std::string read_text(const std::string& path, std::size_t max_bytes = kMaxCorpusBytes);

/// Train and validation token streams: the first (1 - val_fraction) of the text trains, the rest
/// validates. A contiguous tail, not a random subset, so validation text never overlaps a training window.
struct Split {
  std::vector<std::int32_t> train;  ///< tokens for training
  std::vector<std::int32_t> val;    ///< tokens for validation
};
/// Splits `tokens`; throws xgrad::ValueError unless both sides get more than `context` tokens.
Split split_tokens(const std::vector<std::int32_t>& tokens, double val_fraction, std::size_t context);

/// One batch of next-token examples: row b of `inputs` is tokens[s, s+context) and of `targets`
/// tokens[s+1, s+context+1), for a random start s per row. Both are batch * context, row-major.
struct Batch {
  std::vector<std::int64_t> inputs;   ///< (batch, context) token ids
  std::vector<std::int64_t> targets;  ///< (batch, context) next-token ids
};

/// Draws random windows from a token stream; the same generator seed gives the same batches.
class BatchSampler {
 public:
  /// A sampler over `tokens` (kept by reference); throws xgrad::ValueError if it holds <= context tokens.
  BatchSampler(const std::vector<std::int32_t>& tokens, std::size_t batch, std::size_t context);
  /// The next batch, with window starts drawn uniformly from `gen`.
  Batch sample(xgrad::Generator& gen) const;
  /// The batch of windows starting at these offsets (for a fixed evaluation set).
  Batch at(const std::vector<std::size_t>& starts) const;
  /// Number of valid window starts: tokens.size() - context.
  std::size_t windows() const { return tokens_.size() - context_; }

 private:
  const std::vector<std::int32_t>& tokens_;
  std::size_t batch_, context_;
};

/// Entropy of the token frequencies in nats per token: the loss of the best model that ignores context.
double unigram_entropy(const std::vector<std::int32_t>& tokens, std::size_t vocab_size);

}  // namespace char_lm
