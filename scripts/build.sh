#!/usr/bin/env bash
# Configures and builds ftl and its tests in build/ (or $FTL_BUILD_DIR). Extra arguments go to
# CMake's configure step, e.g. -DCMAKE_PREFIX_PATH=/opt/libtorch for an official LibTorch.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${FTL_BUILD_DIR:-build}"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFTL_BUILD_TESTS=ON \
  -DFTL_PYTHON="$(scripts/lib/torch_python.sh)" "$@"
cmake --build "$build_dir" -j "$(nproc)"
