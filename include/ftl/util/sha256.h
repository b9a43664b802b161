// SHA-256 of a file (OpenSSL's libcrypto): the identity of a served checkpoint, which a user
// compares with `sha256sum best.pt`.
#pragma once

#include <filesystem>
#include <string>

namespace ftl {

/// The lowercase hex SHA-256 of the file's bytes; throws IoError naming the path when it
/// cannot be read.
std::string sha256_file(const std::filesystem::path& path);

/// True when `a` and `b` are equal, in a time that does not depend on where they differ or on
/// their lengths: both are hashed, and the digests compared with CRYPTO_memcmp. For secrets
/// such as a bearer token.
bool equal_in_constant_time(const std::string& a, const std::string& b);

}  // namespace ftl
