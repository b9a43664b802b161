#include "ftl/report/report.h"

#include <spdlog/fmt/fmt.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include "ftl/config/choices.h"
#include "ftl/eval/evaluate.h"
#include "ftl/eval/evaluation_output.h"
#include "ftl/eval/metrics.h"
#include "ftl/eval/mistakes.h"
#include "ftl/model/run_layout.h"
#include "ftl/report/gallery.h"
#include "ftl/report/reliability_diagram.h"
#include "ftl/report/svg_chart.h"
#include "ftl/util/errors.h"
#include "ftl/util/files.h"
#include "ftl/version.h"

namespace fs = std::filesystem;

namespace ftl {
namespace {

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
footer { margin-top: 32px; color: #888; font-size: 12px; }
)";

std::string page(const std::string& title, const std::string& body) {
  return fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<title>{0}</title>\n<style>{1}{2}{3}</style>\n</head>\n<body>\n{4}"
      "<footer>Written by ftl {5}.</footer>\n</body>\n</html>\n",
      xml_escape(title), kStyle, svg_chart_style(), gallery_style(), body, kVersion);
}

std::string figure(const std::string& name, const std::string& value) {
  return fmt::format("<div class=\"figure\"><span>{}</span><b>{}</b></div>", xml_escape(name),
                     xml_escape(value));
}

std::string fixed(double value) { return fmt::format("{:.4f}", value); }

std::string pre(const nlohmann::ordered_json& json) {
  return "<pre>" + xml_escape(json.dump(2)) + "</pre>\n";
}

std::string calibration_section(const nlohmann::ordered_json& report) {
  std::string html =
      "<h3>Calibration</h3>\n<p class=\"note\">Each bar: the images whose top probability lies "
      "in its range, as high as the share of them that was right; on the dashed diagonal, "
      "confidence and accuracy agree.</p>\n";
  if (!report.contains("calibration")) {
    return html +
           "<p class=\"note\">This evaluation predates its calibration bins: evaluate again "
           "to draw the reliability diagram.</p>\n";
  }
  return html + reliability_svg(calibration_from_json(report.at("calibration"), "evaluation"),
                                report.at("ece").get<double>());
}

// The evaluation's headline figures, calibration, heat map, per-class table, worst confusions
// and, when given, its gallery of mistakes.
std::string evaluation_section(const nlohmann::ordered_json& report,
                               const std::optional<Gallery>& gallery) {
  std::vector<std::string> classes;
  for (const auto& row : report.at("per_class"))
    classes.push_back(row.at("name").get<std::string>());

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
    // Evaluations written before TTA or bf16 existed have neither key: they ran without.
    const std::string tta = report.value("tta", std::string("none"));
    const std::string precision = report.value("precision", std::string("fp32"));
    html += fmt::format("<p class=\"note\">{} evaluated on {}{}{}</p>\n",
                        xml_escape(report.at("checkpoint").get<std::string>()),
                        xml_escape(report.at("data").get<std::string>()),
                        tta == "none" ? "" : ", test-time augmentation " + xml_escape(tta),
                        precision == "fp32" ? "" : ", in " + xml_escape(precision));
  }
  html += calibration_section(report);

  html +=
      "<h3>Confusion matrix</h3>\n<p class=\"note\">Rows are true classes, columns "
      "predictions; a cell's shade is its share of the row.</p>\n";
  html += heatmap_svg(classes,
                      report.at("confusion_matrix").get<std::vector<std::vector<std::int64_t>>>());

  // The class with the lowest recall is marked: it is where to look first.
  std::size_t worst = 0;
  const auto& rows = report.at("per_class");
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].at("recall").get<double>() < rows[worst].at("recall").get<double>()) worst = i;
  }
  html +=
      "<h3>Per class</h3>\n<table>\n<tr><th>class</th><th>precision</th><th>recall</th>"
      "<th>F1</th><th>support</th></tr>\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i];
    html +=
        fmt::format("<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                    i == worst && rows.size() > 1 ? " class=\"worst\"" : "", xml_escape(classes[i]),
                    fixed(row.at("precision").get<double>()), fixed(row.at("recall").get<double>()),
                    fixed(row.at("f1").get<double>()), row.at("support").get<std::int64_t>());
  }
  for (const char* average : {"macro", "weighted"}) {
    const auto& a = report.at(average);
    html += fmt::format(
        "<tr><td><i>{} avg</i></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n", average,
        fixed(a.at("precision").get<double>()), fixed(a.at("recall").get<double>()),
        fixed(a.at("f1").get<double>()), report.at("num_samples").get<std::int64_t>());
  }
  html += "</table>\n";

  const std::vector<Confusion> confusions = worst_confusions(report, kReportedConfusions);
  html += "<h3>Worst confusions</h3>\n";
  if (confusions.empty()) {
    html += "<p class=\"note\">None: every image was right.</p>\n";
  } else {
    html += "<table>\n<tr><th>true class</th><th>predicted</th><th>images</th></tr>\n";
    for (const Confusion& c : confusions) {
      html += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                          xml_escape(classes[c.truth]), xml_escape(classes[c.predicted]), c.count);
    }
    html += "</table>\n";
  }
  return gallery ? html + gallery_html(*gallery) : html;
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

// A run's learning curves: loss, accuracy (train and val) and the head's lr.
std::vector<Chart> run_charts(const std::vector<nlohmann::ordered_json>& epochs) {
  const std::vector<double> x = column(epochs, "epoch");
  return {line_chart_svg("Loss", "epoch", x,
                         {{"train", column(epochs, "train_loss"), kTrainColour},
                          {"val", column(epochs, "val_loss"), kValColour}}),
          line_chart_svg("Accuracy", "epoch", x,
                         {{"train", column(epochs, "train_acc"), kTrainColour},
                          {"val", column(epochs, "val_acc"), kValColour}}),
          line_chart_svg("Learning rate (head)", "epoch", x,
                         {{"first step", column(epochs, "lr"), kTrainColour},
                          {"last step", column(epochs, "lr_end"), kLrEndColour}})};
}

std::string run_name(const fs::path& dir) {
  const std::string name = fs::absolute(dir).lexically_normal().filename().string();
  return name.empty() ? dir.string() : name;
}

// Several runs on shared charts, one line each, over the longest run's epochs.
std::vector<Chart> comparison_charts(const std::vector<RunRecord>& runs) {
  std::size_t longest = 0;
  for (const RunRecord& run : runs) longest = std::max(longest, run.epochs.size());
  std::vector<double> x;
  for (std::size_t e = 1; e <= longest; ++e) x.push_back(static_cast<double>(e));
  std::vector<Chart> charts;
  const std::pair<const char*, const char*> metrics[] = {{"val_acc", "Validation accuracy"},
                                                         {"val_loss", "Validation loss"},
                                                         {"train_loss", "Training loss"}};
  for (const auto& [key, title] : metrics) {
    std::vector<Series> series;
    for (std::size_t r = 0; r < runs.size(); ++r) {
      std::vector<double> values = column(runs[r].epochs, key);
      values.resize(longest, std::numeric_limits<double>::quiet_NaN());
      series.push_back({run_name(runs[r].dir), values, palette_colour(r)});
    }
    charts.push_back(line_chart_svg(title, "epoch", x, series));
  }
  return charts;
}

std::string charts_html(const std::vector<Chart>& charts) {
  std::string html = "<div class=\"charts\">\n";
  for (const Chart& chart : charts) html += chart.svg;
  return html + "</div>\n";
}

// The sum of one metric over the epochs that recorded it.
double total(const std::vector<nlohmann::ordered_json>& epochs, const char* key) {
  double sum = 0;
  for (const double value : column(epochs, key)) sum += std::isfinite(value) ? value : 0;
  return sum;
}

// How the run stands: its stop reason once summary.json exists.
std::string run_status(const RunRecord& run) {
  return run.summary.is_object() ? run.summary.value("stop_reason", std::string("finished"))
                                 : std::string("not finished");
}

std::string summary_section(const RunRecord& run) {
  const double seconds = total(run.epochs, "seconds");
  const double images_per_s = total(run.epochs, "images_per_s");
  const auto& train =
      run.config.contains("train") ? run.config.at("train") : nlohmann::ordered_json();
  const std::string planned =
      train.contains("epochs") ? std::to_string(train.at("epochs").get<std::int64_t>()) : "?";
  std::string html = "<div class=\"figures\">";
  html += figure("status", run_status(run));
  html += figure("epochs", std::to_string(run.epochs.size()) + " of " + planned);
  if (run.summary.is_object()) {
    html += figure("best epoch", std::to_string(run.summary.value("best_epoch", std::int64_t{0})));
    html += figure("best " + run.summary.value("best_metric", std::string("value")),
                   fixed(run.summary.value("best_value", 0.0)));
  }
  html += figure("training time", fmt::format("{:.1f} s", seconds));
  if (!run.epochs.empty()) {
    html += figure("images/s",
                   fmt::format("{:.0f}", images_per_s / static_cast<double>(run.epochs.size())));
  }
  html += "</div>\n";
  if (run.summary.is_object() && run.summary.contains("stop_message")) {
    html += "<p class=\"note\">" + xml_escape(run.summary.at("stop_message").get<std::string>()) +
            "</p>\n";
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
    const auto& val =
        data.contains("val") ? data.at("val").at("classes") : nlohmann::ordered_json();
    html += fmt::format(
        "<tr><td>{}</td><td>{}</td><td>{}</td></tr>\n", xml_escape(name), count.get<std::int64_t>(),
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

std::string evaluation_report_html(const nlohmann::ordered_json& evaluation,
                                   const std::optional<Gallery>& gallery) {
  const std::string title = "ftl evaluation";
  return page(title, "<h1>" + title + "</h1>\n" + evaluation_section(evaluation, gallery));
}

std::string run_report_html(const RunRecord& run, const nlohmann::ordered_json& evaluation,
                            const std::string& missing_evaluation,
                            const std::optional<Gallery>& gallery) {
  const std::string title = "ftl run " + run_name(run.dir);
  std::string body = "<h1>" + xml_escape(title) + "</h1>\n<p class=\"note\">" +
                     xml_escape(run.dir.string()) + "</p>\n";
  body += summary_section(run);
  body += "<h2>Learning curves</h2>\n";
  body += run.epochs.empty() ? "<p class=\"note\">No epoch has finished yet.</p>\n"
                             : charts_html(run_charts(run.epochs));
  body += "<h2>Evaluation of the best checkpoint</h2>\n";
  body += evaluation.is_object() ? evaluation_section(evaluation, gallery)
                                 : "<p class=\"note\">" + xml_escape(missing_evaluation) + "</p>\n";
  body += "<h2>Data</h2>\n" + data_section(run.data);
  body += "<h2>Config</h2>\n" + pre(run.config);
  return page(title, body);
}

namespace {

fs::path best_checkpoint(const fs::path& run_dir) { return run_dir / kCheckpointDir / kBestName; }

// What a single run's page shows of its evaluation.
struct PageEvaluation {
  nlohmann::ordered_json report;   // null when there is nothing to evaluate yet
  std::optional<Gallery> gallery;  // none when no pictures were asked for
};

// The evaluation a single run's page shows, read from options.evaluation or made from best.pt.
PageEvaluation run_evaluation(const ReportOptions& options, const RunRecord& run,
                              spdlog::logger& log) {
  if (!options.evaluation.empty()) {
    PageEvaluation read{read_json_file(options.evaluation), {}};
    if (!read.report.is_object() || !read.report.contains("per_class") ||
        !read.report.contains("confusion_matrix")) {
      throw DataError(options.evaluation.string() +
                      ": not an ftl evaluate report (no per_class or confusion_matrix)");
    }
    if (read.report.contains("calibration")) {  // absent in files written before the bins
      calibration_from_json(read.report.at("calibration"), options.evaluation.string());
    }
    if (options.gallery > 0) {
      read.gallery = Gallery();
      read.gallery->unavailable = "No pictures: this evaluation was read from " +
                                  options.evaluation.string() +
                                  ", which holds no images; one that the report makes itself "
                                  "from best.pt shows them.";
    }
    return read;
  }
  const fs::path best = best_checkpoint(run.dir);
  if (!fs::exists(best)) return {};
  EvaluateOptions evaluate;
  evaluate.checkpoint = best;
  evaluate.data = options.data;
  if (evaluate.data.empty()) {
    // A run that split its validation images off data.train wrote them as a manifest.
    const std::string val = run.config.at("data").value("val", std::string());
    evaluate.data = val.empty() ? run.dir / kValSplitName : fs::path(val);
  }
  evaluate.inference = options.inference;
  evaluate.gallery = options.gallery;
  // The images the run itself skipped must not stop its report.
  evaluate.skip_bad_images = run.config.at("data").value("on_bad_image", std::string()) ==
                             to_string(BadImagePolicy::kSkip);
  Evaluation evaluation = evaluate_checkpoint(evaluate, log);
  return {std::move(evaluation.report), std::move(evaluation.gallery)};
}

std::string missing_evaluation(const RunRecord& run) {
  return "No " + best_checkpoint(run.dir).string() + " yet: the run has not finished an epoch.";
}

}  // namespace

std::string comparison_report_html(const std::vector<RunRecord>& runs) {
  const std::string title = "ftl runs compared";
  std::string body =
      "<h1>" + title +
      "</h1>\n<table>\n<tr><th>run</th><th>status</th>"
      "<th>epochs</th><th>best epoch</th><th>best value</th><th>training s</th></tr>\n";
  for (const RunRecord& run : runs) {
    const bool finished = run.summary.is_object();
    body += fmt::format(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1f}</td></tr>\n",
        xml_escape(run.dir.string()), xml_escape(run_status(run)), run.epochs.size(),
        finished ? std::to_string(run.summary.value("best_epoch", std::int64_t{0})) : "-",
        finished ? xml_escape(run.summary.value("best_metric", std::string()) + " " +
                              fixed(run.summary.value("best_value", 0.0)))
                 : "-",
        total(run.epochs, "seconds"));
  }
  body += "</table>\n<h2>Learning curves</h2>\n" + charts_html(comparison_charts(runs));
  return page(title, body);
}

std::vector<RunRecord> read_runs(const std::vector<fs::path>& dirs) {
  if (dirs.empty()) throw ConfigError("report: no run folder given");
  std::vector<RunRecord> runs;
  for (const fs::path& dir : dirs) runs.push_back(read_run(dir));
  return runs;
}

fs::path write_report(const ReportOptions& options, spdlog::logger& log) {
  return write_report(options, read_runs(options.run_dirs), log);
}

fs::path write_report(const ReportOptions& options, const std::vector<RunRecord>& runs,
                      spdlog::logger& log) {
  if (runs.empty()) throw ConfigError("report: no run folder given");
  const fs::path output = options.output.empty() ? runs[0].dir / kReportName : options.output;
  if (runs.size() > 1) {
    // Preconditions, in the core's terms; the CLI checks them first and names its flags.
    if (!options.evaluation.empty() || !options.data.empty()) {
      throw ConfigError(
          "report: an evaluation file or data folder applies to a single run "
          "folder, not to " +
          std::to_string(runs.size()));
    }
    if (options.output.empty()) {
      throw ConfigError("report: comparing " + std::to_string(runs.size()) +
                        " runs needs an output file (the page belongs to no single run folder)");
    }
    write_file_atomic(output, comparison_report_html(runs));
    if (!options.svg.empty())
      write_file_atomic(options.svg, standalone_svg(comparison_charts(runs)));
  } else {
    const PageEvaluation evaluation = run_evaluation(options, runs[0], log);
    write_file_atomic(output, run_report_html(runs[0], evaluation.report,
                                              missing_evaluation(runs[0]), evaluation.gallery));
    if (!options.svg.empty())
      write_file_atomic(options.svg, standalone_svg(run_charts(runs[0].epochs)));
  }
  log.info("wrote {}", output.string());
  if (!options.svg.empty()) log.info("wrote {}", options.svg.string());
  return output;
}

}  // namespace ftl
