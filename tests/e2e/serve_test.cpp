// The real `ftl serve` executable on a ResNet-18 checkpoint, on a loopback port it picks
// itself, asked by cpp-httplib's client and by curl: its answers equal ftl predict's, it
// batches concurrent clients, reloads on SIGHUP, drains on SIGTERM and exits 0.
#include <httplib.h>
#include <signal.h>
#include <sys/types.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "ftl/util/sha256.h"
#include "support/fixtures.h"
#include "support/process.h"
#include "support/shapes.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using ftl::testing::read_file;

namespace {

constexpr int kServeSide = 24;
/// How long a started server may take to load ResNet-18 and listen.
constexpr auto kStartLimit = std::chrono::seconds(60);

// A running `ftl serve`; SIGKILLed at the end if a test has not stopped it.
struct ServeProcess {
  pid_t pid = -1;
  int port = 0;
  fs::path log;
  ~ServeProcess() {
    if (pid > 0 && ftl::testing::exit_code_if_ended(pid) < 0) {
      ::kill(pid, SIGKILL);
      ftl::testing::wait_exit_code(pid);
    }
  }
  httplib::Client client() const {
    httplib::Client client("127.0.0.1", port);
    client.set_read_timeout(60, 0);
    return client;
  }
  // Waits for the process to end and returns its exit code.
  int wait() {
    const int code = ftl::testing::wait_exit_code(pid);
    pid = -1;
    return code;
  }
};

// Starts ftl serve on --port 0 and reads the port it bound from its log.
void start_serve(ServeProcess& server, const std::vector<std::string>& args, const fs::path& log) {
  std::vector<std::string> all = {"serve", "--port", "0", "--threads", "2"};
  all.insert(all.end(), args.begin(), args.end());
  server.log = log;
  server.pid = ftl::testing::spawn_ftl(all, log);
  const std::regex listening("on http://127\\.0\\.0\\.1:([0-9]+)");
  const auto deadline = std::chrono::steady_clock::now() + kStartLimit;
  while (std::chrono::steady_clock::now() < deadline) {
    std::smatch found;
    const std::string text = read_file(log);
    if (std::regex_search(text, found, listening)) {
      server.port = std::stoi(found[1]);
      return;
    }
    REQUIRE(ftl::testing::exit_code_if_ended(server.pid) < 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  FAIL("ftl serve did not start listening: " + read_file(log));
}

httplib::MultipartFormDataItems form_of(const std::vector<fs::path>& images) {
  httplib::MultipartFormDataItems form;
  for (const fs::path& image : images) {
    form.push_back({"image", read_file(image), image.filename().string(), "image/png"});
  }
  return form;
}

}  // namespace

TEST_CASE("serve e2e: the answers are ftl predict's for the same images", "[serve_e2e]") {
  ftl::testing::TempDir dir;
  const fs::path checkpoint =
      ftl::testing::write_untrained_checkpoint(dir / "best.pt", kServeSide, /*seed=*/1);
  ftl::testing::write_shapes(dir / "data", /*per_class=*/1, 40, /*seed=*/3);
  const std::vector<fs::path> images = {dir / "data/circle/0.png", dir / "data/square/0.png",
                                        dir / "data/triangle/0.png"};
  std::string paths;
  for (const fs::path& image : images) paths += " " + ftl::testing::shell_quote(image.string());
  const ftl::testing::CommandResult predicted = ftl::testing::run_command(
      ftl::testing::ftl_command("-q predict --top-k 3 --checkpoint " +
                                ftl::testing::shell_quote(checkpoint.string()) + paths));
  REQUIRE(predicted.exit_code == 0);

  ServeProcess server;
  start_serve(server, {"--checkpoint", checkpoint.string()}, dir / "serve.log");
  httplib::Client client = server.client();
  httplib::Result answer = client.Post("/v1/predict?top_k=3", form_of(images));
  REQUIRE(answer);
  REQUIRE(answer->status == 200);
  const nlohmann::json served = nlohmann::json::parse(answer->body);
  CHECK(served["model"]["sha256"] == ftl::sha256_file(checkpoint));
  std::istringstream lines(predicted.output);
  std::string line;
  // The form's parts come back in field-name order, and all three share the name "image".
  for (std::size_t i = 0; i < images.size(); ++i) {
    REQUIRE(std::getline(lines, line));
    const nlohmann::json expected = nlohmann::json::parse(line);
    const nlohmann::json record = served["predictions"][i];
    CHECK(record["path"] == images[i].filename().string());
    REQUIRE(record["top"].size() == 3);
    for (std::size_t j = 0; j < 3; ++j) {
      CHECK(record["top"][j]["class"] == expected["top"][j]["class"]);
      CHECK(record["top"][j]["index"] == expected["top"][j]["index"]);
      // ftl predict ran the three in one batch of 3, the server too (or in smaller passes):
      // oneDNN may pick other kernels for another batch size, hence not bit-equal.
      CHECK(record["top"][j]["probability"].get<double>() ==
            Approx(expected["top"][j]["probability"].get<double>()).margin(1e-5));
    }
  }
  ::kill(server.pid, SIGTERM);
  CHECK(server.wait() == 0);
}

TEST_CASE("serve e2e: 32 concurrent clients are all answered, in shared passes", "[serve_e2e]") {
  ftl::testing::TempDir dir;
  const fs::path checkpoint =
      ftl::testing::write_untrained_checkpoint(dir / "best.pt", kServeSide, /*seed=*/1);
  ftl::testing::write_shapes(dir / "data", 1, 40, 3);
  const std::string image = read_file(dir / "data/circle/0.png");
  ServeProcess server;
  start_serve(
      server,
      {"--checkpoint", checkpoint.string(), "--max-delay-ms", "200", "--batch-wait", "delay"},
      dir / "serve.log");
  constexpr int kClients = 32;
  // Each client's status, or why it got none, so that a failure says what the client saw.
  std::vector<std::future<std::string>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::async(std::launch::async, [&] {
      httplib::Result result = server.client().Post("/v1/predict", image, "image/png");
      return result ? std::to_string(result->status) : httplib::to_string(result.error());
    }));
  }
  for (std::future<std::string>& status : clients) CHECK(status.get() == "200");
  const std::string metrics = server.client().Get("/metrics")->body;
  CHECK_THAT(metrics, Contains("ftl_http_requests_total{path=\"/v1/predict\",code=\"200\"} 32\n"));
  CHECK_THAT(metrics, Contains("ftl_images_classified_total 32\n"));
  std::smatch ones;
  REQUIRE(
      std::regex_search(metrics, ones, std::regex("ftl_batch_size_bucket\\{le=\"1\"\\} ([0-9]+)")));
  std::smatch passes;
  REQUIRE(std::regex_search(metrics, passes, std::regex("ftl_batch_size_count ([0-9]+)")));
  // Fewer passes than images, so some pass held more than one image.
  CHECK(std::stoi(passes[1]) < kClients);
  CHECK(std::stoi(ones[1]) < std::stoi(passes[1]));
  ::kill(server.pid, SIGTERM);
  CHECK(server.wait() == 0);
}

TEST_CASE("serve e2e: SIGHUP reloads a new checkpoint and SIGTERM drains in-flight requests",
          "[serve_e2e]") {
  ftl::testing::TempDir dir;
  const fs::path checkpoint =
      ftl::testing::write_untrained_checkpoint(dir / "best.pt", kServeSide, /*seed=*/1);
  ftl::testing::write_shapes(dir / "data", 1, 40, 3);
  const std::string image = read_file(dir / "data/circle/0.png");
  ServeProcess server;
  start_serve(
      server,
      {"--checkpoint", checkpoint.string(), "--max-delay-ms", "2000", "--batch-wait", "delay"},
      dir / "serve.log");

  ftl::testing::write_untrained_checkpoint(dir / "next.pt", kServeSide, /*seed=*/2);
  fs::rename(dir / "next.pt", checkpoint);
  const std::string new_sha = ftl::sha256_file(checkpoint);
  ::kill(server.pid, SIGHUP);
  const auto deadline = std::chrono::steady_clock::now() + kStartLimit;
  std::string served_sha;
  while (served_sha != new_sha && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    served_sha = nlohmann::json::parse(server.client().Get("/v1/model")->body)["sha256"];
  }
  CHECK(served_sha == new_sha);

  // Four requests wait in the queue (2 s of delay) when SIGTERM arrives: each is answered.
  std::vector<std::future<int>> in_flight;
  for (int i = 0; i < 4; ++i) {
    in_flight.push_back(std::async(std::launch::async, [&] {
      httplib::Result result = server.client().Post("/v1/predict", image, "image/png");
      return result ? result->status : -1;
    }));
  }
  while (server.client().Get("/metrics")->body.find("ftl_queue_depth 4\n") == std::string::npos) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(server.pid, SIGTERM);
  for (std::future<int>& status : in_flight) CHECK(status.get() == 200);
  CHECK(server.wait() == 0);
  const std::string log = read_file(dir / "serve.log");
  CHECK_THAT(log, Contains("reloaded " + checkpoint.string() + ": sha256 " + new_sha));
  CHECK_THAT(log, Contains("stopping: no new connections; finishing the requests in flight"));
  CHECK_THAT(log, Contains("POST /v1/predict 200 1 images"));
}

TEST_CASE("serve e2e: curl with and without the token, JSON access lines", "[serve_e2e]") {
  ftl::testing::TempDir dir;
  const fs::path checkpoint =
      ftl::testing::write_untrained_checkpoint(dir / "best.pt", kServeSide, /*seed=*/1);
  ftl::testing::write_shapes(dir / "data", 1, 40, 3);
  std::ofstream(dir / "token") << "tok-123\n";
  ServeProcess server;
  start_serve(server,
              {"--checkpoint", checkpoint.string(), "--token-file", (dir / "token").string(),
               "--log-format", "json"},
              dir / "serve.log");
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port) + "/v1/predict";
  const std::string image = ftl::testing::shell_quote((dir / "data/square/0.png").string());
  const std::string curl =
      "curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: image/png' "
      "--data-binary @" +
      image + " ";
  CHECK(ftl::testing::run_command(curl + url).output == "401");
  CHECK(ftl::testing::run_command(curl + "-H 'Authorization: Bearer tok-124' " + url).output ==
        "401");
  CHECK(ftl::testing::run_command(curl + "-H 'Authorization: Bearer tok-123' " + url).output ==
        "200");
  ftl::testing::CommandResult body = ftl::testing::run_command(
      "curl -s -H 'Authorization: Bearer tok-123' -F image=@" + image + " " + url);
  CHECK_THAT(body.output, Contains("\"path\":\"0.png\",\"top\":[{\"class\":"));
  ::kill(server.pid, SIGINT);
  CHECK(server.wait() == 0);

  const std::string log = read_file(dir / "serve.log");
  CHECK(log.find("tok-123") == std::string::npos);  // the token is never logged
  std::istringstream lines(log);
  std::string line;
  int access = 0;
  while (std::getline(lines, line)) {
    const nlohmann::json record = nlohmann::json::parse(line);  // every line is JSON
    CHECK(record.contains("time"));
    if (!record.contains("method")) continue;
    CHECK(record["path"] == "/v1/predict");
    CHECK(record["status"] == (access < 2 ? 401 : 200));
    ++access;
  }
  CHECK(access == 4);
}

TEST_CASE("serve e2e: a taken port, a bad checkpoint and a bad flag", "[serve_e2e]") {
  ftl::testing::TempDir dir;
  const fs::path checkpoint =
      ftl::testing::write_untrained_checkpoint(dir / "best.pt", kServeSide, /*seed=*/1);
  ServeProcess first;
  start_serve(first, {"--checkpoint", checkpoint.string()}, dir / "first.log");
  const std::string ckpt = ftl::testing::shell_quote(checkpoint.string());
  const std::string port = std::to_string(first.port);
  ftl::testing::CommandResult taken = ftl::testing::run_command(
      ftl::testing::ftl_command("serve --checkpoint " + ckpt + " --port " + port));
  CHECK(taken.exit_code == 1);
  CHECK_THAT(taken.output, Contains("cannot listen on 127.0.0.1:" + port));
  std::ofstream(dir / "broken.pt") << "not a checkpoint";
  ftl::testing::CommandResult broken = ftl::testing::run_command(ftl::testing::ftl_command(
      "serve --port 0 --checkpoint " + ftl::testing::shell_quote((dir / "broken.pt").string())));
  CHECK(broken.exit_code == 1);
  CHECK_THAT(broken.output, Contains((dir / "broken.pt").string() + ": not a loadable"));
  ftl::testing::CommandResult flag = ftl::testing::run_command(
      ftl::testing::ftl_command("serve --checkpoint " + ckpt + " --max-batch 0"));
  CHECK(flag.exit_code == 2);
  CHECK_THAT(flag.output, Contains("--max-batch"));
  ftl::testing::CommandResult wait = ftl::testing::run_command(
      ftl::testing::ftl_command("serve --checkpoint " + ckpt + " --batch-wait soon"));
  CHECK(wait.exit_code == 2);
  CHECK_THAT(wait.output, Contains("--batch-wait: soon not in {arrivals,delay}"));
  ::kill(first.pid, SIGTERM);
  CHECK(first.wait() == 0);
}
