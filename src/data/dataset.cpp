#include "ftl/data/dataset.h"

#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <system_error>

#include "ftl/util/csv.h"
#include "ftl/util/errors.h"
#include "ftl/util/hash.h"
#include "ftl/util/text.h"

namespace fs = std::filesystem;

namespace ftl {
namespace {

constexpr const char* kUtf8Bom = "\xEF\xBB\xBF";

bool is_hidden(const fs::path& path) { return path.filename().string().rfind('.', 0) == 0; }

// Collects image files below dir, following symbolic links but visiting each real folder once,
// so a link that points back up the tree cannot loop forever.
void collect_images(const fs::path& dir, std::set<fs::path>& visited, std::vector<fs::path>& images,
                    std::int64_t& skipped) {
  std::error_code error;
  const fs::path real = fs::canonical(dir, error);
  if (error || !visited.insert(real).second) return;
  fs::directory_iterator it(dir, error);
  if (error) throw DataError(dir.string() + ": cannot list folder: " + error.message());
  for (const fs::directory_entry& entry : it) {
    if (is_hidden(entry.path())) {
      ++skipped;
    } else if (entry.is_directory(error)) {
      collect_images(entry.path(), visited, images, skipped);
    } else if (entry.is_regular_file(error) && has_image_extension(entry.path())) {
      images.push_back(entry.path());
    } else {
      ++skipped;
    }
  }
}

std::string lower_extension(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

// The column named `name` in a manifest's header; throws naming the header it found.
std::size_t manifest_column(const CsvRecord& header, const std::string& name,
                            const fs::path& manifest) {
  const auto found = std::find(header.fields.begin(), header.fields.end(), name);
  if (found == header.fields.end()) {
    std::string seen;
    for (const std::string& field : header.fields) seen += (seen.empty() ? "" : ",") + field;
    throw DataError(manifest.string() + ": line " + std::to_string(header.line) +
                    ": the header must name the columns path and label, got \"" + seen + "\"");
  }
  return static_cast<std::size_t>(found - header.fields.begin());
}

}  // namespace

bool has_image_extension(const fs::path& path) {
  const std::string ext = lower_extension(path);
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

bool is_manifest(const fs::path& path) { return lower_extension(path) == ".csv"; }

ImageFolder read_manifest(const fs::path& manifest) {
  std::ifstream in(manifest, std::ios::binary);
  if (!in) {
    throw DataError(manifest.string() + ": cannot open manifest" +
                    (fs::exists(manifest) ? "" : " (missing)"));
  }
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  // Spreadsheets save "CSV UTF-8" with a byte-order mark, which would glue onto "path".
  if (text.rfind(kUtf8Bom, 0) == 0) text.erase(0, std::string(kUtf8Bom).size());
  const std::vector<CsvRecord> records = parse_csv(text, manifest.string());
  if (records.empty()) throw DataError(manifest.string() + ": empty manifest (no header row)");
  const std::size_t path_column = manifest_column(records[0], "path", manifest);
  const std::size_t label_column = manifest_column(records[0], "label", manifest);
  const fs::path base = manifest.parent_path();

  ImageFolder data;
  data.root = manifest;
  std::vector<std::string> labels;
  std::map<fs::path, std::size_t> first_line;  // each image's line, to find duplicates
  for (std::size_t r = 1; r < records.size(); ++r) {
    const CsvRecord& record = records[r];
    const std::string where = manifest.string() + ": line " + std::to_string(record.line) + ": ";
    if (record.fields.size() != records[0].fields.size()) {
      throw DataError(where + std::to_string(record.fields.size()) + " fields, the header has " +
                      std::to_string(records[0].fields.size()));
    }
    const std::string& path_text = record.fields[path_column];
    const std::string& label = record.fields[label_column];
    if (path_text.empty()) throw DataError(where + "empty path");
    if (label.empty()) throw DataError(where + "empty label for " + path_text);
    const fs::path path =
        fs::path(path_text).is_absolute() ? fs::path(path_text) : base / path_text;
    std::error_code error;
    if (!fs::is_regular_file(path, error)) {
      throw DataError(where + path.string() + ": " +
                      (fs::exists(path, error) ? "not a file" : "no such file"));
    }
    const auto [seen, inserted] = first_line.emplace(path.lexically_normal(), record.line);
    if (!inserted) {
      throw DataError(where + path_text + " is listed twice (first on line " +
                      std::to_string(seen->second) + ")");
    }
    data.samples.push_back({path, 0});
    labels.push_back(label);
  }
  if (data.samples.empty()) throw DataError(manifest.string() + ": lists no image");
  data.classes = labels;
  std::sort(data.classes.begin(), data.classes.end());
  data.classes.erase(std::unique(data.classes.begin(), data.classes.end()), data.classes.end());
  for (std::size_t i = 0; i < labels.size(); ++i) {
    data.samples[i].label = std::lower_bound(data.classes.begin(), data.classes.end(), labels[i]) -
                            data.classes.begin();
  }
  return data;
}

ImageFolder scan_dataset(const fs::path& path) {
  return is_manifest(path) ? read_manifest(path) : scan_image_folder(path);
}

std::vector<fs::path> find_images(const fs::path& dir, std::int64_t* skipped) {
  std::set<fs::path> visited;
  std::vector<fs::path> images;
  std::int64_t left_out = 0;
  collect_images(dir, visited, images, left_out);
  if (skipped != nullptr) *skipped += left_out;
  std::sort(images.begin(), images.end());
  return images;
}

ImageFolder scan_image_folder(const fs::path& root) {
  std::error_code error;
  if (!fs::is_directory(root, error)) {
    throw DataError(root.string() + ": not a folder" +
                    (fs::exists(root) ? " (nor a .csv manifest)" : " (missing)"));
  }
  ImageFolder data;
  data.root = root;
  std::vector<fs::path> class_dirs;
  for (const fs::directory_entry& entry : fs::directory_iterator(root)) {
    if (!is_hidden(entry.path()) && entry.is_directory(error)) {
      class_dirs.push_back(entry.path());
    } else {
      ++data.skipped_files;  // a hidden folder or a file beside the class folders
    }
  }
  if (class_dirs.empty()) {
    throw DataError(root.string() + ": no class folders (expected ROOT/CLASS/IMAGE files)");
  }
  std::sort(class_dirs.begin(), class_dirs.end());
  for (const fs::path& dir : class_dirs) {
    std::vector<fs::path> images = find_images(dir, &data.skipped_files);
    if (images.empty()) {
      throw DataError(dir.string() + ": class folder holds no .jpg, .jpeg or .png image");
    }
    const auto label = static_cast<std::int64_t>(data.classes.size());
    data.classes.push_back(dir.filename().string());
    for (fs::path& image : images) data.samples.push_back({std::move(image), label});
  }
  return data;
}

void check_same_classes(const ImageFolder& train, const ImageFolder& val) {
  if (train.classes == val.classes) return;
  std::vector<std::string> only_train;
  std::vector<std::string> only_val;
  std::set_difference(train.classes.begin(), train.classes.end(), val.classes.begin(),
                      val.classes.end(), std::back_inserter(only_train));
  std::set_difference(val.classes.begin(), val.classes.end(), train.classes.begin(),
                      train.classes.end(), std::back_inserter(only_val));
  std::string message = "train and val classes differ:";
  if (!only_train.empty()) {
    message += " only in " + train.root.string() + ": " + join(only_train) + ";";
  }
  if (!only_val.empty()) message += " only in " + val.root.string() + ": " + join(only_val) + ";";
  message.pop_back();
  throw DataError(message);
}

void relabel_to(ImageFolder& data, const std::vector<std::string>& classes) {
  std::vector<std::int64_t> new_label(data.classes.size(), -1);
  std::vector<std::string> unknown;
  for (std::size_t i = 0; i < data.classes.size(); ++i) {
    const auto found = std::find(classes.begin(), classes.end(), data.classes[i]);
    if (found == classes.end()) {
      unknown.push_back(data.classes[i]);
    } else {
      new_label[i] = found - classes.begin();
    }
  }
  if (!unknown.empty()) {
    throw DataError(data.root.string() + ": classes unknown to the checkpoint: " + join(unknown) +
                    " (checkpoint classes: " + join(classes) + ")");
  }
  for (Sample& sample : data.samples) {
    sample.label = new_label[static_cast<std::size_t>(sample.label)];
  }
  data.classes = classes;
}

std::string dataset_fingerprint(const ImageFolder& data) {
  Fnv1a hash;
  for (const Sample& sample : data.samples) {
    hash.add(sample.path.lexically_relative(data.root).string());
    hash.add("\n" + std::to_string(sample.label) + "\n");
  }
  return fmt::format("{:016x}", hash.value());
}

double imbalance_ratio(const std::vector<std::int64_t>& counts) {
  if (counts.empty()) return 1;
  const auto [smallest, largest] = std::minmax_element(counts.begin(), counts.end());
  return *smallest == 0 ? 0 : static_cast<double>(*largest) / static_cast<double>(*smallest);
}

std::vector<std::int64_t> class_counts(const ImageFolder& data) {
  std::vector<std::int64_t> counts(data.classes.size(), 0);
  for (const Sample& sample : data.samples) ++counts[static_cast<std::size_t>(sample.label)];
  return counts;
}

}  // namespace ftl
