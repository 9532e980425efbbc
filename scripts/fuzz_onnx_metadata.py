#!/usr/bin/env python3
"""Structure-aware fuzzing of the ONNX metadata and graph-interface readers.

Each case is a small real classifier graph (GlobalAveragePool -> Flatten -> Gemm, built with ``onnx.helper``)
whose metadata JSON (types, depth, magnitudes, unicode), YOLOv5 ``names`` entry, graph interface (dims, element
types, ranks, names) or raw protobuf bytes (truncation, flipped bytes) are mutated. A worker subprocess under a
memory cap (RLIMIT_AS, default 1.5 GiB) runs ``yolocls info --weights`` and ``runtime.load(...).predict`` with
ONNX Runtime and, when built, OpenVINO on each file. A case passes when every step ends in a valid load or a clean
one-line error (exit 2 / a YoloclsError) within the time limit; a traceback, another exception type, a crash, a
signal or the memory cap is a finding. A dead worker is restarted and its case reported.

    python scripts/fuzz_onnx_metadata.py --cases 2000 [--seed 1] [--mem-gb 1.5] [--keep DIR]

tests/test_onnx_metadata_fuzz.py runs a CI-sized batch of the same cases.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

NAMES = ["cat", "dog", "bird"]
IMGSZ = 32
CASE_SECONDS = 10.0  # per case, all steps together

# ---------------------------------------------------------------------------------------------- case generation

_HOSTILE_VALUES: list[Any] = [
    [], {}, "16", 16.7, -1, 0, 1, 2**31, 2**63, 10**30, None, True, False, "x" * 5000, [[16]], [16, 17],
    [16, 16, 16], ["a"], {"0": 1}, "\ud800", -0.0, 1e-300, [None], "😀" * 300, 4096, 4097, 16384,
]
_RAW_LITERALS = ["1e400", "-1e400", "NaN", "Infinity", "-Infinity", "1" * 5000, "0x10", "1e20", "-0", "1E+2"]
_FIELDS = ["names", "imgsz", "stride", "batch", "dynamic", "half", "task", "model", "input_name", "output_name",
           "preprocess", "preprocess.crop", "preprocess.mean", "preprocess.std", "preprocess.scale",
           "preprocess.pad_value", "preprocess.channel_order", "schema", "created"]
_NAMES_VARIANTS: list[Any] = [
    "cat", [["cat"]], [1, 2, 3], {"x": "a"}, {"-1": "a"}, {"99999999999999999999": "a"}, {"0": "a", "00": "b"},
    {"1e3": "a"}, {" 1": "a"}, {"0": ["a"]}, ["a" * 2000], ["\ud800"], ["ok"] * 100_001, {}, [], [""],
    {"0": "a", "1": "b", "2": "c"}, {"2": "c", "0": "a", "1": "b"}, ["a", "b"], ["a", "b", "c", "d"],
]
_ELEM_TYPES = [1, 1, 1, 10, 11, 2, 3, 6, 7, 8, 9, 0, 16, 999]
_YOLOV5_NAMES = ["{0: 'cat', 1: 'dog', 2: 'bird'}", "['cat', 'dog', 'bird']", "{0: 'cat'", "cat", "{0: [1]}",
                 "{0: 'a', 0: 'b', 1: 'c'}", "[" * 100000, "{" + ", ".join(f"{i}: 'n{i}'" for i in range(3)) + "}",
                 "{0: '\\ud800', 1: 'b', 2: 'c'}", "__import__('os').system('true')", "{0: 'a' * 10**9}"]


def _metadata(imgsz: int = IMGSZ) -> dict[str, Any]:
    return {"schema": 1, "task": "classify", "model": "fuzz", "names": list(NAMES), "imgsz": [imgsz, imgsz],
            "preprocess": {"crop": "center", "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                           "scale": 1 / 255, "channel_order": "RGB", "pad_value": 114},
            "stride": 32, "input_name": "images", "output_name": "output0", "dynamic": True, "batch": 1,
            "half": False, "yolocls_version": "fuzz", "created": ""}


def _set(d: dict[str, Any], field: str, value: Any) -> None:
    if field.startswith("preprocess.") and isinstance(d.get("preprocess"), dict):
        d["preprocess"][field.split(".", 1)[1]] = value
    else:
        d[field] = value


def _json_text(rng: random.Random) -> tuple[str, str]:
    """(a mutated metadata JSON text, what was done)."""
    d = _metadata()
    kind = rng.randrange(7)
    if kind == 0:
        f, v = rng.choice(_FIELDS), rng.choice(_HOSTILE_VALUES)
        _set(d, f, v)
        return json.dumps(d), f"{f}={str(v)[:30]!r}"
    if kind == 1:  # a literal json.dumps would not write
        f, lit = rng.choice(_FIELDS), rng.choice(_RAW_LITERALS)
        _set(d, f, "@@RAW@@")
        return json.dumps(d).replace('"@@RAW@@"', lit), f"{f}={lit[:20]}"
    if kind == 2:
        v = rng.choice(_NAMES_VARIANTS)
        d["names"] = v
        return json.dumps(d), f"names={str(v)[:30]}"
    if kind == 3:  # nesting
        k = rng.choice([10, 63, 64, 65, 200, 1000, 100_000])
        f = rng.choice(["names", "imgsz", "extra", "preprocess"])
        _set(d, f, "@@RAW@@")
        return json.dumps(d).replace('"@@RAW@@"', "[" * k + "]" * k), f"{f} nested {k}"
    if kind == 4:  # raw text corruption
        text = json.dumps(d, ensure_ascii=rng.random() < 0.5).encode()
        how = rng.randrange(4)
        if how == 0:
            text = text[: rng.randrange(len(text))]
        elif how == 1:
            i = rng.randrange(len(text))
            text = text[:i] + bytes([rng.randrange(256)]) + text[i + 1:]
        elif how == 2:
            text = text.replace(b'"cat"', b'"\xff\xfe"')
        else:
            text = text.replace(b'"cat"', b'"\\udc00"')
        return text.decode("utf-8", "surrogateescape"), f"raw corruption {how}"
    if kind == 5:  # magnitudes that must be bounded
        side = rng.choice([1, 7, 8, 33, 4096, 4097, 16384, 2**31, -32])
        d["imgsz"] = rng.choice([side, [side, side], [side]])
        return json.dumps(d), f"imgsz {side}"
    big = rng.choice([10, 1000, 100_001])
    d["names"] = [f"c{i}" for i in range(big)]
    return json.dumps(d), f"{big} names"


def make_case(rng: random.Random, idx: int) -> dict[str, Any]:
    """One case: how to build its ONNX file (a dict of plain values, so it is printable and reproducible)."""
    case: dict[str, Any] = {"idx": idx, "what": [], "props": {}, "in_dims": ["batch", 3, IMGSZ, IMGSZ],
                            "in_type": 1, "out_dims": ["batch", len(NAMES)], "in_name": "images",
                            "out_name": "output0", "bytes": None}
    text = json.dumps(_metadata())
    r = rng.random()
    if r < 0.45:
        text, what = _json_text(rng)
        case["what"].append(what)
    case["props"]["yolocls"] = text
    if rng.random() < 0.15:
        del case["props"]["yolocls"]
        case["props"]["names"] = rng.choice(_YOLOV5_NAMES)
        case["what"].append(f"yolov5 names {case['props']['names'][:30]!r}")
    if 0.45 <= r < 0.8:  # the graph interface
        m = rng.randrange(6)
        if m == 0:
            side = rng.choice([16, 31, 33, 64, 4096, 16384, -1, 0, 2**40, "h"])
            case["in_dims"] = ["batch", 3, side, rng.choice([side, side, IMGSZ, "w"])]
        elif m == 1:
            case["in_dims"] = rng.choice([["batch", 3, IMGSZ], ["batch", 3, IMGSZ, IMGSZ, 1], [], ["batch"],
                                          ["batch", 1, IMGSZ, IMGSZ], ["batch", 4, IMGSZ, IMGSZ], None,
                                          ["batch", "c", "h", "w"], [None, 3, None, None]])
        elif m == 2:
            case["in_type"] = rng.choice(_ELEM_TYPES)
        elif m == 3:
            case["out_dims"] = rng.choice([["batch", 3, 1, 1], ["batch"], [], None, ["batch", 5], ["batch", 2**40],
                                           ["batch", "classes"], ["batch", 0]])
        elif m == 4:
            case["in_name"] = rng.choice(["", "x" * 5000, "图像", "images\x00", "initializer:W"])
        else:
            case["out_name"] = rng.choice(["", "y" * 5000, "logits"])
        case["what"].append(f"graph {m}: in {case['in_dims']} {case['in_type']} out {case['out_dims']} "
                            f"{case['in_name'][:10]!r}/{case['out_name'][:10]!r}")
    if r >= 0.8:  # the protobuf bytes
        case["bytes"] = (rng.choice(["truncate", "flip", "flip", "append"]), rng.random(), rng.randrange(256))
        case["what"].append(f"bytes {case['bytes'][0]}")
    return case


def build_case(case: dict[str, Any], path: Path) -> Path:
    """Write the case's ONNX file (onnx.helper; no checker: the point is files a checker would refuse)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper

    rng = np.random.default_rng(case["idx"])
    w = rng.standard_normal((len(NAMES), 3)).astype(np.float32)
    b = rng.standard_normal(len(NAMES)).astype(np.float32)
    in_name, out_name = case["in_name"], case["out_name"]
    if in_name == "initializer:W":
        in_name = "W"  # an input that is also an initializer: not the image input
    inp = helper.make_tensor_value_info(in_name, case["in_type"], case["in_dims"])
    out = helper.make_tensor_value_info(out_name, TensorProto.FLOAT, case["out_dims"])
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", [in_name], ["gap"]),
         helper.make_node("Flatten", ["gap"], ["flat"], axis=1),
         helper.make_node("Gemm", ["flat", "W", "B"], [out_name], transB=1)],
        "fuzz", [inp], [out],
        [helper.make_tensor("W", TensorProto.FLOAT, w.shape, w.ravel()), helper.make_tensor("B", TensorProto.FLOAT,
                                                                                               b.shape, b)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for k, v in case["props"].items():
        model.metadata_props.add(key=k, value=v.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
    data = model.SerializeToString()
    if case["bytes"] is not None:
        how, frac, byte = case["bytes"]
        i = int(frac * len(data))
        if how == "truncate":
            data = data[:i]
        elif how == "flip":
            data = data[:i] + bytes([byte]) + data[i + 1:]
        else:
            data = data + bytes([byte]) * 7
    path.write_bytes(data)
    _ = onnx  # imported for helper
    return path


# ---------------------------------------------------------------------------------------------- the worker

_WORKER = r"""
import json, os, resource, sys, time, traceback
cap = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
proto = os.fdopen(os.dup(1), "w")  # the protocol channel; native libraries' prints go to the log instead
os.dup2(2, 1)
import numpy as np
from typer.testing import CliRunner
from yolocls.cli.app import app
from yolocls.errors import YoloclsError
from yolocls import runtime
backends = [b for b in ("onnxruntime", "openvino") if b in runtime.available_backends()]
frame = np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)
runner = CliRunner()
print(json.dumps({"ready": backends}), file=proto, flush=True)
for line in sys.stdin:
    path = line.strip()
    t0 = time.perf_counter()
    steps = {}
    r = runner.invoke(app, ["info", "--weights", path, "--json"])
    err = r.stderr.strip() if r.stderr_bytes is not None else ""
    if r.exit_code == 0:
        steps["info"] = "ok"
    elif r.exit_code == 2 and err.startswith("yolocls: error:") and "\n" not in err and r.exception is not None \
            and isinstance(r.exception, SystemExit):
        steps["info"] = "error"
    else:
        exc = r.exception
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-1500:] if exc else ""
        steps["info"] = f"BAD exit {r.exit_code}: {err[-300:]!r} {tb}"
    for b in backends:
        try:
            with runtime.load(path, backend=b) as be:
                be.predict(frame)
            steps[b] = "ok"
        except YoloclsError as e:
            s = str(e)
            steps[b] = "error" if s and "\n" not in s else f"BAD multi-line message {s[:300]!r}"
        except FileNotFoundError:
            steps[b] = "error"
        except BaseException as e:
            steps[b] = "BAD " + "".join(traceback.format_exception(type(e), e, e.__traceback__))[-1500:]
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # peak of this worker so far
    print(json.dumps({"steps": steps, "seconds": time.perf_counter() - t0, "rss_mb": rss_mb}), file=proto, flush=True)
"""


class Worker:
    """A persistent worker process under RLIMIT_AS; restarted when it dies."""

    def __init__(self, mem_bytes: int, log: Path) -> None:
        self.mem_bytes = mem_bytes
        self.log = log
        self.proc: subprocess.Popen[str] | None = None
        self.backends: list[str] = []

    def start(self) -> None:
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
        with open(self.log, "ab") as log:  # a file, not a pipe nobody drains
            self.proc = subprocess.Popen([sys.executable, "-c", _WORKER, str(self.mem_bytes)], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=log, text=True, env=env)
        line = self._readline(120.0)
        if line is None:
            raise RuntimeError(f"the fuzz worker did not start: {self._log_tail()}")
        self.backends = json.loads(line)["ready"]

    def _readline(self, timeout: float) -> str | None:
        assert self.proc is not None and self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return None
        line = self.proc.stdout.readline()
        return line or None

    def _close_pipes(self) -> None:
        """Close a finished worker's pipes (a dead or killed worker's, before the next one starts)."""
        if self.proc is not None:
            for f in (self.proc.stdin, self.proc.stdout):
                if f is not None:
                    try:
                        f.close()
                    except OSError:  # a pipe whose reader died
                        pass

    def run(self, path: Path, timeout: float) -> dict[str, Any]:
        if self.proc is None or self.proc.poll() is not None:
            self._close_pipes()
            self.start()
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(f"{path}\n")
        self.proc.stdin.flush()
        line = self._readline(timeout)
        if line is None:
            self.proc.kill()
            self.proc.wait()
            rc = self.proc.returncode
            err = self._log_tail()
            self._close_pipes()
            self.proc = None
            return {"steps": {"worker": f"BAD timeout or death (rc {rc}): {err}"}, "seconds": timeout}
        return json.loads(line)

    def _log_tail(self) -> str:
        try:
            return self.log.read_bytes()[-1500:].decode("utf-8", "replace")
        except OSError:
            return ""

    def close(self) -> None:
        if self.proc is not None:
            self._close_pipes()  # EOF on stdin ends a live worker
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


def run_cases(n: int, seed: int, mem_gb: float = 1.5, keep: Path | None = None,
              case_seconds: float = CASE_SECONDS, log: Any = None) -> dict[str, Any]:
    """Run ``n`` cases; returns counts per outcome and the failing cases (with how to rebuild them)."""
    rng = random.Random(seed)
    counts: dict[str, int] = {}
    failures: list[dict[str, Any]] = []
    slowest = peak_rss = 0.0
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="yolocls-fuzz-") as tmp:
        folder = keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        worker = Worker(int(mem_gb * 2**30), Path(tmp) / "worker.log")
        try:
            for i in range(n):
                case = make_case(rng, i)
                path = build_case(case, folder / f"case{i:05d}.onnx")
                res = worker.run(path, case_seconds + 30)  # the worker's own limit is checked below
                slowest = max(slowest, res["seconds"])
                peak_rss = max(peak_rss, res.get("rss_mb", 0.0))
                bad = [f"{k}: {v}" for k, v in res["steps"].items() if v.startswith("BAD")]
                if res["seconds"] > case_seconds:
                    bad.append(f"took {res['seconds']:.1f} s")
                for k, v in res["steps"].items():
                    key = f"{k}:{'BAD' if v.startswith('BAD') else v}"
                    counts[key] = counts.get(key, 0) + 1
                if bad:
                    failures.append({"idx": i, "what": case["what"], "bad": bad, "file": str(path)})
                    if log:
                        print(f"case {i} {case['what']}: {bad}", file=log, flush=True)
                elif keep is None:
                    path.unlink()
        finally:
            worker.close()
    return {"cases": n, "seed": seed, "counts": counts, "failures": failures, "slowest_s": round(slowest, 3),
            "peak_worker_rss_mb": round(peak_rss), "mem_cap_gb": mem_gb,
            "seconds": round(time.perf_counter() - t_all, 1), "backends": worker.backends}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--mem-gb", type=float, default=1.5)
    ap.add_argument("--keep", type=Path, default=None, help="keep every case file in this folder")
    args = ap.parse_args()
    out = run_cases(args.cases, args.seed, args.mem_gb, args.keep, log=sys.stderr)
    print(json.dumps({k: v for k, v in out.items() if k != "failures"}, indent=1))
    for f in out["failures"][:20]:
        print(json.dumps(f)[:2000])
    return 1 if out["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
