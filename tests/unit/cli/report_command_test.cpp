// ftl report's arguments that do not go together, refused with the flags to change, after the
// run folders are read (a folder that holds no run is reported first, as before).
#include <spdlog/sinks/null_sink.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "cli/commands.h"
#include "ftl/util/errors.h"
#include "support/temp_dir.h"

namespace {

// Two run folders, which check_report_arguments does not read.
ftl::ReportOptions two_runs() {
  ftl::ReportOptions options;
  options.run_dirs = {"/nonexistent/run_a", "/nonexistent/run_b"};
  options.output = "/nonexistent/compare.html";
  return options;
}

}  // namespace

TEST_CASE("report: several runs take no --evaluation or --data, and need --output",
          "[cli][report]") {
  ftl::ReportOptions options = two_runs();
  CHECK_NOTHROW(ftl::cli::check_report_arguments(options));
  options.data = "/nonexistent/test";
  CHECK_THROWS_WITH(ftl::cli::check_report_arguments(options),
                    "report: --evaluation and --data apply to a single run folder, not to 2");
  options = two_runs();
  options.evaluation = "/nonexistent/evaluation.json";
  CHECK_THROWS_WITH(ftl::cli::check_report_arguments(options),
                    "report: --evaluation and --data apply to a single run folder, not to 2");
  options = two_runs();
  options.output.clear();
  CHECK_THROWS_AS(ftl::cli::check_report_arguments(options), ftl::ConfigError);
  CHECK_THROWS_WITH(ftl::cli::check_report_arguments(options),
                    "report: give --output FILE to compare 2 runs (the page belongs to no single "
                    "run folder)");
  // One run may have all of them.
  options.run_dirs = {"/nonexistent/run_a"};
  options.evaluation = "/nonexistent/evaluation.json";
  CHECK_NOTHROW(ftl::cli::check_report_arguments(options));
}

TEST_CASE("report: the command reads the runs, then checks its arguments", "[cli][report]") {
  spdlog::logger log("quiet", std::make_shared<spdlog::sinks::null_sink_mt>());
  ftl::testing::TempDir dir;
  ftl::ReportOptions options;
  options.run_dirs = {dir / "missing", dir / "run"};
  options.data = dir / "test";
  CHECK_THROWS_AS(ftl::cli::run_report(options, log), ftl::DataError);
  for (const char* run : {"missing", "run"}) {
    std::filesystem::create_directories(dir / run);
    std::ofstream(dir / run / "config.json") << "{}";
  }
  CHECK_THROWS_WITH(ftl::cli::run_report(options, log),
                    "report: --evaluation and --data apply to a single run folder, not to 2");
  options.data.clear();
  CHECK_THROWS_WITH(ftl::cli::run_report(options, log),
                    "report: give --output FILE to compare 2 runs (the page belongs to no single "
                    "run folder)");
}
