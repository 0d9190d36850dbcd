#pragma once
// A character vocabulary over Unicode code points (not bytes): "é" is one token, not two.
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace char_lm {

/// Decodes UTF-8 into code points; throws xgrad::ValueError naming the byte offset of invalid input.
std::vector<char32_t> utf8_decode(std::string_view text);
/// Encodes code points as UTF-8; throws xgrad::ValueError for a surrogate or a value above U+10FFFF.
std::string utf8_encode(const std::vector<char32_t>& code_points);

/// The distinct code points of a text, sorted, each mapped to its rank as the token id.
class Vocab {
 public:
  /// The vocabulary of every code point that occurs in `text` (UTF-8).
  static Vocab from_text(std::string_view text);
  /// A vocabulary of exactly these code points (sorted and deduplicated).
  explicit Vocab(std::vector<char32_t> code_points);

  /// Number of tokens.
  std::size_t size() const { return chars_.size(); }
  /// Token ids of a UTF-8 text; throws xgrad::ValueError naming a character that is not in the vocabulary.
  std::vector<std::int32_t> encode(std::string_view text) const;
  /// The UTF-8 text of token ids; throws xgrad::IndexError for an id outside [0, size()).
  std::string decode(const std::vector<std::int32_t>& ids) const;
  /// The code point of one token id.
  char32_t code_point(std::int32_t id) const;
  /// All code points, in token-id order.
  const std::vector<char32_t>& code_points() const { return chars_; }

 private:
  std::vector<char32_t> chars_;
  std::unordered_map<char32_t, std::int32_t> ids_;
};

}  // namespace char_lm
