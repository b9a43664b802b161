#include "ftl/train/feature_cache.h"

#include <spdlog/fmt/fmt.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <system_error>

#include "ftl/image/preprocess.h"
#include "ftl/model/family.h"
#include "ftl/model/model.h"
#include "ftl/model/probe.h"
#include "ftl/util/errors.h"
#include "ftl/util/files.h"
#include "ftl/util/hash.h"
#include "ftl/util/strict_json.h"

namespace fs = std::filesystem;

namespace ftl {
namespace {

constexpr const char* kMagic = "ftl-feature-cache 1";
// The split check's tolerance: the two paths run the same operations and agree exactly in
// practice; this allows for kernels that round differently at another batch layout.
constexpr double kSplitCheckTolerance = 1e-4;
// A second, independent basis for the key's upper 64 bits.
constexpr std::uint64_t kSecondBasis = 0x9e3779b97f4a7c15ULL;

void add_tensor(Fnv1a& first, Fnv1a& second, const std::string& name, const torch::Tensor& value) {
  const torch::Tensor bytes = value.detach().to(torch::kCPU).contiguous();
  std::string header = name + " " + std::string(c10::toString(bytes.scalar_type()));
  for (const std::int64_t size : bytes.sizes()) header += " " + std::to_string(size);
  for (Fnv1a* hash : {&first, &second}) {
    hash->add(header + "\n");
    hash->add(bytes.data_ptr(), bytes.nbytes());
  }
}

// The network's logits against the split's from `features`, on one batch, with the block in
// eval mode for both (its Dropout off, a BatchNorm's statistics left alone).
void check_split(torch::jit::Module& network, const NetworkSplit& split, const Head& head,
                 const torch::Tensor& images, const torch::Tensor& features) {
  torch::jit::Module block = submodule(network, head.block);
  const KeepModes keep(block);
  block.eval();
  const torch::Tensor logits = network.forward({images}).toTensor().to(torch::kFloat32);
  const torch::Tensor from_features = split.logits(network, features).to(torch::kFloat32);
  if (!torch::allclose(logits, from_features, kSplitCheckTolerance, kSplitCheckTolerance)) {
    throw ModelError(fmt::format(
        "the feature cache cannot stand in for this network: its output is not what its head's "
        "block {} makes of the block's input (max difference {}); set train.feature_cache "
        "\"off\"",
        head.block, (logits - from_features).abs().max().item<double>()));
  }
}

}  // namespace

std::string varying_inputs(const Config& config) {
  if (config.data.augment.enabled) {
    return "data.augment is on: every epoch sees other crops of each image";
  }
  if (config.train.mixup.enabled()) {
    return "train.mixup is on: every step mixes the images of its batch";
  }
  return "";
}

std::string feature_cache_obstacle(const torch::jit::Module& model, const Head& head,
                                   const std::string& varying) {
  if (!varying.empty()) return varying;
  for (const torch::jit::NameTensor& parameter : model.named_parameters(/*recurse=*/true)) {
    if (head.in_block(parameter.name) || !parameter.value.requires_grad()) continue;
    return "the backbone trains (" + parameter.name + " is not frozen)";
  }
  for (const torch::jit::NameModule& child : model.named_modules()) {
    // The block runs at every step, its Dropout and BatchNorm as in the network.
    if (head.in_block(child.name) || !child.value.is_training()) continue;
    if (is_batchnorm(child.value)) {
      return "BatchNorm layer " + child.name + " trains: its output depends on the batch";
    }
    if (drop_probability(child.value) > 0.0) {
      return network_class(child.value) + " layer " + child.name +
             " is in training mode: its output is random";
    }
  }
  return "";
}

CachedFeatures extract_features(const torch::jit::Module& model, const NetworkSplit& split,
                                const Head& head, const ImageFolder& data,
                                const LoaderOptions& options, const torch::Device& device,
                                const ComputeMode& mode) {
  torch::NoGradGuard no_grad;
  torch::jit::Module network = model;  // shares the module: forward is not const
  const auto rows = static_cast<std::int64_t>(data.samples.size());
  CachedFeatures cached;
  BatchLoader loader(data.samples, identity_order(data.samples.size()), options);
  Batch batch;
  while (loader.next(batch)) {
    cached.bad.insert(cached.bad.end(), batch.bad.begin(), batch.bad.end());
    if (batch.indices.empty()) continue;
    const torch::Tensor images = batch.images.to(device);
    AutocastScope autocast(mode, device);
    const torch::Tensor features = split.features(network, images);
    if (!cached.features.defined()) {
      check_split(network, split, head, images, features);
      std::vector<std::int64_t> shape = features.sizes().vec();
      shape[0] = rows;
      cached.features = torch::zeros(shape);
    }
    std::vector<std::int64_t> indices(batch.indices.begin(), batch.indices.end());
    cached.features.index_copy_(0, torch::tensor(indices, torch::kInt64),
                                features.to(torch::kCPU, torch::kFloat32));
  }
  if (!cached.features.defined()) {
    // No image decoded: the rows stay zero (every one is listed bad), but their width is still
    // the block's input, which only the split knows (MobileNetV3's block takes 576 features
    // where its head takes 1024): one blank image of the loader's size gives it.
    const std::int64_t side = options.preprocess.image_size;
    std::vector<std::int64_t> shape =
        split.features(network, torch::zeros({1, 3, side, side}, device)).sizes().vec();
    shape[0] = rows;
    cached.features = torch::zeros(shape);
  }
  return cached;
}

std::string backbone_fingerprint(const torch::jit::Module& model, const Head& head) {
  Fnv1a first;
  Fnv1a second(kSecondBasis);
  for (const torch::jit::NameTensor& parameter : model.named_parameters(/*recurse=*/true)) {
    if (!head.in_block(parameter.name)) {
      add_tensor(first, second, parameter.name, parameter.value);
    }
  }
  for (const torch::jit::NameTensor& buffer : model.named_buffers(/*recurse=*/true)) {
    if (!head.in_block(buffer.name)) add_tensor(first, second, buffer.name, buffer.value);
  }
  return fmt::format("{:016x}{:016x}", first.value(), second.value());
}

std::string feature_shape(const CachedFeatures& cached) {
  std::string text;
  for (std::int64_t dim = 1; dim < cached.features.dim(); ++dim) {
    text += (text.empty() ? "" : "x") + std::to_string(cached.features.size(dim));
  }
  // "512-d" for vectors, "512x13x13" for feature maps (SqueezeNet's, MaxViT's).
  return cached.features.dim() == 2 ? text + "-d" : text;
}

nlohmann::json feature_cache_settings(const Config& config, const std::string& backbone,
                                      const torch::Device& device) {
  const nlohmann::json values = config_to_json(config);
  nlohmann::json settings = {{"backbone", backbone}, {"device", device.is_cuda() ? "cuda" : "cpu"}};
  for (const OptionDoc& option : option_docs()) {
    if (option.feature_key == FeatureKey::kPreprocess) {
      settings["preprocess"] = preprocess_to_json(config.data.preprocess);
    } else if (option.feature_key == FeatureKey::kValue) {
      const std::string name = option.key.substr(option.key.rfind('.') + 1);
      settings[name] = values.at(option_pointer(option.key));
    }
  }
  return settings;
}

std::string feature_cache_key(const ImageFolder& data, const nlohmann::json& settings) {
  Fnv1a first;
  Fnv1a second(kSecondBasis);
  for (Fnv1a* hash : {&first, &second}) hash->add(std::string(kMagic) + "\n" + settings.dump());
  for (const Sample& sample : data.samples) {
    std::error_code error;
    const fs::path path = fs::absolute(sample.path, error);
    const auto size = fs::file_size(sample.path, error);
    const auto modified = fs::last_write_time(sample.path, error).time_since_epoch().count();
    // A file that cannot be read here makes a key no cache holds; the loader then names it.
    const std::string identity =
        fmt::format("{}\n{}\n{}\n", path.string(), error ? 0 : size, error ? 0 : modified);
    first.add(identity);
    second.add(identity);
  }
  return fmt::format("{:016x}{:016x}", first.value(), second.value());
}

fs::path default_feature_cache_dir() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg != '\0') {
    return fs::path(xdg) / "ftl" / "features";
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    return fs::path(home) / ".cache" / "ftl" / "features";
  }
  throw ConfigError(
      "train.feature_cache \"disk\": neither XDG_CACHE_HOME nor HOME is set; give "
      "train.feature_cache_dir");
}

CachedFeatures read_feature_file(const fs::path& path, const std::string& key, std::size_t rows) {
  std::ifstream in(path, std::ios::binary);
  std::string magic;
  std::string header_text;
  if (!in || !std::getline(in, magic) || magic != kMagic || !std::getline(in, header_text)) {
    throw DataError(path.string() + ": not an ftl feature cache file");
  }
  CachedFeatures cached;
  std::vector<std::int64_t> shape = {static_cast<std::int64_t>(rows)};
  try {
    const nlohmann::json header = nlohmann::json::parse(header_text);
    refuse_unknown_keys(header, {"key", "rows", "dim", "row_shape", "bad"}, "header: ");
    if (header.at("key").get<std::string>() != key) throw DataError("it holds another key");
    if (header.at("rows").get<std::size_t>() != rows) {
      throw DataError(fmt::format("it holds {} rows, not {}", header.at("rows").dump(), rows));
    }
    const auto dim = header.at("dim").get<std::int64_t>();
    if (dim < 1) throw DataError("dim " + std::to_string(dim));
    // A map per image (SqueezeNet's) has its shape; a vector has only its length.
    std::int64_t product = 1;
    for (const std::int64_t size : header.value("row_shape", std::vector<std::int64_t>{dim})) {
      if (size < 1 || size > dim / product) {
        throw DataError("row_shape does not hold dim " + std::to_string(dim));
      }
      shape.push_back(size);
      product *= size;
    }
    if (product != dim) throw DataError("row_shape does not hold dim " + std::to_string(dim));
    for (const nlohmann::json& entry : header.at("bad")) {
      const auto index = entry.at(0).get<std::size_t>();
      if (index >= rows) throw DataError("bad image index " + std::to_string(index));
      cached.bad.push_back({index, entry.at(1).get<std::string>()});
    }
  } catch (const nlohmann::json::exception& error) {
    throw DataError(path.string() + ": damaged feature cache header: " + error.what());
  } catch (const std::runtime_error& error) {  // DataError above, ModelError for a key
    throw DataError(path.string() + ": " + error.what());
  }
  cached.features = torch::empty(shape, torch::kFloat32);
  const auto bytes = static_cast<std::streamsize>(cached.features.nbytes());
  in.read(static_cast<char*>(cached.features.data_ptr()), bytes);
  if (in.gcount() != bytes || in.peek() != std::char_traits<char>::eof()) {
    throw DataError(path.string() + ": feature cache is cut short or too long (expected " +
                    std::to_string(bytes) + " bytes of features)");
  }
  return cached;
}

void write_feature_file(const fs::path& path, const std::string& key,
                        const CachedFeatures& cached) {
  const torch::Tensor features = cached.features.to(torch::kCPU, torch::kFloat32).contiguous();
  nlohmann::json bad = nlohmann::json::array();
  for (const BadImage& image : cached.bad) bad.push_back({image.index, image.reason});
  const std::int64_t rows = features.size(0);
  nlohmann::json header = {
      {"key", key}, {"rows", rows}, {"dim", rows > 0 ? features.numel() / rows : 0}, {"bad", bad}};
  if (features.dim() > 2) header["row_shape"] = features.sizes().slice(1).vec();
  std::string contents = std::string(kMagic) + "\n" +
                         header.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
                         "\n";
  const std::size_t offset = contents.size();
  contents.resize(offset + features.nbytes());
  std::memcpy(contents.data() + offset, features.data_ptr(), features.nbytes());
  std::error_code error;
  fs::create_directories(path.parent_path(), error);
  if (error) {
    throw IoError("cannot create the feature cache folder " + path.parent_path().string() + ": " +
                  error.message());
  }
  write_file_atomic(path, contents);
}

FeatureBatches::FeatureBatches(const CachedFeatures& cached, const std::vector<Sample>& samples,
                               std::vector<std::size_t> order, std::int64_t batch_size,
                               const torch::Device& device)
    : cached_(cached),
      samples_(samples),
      order_(std::move(order)),
      batch_size_(static_cast<std::size_t>(batch_size)),
      device_(device),
      usable_(samples.size(), true) {
  for (const BadImage& image : cached.bad) usable_[image.index] = false;
}

bool FeatureBatches::next(Batch& batch) {
  if (position_ >= order_.size()) return false;
  const std::size_t end = std::min(position_ + batch_size_, order_.size());
  batch = Batch{};
  std::vector<std::int64_t> rows;
  std::vector<std::int64_t> labels;
  for (std::size_t i = position_; i < end; ++i) {
    const std::size_t index = order_[i];
    if (!usable_[index]) continue;
    batch.indices.push_back(index);
    rows.push_back(static_cast<std::int64_t>(index));
    labels.push_back(samples_[index].label);
  }
  position_ = end;
  batch.images = cached_.features.index_select(0, torch::tensor(rows, torch::kInt64)).to(device_);
  batch.labels = torch::tensor(labels, torch::kInt64).to(device_);
  return true;
}

}  // namespace ftl
