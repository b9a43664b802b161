#include "support/fixtures.h"

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <stdexcept>

#include "ftl/model/checkpoint.h"
#include "ftl/model/model.h"
#include "support/shapes.h"

namespace ftl::testing {

CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("popen failed: " + command);
  char buffer[4096];
  std::size_t read = 0;
  while ((read = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0)
    result.output.append(buffer, read);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

std::string ftl_command(const std::string& arguments) {
  return shell_quote(kFtlBinary) + " " + arguments + " 2>&1";
}

std::filesystem::path write_config(const std::filesystem::path& path,
                                   const nlohmann::json& config) {
  std::ofstream(path) << config.dump(2);
  return path;
}

std::filesystem::path write_config(const std::filesystem::path& path, const ftl::Config& config) {
  return write_config(path, ftl::config_to_json(config));
}

ftl::Config shapes_config(const std::filesystem::path& dir, const std::string& run) {
  ftl::Config config;
  config.model.path = kResNet18;
  config.data.train = (dir / "train").string();
  config.data.val = (dir / "val").string();
  config.data.preprocess.image_size = kShapesInputSide;
  config.data.batch_size = 16;
  config.data.workers = 2;
  config.optimizer.lr = 0.01;
  config.train.epochs = 3;
  config.train.threads = 2;
  config.output.dir = (dir / run).string();
  return config;
}

std::filesystem::path write_untrained_checkpoint(const std::filesystem::path& path,
                                                 std::int64_t image_size, std::uint64_t seed) {
  ftl::LoadedModel loaded = ftl::load_model(kResNet18, torch::kCPU);
  ftl::replace_head(loaded.module, loaded.head, static_cast<std::int64_t>(kShapeClasses.size()),
                    seed);
  loaded.module.eval();
  ftl::CheckpointMetadata metadata;
  metadata.classes = kShapeClasses;
  metadata.preprocess.image_size = image_size;
  ftl::save_checkpoint(loaded.module, metadata, path);
  return path;
}

}  // namespace ftl::testing
