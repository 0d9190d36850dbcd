// char_lm vocabulary: UTF-8 code points in, token ids out, and back.
#ifdef XGRAD_CHAR_LM_TESTS  // defined where examples/CMakeLists.txt links char_lm_support
#include <catch2/catch.hpp>

#include "char_lm/vocab.hpp"
#include "xgrad/errors.hpp"

using namespace char_lm;
using Catch::Matchers::Contains;

TEST_CASE("utf8_decode: one code point per character, whatever its byte length", "[lm]") {
  // "aé€😀": 1-, 2-, 3- and 4-byte encodings, written out byte by byte.
  const std::string s = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";
  CHECK(utf8_decode(s) == std::vector<char32_t>{U'a', U'\u00E9', U'\u20AC', U'\U0001F600'});
  CHECK(utf8_encode(utf8_decode(s)) == s);
  CHECK(utf8_decode("").empty());
}

TEST_CASE("utf8_decode: invalid input names the byte offset", "[lm]") {
  CHECK_THROWS_AS(utf8_decode("ab\xFF"), xgrad::ValueError);
  CHECK_THROWS_WITH(utf8_decode("ab\xFF"), Contains("0xFF") && Contains("byte 2"));
  CHECK_THROWS_WITH(utf8_decode("a\xC3"), Contains("truncated") && Contains("byte 1"));      // cut-off é
  CHECK_THROWS_WITH(utf8_decode("\xC3(x"), Contains("continuation") && Contains("byte 1"));  // bad second byte
  CHECK_THROWS_WITH(utf8_decode("\xC0\xAF"), Contains("U+002F"));                           // overlong '/'
  CHECK_THROWS_WITH(utf8_decode("\xED\xA0\x80"), Contains("U+D800"));                      // a surrogate
  CHECK_THROWS_AS(utf8_encode({char32_t(0x110000)}), xgrad::ValueError);
}

TEST_CASE("Vocab: sorted distinct code points, ids are ranks, encode/decode round-trip", "[lm]") {
  const std::string text = "h\xC3\xA9llo h\xC3\xA9";  // "héllo hé"
  Vocab v = Vocab::from_text(text);
  // Distinct: ' ' < 'h' < 'l' < 'o' < 'é' (U+00E9): five tokens, not six bytes' worth.
  REQUIRE(v.size() == 5);
  CHECK(v.code_points() == std::vector<char32_t>{U' ', U'h', U'l', U'o', U'\u00E9'});
  CHECK(v.encode(text) == std::vector<std::int32_t>{1, 4, 2, 2, 3, 0, 1, 4});
  CHECK(v.decode(v.encode(text)) == text);
}

TEST_CASE("Vocab: unknown characters and out-of-range ids are named", "[lm]") {
  Vocab v = Vocab::from_text("ab");
  CHECK_THROWS_AS(v.encode("abc"), xgrad::ValueError);
  CHECK_THROWS_WITH(v.encode("abc"), Contains("U+0063") && Contains("position 2"));
  CHECK_THROWS_AS(v.decode({0, 2}), xgrad::IndexError);
  CHECK_THROWS_WITH(v.decode({0, -1}), Contains("-1") && Contains("[0, 2)"));
}
#endif
