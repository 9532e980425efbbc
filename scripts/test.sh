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
python3 -m pytest -q "$@"
