// ftl evaluate's quality gates as the log words them: the core says which gate missed by how
// much, the CLI names the flag that set the limit.
#include <catch2/catch.hpp>

#include "cli/commands.h"

namespace {

std::vector<std::string> gate_texts(const nlohmann::ordered_json& report,
                                    const ftl::QualityGates& gates) {
  std::vector<std::string> texts;
  for (const ftl::GateFailure& failure : ftl::failed_gates(report, gates)) {
    texts.push_back(ftl::cli::gate_failure_text(failure));
  }
  return texts;
}

}  // namespace

TEST_CASE("evaluate: each missed quality gate names its flag, the value and the limit",
          "[cli][evaluate]") {
  const nlohmann::ordered_json report = {
      {"accuracy", 0.8},
      {"loss", 0.5},
      {"per_class", {{{"name", "cat"}, {"recall", 0.9}}, {{"name", "dog"}, {"recall", 0.6}}}}};
  CHECK(gate_texts(report, {}).empty());
  ftl::QualityGates gates;
  gates.min_accuracy = 0.85;
  gates.min_class_recall = 0.7;
  gates.max_loss = 0.4;
  const std::vector<std::string> failed = gate_texts(report, gates);
  REQUIRE(failed.size() == 3);
  CHECK(failed[0] == "accuracy 0.8 < --min-accuracy 0.85");
  CHECK(failed[1] == "recall of class dog 0.6 < --min-class-recall 0.7");
  CHECK(failed[2] == "loss 0.5 > --max-loss 0.4");
  gates = {0.8, 0.6, 0.5};  // limits met exactly pass
  CHECK(gate_texts(report, gates).empty());
}

TEST_CASE("evaluate: a gate's numbers keep 4 significant digits", "[cli][evaluate]") {
  CHECK(ftl::cli::gate_failure_text({ftl::Gate::kMinAccuracy, "", 0.123456, 0.5}) ==
        "accuracy 0.1235 < --min-accuracy 0.5");
  CHECK(ftl::cli::gate_failure_text({ftl::Gate::kMinClassRecall, "dog, big", 0.5, 0.6}) ==
        "recall of class dog, big 0.5 < --min-class-recall 0.6");
  CHECK(ftl::cli::gate_failure_text({ftl::Gate::kMaxLoss, "", 2, 1}) == "loss 2 > --max-loss 1");
}
