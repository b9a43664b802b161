#include "ftl/data/dataset.h"

#include <sys/stat.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>

#include "ftl/data/split.h"
#include "ftl/util/errors.h"
#include "support/shapes.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using ftl::testing::TempDir;

namespace {

void touch(const fs::path& path) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << "x";
}

}  // namespace

TEST_CASE("dataset: classes are sorted folder names and samples are found recursively",
          "[dataset]") {
  TempDir dir;
  touch(dir / "b_cat/1.jpg");
  touch(dir / "b_cat/nested/2.PNG");
  touch(dir / "a_dog/x.jpeg");
  touch(dir / "a_dog/notes.txt");                                  // not an image: ignored
  touch(dir / "a_dog/.hidden.png");                                // hidden: ignored
  touch(dir / ".git/config.png");                                  // hidden folder: not a class
  REQUIRE(::mkfifo((dir / "a_dog/pipe.jpg").c_str(), 0600) == 0);  // a FIFO: never opened
  const ftl::ImageFolder data = ftl::scan_image_folder(dir.path());
  REQUIRE(data.classes == std::vector<std::string>{"a_dog", "b_cat"});
  REQUIRE(data.samples.size() == 3);
  CHECK(data.skipped_files == 4);  // notes.txt, .hidden.png, pipe.jpg and the .git folder
  CHECK(data.samples[0].path == dir / "a_dog/x.jpeg");
  CHECK(data.samples[0].label == 0);
  CHECK(data.samples[1].path == dir / "b_cat/1.jpg");
  CHECK(data.samples[2].path == dir / "b_cat/nested/2.PNG");
  CHECK(data.samples[2].label == 1);
}

TEST_CASE("dataset: a symlink loop does not make the scan loop", "[dataset]") {
  TempDir dir;
  touch(dir / "a/1.png");
  fs::create_directory_symlink(dir / "a", dir / "a/loop");
  const ftl::ImageFolder data = ftl::scan_image_folder(dir.path());
  CHECK(data.samples.size() == 1);
}

TEST_CASE("dataset: missing, empty and class-less folders are errors naming the path",
          "[dataset]") {
  TempDir dir;
  REQUIRE_THROWS_WITH(ftl::scan_image_folder(dir / "nope"),
                      (dir / "nope").string() + ": not a folder (missing)");
  REQUIRE_THROWS_WITH(ftl::scan_image_folder(dir.path()),
                      dir.path().string() + ": no class folders (expected ROOT/CLASS/IMAGE files)");
  touch(dir / "a/1.png");
  fs::create_directories(dir / "empty");
  touch(dir / "empty/readme.txt");
  REQUIRE_THROWS_WITH(
      ftl::scan_image_folder(dir.path()),
      (dir / "empty").string() + ": class folder holds no .jpg, .jpeg or .png image");
}

TEST_CASE("dataset: train and val class mismatch lists the difference", "[dataset]") {
  TempDir dir;
  touch(dir / "train/cat/1.png");
  touch(dir / "train/dog/1.png");
  touch(dir / "val/cat/1.png");
  touch(dir / "val/cow/1.png");
  const auto train = ftl::scan_image_folder(dir / "train");
  const auto val = ftl::scan_image_folder(dir / "val");
  REQUIRE_THROWS_AS(ftl::check_same_classes(train, val), ftl::DataError);
  REQUIRE_THROWS_WITH(ftl::check_same_classes(train, val),
                      "train and val classes differ: only in " + (dir / "train").string() +
                          ": dog; only in " + (dir / "val").string() + ": cow");
  CHECK_NOTHROW(ftl::check_same_classes(train, train));
}

TEST_CASE("dataset: relabel matches folders to a checkpoint's classes by name", "[dataset]") {
  TempDir dir;
  touch(dir / "dog/1.png");
  touch(dir / "cat/1.png");
  ftl::ImageFolder data = ftl::scan_image_folder(dir.path());
  ftl::relabel_to(data, {"dog", "bird", "cat"});
  CHECK(data.samples[0].path.parent_path().filename() == "cat");
  CHECK(data.samples[0].label == 2);
  CHECK(data.samples[1].label == 0);
  ftl::ImageFolder other = ftl::scan_image_folder(dir.path());
  REQUIRE_THROWS_WITH(ftl::relabel_to(other, {"dog", "bird"}),
                      Contains("classes unknown to the checkpoint: cat") &&
                          Contains("(checkpoint classes: dog, bird)"));
}

TEST_CASE("dataset: the shapes fixture has the documented layout", "[dataset]") {
  TempDir dir;
  ftl::testing::write_shapes(dir.path(), 5, 16, 1);
  const ftl::ImageFolder data = ftl::scan_image_folder(dir.path());
  CHECK(data.classes == ftl::testing::kShapeClasses);
  CHECK(data.samples.size() == 15);
}

TEST_CASE("dataset: counts per class, and a fingerprint that follows files and labels",
          "[dataset]") {
  TempDir dir;
  touch(dir / "data/cat/1.png");
  touch(dir / "data/cat/2.png");
  touch(dir / "data/dog/1.png");
  const ftl::ImageFolder data = ftl::scan_image_folder(dir / "data");
  CHECK(ftl::class_counts(data) == std::vector<std::int64_t>{2, 1});
  const std::string fingerprint = ftl::dataset_fingerprint(data);
  CHECK(fingerprint.size() == 16);

  // The same files under another root: the same fingerprint.
  fs::rename(dir / "data", dir / "moved");
  CHECK(ftl::dataset_fingerprint(ftl::scan_image_folder(dir / "moved")) == fingerprint);
  touch(dir / "moved/dog/2.png");  // one more file
  const std::string added = ftl::dataset_fingerprint(ftl::scan_image_folder(dir / "moved"));
  CHECK(added != fingerprint);
  fs::rename(dir / "moved/dog/2.png", dir / "moved/cat/3.png");  // same count, another label
  CHECK(ftl::dataset_fingerprint(ftl::scan_image_folder(dir / "moved")) != added);
}

TEST_CASE("dataset: a CSV manifest names images by relative or absolute path", "[dataset]") {
  TempDir dir;
  touch(dir / "m/photos/b 1.png");
  touch(dir / "m/photos/ünï,code.jpg");
  touch(dir / "elsewhere/x.PNG");
  const fs::path manifest = dir / "m/train.CSV";
  std::ofstream(manifest) << "label,path,note\r\n"
                          << "sneaker,photos/b 1.png,first\r\n"
                          << "bag,\"photos/ünï,code.jpg\",\n"
                          << "sneaker," << (dir / "elsewhere/x.PNG").string() << ",abs\n";
  const ftl::ImageFolder data = ftl::scan_dataset(manifest);
  CHECK(data.root == manifest);
  CHECK(data.classes == std::vector<std::string>{"bag", "sneaker"});
  REQUIRE(data.samples.size() == 3);
  CHECK(data.samples[0].path == dir / "m/photos/b 1.png");  // the manifest's order
  CHECK(data.samples[0].label == 1);
  CHECK(data.samples[1].path == dir / "m/photos/ünï,code.jpg");
  CHECK(data.samples[1].label == 0);
  CHECK(data.samples[2].path == dir / "elsewhere/x.PNG");
  CHECK(ftl::class_counts(data) == std::vector<std::int64_t>{1, 2});
}

TEST_CASE("dataset: a bad manifest is an error naming the file and the line", "[dataset]") {
  TempDir dir;
  touch(dir / "a.png");
  const auto manifest_error = [&](const std::string& text) {
    const fs::path manifest = dir / "data.csv";
    std::ofstream(manifest) << text;
    try {
      ftl::scan_dataset(manifest);
    } catch (const ftl::DataError& error) {
      return std::string(error.what());
    }
    return std::string("no error");
  };
  const std::string at = (dir / "data.csv").string() + ": ";
  CHECK(manifest_error("file,class\na.png,cat\n") ==
        at + "line 1: the header must name the columns path and label, got \"file,class\"");
  CHECK(manifest_error("path,label\n\na.png\n") == at + "line 3: 1 fields, the header has 2");
  CHECK(manifest_error("path,label\na.png,\n") == at + "line 2: empty label for a.png");
  CHECK(manifest_error("path,label\n,cat\n") == at + "line 2: empty path");
  CHECK(manifest_error("path,label\nb.png,cat\n") ==
        at + "line 2: " + (dir / "b.png").string() + ": no such file");
  CHECK(manifest_error("path,label\na.png,cat\n./a.png,dog\n") ==
        at + "line 3: ./a.png is listed twice (first on line 2)");
  CHECK(manifest_error("path,label\n") == at + "lists no image");
  CHECK(manifest_error("") == at + "empty manifest (no header row)");
  CHECK(manifest_error("path,label\n\"a.png,cat\n") == at + "line 2: quoted field is never closed");
  CHECK(manifest_error("\xEF\xBB\xBFpath,label\na.png,cat\n") == "no error");  // Excel's BOM
  CHECK_THROWS_WITH(ftl::scan_dataset(dir / "none.csv"),
                    (dir / "none.csv").string() + ": cannot open manifest (missing)");
  CHECK_THROWS_WITH(ftl::scan_dataset(dir / "a.png"),
                    (dir / "a.png").string() + ": not a folder (nor a .csv manifest)");
}

TEST_CASE("dataset: val_fraction holds out part of each class, the same for a seed", "[dataset]") {
  ftl::ImageFolder data;
  data.root = "root";
  data.classes = {"a", "b", "c"};
  for (int i = 0; i < 10; ++i) data.samples.push_back({"a/" + std::to_string(i) + ".png", 0});
  for (int i = 0; i < 3; ++i) data.samples.push_back({"b/" + std::to_string(i) + ".png", 1});
  data.samples.push_back({"c/0.png", 2});

  const ftl::Split split = ftl::split_dataset(data, 0.2, /*seed=*/7);
  CHECK(ftl::class_counts(split.val) == std::vector<std::int64_t>{2, 1, 0});  // 2 of 10, 1 of 3
  CHECK(ftl::class_counts(split.train) == std::vector<std::int64_t>{8, 2, 1});
  CHECK(split.val.classes == data.classes);
  // Every image lands in exactly one part, in the dataset's order.
  std::vector<fs::path> all;
  for (const auto& sample : split.train.samples) all.push_back(sample.path);
  for (const auto& sample : split.val.samples) all.push_back(sample.path);
  std::sort(all.begin(), all.end());
  CHECK(std::adjacent_find(all.begin(), all.end()) == all.end());
  CHECK(all.size() == data.samples.size());

  // The same seed gives the same split; another seed another one.
  const auto val_paths = [](const ftl::Split& s) {
    std::vector<fs::path> paths;
    for (const auto& sample : s.val.samples) paths.push_back(sample.path);
    return paths;
  };
  CHECK(val_paths(ftl::split_dataset(data, 0.2, 7)) == val_paths(split));
  bool differs = false;
  for (std::uint64_t seed = 8; seed < 12; ++seed) {
    differs = differs || val_paths(ftl::split_dataset(data, 0.2, seed)) != val_paths(split);
  }
  CHECK(differs);

  // Written as a manifest, the split reads back as it was.
  TempDir dir;
  for (const auto& sample : split.val.samples) touch(dir / sample.path);
  ftl::ImageFolder on_disk = split.val;
  for (auto& sample : on_disk.samples) sample.path = dir / sample.path;
  ftl::write_manifest(on_disk, dir / "val_split.csv");
  const ftl::ImageFolder read = ftl::read_manifest(dir / "val_split.csv");
  REQUIRE(read.samples.size() == on_disk.samples.size());
  CHECK(read.samples[0].path == on_disk.samples[0].path);
  CHECK(read.classes == std::vector<std::string>{"a", "b"});  // a manifest knows listed classes
}
