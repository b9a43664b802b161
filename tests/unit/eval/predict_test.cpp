// ftl predict's core without a network: which files a command line names, the JSONL and CSV
// records, and a missing checkpoint (predictions of the fixture: tests/e2e/predict_test.cpp).
#include "ftl/eval/predict.h"

#include <catch2/catch.hpp>
#include <fstream>

#include "ftl/util/errors.h"
#include "support/common.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;

TEST_CASE("predict: folders expand recursively while missing paths and empty folders stay",
          "[predict]") {
  ftl::testing::TempDir dir;
  fs::create_directories(dir / "photos/b");
  fs::create_directories(dir / "empty");
  for (const char* name :
       {"photos/b/2.PNG", "photos/1.jpg", "photos/notes.txt", "photos/.hidden.png"}) {
    std::ofstream(dir / name) << "x";
  }
  const std::vector<fs::path> found = ftl::expand_inputs(
      {dir / "photos", dir / "missing.png", dir / "empty", dir / "photos/notes.txt"});
  CHECK(found == std::vector<fs::path>{dir / "photos/1.jpg", dir / "photos/b/2.PNG",
                                       dir / "missing.png", dir / "empty",
                                       dir / "photos/notes.txt"});
}

TEST_CASE("predict: JSONL and CSV records", "[predict]") {
  const ftl::ImagePrediction good{"a, b.png", {{"cat", 2, 0.75}, {"dog", 0, 0.25}}, ""};
  const ftl::ImagePrediction bad{"c.png", {}, "truncated PNG data"};
  CHECK(ftl::prediction_json(good).dump() ==
        R"({"path":"a, b.png","top":[{"class":"cat","index":2,"probability":0.75},)"
        R"({"class":"dog","index":0,"probability":0.25}]})");
  CHECK(ftl::prediction_json(bad).dump() == R"({"path":"c.png","error":"truncated PNG data"})");
  CHECK(ftl::prediction_csv_header(2) ==
        "path,top1_class,top1_index,top1_probability,top2_class,top2_index,top2_probability,"
        "error\n");
  CHECK(ftl::prediction_csv_row(good, 2) == "\"a, b.png\",cat,2,0.75,dog,0,0.25,\n");
  CHECK(ftl::prediction_csv_row(bad, 2) == "c.png,,,,,,,truncated PNG data\n");
}

TEST_CASE("predict: a missing checkpoint stops before any image", "[predict]") {
  ftl::PredictOptions options;
  options.checkpoint = "/nonexistent/best.pt";
  CHECK_THROWS_AS(ftl::Predictor(options, ftl::testing::quiet_logger()), ftl::ModelError);
}
