#include "ftl/util/files.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "ftl/util/errors.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;

namespace {

std::string contents_of(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The inode number: two names of one file share it.
ino_t inode_of(const fs::path& path) {
  struct stat status {};
  REQUIRE(::stat(path.c_str(), &status) == 0);
  return status.st_ino;
}

}  // namespace

TEST_CASE(
    "files: link_or_copy links within a file system, and the link outlives a rename over "
    "its source",
    "[files]") {
  ftl::testing::TempDir dir;
  ftl::write_file_atomic(dir / "last", "epoch 1");
  ftl::link_or_copy(dir / "last", dir / "best", dir / "best");
  CHECK(contents_of(dir / "best") == "epoch 1");
  CHECK(inode_of(dir / "best") == inode_of(dir / "last"));
  // The next save replaces last whole, by a rename: best keeps the bytes it had.
  ftl::write_file_atomic(dir / "last", "epoch 2");
  CHECK(contents_of(dir / "best") == "epoch 1");
  CHECK(contents_of(dir / "last") == "epoch 2");
}

TEST_CASE("files: link_or_copy copies where no link can be made", "[files]") {
  ftl::testing::TempDir dir;
  const fs::path shm = "/dev/shm";
  struct stat here {};
  struct stat there {};
  if (!fs::is_directory(shm) || ::stat(dir.path().c_str(), &here) != 0 ||
      ::stat(shm.c_str(), &there) != 0 || here.st_dev == there.st_dev) {
    WARN("no second file system at /dev/shm: the copy is not exercised");
    return;
  }
  const fs::path source = shm / ("ftl_files_test_" + dir.path().filename().string());
  ftl::write_file_atomic(source, "weights");
  ftl::link_or_copy(source, dir / "copy", dir / "named");  // across file systems: a copy
  fs::remove(source);
  CHECK(contents_of(dir / "copy") == "weights");
}

TEST_CASE("files: link_or_copy of a missing file names the file asked for", "[files]") {
  ftl::testing::TempDir dir;
  try {
    ftl::link_or_copy(dir / "absent", dir / ".tmp", dir / "best.pt");
    FAIL("no error");
  } catch (const ftl::IoError& error) {
    CHECK_THAT(error.what(), Catch::StartsWith((dir / "best.pt").string() + ": cannot copy " +
                                               (dir / "absent").string() + ": "));
  }
  CHECK_FALSE(fs::exists(dir / ".tmp"));
}
