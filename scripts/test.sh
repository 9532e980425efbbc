#!/usr/bin/env bash
# The test command (README, CI): set up, lint, type-check, then the pytest suite (CPU; GPU/TensorRT tests skip).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
python3 -m ruff check yolocls tests scripts
lint-imports --no-cache  # the import contract: pyproject.toml [tool.importlinter]
bash scripts/typecheck.sh
# the native tests under AddressSanitizer + UndefinedBehaviorSanitizer (separate build; fails on any report)
bash scripts/sanitize.sh
# the fast lane first (-m "not slow": unit tests and every error path, ~2 min), then the rest (-m slow: training
# runs, DDP, wheel/C++ package/TensorRT module builds, fuzzing, big models); together they are the whole suite
lane() { python3 -m pytest -q "$@" || [ $? -eq 5 ]; }  # 5: the arguments selected nothing in this lane
lane -m "not slow" "$@"
lane -m slow "$@"
