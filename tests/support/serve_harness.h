// An in-process `ftl serve` for unit tests: the tiny network as a checkpoint, the Service on a
// cpp-httplib server bound to a free loopback port, and a client for it. No fixture, no Python.
#pragma once

#include <httplib.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "ftl/serve/service.h"

namespace ftl::testing {

/// The classes of the tiny checkpoint, in logit order.
inline const std::vector<std::string> kTinyClasses = {"cat", "dog", "emu"};

/// Saves tiny_net (weights from `seed`) as an ftl checkpoint for 8x8 inputs; returns `path`.
std::filesystem::path write_tiny_checkpoint(const std::filesystem::path& path, std::uint64_t seed);

/// The bytes of a width x height RGB PNG whose pixels come from `seed`.
std::string png_bytes(int width, int height, std::uint64_t seed);

/// A Service listening on 127.0.0.1 until destroyed.
class TestServer {
 public:
  explicit TestServer(const ServeOptions& options);
  ~TestServer();
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  int port() const { return port_; }
  Service& service() { return *service_; }
  /// A client of this server (a fresh connection per request).
  httplib::Client client() const;

 private:
  std::unique_ptr<Service> service_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace ftl::testing
