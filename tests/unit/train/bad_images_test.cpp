#include "ftl/train/bad_images.h"

#include <catch2/catch.hpp>

namespace {

ftl::ImageFolder three_images() {
  ftl::ImageFolder data;
  data.classes = {"a"};
  data.samples = {{"/d/a/2.png", 0}, {"/d/a/1.png", 0}, {"/d/a/3.png", 0}};
  return data;
}

}  // namespace

TEST_CASE("bad images: each image is reported new once and listed sorted by path", "[bad_images]") {
  const ftl::ImageFolder data = three_images();
  ftl::BadImageLog log;
  const auto first = log.add({{0, "truncated PNG data"}, {1, "not an image"}}, data);
  REQUIRE(first.size() == 2);
  CHECK(first[0] == std::make_pair(std::string("/d/a/2.png"), std::string("truncated PNG data")));
  CHECK(log.add({{0, "truncated PNG data"}}, data).empty());
  CHECK(log.size() == 2);
  CHECK(log.text() == "/d/a/1.png\tnot an image\n/d/a/2.png\ttruncated PNG data\n");
}

TEST_CASE("bad images: a bad_images.txt text merges in, lines without a tab ignored",
          "[bad_images]") {
  ftl::BadImageLog log;
  CHECK(log.merge("/x.png\tbad: really\nno tab here\n"));
  CHECK_FALSE(log.merge("/x.png\tbad: really\n"));
  CHECK(log.text() == "/x.png\tbad: really\n");
  CHECK_FALSE(log.merge(""));
}
