#include "ftl/util/sha256.h"

#include <catch2/catch.hpp>
#include <fstream>

#include "ftl/util/errors.h"
#include "support/temp_dir.h"

TEST_CASE("sha256: a file's digest is sha256sum's", "[sha256]") {
  ftl::testing::TempDir dir;
  std::ofstream(dir / "abc") << "abc";
  // FIPS 180-2's example for "abc".
  CHECK(ftl::sha256_file(dir / "abc") ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  std::ofstream(dir / "empty");
  CHECK(ftl::sha256_file(dir / "empty") ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK_THROWS_AS(ftl::sha256_file(dir / "missing"), ftl::IoError);
}

TEST_CASE("sha256: the constant-time comparison tells equal from unequal", "[sha256]") {
  CHECK(ftl::equal_in_constant_time("s3cret", "s3cret"));
  CHECK_FALSE(ftl::equal_in_constant_time("s3cret", "s3creT"));
  CHECK_FALSE(ftl::equal_in_constant_time("s3cret", "s3cret-and-more"));
  CHECK_FALSE(ftl::equal_in_constant_time("", "s3cret"));
}
