#!/usr/bin/env bash
# Set up a Python environment for heatmap_landmarks.
#
#   bash Testing/setup_env.sh            # runtime: core + CLI (+ slicer-core for MRML outputs)
#   bash Testing/setup_env.sh --test     # plus pytest
#
# Creates (or reuses) ./.venv. torch is installed only
# when it cannot be imported, and then as the CPU build of 2.13.0 from the
# PyTorch CPU index, so that a CPU machine never downloads CUDA wheels and a
# user's own GPU build is kept.
set -euo pipefail
cd "$(dirname "$0")/.."

extras="slicer"
[ "${1:-}" = "--test" ] && extras="test"

base="${PYTHON:-python3}"
"$base" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "heatmap_landmarks needs Python 3.10 or newer")'
[ -x .venv/bin/python ] || "$base" -m venv .venv
py=".venv/bin/python"

pip=("$py" -m pip --disable-pip-version-check)
if ! "$py" -c 'import torch' >/dev/null 2>&1; then
  echo "setup_env: torch not found; installing the CPU build of torch 2.13.0" >&2
  if [ "$(uname -s)" = "Linux" ]; then
    # "+cpu" can only be met by the CPU build (PyTorch's CPU index, or a local
    # wheel pip already knows): PyPI's Linux wheel would pull the CUDA stack.
    "${pip[@]}" install -q --retries 1 --timeout 15 \
      --extra-index-url "${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}" "torch==2.13.0+cpu"
  else
    "${pip[@]}" install -q "torch==2.13.0"  # macOS/Windows wheels on PyPI are CPU builds
  fi
fi

# The constraints pin slicer-core/vtk for CI reproducibility; torch is left
# out of them when a torch is already installed (e.g. a GPU build).
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
grep -v '^torch' Testing/constraints-cpu.txt > "$constraints"
"${pip[@]}" install -q -c "$constraints" -e ".[${extras}]"
"$py" -c 'import heatmap_landmarks, torch; print(f"setup_env: heatmap_landmarks {heatmap_landmarks.__version__}, torch {torch.__version__} ready in", __import__("sys").prefix)'
