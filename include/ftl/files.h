// Durable file writes: results that a later step depends on are replaced whole or not at all.
#pragma once

#include <filesystem>
#include <string>

namespace ftl {

/// Writes `contents` to a temporary file beside `path`, fsyncs it, renames it over `path`
/// and fsyncs the folder. On any failure (a full disk, no permission) the temporary file is
/// removed, `path` keeps its previous contents, and IoError names the path and the reason.
void write_file_atomic(const std::filesystem::path& path, const std::string& contents);

}  // namespace ftl
