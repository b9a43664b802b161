#include "support/serve_harness.h"

#include <chrono>
#include <random>
#include <stdexcept>

#include "ftl/model/checkpoint.h"
#include "support/common.h"
#include "support/image_files.h"
#include "support/temp_dir.h"
#include "support/tiny_net.h"

namespace ftl::testing {

std::filesystem::path write_tiny_checkpoint(const std::filesystem::path& path, std::uint64_t seed) {
  CheckpointMetadata metadata;
  metadata.classes = kTinyClasses;
  metadata.preprocess.image_size = kTinyNetSide;
  metadata.epoch = static_cast<std::int64_t>(seed);
  metadata.metrics = {{"val_acc", 0.5}};
  save_checkpoint(tiny_net(static_cast<std::int64_t>(kTinyClasses.size()), seed), metadata, path);
  return path;
}

std::string png_bytes(int width, int height, std::uint64_t seed) {
  std::mt19937_64 random(seed);
  std::vector<std::uint16_t> samples(static_cast<std::size_t>(width * height * 3));
  for (std::uint16_t& sample : samples) sample = static_cast<std::uint16_t>(random() % 256);
  TempDir dir;
  const std::filesystem::path path = dir / "image.png";
  write_png(path, width, height, 3, samples);
  return read_file(path);
}

TestServer::TestServer(const ServeOptions& options)
    : service_(std::make_unique<Service>(options, quiet_logger())) {
  service_->mount(server_);
  port_ = server_.bind_to_any_port("127.0.0.1");
  if (port_ <= 0) throw std::runtime_error("test server: cannot bind a loopback port");
  thread_ = std::thread([this] { server_.listen_after_bind(); });
  while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

TestServer::~TestServer() {
  server_.stop();
  thread_.join();
}

httplib::Client TestServer::client() const {
  httplib::Client client("127.0.0.1", port_);
  client.set_read_timeout(30, 0);
  return client;
}

}  // namespace ftl::testing
