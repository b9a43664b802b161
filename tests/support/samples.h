// Inputs that tests of both tiers build on, as ftl writes them: checkpoint metadata, a finished
// run folder and an evaluation report. None holds a network: the e2e tests add the fixture's.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>

#include "ftl/model/checkpoint.h"

namespace ftl::testing {

/// The metadata of a 3-class checkpoint (cat, dog, emu) of 32px inputs, saved after epoch 2.
ftl::CheckpointMetadata sample_metadata();

/// A finished three-epoch run folder, written as ftl finetune writes one; its classes are
/// those of sample_evaluation.
void write_run(const std::filesystem::path& dir);

/// An evaluation with an almost perfect diagonal: the heat map's darkest colour shows. One
/// class name is markup ("<b>&co").
nlohmann::ordered_json sample_evaluation();

}  // namespace ftl::testing
