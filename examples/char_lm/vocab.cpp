#include "vocab.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "xgrad/errors.hpp"

namespace char_lm {

std::vector<char32_t> utf8_decode(std::string_view text) {
  std::vector<char32_t> out;
  out.reserve(text.size());
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  for (std::size_t i = 0; i < n;) {
    const unsigned char b = s[i];
    // Lead byte: how many continuation bytes follow, and the smallest code point that length may
    // encode (a longer-than-needed "overlong" form is invalid UTF-8).
    int extra;
    char32_t cp, min;
    if (b < 0x80) extra = 0, cp = b, min = 0;
    else if ((b & 0xE0) == 0xC0) extra = 1, cp = b & 0x1F, min = 0x80;
    else if ((b & 0xF0) == 0xE0) extra = 2, cp = b & 0x0F, min = 0x800;
    else if ((b & 0xF8) == 0xF0) extra = 3, cp = b & 0x07, min = 0x10000;
    else throw xgrad::ValueError(fmt::format("utf8_decode: invalid lead byte 0x{:02X} at byte {}", b, i));
    for (int k = 1; k <= extra; ++k) {
      if (i + k >= n) throw xgrad::ValueError(fmt::format("utf8_decode: truncated character at byte {}", i));
      if ((s[i + k] & 0xC0) != 0x80)
        throw xgrad::ValueError(fmt::format("utf8_decode: invalid continuation byte 0x{:02X} at byte {}", s[i + k], i + k));
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      throw xgrad::ValueError(fmt::format("utf8_decode: invalid code point U+{:04X} at byte {}", std::uint32_t(cp), i));
    out.push_back(cp);
    i += extra + 1;
  }
  return out;
}

std::string utf8_encode(const std::vector<char32_t>& code_points) {
  std::string out;
  out.reserve(code_points.size());
  for (char32_t c : code_points) {
    if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
      throw xgrad::ValueError(fmt::format("utf8_encode: U+{:04X} is not a Unicode scalar value", std::uint32_t(c)));
    if (c < 0x80) {
      out += char(c);
    } else if (c < 0x800) {
      out += char(0xC0 | (c >> 6)), out += char(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
      out += char(0xE0 | (c >> 12)), out += char(0x80 | ((c >> 6) & 0x3F)), out += char(0x80 | (c & 0x3F));
    } else {
      out += char(0xF0 | (c >> 18)), out += char(0x80 | ((c >> 12) & 0x3F));
      out += char(0x80 | ((c >> 6) & 0x3F)), out += char(0x80 | (c & 0x3F));
    }
  }
  return out;
}

Vocab Vocab::from_text(std::string_view text) { return Vocab(utf8_decode(text)); }

Vocab::Vocab(std::vector<char32_t> code_points) : chars_(std::move(code_points)) {
  std::sort(chars_.begin(), chars_.end());
  chars_.erase(std::unique(chars_.begin(), chars_.end()), chars_.end());
  for (std::size_t i = 0; i < chars_.size(); ++i) ids_.emplace(chars_[i], std::int32_t(i));
}

std::vector<std::int32_t> Vocab::encode(std::string_view text) const {
  std::vector<std::int32_t> ids;
  const auto cps = utf8_decode(text);
  ids.reserve(cps.size());
  for (std::size_t i = 0; i < cps.size(); ++i) {
    auto it = ids_.find(cps[i]);
    if (it == ids_.end())
      throw xgrad::ValueError(fmt::format("Vocab::encode: character U+{:04X} at position {} is not in the vocabulary",
                                          std::uint32_t(cps[i]), i));
    ids.push_back(it->second);
  }
  return ids;
}

char32_t Vocab::code_point(std::int32_t id) const {
  if (id < 0 || std::size_t(id) >= chars_.size())
    throw xgrad::IndexError(fmt::format("Vocab: token id {} is outside [0, {})", id, chars_.size()));
  return chars_[std::size_t(id)];
}

std::string Vocab::decode(const std::vector<std::int32_t>& ids) const {
  std::vector<char32_t> cps;
  cps.reserve(ids.size());
  for (auto id : ids) cps.push_back(code_point(id));
  return utf8_encode(cps);
}

}  // namespace char_lm
