// The four inference flags, registered once from InferenceOptions: their defaults in --help
// are the struct's, and a value given lands in its field.
#include <catch2/catch.hpp>
#include <cstdlib>

#include "cli/commands.h"

using Catch::Matchers::Contains;

TEST_CASE("inference options: one struct's defaults and fields behind the four flags",
          "[cli][inference]") {
  CLI::App app("ftl");
  ftl::InferenceOptions options;
  ftl::cli::add_inference_options(app, options);
  const std::string help = app.help();
  CHECK_THAT(help, Contains("--batch-size INT:INT in [1 - 65536]=64"));
  CHECK_THAT(help, Contains("--workers INT:INT in [0 - 256]=0"));
  CHECK_THAT(help, Contains("--threads INT:INT in [0 - 1024]=0"));
  CHECK_THAT(help, Contains("--device TEXT=cpu"));
  app.parse("--batch-size 8 --workers 2 --threads 3 --device cuda:1",
            /*program_name_included=*/false);
  CHECK(options.batch_size == 8);
  CHECK(options.workers == 2);
  CHECK(options.threads == 3);
  CHECK(options.device == "cuda:1");
  CHECK_THROWS_AS(app.parse("--batch-size 0", /*program_name_included=*/false),
                  CLI::ValidationError);
}

TEST_CASE("inference options: --precision fp32|bf16, and $FTL_CPUINFO names the flags' file",
          "[cli][inference]") {
  ::unsetenv("FTL_CPUINFO");
  CLI::App app("ftl");
  ftl::InferenceOptions options;
  ftl::cli::add_inference_options(app, options);
  CHECK_THAT(app.help(), Contains("--precision TEXT:{bf16,fp32}=fp32"));
  CHECK(options.cpuinfo == "/proc/cpuinfo");
  app.parse("--precision bf16", /*program_name_included=*/false);
  CHECK(options.precision == ftl::Precision::kBf16);
  CHECK_THROWS_AS(app.parse("--precision fp16", /*program_name_included=*/false),
                  CLI::ValidationError);

  ::setenv("FTL_CPUINFO", "/tmp/flags", 1);
  CLI::App with_env("ftl");
  ftl::InferenceOptions injected;
  ftl::cli::add_inference_options(with_env, injected);
  ::unsetenv("FTL_CPUINFO");
  CHECK(injected.cpuinfo == "/tmp/flags");
}
