#include "ftl/util/base64.h"

#include <catch2/catch.hpp>

#include "support/page.h"

TEST_CASE("base64: RFC 4648's test vectors, and bytes of every value", "[base64]") {
  CHECK(ftl::base64_encode("").empty());
  CHECK(ftl::base64_encode("f") == "Zg==");
  CHECK(ftl::base64_encode("fo") == "Zm8=");
  CHECK(ftl::base64_encode("foo") == "Zm9v");
  CHECK(ftl::base64_encode("foob") == "Zm9vYg==");
  CHECK(ftl::base64_encode("fooba") == "Zm9vYmE=");
  CHECK(ftl::base64_encode("foobar") == "Zm9vYmFy");
  std::string every;
  for (int byte = 0; byte < 256; ++byte) every += static_cast<char>(byte);
  const std::string encoded = ftl::base64_encode(every);
  CHECK(encoded.size() == 344);  // 256 bytes: 86 groups of 4
  CHECK(encoded.rfind("AAECAwQF", 0) == 0);
  CHECK(ftl::testing::base64_decode(encoded) == every);
}
