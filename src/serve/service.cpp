#include "ftl/serve/service.h"

#include <spdlog/fmt/fmt.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <exception>

#include "ftl/eval/inference_options.h"
#include "ftl/eval/predict.h"
#include "ftl/image/image.h"
#include "ftl/image/preprocess.h"
#include "ftl/util/errors.h"
#include "ftl/util/runtime.h"
#include "ftl/util/sha256.h"
#include "ftl/util/text.h"

namespace ftl {
namespace {

constexpr int kOk = 200;
constexpr int kBadRequest = 400;
constexpr int kUnauthorized = 401;
constexpr int kNotFound = 404;
constexpr int kMethodNotAllowed = 405;
constexpr int kPayloadTooLarge = 413;
constexpr int kUriTooLong = 414;
constexpr int kUnsupportedMediaType = 415;
constexpr int kInternalError = 500;
constexpr int kUnavailable = 503;

/// Seconds a client is told to wait before it tries again after a 503.
constexpr const char* kRetryAfterSeconds = "1";
/// Most probable classes per image unless ?top_k says otherwise: ftl predict's default.
constexpr std::int64_t kDefaultRequestTopK = 5;
/// The largest ?top_k, as ftl predict's.
constexpr std::int64_t kMaxTopK = 1000;
/// The path of a record whose image was the request's body rather than a form part.
constexpr const char* kBodyPath = "-";
constexpr const char* kJsonType = "application/json";
constexpr const char* kPrometheusType = "text/plain; version=0.0.4; charset=utf-8";

// The options, once they have passed validation: the members built from them come after.
const ServeOptions& validated(const ServeOptions& options) {
  validate_serve_options(options);
  return options;
}

Reply error_reply(int status, const std::string& message) {
  Reply reply;
  reply.status = status;
  reply.body = {{"error", message}};
  return reply;
}

Reply unavailable(const std::string& message) {
  Reply reply = error_reply(kUnavailable, message);
  reply.headers.emplace_back("Retry-After", kRetryAfterSeconds);
  return reply;
}

std::string lowercase(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// The media type of a Content-Type header: what comes before its parameters, lowercased.
std::string media_type(const std::string& content_type) {
  std::string type = content_type.substr(0, content_type.find(';'));
  const auto first = type.find_first_not_of(" \t");
  const auto last = type.find_last_not_of(" \t");
  return first == std::string::npos ? "" : lowercase(type.substr(first, last - first + 1));
}

// A path or value as a text log line may show it: control characters, which could forge a
// line of their own, become '?'.
std::string printable(const std::string& text) {
  std::string out = text;
  for (char& c : out) {
    if (std::iscntrl(static_cast<unsigned char>(c))) c = '?';
  }
  return out;
}

std::string dump(const nlohmann::ordered_json& json) {
  // A form part's file name that is not UTF-8 must not fail the answer: such bytes are U+FFFD.
  return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// ?top_k=K, the only query parameter predictions take.
std::int64_t top_k_of(const httplib::Request& request, std::size_t classes) {
  std::int64_t k = kDefaultRequestTopK;
  for (const auto& [name, value] : request.params) {
    if (name != "top_k") {
      throw ConfigError("unknown query parameter '" + name + "' (known: top_k)");
    }
    std::size_t used = 0;
    long long parsed = 0;
    try {
      parsed = std::stoll(value, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != value.size() || parsed < 1 || parsed > kMaxTopK) {
      throw ConfigError("top_k must be an integer from 1 to " + std::to_string(kMaxTopK) +
                        ", got '" + value + "'");
    }
    k = parsed;
  }
  return std::min<std::int64_t>(k, static_cast<std::int64_t>(classes));
}

struct Upload {
  std::string path;  // the form part's file name (else its field name), or "-" for a body
  const std::string* bytes = nullptr;
};

// The images of a predict request, or the reply that refuses it.
std::vector<Upload> uploads_of(const httplib::Request& request, Reply& refusal) {
  const std::string type = media_type(request.get_header_value("Content-Type"));
  std::vector<Upload> uploads;
  if (type == "image/jpeg" || type == "image/png") {
    uploads.push_back({kBodyPath, &request.body});
    return uploads;
  }
  if (type == "multipart/form-data") {
    for (const auto& [name, part] : request.files) {
      uploads.push_back({part.filename.empty() ? name : part.filename, &part.content});
    }
    if (uploads.empty()) refusal = error_reply(kBadRequest, "the form holds no image part");
    return uploads;
  }
  refusal = error_reply(kUnsupportedMediaType,
                        "Content-Type '" + request.get_header_value("Content-Type") +
                            "' is not image/jpeg, image/png or multipart/form-data");
  return uploads;
}

// An uploaded image as the network input of `model`; a DataError names what is wrong with it.
torch::Tensor decoded_input(const std::string& bytes, const ServedModel& model) {
  const Preprocess& preprocess = model.checkpoint.metadata.preprocess;
  const Image image = decode_image(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                   bytes.size(), decode_options(preprocess));
  torch::Tensor input = torch::empty({3, preprocess.image_size, preprocess.image_size});
  preprocess_into(image, preprocess, input);
  return input;
}

}  // namespace

Service::Service(const ServeOptions& options, spdlog::logger& log)
    : options_(validated(options)),
      log_(log),
      device_(inference_device(options)),
      routes_({{"POST", "/v1/predict", true, &Service::predict},
               {"GET", "/v1/model", true, &Service::describe_model},
               {"POST", "/v1/reload", true, &Service::reload_route},
               {"GET", "/healthz", false, &Service::health},
               {"GET", "/readyz", false, &Service::readiness},
               {"GET", "/metrics", true, &Service::metrics}}),
      metrics_({"/v1/predict", "/v1/model", "/v1/reload", "/healthz", "/readyz", "/metrics"},
               options.max_batch),
      batcher_(BatcherOptions{
          options.max_batch,
          std::chrono::microseconds(static_cast<std::int64_t>(options.max_delay_ms * 1000)),
          options.batch_wait, static_cast<std::size_t>(options.queue), options.tta, options.threads,
          [this](const PassRecord& pass) { metrics_.record_pass(pass); }}) {
  if (!options.token_file.empty()) {
    token_ = read_text_file(options.token_file);
    while (!token_.empty() && std::isspace(static_cast<unsigned char>(token_.back()))) {
      token_.pop_back();
    }
    if (token_.empty()) {
      throw ConfigError("token_file " + options.token_file.string() +
                        ": missing, unreadable or empty (it must hold the bearer token)");
    }
    if (token_.find_first_of(" \t\r\n") != std::string::npos) {
      throw ConfigError("token_file " + options.token_file.string() +
                        ": the token must be one line without spaces");
    }
  }
  keep_compute_on_this_thread();  // loading may run parallel operations: the cores are the pass's
  model_ = load_and_warm_up();
}

std::shared_ptr<const ServedModel> Service::load_and_warm_up() {
  std::shared_ptr<const ServedModel> model =
      load_served_model(options_.checkpoint, device_, options_.precision);
  log_inference_network(model->network, options_.checkpoint.string() + ": ", log_);
  batcher_.warm_up(model);
  return model;
}

void configure_listening_socket(socket_t socket) {
  // SO_REUSEADDR only: cpp-httplib's default also sets SO_REUSEPORT, with which a second
  // server on a taken port would bind, share it and answer half the requests.
  int yes = 1;
  ::setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
}

void Service::mount(httplib::Server& server) {
  // Each read and write must make progress within the timeout, so a client that stops
  // sending cannot hold a connection's thread for ever.
  const auto timeout = static_cast<time_t>(options_.io_timeout_s);
  server.set_read_timeout(timeout, 0);
  server.set_write_timeout(timeout, 0);
  server.set_payload_max_length(static_cast<std::size_t>(options_.max_body_mb) << 20);
  server.set_socket_options(configure_listening_socket);
  // cpp-httplib writes a response's headers and its body apart: with Nagle's algorithm the
  // body waits for the ACK of the headers, which the client delays by up to 40 ms.
  server.set_tcp_nodelay(true);
  for (const Route& route : routes_) {
    auto handler = [this, &route](const httplib::Request& request, httplib::Response& response) {
      answer(route, request, response);
    };
    if (std::string(route.method) == "GET") {
      server.Get(route.path, handler);
    } else {
      server.Post(route.path, handler);
    }
  }
  // A POST with neither Content-Length nor Transfer-Encoding has no body (RFC 9112, 6.3), as
  // `curl -X POST` sends it; cpp-httplib would refuse it as malformed before any route ran.
  server.set_pre_routing_handler(
      [this](const httplib::Request& request, httplib::Response& response) {
        if (request.method != "POST" || request.has_header("Content-Length") ||
            request.has_header("Transfer-Encoding")) {
          return httplib::Server::HandlerResponse::Unhandled;
        }
        for (const Route& route : routes_) {
          if (request.method == route.method && request.path == route.path) {
            answer(route, request, response);
            return httplib::Server::HandlerResponse::Handled;
          }
        }
        return httplib::Server::HandlerResponse::Unhandled;
      });
  server.set_error_handler(httplib::Server::HandlerWithResponse(
      [this](const httplib::Request& request, httplib::Response& response) {
        return on_error(request, response);
      }));
  server.set_exception_handler(
      [this](const httplib::Request& request, httplib::Response& response, std::exception_ptr) {
        finish(request, error_reply(kInternalError, "internal error"), response, 0);
      });
}

void Service::begin_draining() { draining_ = true; }

std::shared_ptr<const ServedModel> Service::model() const {
  std::lock_guard<std::mutex> lock(model_mutex_);
  return model_;
}

ReloadOutcome Service::reload() {
  std::lock_guard<std::mutex> reloading(reload_mutex_);
  ReloadOutcome outcome;
  keep_compute_on_this_thread();
  try {
    std::shared_ptr<const ServedModel> fresh = load_and_warm_up();
    {
      std::lock_guard<std::mutex> lock(model_mutex_);
      model_ = fresh;
    }
    outcome.ok = true;
    log_.info("reloaded {}: sha256 {}, epoch {}", options_.checkpoint.string(), fresh->sha256,
              fresh->checkpoint.metadata.epoch);
  } catch (const Error& failure) {
    outcome.error = failure.what();
  } catch (const c10::Error& failure) {
    outcome.error = options_.checkpoint.string() + ": " + failure.what_without_backtrace();
  }
  outcome.model = model();
  metrics_.record_reload(outcome.ok);
  if (!outcome.ok) {
    log_.error("reload refused, still serving sha256 {}: {}", outcome.model->sha256, outcome.error);
  }
  return outcome;
}

bool Service::authorized(const httplib::Request& request) const {
  static constexpr const char* kScheme = "bearer ";
  const std::string header = request.get_header_value("Authorization");
  const std::size_t scheme = std::char_traits<char>::length(kScheme);
  if (header.size() < scheme || lowercase(header.substr(0, scheme)) != kScheme) return false;
  return equal_in_constant_time(header.substr(scheme), token_);
}

void Service::answer(const Route& route, const httplib::Request& request,
                     httplib::Response& response) {
  const auto start = std::chrono::steady_clock::now();
  Reply reply;
  if (route.needs_token && !token_.empty() && !authorized(request)) {
    reply = error_reply(kUnauthorized, "a valid bearer token is required");
    reply.headers.emplace_back("WWW-Authenticate", "Bearer");
  } else {
    try {
      reply = (this->*route.handler)(request);
    } catch (const ConfigError& bad) {
      reply = error_reply(kBadRequest, bad.what());
    } catch (const QueueFull& full) {
      reply = unavailable(full.what());
    } catch (const std::exception& failure) {
      reply = error_reply(kInternalError, failure.what());
    }
  }
  const std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - start;
  finish(request, reply, response, seconds.count());
}

httplib::Server::HandlerResponse Service::on_error(const httplib::Request& request,
                                                   httplib::Response& response) {
  // Every status of 400 and above comes here, the routes' own too: those have their body.
  if (!response.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
  Reply reply;
  std::vector<std::string> allowed;
  for (const Route& route : routes_) {
    if (request.path == route.path) allowed.push_back(route.method);
  }
  if (response.status == kNotFound && !allowed.empty()) {
    reply = error_reply(kMethodNotAllowed, request.method + " is not allowed on " + request.path +
                                               " (allowed: " + join(allowed) + ")");
    reply.headers.emplace_back("Allow", join(allowed));
  } else if (response.status == kNotFound) {
    reply = error_reply(kNotFound, "no such path: " + request.path);
  } else if (response.status == kPayloadTooLarge) {
    reply = error_reply(kPayloadTooLarge, "the request body is over the limit of " +
                                              std::to_string(options_.max_body_mb) + " MiB");
  } else if (response.status == kUriTooLong) {
    reply = error_reply(kUriTooLong, "the request line is too long");
  } else {
    reply = error_reply(response.status, "malformed HTTP request");
  }
  finish(request, reply, response, 0);
  return httplib::Server::HandlerResponse::Handled;
}

void Service::finish(const httplib::Request& request, const Reply& reply,
                     httplib::Response& response, double seconds) {
  response.status = reply.status;
  for (const auto& [name, value] : reply.headers) response.set_header(name, value);
  if (reply.text.empty()) {
    response.set_content(dump(reply.body) + "\n", kJsonType);
  } else {
    response.set_content(reply.text, reply.content_type.c_str());
  }
  metrics_.record_request(request.path, reply.status, seconds);
  ++answered_;
  const double ms = seconds * 1000;
  if (options_.access_log == AccessLogFormat::kJson) {
    log_.info(dump({{"method", request.method},
                    {"path", request.path},
                    {"status", reply.status},
                    {"images", reply.images},
                    {"ms", std::round(ms * 10) / 10}}));
  } else {
    log_.info("{} {} {} {} images {:.1f} ms", printable(request.method), printable(request.path),
              reply.status, reply.images, ms);
  }
}

Reply Service::predict(const httplib::Request& request) {
  if (draining_) return unavailable("the server is stopping");
  // From here until its images are queued, a pass short of max_batch waits for this request.
  Batcher::Arrival arrival = batcher_.arrive();
  const std::shared_ptr<const ServedModel> model = this->model();
  const CheckpointMetadata& metadata = model->checkpoint.metadata;
  const std::int64_t k = top_k_of(request, metadata.classes.size());
  Reply refusal;
  const std::vector<Upload> uploads = uploads_of(request, refusal);
  if (uploads.empty()) return refusal;
  if (uploads.size() > static_cast<std::size_t>(options_.queue)) {
    return error_reply(kPayloadTooLarge,
                       fmt::format("{} images in one request, more than the queue holds ({})",
                                   uploads.size(), options_.queue));
  }
  // Each image is decoded on the pass thread, just before its pass, where a bad one fails
  // alone and the decoding does not compete with the pass for the cores.
  std::vector<ImagePrediction> records(uploads.size());
  std::vector<MakeInput> inputs;
  std::vector<std::size_t> queued;  // records[i] of each input
  for (std::size_t i = 0; i < uploads.size(); ++i) {
    records[i].path = uploads[i].path;
    const std::string* bytes = uploads[i].bytes;  // the request outlives every pass it is in
    if (bytes->empty()) {
      records[i].error = "empty image";
      continue;
    }
    inputs.emplace_back([bytes, model] { return decoded_input(*bytes, *model); });
    queued.push_back(i);
  }
  std::vector<torch::Tensor> rows;
  std::vector<std::size_t> answered;  // records[i] of each row
  if (!inputs.empty()) {
    std::vector<std::future<torch::Tensor>> results = arrival.submit(model, std::move(inputs));
    // Every image waited for before any answer is read: a failed pass must not return while
    // another pass may still read this request's bytes.
    for (std::future<torch::Tensor>& result : results) result.wait();
    for (std::size_t j = 0; j < results.size(); ++j) {
      try {
        rows.push_back(results[j].get());
        answered.push_back(queued[j]);
      } catch (const DataError& bad) {
        records[queued[j]].error = bad.what();
      }
    }
  }
  Reply reply;
  reply.images = uploads.size();
  if (rows.empty()) {
    const std::string reason =
        uploads.size() == 1 ? records[0].error : "none of the images could be decoded";
    reply = error_reply(kBadRequest, reason);
    reply.images = uploads.size();
    if (uploads.size() > 1) {
      for (const ImagePrediction& record : records) {
        reply.body["predictions"].push_back(prediction_json(record));
      }
    }
    return reply;
  }
  // The top classes are picked here, on this thread alone: the cores are the pass thread's.
  keep_compute_on_this_thread();
  std::vector<std::vector<ClassScore>> top = top_classes(torch::stack(rows), k, metadata.classes);
  for (std::size_t j = 0; j < answered.size(); ++j) records[answered[j]].top = std::move(top[j]);
  reply.body["model"] = model_identity_json(*model);
  reply.body["tta"] = tta_name(options_.tta);
  reply.body["predictions"] = nlohmann::ordered_json::array();
  for (const ImagePrediction& record : records) {
    reply.body["predictions"].push_back(prediction_json(record));
  }
  return reply;
}

Reply Service::describe_model(const httplib::Request&) {
  const std::shared_ptr<const ServedModel> model = this->model();
  const CheckpointMetadata& metadata = model->checkpoint.metadata;
  Reply reply;
  reply.body = model_identity_json(*model);
  reply.body["classes"] = metadata.classes;
  reply.body["preprocess"] = preprocess_to_json(metadata.preprocess);
  reply.body["metrics"] = metadata.metrics;
  reply.body["tta"] = tta_name(options_.tta);
  reply.body["max_batch"] = options_.max_batch;
  return reply;
}

Reply Service::reload_route(const httplib::Request&) {
  const ReloadOutcome outcome = reload();
  Reply reply;
  if (!outcome.ok) reply = error_reply(kInternalError, outcome.error);
  reply.body["reloaded"] = outcome.ok;
  reply.body["model"] = model_identity_json(*outcome.model);
  return reply;
}

Reply Service::health(const httplib::Request&) {
  Reply reply;
  reply.body = {{"status", "ok"}};
  return reply;
}

Reply Service::readiness(const httplib::Request&) {
  if (draining_) return unavailable("the server is stopping");
  if (batcher_.full()) return unavailable("the queue is full");
  Reply reply;
  reply.body = {{"status", "ready"}};
  return reply;
}

Reply Service::metrics(const httplib::Request&) {
  const std::shared_ptr<const ServedModel> model = this->model();
  Reply reply;
  reply.text = metrics_.prometheus_text({batcher_.depth(), model->file_name, model->sha256,
                                         model->checkpoint.metadata.epoch,
                                         to_string(model->network.precision)});
  reply.content_type = kPrometheusType;
  return reply;
}

}  // namespace ftl
