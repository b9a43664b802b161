#include "ftl/util/sha256.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <vector>

#include "ftl/util/errors.h"

namespace ftl {
namespace {

/// Bytes read per call: large enough that the hash, not the reads, sets the pace.
constexpr std::size_t kHashReadChunk = std::size_t{1} << 20;

using Digest = std::array<unsigned char, EVP_MAX_MD_SIZE>;

struct ContextFree {
  void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
};
using Context = std::unique_ptr<EVP_MD_CTX, ContextFree>;

Context new_context() {
  Context context(EVP_MD_CTX_new());
  if (!context || EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr) != 1) {
    throw IoError("SHA-256: OpenSSL could not start a digest");
  }
  return context;
}

unsigned int finish(EVP_MD_CTX* context, Digest& digest) {
  unsigned int size = 0;
  if (EVP_DigestFinal_ex(context, digest.data(), &size) != 1) {
    throw IoError("SHA-256: OpenSSL could not finish a digest");
  }
  return size;
}

Digest digest_of(const std::string& text) {
  Context context = new_context();
  EVP_DigestUpdate(context.get(), text.data(), text.size());
  Digest digest{};
  finish(context.get(), digest);
  return digest;
}

}  // namespace

std::string sha256_file(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw IoError(path.string() + ": cannot read: " + std::strerror(errno));
  Context context = new_context();
  std::vector<char> buffer(kHashReadChunk);
  while (file) {
    file.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const auto got = static_cast<std::size_t>(file.gcount());
    if (got > 0) EVP_DigestUpdate(context.get(), buffer.data(), got);
  }
  if (file.bad()) throw IoError(path.string() + ": read failed: " + std::strerror(errno));
  Digest digest{};
  const unsigned int size = finish(context.get(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < size; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0xf];
  }
  return hex;
}

bool equal_in_constant_time(const std::string& a, const std::string& b) {
  const Digest first = digest_of(a);
  const Digest second = digest_of(b);
  return CRYPTO_memcmp(first.data(), second.data(), first.size()) == 0;
}

}  // namespace ftl
