#include "ftl/serve/serve_metrics.h"

#include <catch2/catch.hpp>

using Catch::Matchers::Contains;

TEST_CASE("serve metrics: requests, latency and batches in Prometheus's text format",
          "[serve_metrics]") {
  ftl::ServeMetrics metrics({"/v1/predict", "/healthz"}, /*max_batch=*/6);
  metrics.record_request("/v1/predict", 200, 0.003);
  metrics.record_request("/v1/predict", 200, 0.2);
  metrics.record_request("/v1/predict", 503, 0.0);
  metrics.record_request("/wp-login.php", 404, 0.0);
  metrics.record_pass({1, 0.0625, {0.0}, 0.003});
  metrics.record_pass({5, 0.25, {0.004, 0.004, 0.1, 0.1, 0.2}, 0.0078125});
  metrics.record_reload(false);
  const std::string text = metrics.prometheus_text({7, "best.pt", "ab\"c", 3, "bf16"});
  CHECK_THAT(text, Contains("ftl_http_requests_total{path=\"/v1/predict\",code=\"200\"} 2\n"));
  CHECK_THAT(text, Contains("ftl_http_requests_total{path=\"/v1/predict\",code=\"503\"} 1\n"));
  // A path that is no route is counted as "other", never by its own name.
  CHECK_THAT(text, Contains("ftl_http_requests_total{path=\"other\",code=\"404\"} 1\n"));
  CHECK(text.find("wp-login") == std::string::npos);
  // Buckets are cumulative: 0.003 s is at or below 0.005, 0.2 s only from 0.25 on.
  CHECK_THAT(text, Contains("ftl_http_request_duration_seconds_bucket{path=\"/v1/predict\","
                            "le=\"0.0025\"} 1\n"));  // the 503 at 0 s
  CHECK_THAT(text, Contains("ftl_http_request_duration_seconds_bucket{path=\"/v1/predict\","
                            "le=\"0.005\"} 2\n"));
  CHECK_THAT(text, Contains("ftl_http_request_duration_seconds_bucket{path=\"/v1/predict\","
                            "le=\"0.25\"} 3\n"));
  CHECK_THAT(text, Contains("ftl_http_request_duration_seconds_count{path=\"/v1/predict\"} 3\n"));
  // Batch bounds 1, 2, 4 and max_batch itself.
  CHECK_THAT(text, Contains("ftl_batch_size_bucket{le=\"1\"} 1\nftl_batch_size_bucket{le=\"2\"} 1\n"
                            "ftl_batch_size_bucket{le=\"4\"} 1\nftl_batch_size_bucket{le=\"6\"} 2\n"
                            "ftl_batch_size_bucket{le=\"+Inf\"} 2\nftl_batch_size_sum 6\n"
                            "ftl_batch_size_count 2\n"));
  CHECK_THAT(text, Contains("ftl_images_classified_total 6\n"));
  CHECK_THAT(text, Contains("ftl_queue_depth 7\n"));
  CHECK_THAT(text, Contains("ftl_model_reloads_total{result=\"failed\"} 1\n"));
  CHECK_THAT(text, Contains("ftl_model_info{file=\"best.pt\",sha256=\"ab\\\"c\",epoch=\"3\","
                            "precision=\"bf16\"} 1\n"));
  // The time of each pass, and of each image's wait for its pass.
  CHECK_THAT(text, Contains("ftl_pass_duration_seconds_bucket{le=\"0.05\"} 0\n"
                            "ftl_pass_duration_seconds_bucket{le=\"0.1\"} 1\n"
                            "ftl_pass_duration_seconds_bucket{le=\"0.25\"} 2\n"));
  CHECK_THAT(text, Contains("ftl_pass_duration_seconds_sum 0.3125\n"
                            "ftl_pass_duration_seconds_count 2\n"));
  CHECK_THAT(text, Contains("ftl_queue_wait_seconds_bucket{le=\"0.001\"} 1\n"
                            "ftl_queue_wait_seconds_bucket{le=\"0.0025\"} 1\n"
                            "ftl_queue_wait_seconds_bucket{le=\"0.005\"} 3\n"));
  CHECK_THAT(text, Contains("ftl_queue_wait_seconds_bucket{le=\"0.1\"} 5\n"));
  CHECK_THAT(text, Contains("ftl_queue_wait_seconds_count 6\n"));
  // The time each pass spent decoding its images before the network.
  CHECK_THAT(text, Contains("ftl_decode_duration_seconds_bucket{le=\"0.0025\"} 0\n"
                            "ftl_decode_duration_seconds_bucket{le=\"0.005\"} 1\n"
                            "ftl_decode_duration_seconds_bucket{le=\"0.01\"} 2\n"));
  CHECK_THAT(text, Contains("ftl_decode_duration_seconds_count 2\n"));
  CHECK_THAT(text, Contains("# TYPE ftl_decode_duration_seconds histogram\n"));
  CHECK_THAT(text, Contains("# TYPE ftl_queue_wait_seconds histogram\n"));
  CHECK_THAT(text, Contains("# TYPE ftl_batch_size histogram\n"));
}
