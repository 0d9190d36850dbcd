#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "child_process.hpp"
#include "fixtures.hpp"
#include "nn_helpers.hpp"
#include "scratch_files.hpp"
#include "xgrad/io/safetensors.hpp"
#include "xgrad/io/testing.hpp"
#include "xgrad/tensor/creation.hpp"

using namespace xgrad;
using Catch::Matchers::Contains;
using test::read_bytes;
using test::message_of;
using test::TempDir;
using test::write_bytes;
namespace fs = std::filesystem;

namespace {

/// The 8-byte little-endian length prefix of the format.
std::string u64_le(std::uint64_t v) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return out;
}

/// A file made by hand: length prefix, `header` verbatim, then `data_bytes` bytes of 0xAB.
std::string craft(const std::string& header, std::size_t data_bytes) {
  return u64_le(header.size()) + header + std::string(data_bytes, '\xab');
}

/// The IOError message load_safetensors gives for a file holding `bytes`.
std::string load_error(const TempDir& tmp, const std::string& bytes) {
  const std::string path = tmp / "bad.safetensors";
  write_bytes(path, bytes);
  return message_of<IOError>([&] { load_safetensors(path); });
}

/// Same dtype, shape and bits (int64 compared exactly, not through double).
bool same_tensor(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  if (a.dtype() != DType::int64) return a.to_vector() == b.to_vector();
  const std::int64_t* pa = a.host_data<std::int64_t>();
  return std::equal(pa, pa + a.numel(), b.host_data<std::int64_t>());
}

}  // namespace

TEST_CASE("safetensors: every dtype, a 0-d scalar and an empty tensor round-trip in order", "[io]") {
  TempDir tmp;
  const std::vector<std::pair<std::string, Tensor>> saved = {
      {"w", from_vector({0.5, -1.25, 3.0, 0.1, 1e-30, -7.0}, {2, 3}, DType::float32)},
      {"b", from_vector({0.1, -2.5, 1e300}, {3}, DType::float64)},
      {"ids", index_tensor({0, 7, -3, 9007199254740993}, {2, 2})},
      {"scale", scalar(3e-4, DType::float64)},
      {"none", zeros({0, 4}, DType::float32)},
      {"a", index_tensor({42}, {1})},  // saved last although it sorts first: order is kept
  };
  const std::string path = tmp / "ckpt.safetensors";
  save_safetensors(path, saved, {{"epoch", "3"}, {"note", "héllo"}});
  const auto loaded = load_safetensors(path);
  REQUIRE(loaded.size() == saved.size());
  for (std::size_t i = 0; i < saved.size(); ++i) {
    INFO(saved[i].first);
    CHECK(loaded[i].first == saved[i].first);
    CHECK(same_tensor(loaded[i].second, saved[i].second));
    CHECK(loaded[i].second.device() == Device{});
  }
  CHECK(loaded[3].second.dim() == 0);
  CHECK(load_safetensors_metadata(path) == std::map<std::string, std::string>{{"epoch", "3"}, {"note", "héllo"}});
}

TEST_CASE("safetensors: the file is the length prefix, space-padded JSON header and raw bytes", "[io]") {
  TempDir tmp;
  const std::string path = tmp / "tiny.safetensors";
  save_safetensors(path, {{"a", from_vector({1.0, -2.0}, {2}, DType::float32)}});
  // 54 bytes of JSON padded with two spaces to 56, a multiple of 8.
  const std::string header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  REQUIRE(header.size() == 54);
  const float values[2] = {1.0f, -2.0f};
  const std::string expected = u64_le(56) + header + "  " + std::string(reinterpret_cast<const char*>(values), 8);
  CHECK(read_bytes(path) == expected);
  CHECK(load_safetensors_metadata(path).empty());
}

TEST_CASE("safetensors: 8-byte dtypes are laid out first so every tensor is aligned", "[io]") {
  TempDir tmp;
  const std::string path = tmp / "mixed.safetensors";
  save_safetensors(path, {{"f", zeros({3})}, {"d", zeros({1}, DType::float64)}, {"i", index_tensor({1, 2}, {2})}});
  const std::string bytes = read_bytes(path);
  const auto header = nlohmann::ordered_json::parse(bytes.substr(8, bytes.size() - 8 - 36));
  // Listed in the caller's order; bytes: d [0, 8), i [8, 24), f [24, 36).
  CHECK(header.dump() == R"({"f":{"dtype":"F32","shape":[3],"data_offsets":[24,36]},)"
                         R"("d":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},)"
                         R"("i":{"dtype":"I64","shape":[2],"data_offsets":[8,24]}})");
}

TEST_CASE("safetensors: a failing save leaves the previous checkpoint byte-identical", "[io]") {
  TempDir tmp;
  const std::string path = tmp / "ckpt.safetensors";
  save_safetensors(path, {{"w", ones({2, 2})}}, {{"step", "1"}});
  const std::string before = read_bytes(path);

  CHECK_THROWS_MATCHES(save_safetensors(path, {{"w", zeros({3})}, {"undefined", Tensor()}}), ValueError,
                       Catch::Message("save_safetensors: tensor 'undefined' is undefined"));
  CHECK_THROWS_MATCHES(save_safetensors(path, {{"w", zeros({3})}, {"w", zeros({3})}}), ValueError,
                       Catch::Message("save_safetensors: name 'w' appears twice; names must be unique"));
  CHECK_THROWS_AS(save_safetensors(path, {{"__metadata__", zeros({3})}}), ValueError);
  CHECK_THROWS_AS(save_safetensors(path, {{"w", zeros({3})}}, {{"bad", std::string("\xff\xfe")}}), ValueError);

  CHECK(read_bytes(path) == before);
  CHECK(tmp.files() == std::vector<std::string>{"ckpt.safetensors"});  // no temporary file left behind
}

TEST_CASE("safetensors: a save that fails after writing removes its temporary file", "[io]") {
  TempDir tmp;
  // Renaming a file over a directory fails, after the temporary file has been fully written.
  fs::create_directory(tmp.dir / "taken");
  CHECK_THAT(message_of<IOError>([&] { save_safetensors(tmp / "taken", {{"w", ones({4})}}); }),
             Contains("cannot rename") && Contains(tmp / "taken"));
  CHECK(tmp.files() == std::vector<std::string>{"taken"});
  CHECK_THAT(message_of<IOError>([&] { save_safetensors(tmp / "missing/dir/x.safetensors", {{"w", ones({4})}}); }),
             Contains("cannot create") && Contains("missing/dir/x.safetensors"));
}

TEST_CASE("safetensors: an overwrite replaces the old contents", "[io]") {
  TempDir tmp;
  const std::string path = tmp / "ckpt.safetensors";
  save_safetensors(path, {{"old", ones({100})}});
  save_safetensors(path, {{"new", full({2}, 5.0, DType::float64)}});
  const auto loaded = load_safetensors(path);
  REQUIRE(loaded.size() == 1);
  CHECK(loaded[0].first == "new");
  CHECK(loaded[0].second.to_vector() == std::vector<double>{5.0, 5.0});
}

TEST_CASE("safetensors: a missing or truncated file is an IOError naming the path", "[io]") {
  TempDir tmp;
  CHECK_THAT(message_of<IOError>([&] { load_safetensors(tmp / "nope.safetensors"); }),
             Contains("load_safetensors: " + tmp / "nope.safetensors" + ": cannot open"));
  CHECK_THAT(load_error(tmp, ""), Contains("bad.safetensors") && Contains("file is 0 bytes, too short"));
  CHECK_THAT(load_error(tmp, std::string("\x10\0\0", 3)), Contains("file is 3 bytes, too short"));
  CHECK_THAT(load_error(tmp, u64_le(100) + "{}"),
             Contains("header length 100 runs past the end of the 10-byte file"));
  CHECK_THAT(load_error(tmp, u64_le(~std::uint64_t{0}) + "{}"), Contains("runs past the end"));
}

TEST_CASE("safetensors: a header that is not a JSON object is rejected", "[io]") {
  TempDir tmp;
  CHECK_THAT(load_error(tmp, craft(R"({"w": {"dtype": "F32",)", 0)), Contains("header is not valid JSON"));
  CHECK_THAT(load_error(tmp, craft("[1, 2]", 0)), Contains("header must be a JSON object, got array"));
  CHECK_THAT(load_error(tmp, craft("{\"\xff\": 1}", 0)), Contains("header is not valid JSON"));  // not UTF-8
}

TEST_CASE("safetensors: an unknown dtype names the key and the dtype", "[io]") {
  TempDir tmp;
  CHECK_THAT(load_error(tmp, craft(R"({"h":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}})", 8)),
             Contains("tensor 'h' has dtype I32, which xgrad cannot load (it reads F32, F64 and I64, and F16 and "
                      "BF16 as float32)"));
}

TEST_CASE("safetensors: a shape that disagrees with its byte range is rejected", "[io]") {
  TempDir tmp;
  const std::string msg =
      load_error(tmp, craft(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})", 20));
  CHECK_THAT(msg, Contains(tmp / "bad.safetensors") &&
                      Contains("tensor 'w': shape (2, 3) F32 needs 24 bytes but data_offsets span 20"));
  CHECK_THAT(load_error(tmp, craft(R"({"s":{"dtype":"I64","shape":[],"data_offsets":[0,4]}})", 4)),
             Contains("tensor 's': shape () I64 needs 8 bytes but data_offsets span 4"));
  CHECK_THAT(load_error(tmp, craft(R"({"w":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})",
                                   8)),
             Contains("tensor 'w': shape (4294967296, 4294967296) is too large"));
}

TEST_CASE("safetensors: malformed tensor entries name the key", "[io]") {
  TempDir tmp;
  CHECK_THAT(load_error(tmp, craft(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", 0)),
             Contains("tensor 'w': shape must hold non-negative integers, got -1"));
  CHECK_THAT(load_error(tmp, craft(R"({"w":{"dtype":"F32","shape":[1]}})", 4)),
             Contains("tensor 'w': expected an object with dtype, shape and data_offsets"));
  CHECK_THAT(load_error(tmp, craft(R"({"w":[1,2]})", 0)), Contains("tensor 'w': expected an object"));
  CHECK_THAT(load_error(tmp, craft(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4)),
             Contains("tensor 'w': data_offsets must be [begin, end], got [0]"));
  CHECK_THAT(load_error(tmp, craft(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}})", 4)),
             Contains("tensor 'w': data_offsets [4, 0] end before they begin"));
  CHECK_THAT(load_error(tmp, craft(R"({"__metadata__":{"epoch":3}})", 0)),
             Contains("__metadata__ value of 'epoch' must be a string, got 3"));
}

TEST_CASE("safetensors: byte ranges outside the data, overlapping or with gaps are rejected", "[io]") {
  TempDir tmp;
  CHECK_THAT(load_error(tmp, craft(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 8)),
             Contains("tensor 'w': data_offsets [4, 12] lie outside the 8-byte data buffer"));
  CHECK_THAT(load_error(tmp, craft(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                   R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                   12)),
             Contains("tensor 'b': data_offsets [4, 12] overlap tensor 'a' at [0, 8]"));
  CHECK_THAT(load_error(tmp, craft(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                   R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                                   12)),
             Contains("tensor 'b': data_offsets [8, 12] leave bytes [4, 8) unused"));
  CHECK_THAT(load_error(tmp, craft(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 7)),
             Contains("3 bytes of trailing data after the last tensor"));
  CHECK_THAT(load_error(tmp, craft("{}", 1)), Contains("1 bytes of trailing data"));
}

namespace {
/// `open` repeated `depth` times, then `middle`, then `close` repeated `depth` times.
std::string nest(const std::string& open, const std::string& middle, const std::string& close, int depth) {
  std::string out;
  for (int i = 0; i < depth; ++i) out += open;
  out += middle;
  for (int i = 0; i < depth; ++i) out += close;
  return out;
}
}  // namespace

TEST_CASE("safetensors: a header nested 100,000 deep is an IOError, not a stack overflow", "[io]") {
  TempDir tmp;
  const std::string deep_array = nest("[", "", "]", 100000);  // about 200 KB
  const std::vector<std::pair<const char*, std::string>> headers = {
      {"as a tensor entry", R"({"a":)" + deep_array + "}"},
      {"as a dtype", R"({"a":{"dtype":)" + deep_array + R"(,"shape":[],"data_offsets":[0,0]}})"},
      {"as a shape", R"({"a":{"dtype":"F32","shape":)" + deep_array + R"(,"data_offsets":[0,0]}})"},
      {"as the metadata", R"({"__metadata__":)" + deep_array + "}"},
      {"as a metadata value", R"({"__metadata__":{"k":)" + deep_array + "}}"},
      {"as nested objects", R"({"a":)" + nest(R"({"a":)", "1", "}", 100000) + "}"},
  };
  for (const auto& [where, header] : headers) {
    INFO("nesting " << where);
    const std::string path = tmp / "deep.safetensors";
    write_bytes(path, craft(header, 0));
    // First in a child process: before the fix this overflowed the stack and would kill the test binary.
    for (bool metadata_only : {false, true}) {
      const test::ChildExit child = test::run_in_child([&] {
        try {
          if (metadata_only) load_safetensors_metadata(path);
          else load_safetensors(path);
        } catch (const IOError&) {
          return 0;
        }
        return 1;
      });
      INFO("metadata only: " << metadata_only << ", child: " << child.describe());
      REQUIRE(child.exited_with(0));
    }
    CHECK_THAT(message_of<IOError>([&] { load_safetensors(path); }),
               Contains(path) && Contains("nested deeper than 8 levels"));
  }
}

TEST_CASE("safetensors: error messages quote only an excerpt of what the file holds", "[io]") {
  TempDir tmp;
  std::string huge_string(100002, 'x');  // a JSON string of 100,000 characters
  huge_string.front() = huge_string.back() = '"';
  const std::string long_list = nest("[", nest("0,", "0", "", 50000), "]", 1);  // 50,001 zeros
  const std::vector<std::pair<const char*, std::string>> headers = {
      {"a long dtype", R"({"w":{"dtype":)" + huge_string + R"(,"shape":[],"data_offsets":[0,0]}})"},
      {"a long entry", R"({"w":)" + long_list + "}"},
      {"long data_offsets", R"({"w":{"dtype":"F32","shape":[0],"data_offsets":)" + long_list + "}}"},
      {"a long metadata value", R"({"__metadata__":{"k":)" + long_list + "}}"},
      {"a long key", "{" + huge_string + R"(:{"dtype":"F99","shape":[],"data_offsets":[0,0]}})"},
      {"a long unterminated string", R"({"w":)" + huge_string.substr(0, 50000)},
  };
  for (const auto& [what, header] : headers) {
    INFO(what);
    const std::string message = load_error(tmp, craft(header, 0));
    CHECK_THAT(message, Contains("bad.safetensors"));
    CHECK(message.size() < 600);
  }
}

TEST_CASE("safetensors: header work grows as n log n with the entry count, order kept", "[io]") {
  // 80,000 empty tensors took 18 s when the header was an ordered_json (a linear lookup per key:
  // quadratic). Everything but the duplicate-name and tiling checks is one pass over the header; those
  // two sort once, and their comparisons are counted. n log2 n predicts a ratio of 4 log(4n) / log(n)
  // = 4.6 between n = 20,000 and 80,000; a linear lookup per entry would give 16.
  TempDir tmp;
  auto comparisons = [&](std::int64_t n) {
    std::vector<std::pair<std::string, Tensor>> tensors;
    for (std::int64_t i = 0; i < n; ++i)  // names in a scrambled order, which the file must keep
      tensors.emplace_back("layer." + std::to_string(i * 48271 % n), zeros({0}));
    const std::string path = tmp / "many.safetensors";
    save_safetensors(path, tensors);
    const auto loaded = load_safetensors(path);
    REQUIRE(loaded.size() == tensors.size());
    for (std::size_t i = 0; i < loaded.size(); ++i)
      if (loaded[i].first != tensors[i].first) FAIL("entry " << i << " is " << loaded[i].first);
    return io::testing::last_header_comparisons();
  };
  const double n = 20000, small = double(comparisons(20000)), large = double(comparisons(80000));
  INFO("comparisons: " << small << " at n = 20,000, " << large << " at n = 80,000");
  CHECK(small >= n);                                  // the counter sees the sorts
  CHECK(large <= 2 * 2 * (4 * n) * std::log2(4 * n));  // two sorts of at most 2 n log2 n each
  CHECK(large / small < 6);
}

TEST_CASE("safetensors: a key repeated in the header is rejected", "[io]") {
  TempDir tmp;
  CHECK_THAT(load_error(tmp, craft(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                   R"("w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                   8)),
             Contains("key 'w' appears twice in the header"));
  CHECK_THAT(load_error(tmp, craft(R"({"w":{"dtype":"F32","dtype":"F64","shape":[0],"data_offsets":[0,0]}})", 0)),
             Contains("key 'dtype' appears twice"));
}

TEST_CASE("safetensors: a hand-made valid file with unsorted offsets and padding loads", "[io]") {
  TempDir tmp;
  // Header order differs from data order; tensors are returned in header order.
  const std::string header = R"({"b":{"dtype":"I64","shape":[],"data_offsets":[4,12]},)"
                             R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                             R"("e":{"dtype":"F64","shape":[3,0],"data_offsets":[4,4]}}   )";
  const float a = 2.5f;
  const std::int64_t b = -9;
  const std::string path = tmp / "ok.safetensors";
  write_bytes(path, u64_le(header.size()) + header + std::string(reinterpret_cast<const char*>(&a), 4) +
                        std::string(reinterpret_cast<const char*>(&b), 8));
  const auto loaded = load_safetensors(path);
  REQUIRE(loaded.size() == 3);
  CHECK(loaded[0].first == "b");
  CHECK(same_tensor(loaded[0].second, index_tensor({-9}, {})));
  CHECK(same_tensor(loaded[1].second, from_vector({2.5}, {1}, DType::float32)));
  CHECK(loaded[2].second.shape() == Shape{3, 0});
  CHECK(loaded[2].second.dtype() == DType::float64);
}

TEST_CASE("safetensors: reads a file written by PyTorch's safetensors.torch.save_file", "[io]") {
  // tools/make_safetensors_fixtures.py wrote the file and, separately, the values it holds.
  const auto expected = test::load_fixture("safetensors_from_torch.json");
  const auto loaded = load_safetensors(std::string(XGRAD_FIXTURE_DIR) + "/safetensors_from_torch.safetensors");
  REQUIRE(loaded.size() == expected.at("tensors").size());
  for (const auto& [name, t] : loaded) {
    INFO(name);
    const auto& want = expected.at("tensors").at(name);
    const std::string dtype = want.at("dtype").get<std::string>();
    const DType dt = dtype == "float32" ? DType::float32 : dtype == "float64" ? DType::float64 : DType::int64;
    CHECK(same_tensor(t, test::fixture_tensor(want, dt)));
  }
  CHECK(load_safetensors_metadata(std::string(XGRAD_FIXTURE_DIR) + "/safetensors_from_torch.safetensors") ==
        expected.at("metadata").get<std::map<std::string, std::string>>());
}

namespace {
/// The tensors of the committed xgrad -> PyTorch interop file, values chosen by hand.
std::vector<std::pair<std::string, Tensor>> interop_tensors() {
  // Five float32 first: their 20 bytes would misalign what follows unless the writer reorders.
  return {{"layer.weight", from_vector({0.5, -1.25, 3.0, 0.1, 1e-30}, {1, 5}, DType::float32)},
          {"layer.bias", from_vector({0.1, -2.5, 1e300}, {3}, DType::float64)},
          {"labels", index_tensor({0, 7, -3, 9007199254740993}, {4})},
          {"lr", scalar(3e-4, DType::float64)},
          {"nothing", index_tensor({}, {2, 0})}};
}
}  // namespace

TEST_CASE("safetensors: xgrad writes the committed interop file byte for byte", "[io]") {
  // tools/make_safetensors_fixtures.py checks the committed file with PyTorch; this pins that the
  // writer still produces exactly that file. XGRAD_UPDATE_FIXTURES=1 rewrites it (then rerun the script).
  TempDir tmp;
  const std::string fixture = std::string(XGRAD_FIXTURE_DIR) + "/safetensors_from_xgrad.safetensors";
  save_safetensors(tmp / "out.safetensors", interop_tensors(), {{"producer", "xgrad"}, {"step", "100"}});
  if (std::getenv("XGRAD_UPDATE_FIXTURES")) fs::copy_file(tmp / "out.safetensors", fixture, fs::copy_options::overwrite_existing);
  CHECK(read_bytes(tmp / "out.safetensors") == read_bytes(fixture));
}

TEST_CASE("safetensors: PyTorch's safetensors.torch.load_file read the xgrad-written file correctly", "[io]") {
  const auto check = test::load_fixture("safetensors_from_xgrad_check.json");
  CHECK(check.at("loaded_by") == "safetensors.torch.load_file");
  CHECK(check.at("metadata") == nlohmann::json({{"producer", "xgrad"}, {"step", "100"}}));
  const auto expected = interop_tensors();
  REQUIRE(check.at("tensors").size() == expected.size());
  for (const auto& [name, t] : expected) {
    INFO(name);
    const auto& got = check.at("tensors").at(name);
    CHECK(got.at("dtype") == std::string(dtype_name(t.dtype())));
    CHECK(same_tensor(test::fixture_tensor(got, t.dtype()), t));
  }
}

TEST_CASE("safetensors: PyTorch float16 and bfloat16 tensors load as the float32 values PyTorch widens them to",
          "[io]") {
  // tools/make_half_safetensors_fixture.py wrote the file and the bits of each element's tensor.float().
  const auto expected = test::load_fixture("safetensors_half.json");
  const auto loaded = load_safetensors(std::string(XGRAD_FIXTURE_DIR) + "/safetensors_half.safetensors");
  REQUIRE(loaded.size() == expected.at("order").size());
  for (std::size_t i = 0; i < loaded.size(); ++i) {
    const auto& [name, t] = loaded[i];
    INFO(name);
    CHECK(name == expected.at("order").at(i).get<std::string>());
    const auto& want = expected.at("tensors").at(name);
    CHECK(t.dtype() == DType::float32);
    CHECK(t.shape() == want.at("shape").get<Shape>());
    const auto bits = want.at("float32_bits").get<std::vector<std::int32_t>>();
    REQUIRE(bits.size() == static_cast<std::size_t>(t.numel()));
    for (std::size_t k = 0; k < bits.size(); ++k) {
      std::int32_t got = 0;
      std::memcpy(&got, t.host_data<float>() + k, 4);
      INFO("element " << k << ": " << t.host_data<float>()[k]);
      CHECK(got == bits[k]);
    }
  }
}

TEST_CASE("safetensors: a half-precision entry's byte range is checked at two bytes per element", "[io]") {
  TempDir tmp;
  CHECK_THAT(load_error(tmp, craft(R"({"h":{"dtype":"F16","shape":[3],"data_offsets":[0,12]}})", 12)),
             Contains("tensor 'h': shape (3,) F16 needs 6 bytes but data_offsets span 12"));
  CHECK_THAT(load_error(tmp, craft(R"({"h":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}})", 3)),
             Contains("lie outside the 3-byte data buffer"));
}
