#!/usr/bin/env bash
# Prints the path of a Python that imports torch and torchvision: $FTL_PYTHON when set, else
# Debian's /usr/bin/python3 (python3-torch imports only there), else python3 on PATH.
for candidate in "${FTL_PYTHON:-}" /usr/bin/python3 python3; do
  [ -n "$candidate" ] || continue
  if "$candidate" -c "import torch, torchvision" >/dev/null 2>&1; then
    command -v "$candidate"
    exit 0
  fi
done
echo "no Python with torch and torchvision found: run scripts/setup.sh or set FTL_PYTHON" >&2
exit 1
