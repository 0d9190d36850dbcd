#pragma once
// Checkpoint files in the safetensors format (https://github.com/huggingface/safetensors):
// an 8-byte little-endian header length N, N bytes of JSON naming each tensor's dtype, shape and
// byte range, then the raw little-endian tensor bytes, packed back to back (8-byte dtypes first,
// so each tensor's bytes are aligned to its element size). xgrad's float32, float64 and int64 are
// the format's F32, F64 and I64. PyTorch's `safetensors.torch.load_file` reads what
// save_safetensors writes, and load_safetensors reads what `safetensors.torch.save_file` writes
// (pinned by tests/test_io_safetensors.cpp against files made by tools/make_safetensors_fixtures.py).
// Module and optimizer checkpoints are built on these name -> tensor lists.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "xgrad/tensor/tensor.hpp"

namespace xgrad {

/// Writes `tensors` (listed in this order, names unique) and string `metadata` to `path` atomically:
/// a temporary file beside it is written, synced and renamed over `path`, so a failed save
/// (ValueError for an undefined tensor or a repeated name, IOError from the file system) leaves
/// any previous file untouched. Tensors on other devices are copied to the host first.
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

/// Reads every tensor of a safetensors file onto the CPU, in the order the header lists them
/// (for files xgrad wrote, the order given to save_safetensors). Throws IOError naming the path
/// and the offending key when the file is truncated, its header is not valid JSON, a dtype is not
/// F32/F64/I64, a shape disagrees with its byte range, or the byte ranges overlap, leave gaps,
/// fall outside the data or are followed by trailing bytes.
std::vector<std::pair<std::string, Tensor>> load_safetensors(const std::string& path);

/// Reads only the header's "__metadata__" string map (empty when absent), validating the header
/// as load_safetensors does.
std::map<std::string, std::string> load_safetensors_metadata(const std::string& path);

}  // namespace xgrad
