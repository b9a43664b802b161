// ftl serve's request-to-response path: the bytes of one HTTP request (request line, headers,
// query string, body, multipart parts) fed to cpp-httplib's request handling with ftl's
// routes mounted, as cpp-httplib's own fuzzer feeds its server. The tiny network stands in
// for the checkpoint. Nothing may escape: every request gets an answer, and a crash or
// sanitizer report is a finding.
#include <httplib.h>
#include <spdlog/sinks/null_sink.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include "ftl/model/checkpoint.h"
#include "ftl/serve/service.h"
#include "fuzz_target.h"
#include "support/tiny_net.h"

namespace {

// The request as a connection that delivers these bytes and swallows the answer.
class BytesStream : public httplib::Stream {
 public:
  BytesStream(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  bool is_readable() const override { return true; }
  bool is_writable() const override { return true; }
  ssize_t read(char* out, std::size_t size) override {
    const std::size_t count = std::min(size, size_ - offset_);
    std::memcpy(out, data_ + offset_, count);
    offset_ += count;
    return static_cast<ssize_t>(count);
  }
  ssize_t write(const char*, std::size_t size) override { return static_cast<ssize_t>(size); }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = "127.0.0.1";
    port = 1;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = "127.0.0.1";
    port = 2;
  }
  socket_t socket() const override { return 0; }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t offset_ = 0;
};

// process_request is protected: the server's own entry for one request on a stream.
class FuzzedServer : public httplib::Server {
 public:
  void feed(httplib::Stream& stream) {
    bool closed = false;
    process_request(stream, /*close_connection=*/true, closed, nullptr);
  }
};

struct Harness {
  spdlog::logger log{"fuzz", std::make_shared<spdlog::sinks::null_sink_mt>()};
  std::filesystem::path checkpoint;
  std::unique_ptr<ftl::Service> service;
  FuzzedServer server;
  Harness() {
    checkpoint = std::filesystem::temp_directory_path() /
                 ("ftl_serve_fuzz_" + std::to_string(::getpid()) + ".pt");
    ftl::CheckpointMetadata metadata;
    metadata.classes = {"cat", "dog", "emu"};
    metadata.preprocess.image_size = ftl::testing::kTinyNetSide;
    ftl::save_checkpoint(ftl::testing::tiny_net(3), metadata, checkpoint);
    ftl::ServeOptions options;
    options.checkpoint = checkpoint;
    options.max_delay_ms = 0;  // one request at a time: nothing to wait for
    options.max_body_mb = 1;
    options.queue = 64;
    service = std::make_unique<ftl::Service>(options, log);
    service->mount(server);
  }
  ~Harness() { std::filesystem::remove(checkpoint); }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Harness harness;
  BytesStream stream(data, size);
  harness.server.feed(stream);
  return 0;
}
