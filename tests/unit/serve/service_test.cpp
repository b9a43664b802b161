// ftl serve's API in process: the tiny network behind a real cpp-httplib server on a loopback
// port, asked by cpp-httplib's client. The whole command, with ResNet-18, signals and curl, is
// in tests/e2e/serve_test.cpp.
#include "ftl/serve/service.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>

#include "ftl/export/exporter.h"
#include "ftl/model/inference_network.h"
#include "ftl/util/errors.h"
#include "ftl/util/sha256.h"
#include "support/common.h"
#include "support/serve_harness.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using ftl::testing::png_bytes;
using ftl::testing::TestServer;

namespace {

struct ServeFixture {
  ftl::testing::TempDir dir;
  ftl::ServeOptions options;
  ServeFixture() {
    options.checkpoint = ftl::testing::write_tiny_checkpoint(dir / "best.pt", 1);
    options.max_delay_ms = 1;
  }
};

nlohmann::json body_of(const httplib::Result& result) {
  REQUIRE(result);
  return nlohmann::json::parse(result->body);
}

std::string error_of(const httplib::Result& result) { return body_of(result).at("error"); }

}  // namespace

TEST_CASE("serve: one image, several images and the model's description", "[serve]") {
  ServeFixture fixture;
  TestServer server(fixture.options);
  httplib::Client client = server.client();
  const std::string image = png_bytes(8, 8, 1);
  const std::string sha = ftl::sha256_file(fixture.options.checkpoint);

  httplib::Result one = client.Post("/v1/predict?top_k=2", image, "image/png");
  REQUIRE(one->status == 200);
  const nlohmann::json answer = body_of(one);
  CHECK(answer["model"] ==
        nlohmann::json{{"file", "best.pt"}, {"sha256", sha}, {"epoch", 1}, {"precision", "fp32"}});
  CHECK(answer["tta"] == "none");
  REQUIRE(answer["predictions"].size() == 1);
  CHECK(answer["predictions"][0]["path"] == "-");
  CHECK(answer["predictions"][0]["top"].size() == 2);

  httplib::MultipartFormDataItems form = {{"images", image, "a.png", "image/png"},
                                          {"images", "not an image", "b.png", "image/png"},
                                          {"images", png_bytes(12, 9, 2), "c.png", "image/png"}};
  httplib::Result many = client.Post("/v1/predict", form);
  REQUIRE(many->status == 200);
  const nlohmann::json records = body_of(many)["predictions"];
  REQUIRE(records.size() == 3);
  CHECK(records[0]["path"] == "a.png");
  CHECK(records[0]["top"].size() == 3);  // default top_k 5, capped at the 3 classes
  CHECK(records[0]["top"][0] == answer["predictions"][0]["top"][0]);
  CHECK(records[1] == nlohmann::json{{"path", "b.png"}, {"error", "not a JPEG or PNG file"}});
  CHECK(records[2]["top"].size() == 3);

  const nlohmann::json model = body_of(client.Get("/v1/model"));
  CHECK(model["classes"] == nlohmann::json{"cat", "dog", "emu"});
  CHECK(model["sha256"] == sha);
  CHECK(model["preprocess"]["image_size"] == 8);
  CHECK(model["metrics"] == nlohmann::json{{"val_acc", 0.5}});

  CHECK(body_of(client.Get("/healthz")) == nlohmann::json{{"status", "ok"}});
  CHECK(body_of(client.Get("/readyz")) == nlohmann::json{{"status", "ready"}});
  httplib::Result metrics = client.Get("/metrics");
  REQUIRE(metrics->status == 200);
  CHECK(metrics->get_header_value("Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
  CHECK_THAT(metrics->body,
             Contains("ftl_http_requests_total{path=\"/v1/predict\",code=\"200\"} 2\n"));
  CHECK_THAT(metrics->body, Contains("ftl_images_classified_total 3\n"));
}

TEST_CASE("serve: each bad request gets its status and a JSON reason", "[serve]") {
  ServeFixture fixture;
  fixture.options.max_body_mb = 1;
  TestServer server(fixture.options);
  httplib::Client client = server.client();
  const std::string image = png_bytes(8, 8, 1);

  httplib::Result corrupt = client.Post("/v1/predict", image.substr(0, 60), "image/png");
  CHECK(corrupt->status == 400);
  CHECK_THAT(error_of(corrupt), Contains("PNG"));
  httplib::Result empty = client.Post("/v1/predict", "", "image/jpeg");
  CHECK(empty->status == 400);
  CHECK(error_of(empty) == "empty image");
  httplib::Result text = client.Post("/v1/predict", "hello", "text/plain");
  CHECK(text->status == 415);
  CHECK(error_of(text) ==
        "Content-Type 'text/plain' is not image/jpeg, image/png or multipart/form-data");
  httplib::Result k = client.Post("/v1/predict?top_k=0", image, "image/png");
  CHECK(k->status == 400);
  CHECK(error_of(k) == "top_k must be an integer from 1 to 1000, got '0'");
  httplib::Result unknown = client.Post("/v1/predict?topk=2", image, "image/png");
  CHECK(unknown->status == 400);
  CHECK(error_of(unknown) == "unknown query parameter 'topk' (known: top_k)");
  httplib::Result big = client.Post("/v1/predict", std::string((1 << 20) + 1, 'x'), "image/png");
  CHECK(big->status == 413);
  CHECK(error_of(big) == "the request body is over the limit of 1 MiB");
  httplib::Result missing = client.Get("/v2/predict");
  CHECK(missing->status == 404);
  CHECK(error_of(missing) == "no such path: /v2/predict");
  httplib::Result method = client.Get("/v1/predict");
  CHECK(method->status == 405);
  CHECK(method->get_header_value("Allow") == "POST");
  CHECK(error_of(method) == "GET is not allowed on /v1/predict (allowed: POST)");
  // A decompression bomb: a valid header that claims more pixels than PIL's limit allows.
  httplib::Result bomb = client.Post(
      "/v1/predict",
      png_bytes(8, 8, 1).replace(16, 8, std::string("\x00\x00\xff\xff\x00\x00\xff\xff", 8)),
      "image/png");
  CHECK(bomb->status == 400);
  // The server is still there.
  CHECK(client.Get("/healthz")->status == 200);
}

TEST_CASE("serve: a token guards the API but not the health checks", "[serve]") {
  ServeFixture fixture;
  std::ofstream(fixture.dir / "token") << "s3cret-token\n";
  fixture.options.token_file = fixture.dir / "token";
  TestServer server(fixture.options);
  httplib::Client client = server.client();
  const std::string image = png_bytes(8, 8, 1);
  httplib::Result none = client.Post("/v1/predict", image, "image/png");
  CHECK(none->status == 401);
  CHECK(none->get_header_value("WWW-Authenticate") == "Bearer");
  CHECK(error_of(none) == "a valid bearer token is required");
  CHECK(client.Get("/metrics")->status == 401);
  CHECK(client.Post("/v1/reload")->status == 401);
  client.set_bearer_token_auth("s3cret-tokeN");
  CHECK(client.Post("/v1/predict", image, "image/png")->status == 401);
  client.set_bearer_token_auth("s3cret-token");
  CHECK(client.Post("/v1/predict", image, "image/png")->status == 200);
  CHECK(client.Get("/metrics")->status == 200);
  httplib::Client anonymous = server.client();
  CHECK(anonymous.Get("/healthz")->status == 200);
  CHECK(anonymous.Get("/readyz")->status == 200);
}

TEST_CASE("serve: an empty or missing token file is refused at start", "[serve]") {
  ServeFixture fixture;
  std::ofstream(fixture.dir / "token") << "\n";
  fixture.options.token_file = fixture.dir / "token";
  CHECK_THROWS_WITH(ftl::Service(fixture.options, ftl::testing::quiet_logger()),
                    "token_file " + (fixture.dir / "token").string() +
                        ": missing, unreadable or empty (it must hold the bearer token)");
  fixture.options.token_file.clear();
  fixture.options.queue = 0;
  CHECK_THROWS_WITH(ftl::Service(fixture.options, ftl::testing::quiet_logger()),
                    "queue must be from 1 to 1048576, got 0");
}

TEST_CASE("serve: a full queue answers 503 with Retry-After, and readiness says so", "[serve]") {
  ServeFixture fixture;
  fixture.options.queue = 2;
  fixture.options.max_delay_ms = 1500;  // the first request's images wait in the queue
  fixture.options.batch_wait = ftl::BatchWait::kDelay;
  TestServer server(fixture.options);
  const std::string image = png_bytes(8, 8, 1);
  httplib::MultipartFormDataItems two = {{"a", image, "a.png", "image/png"},
                                         {"b", image, "b.png", "image/png"}};
  auto first = std::async(std::launch::async,
                          [&] { return server.client().Post("/v1/predict", two)->status; });
  // Until the first request's two images are queued (answered() would count these probes).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (server.client().Get("/readyz")->status == 200 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  httplib::Client client = server.client();
  httplib::Result busy = client.Post("/v1/predict", image, "image/png");
  CHECK(busy->status == 503);
  CHECK(busy->get_header_value("Retry-After") == "1");
  CHECK(error_of(busy) == "the queue holds 2 of its 2 images; 1 more do not fit");
  CHECK(client.Get("/readyz")->status == 503);
  httplib::MultipartFormDataItems three = {
      {"a", image, "", ""}, {"b", image, "", ""}, {"c", image, "", ""}};
  httplib::Result too_many = client.Post("/v1/predict", three);
  CHECK(too_many->status == 413);
  CHECK(error_of(too_many) == "3 images in one request, more than the queue holds (2)");
  CHECK(first.get() == 200);
  CHECK(client.Get("/readyz")->status == 200);
}

TEST_CASE("serve: reload swaps in a new checkpoint and keeps the old one when the new is bad",
          "[serve]") {
  ServeFixture fixture;
  TestServer server(fixture.options);
  httplib::Client client = server.client();
  const std::string old_sha = ftl::sha256_file(fixture.options.checkpoint);

  ftl::testing::write_tiny_checkpoint(fixture.dir / "next.pt", 7);
  fs::rename(fixture.dir / "next.pt", fixture.options.checkpoint);
  const std::string new_sha = ftl::sha256_file(fixture.options.checkpoint);
  REQUIRE(new_sha != old_sha);
  const nlohmann::json reloaded = body_of(client.Post("/v1/reload"));
  CHECK(reloaded["reloaded"] == true);
  CHECK(reloaded["model"]["sha256"] == new_sha);
  CHECK(reloaded["model"]["epoch"] == 7);
  CHECK(body_of(client.Post("/v1/predict", png_bytes(8, 8, 1), "image/png"))["model"]["sha256"] ==
        new_sha);

  // A checkpoint cut short, as an interrupted copy leaves it.
  const std::string bytes = ftl::testing::read_file(fixture.options.checkpoint);
  std::ofstream(fixture.options.checkpoint, std::ios::binary | std::ios::trunc)
      << bytes.substr(0, bytes.size() / 2);
  httplib::Result refused = client.Post("/v1/reload");
  CHECK(refused->status == 500);
  const nlohmann::json reason = body_of(refused);
  CHECK(reason["reloaded"] == false);
  CHECK_THAT(reason["error"].get<std::string>(), Contains(fixture.options.checkpoint.string()));
  CHECK(reason["model"]["sha256"] == new_sha);
  CHECK(client.Post("/v1/predict", png_bytes(8, 8, 1), "image/png")->status == 200);
  CHECK_THAT(client.Get("/metrics")->body,
             Contains("ftl_model_reloads_total{result=\"ok\"} 1\n"
                      "ftl_model_reloads_total{result=\"failed\"} 1\n"));
}

TEST_CASE("serve: --tta flip is named in the answer and in the model's description", "[serve]") {
  ServeFixture fixture;
  fixture.options.tta = ftl::Tta::kFlip;
  TestServer server(fixture.options);
  httplib::Client client = server.client();
  CHECK(body_of(client.Post("/v1/predict", png_bytes(8, 8, 1), "image/png"))["tta"] == "flip");
  CHECK(body_of(client.Get("/v1/model"))["tta"] == "flip");
}

TEST_CASE("serve: --precision bf16 answers close to fp32, names bf16, and keeps it on reload",
          "[serve]") {
  ServeFixture fixture;
  // Flags with AMX, so that the tiny network runs in bf16 on any CPU (emulated where it has
  // none, which is slow but exact enough for these few pixels).
  std::ofstream(fixture.dir / "cpuinfo") << "flags\t\t: fpu sse2 amx_bf16 amx_tile\n";
  const std::string image = png_bytes(8, 8, 3);
  nlohmann::json fp32;
  {
    TestServer server(fixture.options);
    fp32 = body_of(server.client().Post("/v1/predict?top_k=3", image, "image/png"));
  }
  fixture.options.precision = ftl::Precision::kBf16;
  fixture.options.cpuinfo = fixture.dir / "cpuinfo";
  TestServer server(fixture.options);
  httplib::Client client = server.client();
  const nlohmann::json bf16 = body_of(client.Post("/v1/predict?top_k=3", image, "image/png"));
  CHECK(bf16["model"]["precision"] == "bf16");
  CHECK(body_of(client.Get("/v1/model"))["precision"] == "bf16");
  const nlohmann::json& a = fp32["predictions"][0]["top"];
  const nlohmann::json& b = bf16["predictions"][0]["top"];
  REQUIRE(b.size() == 3);
  double largest = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(b[i]["probability"].get<double>() ==
          Approx(a[i]["probability"].get<double>()).margin(2e-2));
    largest = std::max(
        largest, std::abs(b[i]["probability"].get<double>() - a[i]["probability"].get<double>()));
  }
  UNSCOPED_INFO("largest bf16 difference " << largest);
  CHECK(largest > 1e-5);  // it did compute in bf16: fp32's frozen network is within 2e-7
  const nlohmann::json reloaded = body_of(client.Post("/v1/reload"));
  CHECK(reloaded["reloaded"] == true);
  CHECK(reloaded["model"]["precision"] == "bf16");
  CHECK(body_of(client.Post("/v1/predict", image, "image/png"))["model"]["precision"] == "bf16");
}

TEST_CASE("serve: --precision bf16 is refused on a CPU without AVX512-BF16 or AMX", "[serve]") {
  ServeFixture fixture;
  std::ofstream(fixture.dir / "cpuinfo") << "flags\t\t: fpu sse2 avx2\n";
  fixture.options.precision = ftl::Precision::kBf16;
  fixture.options.cpuinfo = fixture.dir / "cpuinfo";
  CHECK_THROWS_AS(ftl::Service(fixture.options, ftl::testing::quiet_logger()), ftl::ConfigError);
  CHECK_THROWS_WITH(ftl::Service(fixture.options, ftl::testing::quiet_logger()),
                    "precision \"bf16\": this processor has neither AVX512-BF16 nor AMX (no "
                    "avx512_bf16 or amx_bf16 in " +
                        (fixture.dir / "cpuinfo").string() +
                        "), so bf16 would run slower than fp32; use \"fp32\"");
}

TEST_CASE("serve: draining refuses new predictions with 503", "[serve]") {
  ServeFixture fixture;
  TestServer server(fixture.options);
  server.service().begin_draining();
  httplib::Client client = server.client();
  httplib::Result late = client.Post("/v1/predict", png_bytes(8, 8, 1), "image/png");
  CHECK(late->status == 503);
  CHECK(error_of(late) == "the server is stopping");
  CHECK(client.Get("/readyz")->status == 503);
  CHECK(client.Get("/healthz")->status == 200);
}

TEST_CASE("serve: waiting for arrivals, a lone request is not held for the delay", "[serve]") {
  ServeFixture fixture;
  fixture.options.max_delay_ms = 5000;  // what a pass would wait under --batch-wait delay
  REQUIRE(fixture.options.batch_wait == ftl::BatchWait::kArrivals);
  TestServer server(fixture.options);
  httplib::Client client = server.client();
  const auto start = std::chrono::steady_clock::now();
  CHECK(client.Post("/v1/predict", png_bytes(8, 8, 1), "image/png")->status == 200);
  // Its own arrival ends as its image is queued: nothing holds the pass after that.
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(2500));
}

TEST_CASE("serve: each connection has Nagle's algorithm off, so no answer waits for an ACK",
          "[serve]") {
  ServeFixture fixture;
  TestServer server(fixture.options);
  httplib::Client client = server.client();
  client.set_keep_alive(true);  // the server's end stays open after the answer
  REQUIRE(client.Get("/healthz")->status == 200);
  // The server's end of that connection: a socket of this process on the server's port that
  // is not the listening one.
  int server_ends = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    const int fd = std::stoi(entry.path().filename().string());
    sockaddr_in address{};
    socklen_t length = sizeof address;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
        address.sin_family != AF_INET || ntohs(address.sin_port) != server.port()) {
      continue;
    }
    int listening = 0;
    socklen_t size = sizeof listening;
    REQUIRE(::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &size) == 0);
    if (listening != 0) continue;
    int nodelay = 0;
    size = sizeof nodelay;
    REQUIRE(::getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &size) == 0);
    CHECK(nodelay != 0);
    ++server_ends;
  }
  CHECK(server_ends == 1);
}

TEST_CASE("serve: a client that stops sending is cut off after the I/O timeout", "[serve]") {
  ServeFixture fixture;
  fixture.options.io_timeout_s = 1;
  TestServer server(fixture.options);
  const int sock = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(sock >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(server.port()));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(sock, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  const std::string start = "POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n";
  REQUIRE(::send(sock, start.data(), start.size(), 0) == static_cast<ssize_t>(start.size()));
  const auto sent = std::chrono::steady_clock::now();
  timeval wait{20, 0};  // the test's own bound, far above the server's
  ::setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
  // The server gives up on the headers: it answers 400 and closes the connection (recv 0).
  std::string reply;
  char chunk[512];
  ssize_t got = 0;
  while ((got = ::recv(sock, chunk, sizeof chunk, 0)) > 0) reply.append(chunk, std::size_t(got));
  const auto waited = std::chrono::steady_clock::now() - sent;
  ::close(sock);
  CHECK(got == 0);
  CHECK_THAT(reply, Catch::Matchers::StartsWith("HTTP/1.1 400 Bad Request"));
  CHECK(waited >= std::chrono::milliseconds(900));
  CHECK(waited < std::chrono::seconds(10));
}

TEST_CASE("serve: a file ftl export wrote answers as the checkpoint it came from", "[serve]") {
  ServeFixture fixture;
  ftl::ExportOptions exporting;
  exporting.checkpoint = fixture.options.checkpoint;
  exporting.output = fixture.dir / "net.pt";
  exporting.threads = 1;
  REQUIRE(ftl::export_model(exporting, ftl::testing::quiet_logger()).written);
  // Served frozen and optimised, as a checkpoint is: not the fallback that answers alike.
  CHECK(ftl::inference_network(ftl::load_checkpoint(exporting.output, torch::kCPU).module, 8)
            .frozen());
  const std::string image = png_bytes(8, 8, 3);
  auto answer = [&image](const ftl::ServeOptions& options) {
    TestServer server(options);
    httplib::Client client = server.client();
    return body_of(client.Post("/v1/predict?top_k=3", image, "image/png"));
  };
  const nlohmann::json original = answer(fixture.options);
  ftl::ServeOptions exported_options = fixture.options;
  exported_options.checkpoint = exporting.output;
  const nlohmann::json exported = answer(exported_options);
  CHECK(exported["model"]["file"] == "net.pt");
  const nlohmann::json& a = original["predictions"][0]["top"];
  const nlohmann::json& b = exported["predictions"][0]["top"];
  REQUIRE(b.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(b[i]["class"] == a[i]["class"]);
    CHECK(b[i]["probability"].get<double>() ==
          Approx(a[i]["probability"].get<double>()).margin(1e-5));
  }
}
