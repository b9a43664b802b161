// The one place that words the core's errors for the command line. The core says what is
// wrong in its own terms and tags the choice the error is about (ftl::Choice); this adds what
// to type for that choice, so that users read the flags they know.
#pragma once

#include <string>

#include "ftl/util/errors.h"

namespace ftl::cli {

/// The text main prints for `error`: its message, with the flags of its choice.
std::string error_text(const Error& error);

}  // namespace ftl::cli
