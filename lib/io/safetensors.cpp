#include "xgrad/io/safetensors.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <system_error>

#include <fmt/format.h>

namespace xgrad {
namespace {

// The format stores little-endian bytes; xgrad copies tensor memory verbatim.
static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

using Json = nlohmann::ordered_json;  // keeps the header's key order, which is the tensors' order

constexpr const char* kMetadataKey = "__metadata__";

std::string errno_str() { return std::system_category().message(errno); }

const char* dtype_code(DType dtype) {
  switch (dtype) {
    case DType::float32: return "F32";
    case DType::float64: return "F64";
    case DType::int64: return "I64";
  }
  return "?";
}

std::uint64_t byte_size(const Tensor& t) { return static_cast<std::uint64_t>(t.numel()) * dtype_size(t.dtype()); }

// ---------------------------------------------------------------------------------------------
// Reading

/// One tensor's header entry, validated on its own (dtype known, shape matches its byte range).
struct Entry {
  std::string name;
  DType dtype;
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

  [[noreturn]] void fail(const std::string& what) const { throw IOError(fmt::format("{}: {}: {}", op_, path_, what)); }

 private:
  std::string path_;
  const char* op_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

/// Parses the header JSON, rejecting a key repeated within any object (nlohmann would keep the last).
Json parse_header(const InputFile& file, const std::string& text) {
  std::vector<std::set<std::string>> open_objects;
  auto reject_repeats = [&](int, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::object_start) open_objects.emplace_back();
    else if (event == Json::parse_event_t::object_end) open_objects.pop_back();
    else if (event == Json::parse_event_t::key && !open_objects.back().insert(parsed.get<std::string>()).second)
      file.fail(fmt::format("key '{}' appears twice in the header", parsed.get<std::string>()));
    return true;
  };
  try {
    return Json::parse(text, reject_repeats);
  } catch (const Json::exception& e) {
    file.fail(fmt::format("header is not valid JSON: {}", e.what()));
  }
}

DType parse_dtype(const InputFile& file, const std::string& name, const Json& code) {
  if (code == "F32") return DType::float32;
  if (code == "F64") return DType::float64;
  if (code == "I64") return DType::int64;
  file.fail(fmt::format("tensor '{}' has dtype {}, which xgrad cannot hold (it reads F32, F64 and I64)", name,
                        code.is_string() ? code.get<std::string>() : code.dump()));
}

/// A JSON value that must be a non-negative integer fitting in int64.
std::uint64_t parse_count(const InputFile& file, const std::string& name, const char* field, const Json& v) {
  if (!v.is_number_unsigned() || v.get<std::uint64_t>() > std::numeric_limits<std::int64_t>::max())
    file.fail(fmt::format("tensor '{}': {} must hold non-negative integers, got {}", name, field, v.dump()));
  return v.get<std::uint64_t>();
}

Entry parse_entry(const InputFile& file, const std::string& name, const Json& v, std::uint64_t data_size) {
  const auto field = [&](const char* key) -> const Json& {
    if (!v.is_object() || !v.contains(key))
      file.fail(fmt::format("tensor '{}': expected an object with dtype, shape and data_offsets, got {}", name,
                            v.dump()));
    return v.at(key);
  };
  Entry e{name, parse_dtype(file, name, field("dtype")), {}, 0, 0};
  const Json& shape = field("shape");
  if (!shape.is_array()) file.fail(fmt::format("tensor '{}': shape must be a list, got {}", name, shape.dump()));
  for (const Json& d : shape) e.shape.push_back(static_cast<std::int64_t>(parse_count(file, name, "shape", d)));
  const Json& offsets = field("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2)
    file.fail(fmt::format("tensor '{}': data_offsets must be [begin, end], got {}", name, offsets.dump()));
  e.begin = parse_count(file, name, "data_offsets", offsets[0]);
  e.end = parse_count(file, name, "data_offsets", offsets[1]);
  if (e.end < e.begin)
    file.fail(fmt::format("tensor '{}': data_offsets [{}, {}] end before they begin", name, e.begin, e.end));

  // numel * itemsize, refusing shapes whose byte count overflows rather than wrapping around.
  std::uint64_t bytes = dtype_size(e.dtype);
  for (std::int64_t d : e.shape)
    if (__builtin_mul_overflow(bytes, static_cast<std::uint64_t>(d), &bytes))
      file.fail(fmt::format("tensor '{}': shape {} is too large", name, shape_str(e.shape)));
  if (bytes != e.end - e.begin)
    file.fail(fmt::format("tensor '{}': shape {} {} needs {} bytes but data_offsets span {}", name,
                          shape_str(e.shape), dtype_name(e.dtype), bytes, e.end - e.begin));
  if (e.end > data_size)
    file.fail(fmt::format("tensor '{}': data_offsets [{}, {}] lie outside the {}-byte data buffer", name, e.begin,
                          e.end, data_size));
  return e;
}

std::map<std::string, std::string> parse_metadata(const InputFile& file, const Json& v) {
  if (!v.is_object()) file.fail(fmt::format("{} must be an object of strings, got {}", kMetadataKey, v.dump()));
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : v.items()) {
    if (!value.is_string())
      file.fail(fmt::format("{} value of '{}' must be a string, got {}", kMetadataKey, key, value.dump()));
    out.emplace(key, value.get<std::string>());
  }
  return out;
}

/// The tensors must tile the data buffer exactly: no overlap, no gap, nothing after the last one.
void check_tiling(const InputFile& file, const std::vector<Entry>& entries, std::uint64_t data_size) {
  std::vector<const Entry*> by_offset;
  for (const Entry& e : entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const Entry* a, const Entry* b) { return std::tie(a->begin, a->end) < std::tie(b->begin, b->end); });
  std::uint64_t covered = 0;
  const Entry* previous = nullptr;
  for (const Entry* e : by_offset) {
    if (e->begin < covered)
      file.fail(fmt::format("tensor '{}': data_offsets [{}, {}] overlap tensor '{}' at [{}, {}]", e->name, e->begin,
                            e->end, previous->name, previous->begin, previous->end));
    if (e->begin > covered)
      file.fail(fmt::format("tensor '{}': data_offsets [{}, {}] leave bytes [{}, {}) unused; tensors must be "
                            "contiguous",
                            e->name, e->begin, e->end, covered, e->begin));
    covered = e->end;
    previous = e;
  }
  if (covered != data_size)
    file.fail(fmt::format("{} bytes of trailing data after the last tensor (tensors end at byte {} of the "
                          "{}-byte data buffer)",
                          data_size - covered, covered, data_size));
}

Header read_header(const InputFile& file) {
  if (file.size() < 8)
    file.fail(fmt::format("file is {} bytes, too short for the 8-byte header length", file.size()));
  std::uint64_t header_size = 0;
  file.read(&header_size, 8, 0);
  if (header_size > file.size() - 8)
    file.fail(fmt::format("header length {} runs past the end of the {}-byte file", header_size, file.size()));
  std::string text(header_size, '\0');
  file.read(text.data(), header_size, 8);
  const Json json = parse_header(file, text);
  if (!json.is_object()) file.fail(fmt::format("header must be a JSON object, got {}", json.type_name()));

  const std::uint64_t data_size = file.size() - 8 - header_size;
  Header h;
  h.data_start = 8 + header_size;
  for (const auto& [key, value] : json.items()) {
    if (key == kMetadataKey) h.metadata = parse_metadata(file, value);
    else h.entries.push_back(parse_entry(file, key, value, data_size));
  }
  check_tiling(file, h.entries, data_size);
  return h;
}

// ---------------------------------------------------------------------------------------------
// Writing

/// A temporary file beside `target` that replaces it only on commit(); otherwise it is removed.
class AtomicOutput {
 public:
  explicit AtomicOutput(std::string target) : target_(std::move(target)) {
    static std::atomic<unsigned> counter{0};
    for (int attempt = 0; fd_ < 0; ++attempt) {
      temp_ = fmt::format("{}.tmp-{}-{}", target_, ::getpid(), counter++);
      // O_EXCL: never clobber a file we did not create; 0666 lets the umask pick the final mode.
      fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd_ < 0 && (errno != EEXIST || attempt == 100)) fail("cannot create", temp_);
    }
  }
  ~AtomicOutput() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(temp_.c_str());
  }
  AtomicOutput(const AtomicOutput&) = delete;
  AtomicOutput& operator=(const AtomicOutput&) = delete;

  void write(const void* src, std::uint64_t n) {
    const auto* p = static_cast<const char*>(src);
    while (n > 0) {
      const ssize_t put = ::write(fd_, p, n);
      if (put < 0 && errno == EINTR) continue;
      if (put < 0) fail("cannot write", temp_);
      p += put, n -= static_cast<std::uint64_t>(put);
    }
  }

  /// Syncs the data, renames it over the target and syncs the directory so the rename survives a crash.
  void commit() {
    if (::fsync(fd_) != 0) fail("cannot sync", temp_);
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail("cannot close", temp_);
    if (::rename(temp_.c_str(), target_.c_str()) != 0) fail(fmt::format("cannot rename {} to", temp_), target_);
    committed_ = true;
    const std::filesystem::path parent = std::filesystem::path(target_).parent_path();
    const std::string dir = parent.empty() ? std::string(".") : parent.string();
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) fail("saved, but cannot open the directory to sync it", dir);
    // Some file systems cannot sync a directory (EINVAL); the rename itself has happened.
    const bool synced = ::fsync(dfd) == 0 || errno == EINVAL;
    ::close(dfd);
    if (!synced) fail("saved, but cannot sync the directory", dir);
  }

 private:
  [[noreturn]] void fail(const std::string& what, const std::string& path) const {
    throw IOError(fmt::format("save_safetensors: {} {}: {}", what, path, errno_str()));
  }

  std::string target_, temp_;
  int fd_ = -1;
  bool committed_ = false;
};

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

/// The header JSON (tensors listed in the caller's order), padded with spaces so the data buffer
/// starts 8-byte aligned.
std::string make_header(const std::vector<std::pair<std::string, Tensor>>& tensors,
                        const std::vector<std::size_t>& order, const std::map<std::string, std::string>& metadata) {
  std::vector<std::uint64_t> begin(tensors.size());
  std::uint64_t offset = 0;
  for (std::size_t i : order) {
    begin[i] = offset;
    offset += byte_size(tensors[i].second);
  }
  Json header = Json::object();
  if (!metadata.empty()) header[kMetadataKey] = metadata;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i].second;
    header[tensors[i].first] = {{"dtype", dtype_code(t.dtype())},
                                {"shape", t.shape()},
                                {"data_offsets", {begin[i], begin[i] + byte_size(t)}}};
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const Json::exception& e) {
    throw ValueError(fmt::format("save_safetensors: names and metadata must be valid UTF-8: {}", e.what()));
  }
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

  AtomicOutput out(path);
  out.write(&header_size, 8);
  out.write(header.data(), header.size());
  for (std::size_t i : order)
    if (byte_size(host[i]) > 0) out.write(host[i].raw_data(), byte_size(host[i]));
  out.commit();
}

std::vector<std::pair<std::string, Tensor>> load_safetensors(const std::string& path) {
  const InputFile file(path, "load_safetensors");
  const Header header = read_header(file);
  std::vector<std::pair<std::string, Tensor>> out;
  out.reserve(header.entries.size());
  for (const Entry& e : header.entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype);
    file.read(t.raw_data(), e.end - e.begin, header.data_start + e.begin);
    out.emplace_back(e.name, std::move(t));
  }
  return out;
}

std::map<std::string, std::string> load_safetensors_metadata(const std::string& path) {
  const InputFile file(path, "load_safetensors_metadata");
  return read_header(file).metadata;
}

}  // namespace xgrad
