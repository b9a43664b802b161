#include "error_text.h"

namespace ftl::cli {

std::string error_text(const Error& error) {
  const std::string message = error.what();
  switch (error.choice()) {
    case Choice::kNone:
      return message;
    case Choice::kResume:
      return "--resume: " + message;
    case Choice::kResumeNeedsOverwrite:
      return "--resume: " + message + "; pass --overwrite to replace them";
    case Choice::kResumeOrOverwrite:
      return message +
             "; resume it with --resume, replace it with --overwrite, or choose another folder";
    case Choice::kOverwriteToChange:
      return message +
             " (start a new run in another output.dir, or pass --overwrite to replace this one)";
    case Choice::kOverride:
      return "--set " + message;
    case Choice::kOverwriteOutput:
      return message + "; pass --overwrite to replace it";
  }
  return message;  // not reached: every choice is worded above (-Wswitch checks it)
}

}  // namespace ftl::cli
