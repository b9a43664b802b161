// Integrity of TorchScript files. torch.jit.save writes a zip archive and records the CRC-32
// of every entry, but LibTorch's reader never checks them: a flipped bit in a weight loads
// without a word. ftl checks them before it loads a model or a checkpoint.
#pragma once

#include <filesystem>

namespace ftl {

/// Reads every entry of the zip archive at `path` and checks it against the CRC-32 and sizes
/// that the archive records, and the archive's own structure. Throws ModelError naming the path
/// and the damaged entry. A file that is not a zip archive at all is left to LibTorch's loader,
/// which knows the other formats and says what is wrong with the rest.
void verify_archive(const std::filesystem::path& path);

}  // namespace ftl
