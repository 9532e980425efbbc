#!/usr/bin/env bash
# (a) the committed type stub of the extension, yolocls/_C.pyi, is what the built module generates
#     (scripts/gen_stubs.sh; skipped with a note where the extension is not built), and
# (b) mypy over the yolocls package: every use of yolocls._C is checked against that stub, and TensorRT's API
#     against tensorrt-stubs (dev extra).
#
# TensorRT cannot be installed without an NVIDIA GPU, so the stubs are what keeps the TensorRT code honest on
# CPU machines. tensorrt-stubs 10.13 installs its .pyi files into site-packages/tensorrt/ without a py.typed
# marker (mypy ignores them there) and a few of its signatures are not valid Python (a parameter named `in`,
# a required parameter after defaulted ones). So this script copies the stubs into a temporary folder, makes
# those lines parse (renames/defaults only; no signature is changed otherwise) and points MYPYPATH at it.
set -euo pipefail
cd "$(dirname "$0")/.."
# (a) The stub is up to date.
if PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" python -c "from yolocls import _C" 2>/dev/null; then
    FRESH="$(mktemp)"
    bash scripts/gen_stubs.sh "$FRESH"
    if ! diff -q yolocls/_C.pyi "$FRESH" >/dev/null; then
        rm -f "$FRESH"
        echo "typecheck: yolocls/_C.pyi is out of date with the built extension; run bash scripts/gen_stubs.sh and commit it" >&2
        exit 1
    fi
    rm -f "$FRESH"
else
    echo "typecheck: yolocls._C is not built here; the committed yolocls/_C.pyi is used as it is"
fi
# --no-deps: tensorrt-stubs declares a dependency on the real `tensorrt` wheels (GBs, and their sdists fetch from
# NVIDIA's index at install time, which fails without that index). The stubs need nothing to be read by mypy.
if ! python -c "from importlib import metadata; metadata.distribution('tensorrt-stubs')" 2>/dev/null; then
    python -m pip install --quiet --no-deps tensorrt-stubs
fi
STUBS="$(mktemp -d)"
trap 'rm -rf "$STUBS"' EXIT
python - "$STUBS" <<'PY'
import re
import shutil
import sys
from importlib import metadata
from pathlib import Path

out = Path(sys.argv[1])
try:
    dist = metadata.distribution("tensorrt-stubs")
except metadata.PackageNotFoundError:
    sys.exit("typecheck: tensorrt-stubs missing; install it with: pip install --no-deps tensorrt-stubs")
for f in dist.files or []:
    if f.suffix == ".pyi":
        src = Path(dist.locate_file(f))
        dst = out / f
        dst.parent.mkdir(parents=True, exist_ok=True)
        text = src.read_text(encoding="utf-8")
        text = re.sub(r"\bin: ", "in_: ", text)  # `in` is a keyword: not a valid parameter name
        # a required parameter after defaulted ones (add_scale_nd's channel_axis): give it a default
        text = re.sub(r"(= None, channel_axis: int)\)", r"\1 = ...)", text)
        text = text.replace("import tensorrt_libs as tensorrt_libs\n", "")
        dst.write_text(text, encoding="utf-8")
PY
# The project's [tool.mypy] settings plus: the stubs' own remaining flaws are not ours to report.
cat > "$STUBS/mypy.ini" <<INI
[mypy]
python_version = 3.11
ignore_missing_imports = True
follow_imports = silent
mypy_path = $STUBS

[mypy-tensorrt.*,tensorrt_bindings.*]
ignore_errors = True
INI
python -m mypy --config-file "$STUBS/mypy.ini" yolocls "$@"
