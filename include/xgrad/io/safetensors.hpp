#pragma once
// Checkpoint files in the safetensors format (https://github.com/huggingface/safetensors):
// an 8-byte little-endian header length N, N bytes of JSON naming each tensor's dtype, shape and
// byte range, then the raw little-endian tensor bytes, packed back to back (8-byte dtypes first,
// so each tensor's bytes are aligned to its element size). xgrad's float32, float64 and int64 are
// the format's F32, F64 and I64; half-precision files load too, F16 and BF16 widened to float32
// (exactly: every half and bfloat16 value, subnormals, infinities and NaN included, is a float32).
// PyTorch's `safetensors.torch.load_file` reads what save_safetensors writes, and load_safetensors
// reads what `safetensors.torch.save_file` writes (pinned by tests/test_io_safetensors.cpp against
// files made by tools/make_safetensors_fixtures.py and tools/make_half_safetensors_fixture.py).
// Module, optimizer and training-state checkpoints (checkpoint.hpp) are built on these lists.
//
// The reader treats every file as untrusted: whatever the bytes, it returns the tensors or throws
// IOError naming the path (docs/checkpoints.md lists what it checks). Its work is linear in the
// file's size apart from sorting the names and byte ranges once, and the header's JSON may nest at
// most 8 levels (a valid header needs 3), refused while parsing. Error messages quote at most a
// short excerpt of the file's text.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "xgrad/tensor/tensor.hpp"

namespace xgrad {

/// Writes `tensors` (listed in this order, names unique) and string `metadata` to `path` atomically:
/// a temporary file `<path>.tmp-<pid>-<n>` beside it is written, synced and renamed over `path`, and
/// the directory is synced, so a failed save (ValueError for an undefined tensor, a repeated name or
/// text that is not UTF-8; IOError from the file system, e.g. a full disk) or a killed process
/// leaves any previous file untouched. Temporary files of earlier saves to `path` whose process is
/// gone are deleted first. Values are written as they are, NaN included (the checkpoint functions
/// refuse those). Tensors on other devices are copied to the host first.
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

/// Reads every tensor of a safetensors file onto the CPU, in the order the header lists them
/// (for files xgrad wrote, the order given to save_safetensors); F16 and BF16 tensors become
/// float32. Throws IOError naming the path and the offending key when the file is truncated, its
/// header is not valid JSON (or nests deeper than 8 levels, or repeats a key), a dtype is not
/// F32/F64/I64/F16/BF16, a shape disagrees with its byte range, or the byte ranges overlap, leave
/// gaps, fall outside the data or are followed by trailing bytes.
std::vector<std::pair<std::string, Tensor>> load_safetensors(const std::string& path);

/// Reads only the header's "__metadata__" string map (empty when absent), validating the header
/// as load_safetensors does.
std::map<std::string, std::string> load_safetensors_metadata(const std::string& path);

/// A whole safetensors file: its tensors in header order and its metadata.
struct SafetensorsFile {
  std::vector<std::pair<std::string, Tensor>> tensors;  ///< as load_safetensors returns them
  std::map<std::string, std::string> metadata;          ///< as load_safetensors_metadata returns it
};

/// Reads tensors and metadata through one open file, so both come from the same version of `path`
/// even while another process replaces it; checks and errors as load_safetensors.
SafetensorsFile read_safetensors(const std::string& path);

}  // namespace xgrad
