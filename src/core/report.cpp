#include "ftl/report.h"

#include <spdlog/fmt/fmt.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include "ftl/errors.h"
#include "ftl/evaluate.h"
#include "ftl/evaluation_output.h"
#include "ftl/files.h"
#include "ftl/run_folder.h"
#include "ftl/svg_chart.h"
#include "ftl/version.h"

namespace fs = std::filesystem;

namespace ftl {
namespace {

/// How many of the largest confusions the evaluation lists.
constexpr std::size_t kReportedConfusions = 10;

// Series colours: train and val, the same in every chart.
constexpr const char* kTrainColour = "#1f77b4";
constexpr const char* kValColour = "#d62728";
constexpr const char* kLrEndColour = "#2ca02c";

constexpr const char* kStyle = R"(
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px;
       color: #222; background: #fff; max-width: 1280px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 10px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
p.note { color: #555; margin: 4px 0; }
.figures { display: flex; flex-wrap: wrap; gap: 10px; margin: 10px 0; }
.figure { border: 1px solid #ddd; border-radius: 6px; padding: 6px 14px; min-width: 90px; }
.figure span { color: #555; font-size: 12px; }
.figure b { display: block; font-size: 20px; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
table { border-collapse: collapse; font-size: 14px; }
th, td { padding: 3px 12px; text-align: right; border-bottom: 1px solid #eee; }
th:first-child, td:first-child { text-align: left; }
tr.worst td { background: #fde0dc; }
pre { background: #f6f6f6; padding: 10px; overflow: auto; font-size: 12px; }
svg text { font-family: sans-serif; }
svg .title { font-size: 14px; font-weight: bold; fill: #222; }
svg .tick { font-size: 11px; fill: #444; }
svg .cell { font-size: 11px; }
svg .grid { stroke: #e8e8e8; }
svg .axis { stroke: #888; }
svg .frame { fill: none; stroke: #888; }
footer { margin-top: 32px; color: #888; font-size: 12px; }
)";

std::string page(const std::string& title, const std::string& body) {
  return fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<title>{0}</title>\n<style>{1}</style>\n</head>\n<body>\n{2}"
      "<footer>Written by ftl {3}.</footer>\n</body>\n</html>\n",
      xml_escape(title), kStyle, body, kVersion);
}

std::string figure(const std::string& name, const std::string& value) {
  return fmt::format("<div class=\"figure\"><span>{}</span><b>{}</b></div>", xml_escape(name),
                     xml_escape(value));
}

std::string fixed(double value) { return fmt::format("{:.4f}", value); }

std::string pre(const nlohmann::ordered_json& json) {
  return "<pre>" + xml_escape(json.dump(2)) + "</pre>\n";
}

// The evaluation's headline figures, heat map, per-class table and worst confusions.
std::string evaluation_section(const nlohmann::ordered_json& report) {
  std::vector<std::string> classes;
  for (const auto& row : report.at("per_class")) classes.push_back(row.at("name").get<std::string>());

  std::string html = "<div class=\"figures\">";
  html += figure("accuracy", fixed(report.at("accuracy").get<double>()));
  for (const auto& [key, value] : report.items()) {
    if (key.rfind("top", 0) == 0) html += figure(key, fixed(value.get<double>()));
  }
  html += figure("macro F1", fixed(report.at("macro").at("f1").get<double>()));
  html += figure("weighted F1", fixed(report.at("weighted").at("f1").get<double>()));
  html += figure("loss", fixed(report.at("loss").get<double>()));
  html += figure("ECE", fixed(report.at("ece").get<double>()));
  html += figure("images", std::to_string(report.at("num_samples").get<std::int64_t>()));
  html += "</div>\n";
  if (report.contains("checkpoint") && report.contains("data")) {
    html += fmt::format("<p class=\"note\">{} evaluated on {}</p>\n",
                        xml_escape(report.at("checkpoint").get<std::string>()),
                        xml_escape(report.at("data").get<std::string>()));
  }

  html += "<h3>Confusion matrix</h3>\n<p class=\"note\">Rows are true classes, columns "
          "predictions; a cell's shade is its share of the row.</p>\n";
  html += heatmap_svg(classes, report.at("confusion_matrix")
                                   .get<std::vector<std::vector<std::int64_t>>>());

  // The class with the lowest recall is marked: it is where to look first.
  std::size_t worst = 0;
  const auto& rows = report.at("per_class");
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].at("recall").get<double>() < rows[worst].at("recall").get<double>()) worst = i;
  }
  html += "<h3>Per class</h3>\n<table>\n<tr><th>class</th><th>precision</th><th>recall</th>"
          "<th>F1</th><th>support</th></tr>\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i];
    html += fmt::format(
        "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
        i == worst && rows.size() > 1 ? " class=\"worst\"" : "", xml_escape(classes[i]),
        fixed(row.at("precision").get<double>()), fixed(row.at("recall").get<double>()),
        fixed(row.at("f1").get<double>()), row.at("support").get<std::int64_t>());
  }
  for (const char* average : {"macro", "weighted"}) {
    const auto& a = report.at(average);
    html += fmt::format(
        "<tr><td><i>{} avg</i></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
        average, fixed(a.at("precision").get<double>()), fixed(a.at("recall").get<double>()),
        fixed(a.at("f1").get<double>()), report.at("num_samples").get<std::int64_t>());
  }
  html += "</table>\n";

  const std::vector<Confusion> confusions = worst_confusions(report, kReportedConfusions);
  html += "<h3>Worst confusions</h3>\n";
  if (confusions.empty()) return html + "<p class=\"note\">None: every image was right.</p>\n";
  html += "<table>\n<tr><th>true class</th><th>predicted</th><th>images</th></tr>\n";
  for (const Confusion& c : confusions) {
    html += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                        xml_escape(classes[c.truth]), xml_escape(classes[c.predicted]), c.count);
  }
  return html + "</table>\n";
}

// One metric per epoch; NaN where an epoch's line lacks it (older runs, cut lines).
std::vector<double> column(const std::vector<nlohmann::ordered_json>& epochs, const char* key) {
  std::vector<double> values;
  for (const auto& epoch : epochs) {
    values.push_back(epoch.contains(key) && epoch.at(key).is_number()
                         ? epoch.at(key).get<double>()
                         : std::numeric_limits<double>::quiet_NaN());
  }
  return values;
}

std::string curves_section(const std::vector<nlohmann::ordered_json>& epochs) {
  if (epochs.empty()) return "<p class=\"note\">No epoch has finished yet.</p>\n";
  const std::vector<double> x = column(epochs, "epoch");
  std::string html = "<div class=\"charts\">\n";
  html += line_chart_svg("Loss", "epoch", x,
                         {{"train", column(epochs, "train_loss"), kTrainColour},
                          {"val", column(epochs, "val_loss"), kValColour}});
  html += line_chart_svg("Accuracy", "epoch", x,
                         {{"train", column(epochs, "train_acc"), kTrainColour},
                          {"val", column(epochs, "val_acc"), kValColour}});
  html += line_chart_svg("Learning rate (head)", "epoch", x,
                         {{"first step", column(epochs, "lr"), kTrainColour},
                          {"last step", column(epochs, "lr_end"), kLrEndColour}});
  return html + "</div>\n";
}

std::string summary_section(const RunRecord& run) {
  double seconds = 0;
  double images_per_s = 0;
  for (const auto& epoch : run.epochs) {
    seconds += epoch.value("seconds", 0.0);
    images_per_s += epoch.value("images_per_s", 0.0);
  }
  const auto& train = run.config.contains("train") ? run.config.at("train") : nlohmann::ordered_json();
  const std::string planned = train.contains("epochs") ? std::to_string(train.at("epochs").get<std::int64_t>()) : "?";
  std::string html = "<div class=\"figures\">";
  html += figure("status", run.summary.is_object()
                               ? run.summary.value("stop_reason", std::string("finished"))
                               : std::string("not finished"));
  html += figure("epochs", std::to_string(run.epochs.size()) + " of " + planned);
  if (run.summary.is_object()) {
    html += figure("best epoch", std::to_string(run.summary.value("best_epoch", std::int64_t{0})));
    html += figure("best " + run.summary.value("best_metric", std::string("value")),
                   fixed(run.summary.value("best_value", 0.0)));
  }
  html += figure("training time", fmt::format("{:.1f} s", seconds));
  if (!run.epochs.empty()) {
    html += figure("images/s", fmt::format("{:.0f}", images_per_s / static_cast<double>(run.epochs.size())));
  }
  html += "</div>\n";
  if (run.summary.is_object() && run.summary.contains("stop_message")) {
    html += "<p class=\"note\">" + xml_escape(run.summary.at("stop_message").get<std::string>()) + "</p>\n";
  }
  return html;
}

std::string data_section(const nlohmann::ordered_json& data) {
  if (!data.is_object()) {
    return "<p class=\"note\">This run predates data.json: see the config below.</p>\n";
  }
  std::string html;
  for (const char* part : {"train", "val"}) {
    if (!data.contains(part)) continue;
    html += fmt::format("<p class=\"note\">{}: {} images in {}</p>\n", part,
                        data.at(part).at("images").get<std::int64_t>(),
                        xml_escape(data.at(part).at("path").get<std::string>()));
  }
  html += "<table>\n<tr><th>class</th><th>train</th><th>val</th></tr>\n";
  const auto& train = data.at("train").at("classes");
  for (const auto& [name, count] : train.items()) {
    const auto& val = data.contains("val") ? data.at("val").at("classes") : nlohmann::ordered_json();
    html += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td></tr>\n", xml_escape(name),
                        count.get<std::int64_t>(),
                        val.contains(name) ? std::to_string(val.at(name).get<std::int64_t>()) : "-");
  }
  return html + "</table>\n";
}

nlohmann::ordered_json read_json_file(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw DataError(path.string() + ": cannot open file");
  try {
    return nlohmann::ordered_json::parse(in);
  } catch (const nlohmann::json::exception& error) {
    throw DataError(path.string() + ": not valid JSON: " + error.what());
  }
}

}  // namespace

RunRecord read_run(const fs::path& dir) {
  RunRecord run;
  run.dir = dir;
  if (!fs::exists(dir / kConfigName)) {
    throw DataError(dir.string() + ": not a run folder (no " + kConfigName +
                    "; pass the output.dir of ftl finetune)");
  }
  run.config = read_json_file(dir / kConfigName);
  std::ifstream metrics(dir / kMetricsName);
  std::string line;
  for (std::size_t number = 1; std::getline(metrics, line); ++number) {
    if (line.empty()) continue;
    try {
      run.epochs.push_back(nlohmann::ordered_json::parse(line));
    } catch (const nlohmann::json::exception& error) {
      throw DataError((dir / kMetricsName).string() + ": line " + std::to_string(number) +
                      " is not valid JSON: " + error.what());
    }
  }
  if (fs::exists(dir / kSummaryName)) run.summary = read_json_file(dir / kSummaryName);
  if (fs::exists(dir / kDataName)) run.data = read_json_file(dir / kDataName);
  return run;
}

std::string evaluation_report_html(const nlohmann::ordered_json& evaluation) {
  const std::string title = "ftl evaluation";
  return page(title, "<h1>" + title + "</h1>\n" + evaluation_section(evaluation));
}

std::string run_report_html(const RunRecord& run, const nlohmann::ordered_json& evaluation,
                            const std::string& missing_evaluation) {
  const std::string name = fs::absolute(run.dir).lexically_normal().filename().string();
  const std::string title = "ftl run " + (name.empty() ? run.dir.string() : name);
  std::string body = "<h1>" + xml_escape(title) + "</h1>\n<p class=\"note\">" +
                     xml_escape(run.dir.string()) + "</p>\n";
  body += summary_section(run);
  body += "<h2>Learning curves</h2>\n" + curves_section(run.epochs);
  body += "<h2>Evaluation of the best checkpoint</h2>\n";
  body += evaluation.is_object() ? evaluation_section(evaluation)
                                 : "<p class=\"note\">" + xml_escape(missing_evaluation) + "</p>\n";
  body += "<h2>Data</h2>\n" + data_section(run.data);
  body += "<h2>Config</h2>\n" + pre(run.config);
  return page(title, body);
}

fs::path write_run_report(const ReportOptions& options, spdlog::logger& log) {
  const RunRecord run = read_run(options.run_dir);
  nlohmann::ordered_json evaluation;
  std::string missing;
  const fs::path best = options.run_dir / kCheckpointDir / kBestName;
  if (!options.evaluation.empty()) {
    evaluation = read_json_file(options.evaluation);
    if (!evaluation.is_object() || !evaluation.contains("per_class") ||
        !evaluation.contains("confusion_matrix")) {
      throw DataError(options.evaluation.string() +
                      ": not an ftl evaluate report (no per_class or confusion_matrix)");
    }
  } else if (fs::exists(best)) {
    EvaluateOptions evaluate;
    evaluate.checkpoint = best;
    evaluate.data = options.data;
    if (evaluate.data.empty()) {
      evaluate.data = run.config.at("data").at("val").get<std::string>();
    }
    evaluate.batch_size = options.batch_size;
    evaluate.workers = options.workers;
    evaluate.threads = options.threads;
    evaluate.device = options.device;
    evaluation = evaluate_checkpoint(evaluate, log).report;
  } else {
    missing = "No " + best.string() + " yet: the run has not finished an epoch.";
  }
  const fs::path output = options.output.empty() ? options.run_dir / kReportName : options.output;
  write_file_atomic(output, run_report_html(run, evaluation, missing));
  log.info("wrote {}", output.string());
  return output;
}

}  // namespace ftl
