#pragma once
// Test instrumentation of the checkpoint writer and reader: a hook that sees every step of an atomic
// save (so a test can fail or kill the process at each boundary and check what survives), and the
// amount of comparison work a safetensors header read did (so a test can pin it as n log n without
// timing anything). Nothing here changes what a save or a load does unless a test installs a hook.
#include <cstdint>
#include <functional>

namespace xgrad::io::testing {

/// The steps of an atomic save (save_safetensors and everything built on it), in order. A hook is
/// called with each step just before it runs, and with `finished` after the last one.
enum class SaveStage {
  remove_stale_temps,  ///< deleting temporary files that killed saves left beside the target
  create_temp,         ///< creating `<target>.tmp-<pid>-<n>` (O_EXCL)
  write_header,        ///< writing the length prefix and the JSON header
  write_tensors,       ///< writing the tensors' bytes
  sync_temp,           ///< fsync of the temporary file
  close_temp,          ///< closing it
  rename,              ///< renaming it over the target: the one step that publishes the new file
  sync_directory,      ///< fsync of the directory, so the rename itself survives a power loss
  finished,            ///< after everything
};

/// The stages in order, for loops over every boundary.
inline constexpr SaveStage kSaveStages[] = {
    SaveStage::remove_stale_temps, SaveStage::create_temp, SaveStage::write_header,
    SaveStage::write_tensors,      SaveStage::sync_temp,   SaveStage::close_temp,
    SaveStage::rename,             SaveStage::sync_directory, SaveStage::finished};

/// Installs `hook`, called with every stage of every save on any thread until replaced; an empty
/// function removes it. The hook may throw (the save then fails as it would on an I/O error, and
/// removes its temporary file) or end the process (as a kill would, leaving the temporary file).
void set_save_hook(std::function<void(SaveStage)> hook);

/// Comparisons of names and byte ranges made by the calling thread's most recent safetensors header
/// read (the duplicate-name and tiling checks, the only steps that are not one pass over the header).
std::uint64_t last_header_comparisons();

}  // namespace xgrad::io::testing
