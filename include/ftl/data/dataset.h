// Labelled image datasets, in two layouts. An ImageFolder: one subfolder per class, class index =
// position of the folder name in sorted order (as torchvision.datasets.ImageFolder), images
// found recursively inside. A CSV manifest: a header naming the columns `path` and `label`, one
// row per image; paths relative to the manifest's folder or absolute; labels are class names,
// indexed in sorted order as folder names are.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace ftl {

struct Sample {
  std::filesystem::path path;
  std::int64_t label = 0;
};

struct ImageFolder {
  std::filesystem::path root;        // the folder, or the manifest file
  std::vector<std::string> classes;  // sorted class names; index = label
  std::vector<Sample> samples;       // folder: sorted by class, then by path; manifest: its order
  std::int64_t skipped_files = 0;    // folder: hidden files and non-images left out
};

/// True for the file extensions ftl decodes (.jpg, .jpeg, .png, any case).
bool has_image_extension(const std::filesystem::path& path);

/// The image files below `dir`, recursively and sorted: hidden entries skipped, symbolic
/// links followed, each real folder visited once. Throws DataError naming a folder that
/// cannot be listed.
/// `skipped`, when given, is increased by the hidden files and non-images left out.
std::vector<std::filesystem::path> find_images(const std::filesystem::path& dir,
                                               std::int64_t* skipped = nullptr);

/// Scans root; throws DataError naming the path when it is missing, has no class folders,
/// or a class folder holds no image.
ImageFolder scan_image_folder(const std::filesystem::path& root);

/// True for a path that names a CSV manifest (extension .csv, any case).
bool is_manifest(const std::filesystem::path& path);

/// Reads a CSV manifest. Throws DataError naming the manifest (and the line) when it is missing,
/// lacks the path or label column, has an empty field, lists a file that does not exist or one
/// file twice, or lists no image.
ImageFolder read_manifest(const std::filesystem::path& manifest);

/// A dataset from either layout: read_manifest for a .csv file, scan_image_folder otherwise.
ImageFolder scan_dataset(const std::filesystem::path& path);

/// Throws DataError listing the classes found in only one of the two datasets.
void check_same_classes(const ImageFolder& train, const ImageFolder& val);

/// Relabels data to the index order of `classes` (a checkpoint's), so folders are matched by
/// name; throws DataError naming every folder that `classes` does not contain.
void relabel_to(ImageFolder& data, const std::vector<std::string>& classes);

/// Images per class, in class index order.
std::vector<std::int64_t> class_counts(const ImageFolder& data);

/// The largest class count over the smallest: 1 when balanced (or no class), 0 when a class
/// has no image at all.
double imbalance_ratio(const std::vector<std::int64_t>& counts);

/// Identifies a dataset: a hash of its files (relative to the root) and labels, in order.
std::string dataset_fingerprint(const ImageFolder& data);

}  // namespace ftl
