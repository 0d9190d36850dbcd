#include "xgrad/io/safetensors.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>
#include <system_error>

#include <fmt/format.h>

#include "io/atomic_file.hpp"

namespace xgrad {
namespace {

using io::testing::SaveStage;

// The format stores little-endian bytes; xgrad copies tensor memory verbatim.
static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

// A header value of bounded depth (one tensor entry or the metadata map). The header's top level is
// never held as one JSON object: HeaderReader walks it entry by entry, in file order.
using Json = nlohmann::json;

constexpr const char* kMetadataKey = "__metadata__";
/// A safetensors header needs 3 levels (the header, a tensor entry, its shape); anything deeper than
/// this is refused while parsing, before it is built.
constexpr std::size_t kMaxHeaderDepth = 8;
/// Characters of the file's own text (names, values, parser context) quoted in an error message.
constexpr std::size_t kMaxQuoted = 80;

std::string errno_str() { return std::system_category().message(errno); }

/// `text` cut to kMaxQuoted characters (at a UTF-8 character boundary, marked by "..."): error messages
/// quote names and values from untrusted files.
std::string excerpt(std::string_view text, std::size_t limit = kMaxQuoted) {
  if (text.size() <= limit) return std::string(text);
  std::size_t cut = limit;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return fmt::format("{}... ({} bytes)", text.substr(0, cut), text.size());
}

std::string json_excerpt(const Json& value) { return excerpt(value.dump(-1, ' ', false, Json::error_handler_t::replace)); }

/// How a dtype of the file is stored, and the xgrad dtype it loads as.
struct StoredType {
  const char* code;       ///< the format's name
  std::size_t size;       ///< bytes per element in the file
  DType loads_as;         ///< F16 and BF16 are widened to float32 (exactly: float32 holds every value)
};
constexpr StoredType kStoredTypes[] = {{"F32", 4, DType::float32}, {"F64", 8, DType::float64},
                                       {"I64", 8, DType::int64},   {"F16", 2, DType::float32},
                                       {"BF16", 2, DType::float32}};

const char* dtype_code(DType dtype) {
  switch (dtype) {
    case DType::float32: return "F32";
    case DType::float64: return "F64";
    case DType::int64: return "I64";
  }
  return "?";
}

std::uint64_t byte_size(const Tensor& t) { return static_cast<std::uint64_t>(t.numel()) * dtype_size(t.dtype()); }

/// IEEE 754 binary16 to float32, exactly (NaN payloads kept).
float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exponent = (h >> 10) & 0x1Fu, mantissa = h & 0x3FFu;
  if (exponent == 0x1F) return std::bit_cast<float>(sign | 0x7F800000u | (mantissa << 13));  // inf, NaN
  if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  return std::bit_cast<float>(sign | ((exponent + 127 - 15) << 23) | (mantissa << 13));
}

/// bfloat16 is the top half of a float32.
float bfloat16_to_float(std::uint16_t b) { return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16); }

/// Comparisons made by the calling thread's current header read (io::testing::last_header_comparisons).
thread_local std::uint64_t header_comparisons = 0;

/// Wraps a strict-weak-order `less` so that every call is counted in header_comparisons.
template <class Less>
auto counted(Less less) {
  return [less](const auto& a, const auto& b) {
    ++header_comparisons;
    return less(a, b);
  };
}

// ---------------------------------------------------------------------------------------------
// Reading

/// One tensor's header entry, validated on its own (dtype known, shape matches its byte range).
struct Entry {
  std::string name;
  const StoredType* stored;
  Shape shape;
  std::uint64_t begin, end;  // relative to the data buffer
};

struct Header {
  std::vector<Entry> entries;  // in header order
  std::map<std::string, std::string> metadata;
  std::uint64_t data_start = 0;  // file offset of the data buffer
};

/// A read-only file descriptor that knows its path and the calling function, for error messages.
class InputFile {
 public:
  InputFile(std::string path, const char* op) : path_(std::move(path)), op_(op) {
    fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) fail(fmt::format("cannot open: {}", errno_str()));
    struct stat st {};
    if (::fstat(fd_, &st) != 0) fail(fmt::format("cannot stat: {}", errno_str()));
    if (!S_ISREG(st.st_mode)) fail("not a regular file");
    size_ = static_cast<std::uint64_t>(st.st_size);
  }
  ~InputFile() { ::close(fd_); }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  std::uint64_t size() const { return size_; }

  /// Reads exactly `n` bytes at `offset` into `dst`.
  void read(void* dst, std::uint64_t n, std::uint64_t offset) const {
    auto* p = static_cast<char*>(dst);
    while (n > 0) {
      const ssize_t got = ::pread(fd_, p, n, static_cast<off_t>(offset));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) fail(fmt::format("read failed: {}", errno_str()));
      if (got == 0) fail("file ended early (was it truncated while being read?)");
      p += got, n -= static_cast<std::uint64_t>(got), offset += static_cast<std::uint64_t>(got);
    }
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw IOError(fmt::format("{}: {}: {}", op_, path_, what));
  }

 private:
  std::string path_;
  const char* op_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

const StoredType& parse_dtype(const InputFile& file, const std::string& name, const Json& code) {
  for (const StoredType& t : kStoredTypes)
    if (code == t.code) return t;
  file.fail(fmt::format("tensor '{}' has dtype {}, which xgrad cannot load (it reads F32, F64 and I64, and F16 "
                        "and BF16 as float32)",
                        excerpt(name), code.is_string() ? excerpt(code.get<std::string>()) : json_excerpt(code)));
}

/// A JSON value that must be a non-negative integer fitting in int64.
std::uint64_t parse_count(const InputFile& file, const std::string& name, const char* field, const Json& v) {
  if (!v.is_number_unsigned() || v.get<std::uint64_t>() > std::numeric_limits<std::int64_t>::max())
    file.fail(fmt::format("tensor '{}': {} must hold non-negative integers, got {}", excerpt(name), field,
                          json_excerpt(v)));
  return v.get<std::uint64_t>();
}

Entry parse_entry(const InputFile& file, const std::string& name, const Json& v, std::uint64_t data_size) {
  const auto field = [&](const char* key) -> const Json& {
    if (!v.is_object() || !v.contains(key))
      file.fail(fmt::format("tensor '{}': expected an object with dtype, shape and data_offsets, got {}",
                            excerpt(name), json_excerpt(v)));
    return v.at(key);
  };
  Entry e{name, &parse_dtype(file, name, field("dtype")), {}, 0, 0};
  const Json& shape = field("shape");
  if (!shape.is_array())
    file.fail(fmt::format("tensor '{}': shape must be a list, got {}", excerpt(name), json_excerpt(shape)));
  for (const Json& d : shape) e.shape.push_back(static_cast<std::int64_t>(parse_count(file, name, "shape", d)));
  const Json& offsets = field("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2)
    file.fail(fmt::format("tensor '{}': data_offsets must be [begin, end], got {}", excerpt(name),
                          json_excerpt(offsets)));
  e.begin = parse_count(file, name, "data_offsets", offsets[0]);
  e.end = parse_count(file, name, "data_offsets", offsets[1]);
  if (e.end < e.begin)
    file.fail(fmt::format("tensor '{}': data_offsets [{}, {}] end before they begin", excerpt(name), e.begin,
                          e.end));

  // numel * itemsize, refusing shapes whose byte count overflows rather than wrapping around.
  std::uint64_t bytes = e.stored->size;
  for (std::int64_t d : e.shape)
    if (__builtin_mul_overflow(bytes, static_cast<std::uint64_t>(d), &bytes))
      file.fail(fmt::format("tensor '{}': shape {} is too large", excerpt(name), excerpt(shape_str(e.shape))));
  if (bytes != e.end - e.begin)
    file.fail(fmt::format("tensor '{}': shape {} {} needs {} bytes but data_offsets span {}", excerpt(name),
                          excerpt(shape_str(e.shape)), e.stored->code, bytes, e.end - e.begin));
  if (e.end > data_size)
    file.fail(fmt::format("tensor '{}': data_offsets [{}, {}] lie outside the {}-byte data buffer", excerpt(name),
                          e.begin, e.end, data_size));
  return e;
}

std::map<std::string, std::string> parse_metadata(const InputFile& file, const Json& v) {
  if (!v.is_object())
    file.fail(fmt::format("{} must be an object of strings, got {}", kMetadataKey, json_excerpt(v)));
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : v.items()) {
    if (!value.is_string())
      file.fail(fmt::format("{} value of '{}' must be a string, got {}", kMetadataKey, excerpt(key), json_excerpt(value)));
    out.emplace(key, value.get<std::string>());
  }
  return out;
}

/// SAX handler over the header text. The top-level object is read entry by entry in file order and
/// each value handed to `on_entry` as soon as it is complete, so no lookup structure over all names
/// exists (ordered_json's linear lookups made 80,000 entries take seconds). Nesting is counted as it
/// opens and refused past kMaxHeaderDepth, so a hostile header cannot exhaust the stack of any later
/// recursive walk, and repeated keys inside an entry are refused as they are read.
class HeaderReader final : public nlohmann::json_sax<Json> {
 public:
  using OnEntry = std::function<void(std::string name, Json value)>;
  HeaderReader(const InputFile& file, OnEntry on_entry) : file_(file), on_entry_(std::move(on_entry)) {}

  /// Whether the top-level object was closed (the parser reports everything else as an error).
  bool complete() const { return closed_; }

  bool null() override { return put(nullptr); }
  bool boolean(bool v) override { return put(v); }
  bool number_integer(number_integer_t v) override { return put(v); }
  bool number_unsigned(number_unsigned_t v) override { return put(v); }
  bool number_float(number_float_t v, const string_t&) override { return put(v); }
  bool string(string_t& v) override { return put(std::move(v)); }
  bool binary(binary_t& v) override { return put(Json::binary(std::move(v))); }
  bool start_object(std::size_t) override { return open(Json::object()); }
  bool start_array(std::size_t) override { return open(Json::array()); }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }

  bool key(string_t& k) override {
    if (stack_.empty()) {
      name_ = std::move(k);
    } else {
      if (stack_.back()->contains(k)) file_.fail(fmt::format("key '{}' appears twice in the header", excerpt(k)));
      key_ = std::move(k);
    }
    return true;
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    file_.fail(fmt::format("header is not valid JSON: {}", excerpt(e.what(), 3 * kMaxQuoted)));
  }

 private:
  /// A value at the current position: the top level itself (refused), a whole top-level entry, or a
  /// part of the entry being built.
  bool put(Json value) {
    if (!opened_) file_.fail(fmt::format("header must be a JSON object, got {}", value.type_name()));
    if (stack_.empty()) on_entry_(std::move(name_), std::move(value));
    else if (stack_.back()->is_array()) stack_.back()->push_back(std::move(value));
    else (*stack_.back())[key_] = std::move(value);
    return true;
  }

  bool open(Json container) {
    if (!opened_) {
      if (!container.is_object()) file_.fail(fmt::format("header must be a JSON object, got {}", container.type_name()));
      opened_ = true;
      return true;
    }
    if (stack_.size() + 2 > kMaxHeaderDepth)
      file_.fail(fmt::format("header is nested deeper than {} levels (a safetensors header needs 3)",
                             kMaxHeaderDepth));
    // The new container lives inside its parent; the parent gains nothing else while it is open,
    // so the pointer stays valid until it closes.
    Json* slot = nullptr;
    if (stack_.empty()) slot = &(entry_ = std::move(container));
    else if (stack_.back()->is_array()) slot = &stack_.back()->emplace_back(std::move(container));
    else slot = &((*stack_.back())[key_] = std::move(container));
    stack_.push_back(slot);
    return true;
  }

  bool close() {
    if (stack_.empty()) {
      closed_ = true;
      return true;
    }
    stack_.pop_back();
    if (stack_.empty()) on_entry_(std::move(name_), std::move(entry_));
    return true;
  }

  const InputFile& file_;
  OnEntry on_entry_;
  bool opened_ = false, closed_ = false;
  std::string name_;          // the top-level key whose value is being read
  Json entry_;                // that value, while it is a container being built
  std::vector<Json*> stack_;  // open containers inside entry_, innermost last
  std::string key_;           // the key of the next value inside the innermost open object
};

/// Every name of the top level (tensors and the metadata key) must be unique: sorted, then compared
/// with its neighbour (n log n comparisons, counted).
void check_unique(const InputFile& file, const std::vector<const std::string*>& names) {
  std::vector<const std::string*> sorted = names;
  std::sort(sorted.begin(), sorted.end(), counted([](const std::string* a, const std::string* b) { return *a < *b; }));
  for (std::size_t i = 1; i < sorted.size(); ++i)
    if (*sorted[i] == *sorted[i - 1])
      file.fail(fmt::format("key '{}' appears twice in the header", excerpt(*sorted[i])));
}

/// The tensors must tile the data buffer exactly: no overlap, no gap, nothing after the last one.
void check_tiling(const InputFile& file, const std::vector<Entry>& entries, std::uint64_t data_size) {
  std::vector<const Entry*> by_offset;
  by_offset.reserve(entries.size());
  for (const Entry& e : entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(), counted([](const Entry* a, const Entry* b) {
              return std::tie(a->begin, a->end) < std::tie(b->begin, b->end);
            }));
  std::uint64_t covered = 0;
  const Entry* previous = nullptr;
  for (const Entry* e : by_offset) {
    if (e->begin < covered)
      file.fail(fmt::format("tensor '{}': data_offsets [{}, {}] overlap tensor '{}' at [{}, {}]", excerpt(e->name),
                            e->begin, e->end, excerpt(previous->name), previous->begin, previous->end));
    if (e->begin > covered)
      file.fail(fmt::format("tensor '{}': data_offsets [{}, {}] leave bytes [{}, {}) unused; tensors must be "
                            "contiguous",
                            excerpt(e->name), e->begin, e->end, covered, e->begin));
    covered = e->end;
    previous = e;
  }
  if (covered != data_size)
    file.fail(fmt::format("{} bytes of trailing data after the last tensor (tensors end at byte {} of the "
                          "{}-byte data buffer)",
                          data_size - covered, covered, data_size));
}

Header read_header(const InputFile& file) {
  header_comparisons = 0;
  if (file.size() < 8)
    file.fail(fmt::format("file is {} bytes, too short for the 8-byte header length", file.size()));
  std::uint64_t header_size = 0;
  file.read(&header_size, 8, 0);
  if (header_size > file.size() - 8)
    file.fail(fmt::format("header length {} runs past the end of the {}-byte file", header_size, file.size()));
  std::string text(header_size, '\0');
  file.read(text.data(), header_size, 8);

  const std::uint64_t data_size = file.size() - 8 - header_size;
  Header h;
  h.data_start = 8 + header_size;
  bool metadata_seen = false;
  HeaderReader reader(file, [&](std::string name, Json value) {
    if (name != kMetadataKey) {
      h.entries.push_back(parse_entry(file, name, value, data_size));
      return;
    }
    if (metadata_seen) file.fail(fmt::format("key '{}' appears twice in the header", kMetadataKey));
    h.metadata = parse_metadata(file, value);
    metadata_seen = true;
  });
  Json::sax_parse(text, &reader);
  if (!reader.complete()) file.fail("header is not valid JSON: it ended early");
  std::vector<const std::string*> names;
  names.reserve(h.entries.size());
  for (const Entry& e : h.entries) names.push_back(&e.name);
  check_unique(file, names);
  check_tiling(file, h.entries, data_size);
  return h;
}

/// Reads entry `e` of `file` into a new CPU tensor, widening F16 and BF16 to float32.
Tensor read_tensor(const InputFile& file, const Header& header, const Entry& e) {
  Tensor t = Tensor::empty(e.shape, e.stored->loads_as);
  const std::uint64_t offset = header.data_start + e.begin, bytes = e.end - e.begin;
  if (e.stored->size == dtype_size(t.dtype())) {
    file.read(t.raw_data(), bytes, offset);
    return t;
  }
  std::vector<std::uint16_t> half(static_cast<std::size_t>(t.numel()));
  file.read(half.data(), bytes, offset);
  float* out = t.host_data<float>();
  const bool bfloat = std::string_view(e.stored->code) == "BF16";
  for (std::size_t i = 0; i < half.size(); ++i) out[i] = bfloat ? bfloat16_to_float(half[i]) : half_to_float(half[i]);
  return t;
}

// ---------------------------------------------------------------------------------------------
// Writing

/// The order the tensors' bytes are laid out in: 8-byte elements before 4-byte ones (stable), so
/// every tensor starts aligned to its element size, as safetensors' own writer does; readers that
/// map the file can then use the bytes in place.
std::vector<std::size_t> data_order(const std::vector<std::pair<std::string, Tensor>>& tensors) {
  std::vector<std::size_t> order(tensors.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return dtype_size(tensors[a].second.dtype()) > dtype_size(tensors[b].second.dtype());
  });
  return order;
}

/// `text` as a JSON string literal; ValueError naming `what` unless it is valid UTF-8.
std::string json_string(const std::string& text, const char* what) {
  try {
    return Json(text).dump();
  } catch (const Json::exception& e) {
    throw ValueError(fmt::format("save_safetensors: {} must be valid UTF-8: {}", what, e.what()));
  }
}

/// The header JSON (tensors listed in the caller's order, each entry's fields in the order
/// safetensors writes them), padded with spaces so the data buffer starts 8-byte aligned. Written
/// piece by piece: one pass, however many tensors.
std::string make_header(const std::vector<std::pair<std::string, Tensor>>& tensors,
                        const std::vector<std::size_t>& order, const std::map<std::string, std::string>& metadata) {
  std::vector<std::uint64_t> begin(tensors.size());
  std::uint64_t offset = 0;
  for (std::size_t i : order) {
    begin[i] = offset;
    offset += byte_size(tensors[i].second);
  }
  std::string text = "{";
  const auto separate = [&text] {
    if (text.back() != '{') text += ',';
  };
  if (!metadata.empty()) {
    text += fmt::format("\"{}\":{{", kMetadataKey);
    for (const auto& [key, value] : metadata) {
      separate();
      text += json_string(key, "metadata keys") + ':' + json_string(value, "metadata values");
    }
    text += '}';
  }
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i].second;
    separate();
    text += json_string(tensors[i].first, "tensor names");
    text += fmt::format(R"(:{{"dtype":"{}","shape":[)", dtype_code(t.dtype()));
    for (std::size_t d = 0; d < t.shape().size(); ++d) {
      if (d > 0) text += ',';
      text += std::to_string(t.shape()[d]);
    }
    text += fmt::format(R"(],"data_offsets":[{},{}]}})", begin[i], begin[i] + byte_size(t));
  }
  text += '}';
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

}  // namespace

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  // Every argument is checked before the temporary file exists.
  std::set<std::string_view> names;
  std::vector<Tensor> host;
  host.reserve(tensors.size());
  for (const auto& [name, t] : tensors) {
    if (!t.defined()) throw ValueError(fmt::format("save_safetensors: tensor '{}' is undefined", name));
    if (name == kMetadataKey)
      throw ValueError(fmt::format("save_safetensors: '{}' is reserved for the metadata map", kMetadataKey));
    if (!names.insert(name).second)
      throw ValueError(fmt::format("save_safetensors: name '{}' appears twice; names must be unique", name));
    host.push_back(t.device().type == DeviceType::cpu ? t : t.to(Device{}));
  }
  const std::vector<std::size_t> order = data_order(tensors);
  const std::string header = make_header(tensors, order, metadata);
  const std::uint64_t header_size = header.size();

  io::detail::AtomicOutput out(path, "save_safetensors");
  io::detail::enter_stage(SaveStage::write_header);
  out.write(&header_size, 8);
  out.write(header.data(), header.size());
  io::detail::enter_stage(SaveStage::write_tensors);
  for (std::size_t i : order)
    if (byte_size(host[i]) > 0) out.write(host[i].raw_data(), byte_size(host[i]));
  out.commit();
}

SafetensorsFile read_safetensors(const std::string& path) {
  const InputFile file(path, "load_safetensors");
  Header header = read_header(file);
  SafetensorsFile out{{}, std::move(header.metadata)};
  out.tensors.reserve(header.entries.size());
  for (const Entry& e : header.entries) out.tensors.emplace_back(e.name, read_tensor(file, header, e));
  return out;
}

std::vector<std::pair<std::string, Tensor>> load_safetensors(const std::string& path) {
  return read_safetensors(path).tensors;
}

std::map<std::string, std::string> load_safetensors_metadata(const std::string& path) {
  const InputFile file(path, "load_safetensors_metadata");
  return read_header(file).metadata;
}

namespace io::testing {

std::uint64_t last_header_comparisons() { return header_comparisons; }

}  // namespace io::testing

}  // namespace xgrad
