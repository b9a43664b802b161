#!/usr/bin/env bash
# The test suite from a fresh machine: install dependencies, configure, build, run ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
cd "${FTL_BUILD_DIR:-build}"
ctest --output-on-failure -j "$(nproc)"
