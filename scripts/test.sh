#!/usr/bin/env bash
# The test suite from a fresh machine: install dependencies, configure, build, run ctest.
#   scripts/test.sh             the whole suite, in build/ (or $FTL_BUILD_DIR)
#   scripts/test.sh --unit      the unit tier only (ctest -L unit: no ResNet-18 fixture, no
#                               Python, no ftl executable, seconds per test); it still installs
#                               and builds everything
#   scripts/test.sh --sanitize  the unit tier and the e2e tests of outside input, built with
#                               AddressSanitizer + UBSan in build-sanitize/ (or $FTL_BUILD_DIR);
#                               any finding fails its test (FTL_E2E_SANITIZED in
#                               tests/CMakeLists.txt lists those e2e tests)
# --unit and --sanitize combine: the unit tier of the sanitized build.
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: scripts/test.sh [--unit] [--sanitize]"
sanitize=0
tier=()
for argument in "$@"; do
  case "$argument" in
    --sanitize) sanitize=1 ;;
    --unit) tier=(-L unit) ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done
scripts/setup.sh
if [ "$sanitize" -eq 1 ]; then
  export FTL_BUILD_DIR="${FTL_BUILD_DIR:-build-sanitize}"
  # Leak checking stays on; LibTorch's own leaks, which ftl cannot fix, are listed in the
  # suppressions file with the reason for each.
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:strict_string_checks=1:check_initialization_order=1"
  export LSAN_OPTIONS="suppressions=$PWD/tests/sanitize/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  scripts/build.sh -DFTL_SANITIZE=ON
else
  scripts/build.sh
fi
cd "${FTL_BUILD_DIR:-build}"
ctest --output-on-failure -j "$(nproc)" "${tier[@]}"
