#!/usr/bin/env bash
# Installs every Debian package that ftl's build, tests and demo need, and the npm package that
# ftl export's ONNX parity check runs (onnxruntime-node, into scripts/onnx/node_modules).
# Idempotent: it installs only what is missing and says what that is.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  cmake g++ make ccache pkgconf   # build tools (ccache only speeds up rebuilds)
  libtorch-dev                    # LibTorch 1.13 (CPU), find_package(Torch)
  libopenblas0-openmp             # the system libblas.so.3 LibTorch's fp32 matrix products run on:
                                  # without it, the reference BLAS (4 against 198 GFLOP/s here)
  libcli11-dev                    # command-line parsing
  libspdlog-dev                   # logging
  nlohmann-json3-dev              # JSON config, metrics, checkpoint metadata
  catch2                          # unit tests (v2)
  libjpeg62-turbo-dev             # JPEG decoding (libjpeg-turbo)
  libpng-dev                      # PNG decoding
  libzip-dev                      # checks the CRC-32s inside model and checkpoint files
  libcpp-httplib-dev              # ftl serve's HTTP server (and the tests' client)
  libssl-dev                      # SHA-256 of served checkpoints, constant-time token compare
  libgloo-dev                     # Gloo headers for c10d ProcessGroupGloo (distributed training)
  python3-torch python3-torchvision  # exports the ResNet-18 test fixture; Python interop tests
  python3-onnx                    # ftl export --format onnx: torch.onnx.export's output, checked
  dataset-fashion-mnist           # the demo's real images, offline
  chromium                        # renders ftl's HTML reports in a test (headless)
  clang libclang-rt-14-dev        # scripts/check/fuzz.sh: libFuzzer, AddressSanitizer, UBSan
  clang-format                    # .ci/run: every C++ file formatted by .clang-format
  wrk gunicorn python3-flask      # scripts/bench/serve.sh: the load and the Python server
)

missing=()
for package in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

# Node.js runs ONNX Runtime for ftl export. Machines here come with it (and with an npm that
# Debian's nodejs package would conflict with); elsewhere Debian's packages provide both.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then missing+=(nodejs npm); fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages already installed"
else
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# onnxruntime-node carries its CPU library inside the package. Its install script would fetch
# GPU libraries from outside the npm registry, which this machine cannot reach: it is skipped.
if [ ! -f scripts/onnx/node_modules/onnxruntime-node/package.json ]; then
  echo "setup: installing onnxruntime-node into scripts/onnx (npm ci)"
  (cd scripts/onnx && ONNXRUNTIME_NODE_INSTALL=skip npm ci --ignore-scripts --no-audit --no-fund \
    --loglevel=error)
fi
echo "setup: done"
