"""Benchmark reports: the machine description, latency statistics, text/markdown tables, JSON and the plot.

Everything here works on plain dicts (the JSON form of a report) so a saved ``--json`` file can be re-rendered
or plotted later on another machine without re-running anything.

Report JSON (``schema: yolocls.benchmark/1``)::

    {"schema", "created", "settings": {...}, "machine": {...},
     "rows": [{"model", "base", "backend", "precision": "fp32"|"fp16"|"bf16"|"int8", "device", "batch", "imgsz",
               "params_m", "gflops", "gflops_true", "status": "ok"|"skipped"|"failed", "reason", "runs", "warmup",
               "budget_hit", "vs_fp32": null | {"top1_agreement", "images", "fp32_classes", "reference",
                                               "images_from", "speedup_e2e"},
               "stages": {"preprocess"|"inference"|"postprocess"|"end_to_end":
                          {"median_ms", "p90_ms", "p99_ms", "mean_ms", "min_ms"}},
               "images_per_s", "published": {...}}]}
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from yolocls._extras import installed_version
from yolocls.errors import InputError

SCHEMA = "yolocls.benchmark/1"
STAGES = ("preprocess", "inference", "postprocess", "end_to_end")
NOT_AVAILABLE = "not available here"


# ----------------------------------------------------------------------------------------------- statistics
def latency_stats(samples_ms: Sequence[float]) -> dict[str, float]:
    """Median, p90, p99, mean and min of latencies in milliseconds (``nan`` for no samples)."""
    a = np.asarray(list(samples_ms), dtype=np.float64)
    if a.size == 0:
        return {k: float("nan") for k in ("median_ms", "p90_ms", "p99_ms", "mean_ms", "min_ms")}
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    return {"median_ms": float(p50), "p90_ms": float(p90), "p99_ms": float(p99), "mean_ms": float(a.mean()),
            "min_ms": float(a.min())}


def images_per_second(median_ms: float, batch: int) -> float:
    """Throughput of a pipeline that takes ``median_ms`` per batch of ``batch`` images."""
    return float(batch * 1e3 / median_ms) if median_ms and np.isfinite(median_ms) and median_ms > 0 else float("nan")


# ----------------------------------------------------------------------------------------------- machine
def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), for benchmark reports."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_flags() -> list[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return sorted(f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile")
                                  if f in flags)
    except OSError:
        pass
    return []


def _memory_gib() -> float | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _gpus() -> list[str]:
    """GPU names: torch's when the torch rows already imported it, else the CUDA binding's (device 0)."""
    try:
        if "torch" in sys.modules:
            import torch

            if torch.cuda.is_available():
                return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
            return []
        from yolocls.runtime.tensorrt_python import select_cuda_api

        cuda = select_cuda_api()
        try:
            return [cuda.device_facts()[0]]
        finally:
            cuda.close()
    except Exception:  # noqa: BLE001 - a broken or absent CUDA install means "no GPU" for the report
        return []


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on: CPU model, cores, ISA flags, memory, GPUs, load and library versions."""
    from yolocls import __version__, _native

    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = os.cpu_count() or 1
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    ext: Any = _native.build_info() if _native.available() else False
    return {
        "cpu": cpu_model(),
        "cpu_flags": _cpu_flags(),
        "logical_cores": os.cpu_count(),
        "usable_cores": affinity,
        "memory_gib": _memory_gib(),
        "load_average": load,  # 1/5/15 min; > usable_cores means the timings are contended
        "gpus": _gpus(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": {"yolocls": __version__,
                     **{m: installed_version(m) for m in ("numpy", "torch", "onnxruntime", "openvino", "cv2",
                                                          "tensorrt")}},
        "extension": ext,
    }


def describe_machine(machine: dict[str, Any]) -> str:
    """One line describing ``machine_info()`` output, for table footers and logs."""
    v = machine.get("versions", {})
    libs = ", ".join(f"{k} {val}" for k, val in v.items() if val)
    gpus = ", ".join(machine.get("gpus") or []) or "no GPU"
    flags = "/".join(machine.get("cpu_flags") or [])
    load = machine.get("load_average")
    load_s = f", load {load[0]:.1f}" if load else ""
    return (f"{machine.get('cpu')} ({machine.get('usable_cores')} cores{', ' + flags if flags else ''}{load_s}), "
            f"{gpus}; {libs}")


# ----------------------------------------------------------------------------------------------- report dicts
def new_report(settings: dict[str, Any], rows: Iterable[dict[str, Any]], machine: dict[str, Any] | None = None
               ) -> dict[str, Any]:
    """A report dict (the JSON form) from settings and rows."""
    return {"schema": SCHEMA, "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "settings": dict(settings), "machine": machine if machine is not None else machine_info(),
            "rows": list(rows)}


def save_json(report: dict[str, Any], path: str | Path) -> Path:
    """Write a report as indented JSON (atomically; NaN becomes null)."""
    from yolocls.utils.files import atomic_write_text

    path = Path(path)
    text = json.dumps(_nan_to_none(report), indent=2, default=str)
    atomic_write_text(path, text + "\n")
    return path


def load_json(path: str | Path) -> dict[str, Any]:
    """Read a report written by :func:`save_json`; raises InputError when it is not one."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path} is not a readable benchmark JSON ({type(e).__name__}); re-run with --json") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or not isinstance(data.get("rows"), list):
        raise InputError(f"{path} is not a yolocls benchmark report (schema {SCHEMA}); re-run with --json")
    return data


def to_jsonable(report: dict[str, Any]) -> dict[str, Any]:
    """The report as :func:`save_json` writes it (NaN as None), for printing."""
    return dict(_nan_to_none(report))


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_nan_to_none(v) for v in obj]
    return obj


# ----------------------------------------------------------------------------------------------- tables
def _ms(stage: dict[str, Any] | None, key: str = "median_ms") -> str:
    v = (stage or {}).get(key)
    if v is None or not np.isfinite(v):
        return "-"
    return f"{v:.2f}" if v < 100 else f"{v:.1f}"


def _num(v: Any, fmt: str = "{:.1f}") -> str:
    return "-" if v is None or (isinstance(v, float) and not np.isfinite(v)) else fmt.format(v)


def _col_name(backend: str, device: str, precision: str = "fp32") -> str:
    kind = "CPU" if str(device).lower() == "cpu" else "GPU"
    return f"{kind} {backend}{'' if precision == 'fp32' else ' ' + precision} ms"


def _col(r: dict[str, Any]) -> str:
    return _col_name(r["backend"], r.get("device", "cpu"), r.get("precision", "fp32"))


def vs_fp32_cell(r: dict[str, Any]) -> str:
    """'top-1 97% of 32, 1.84x' for a reduced-precision row compared with its fp32 model ('' otherwise)."""
    v = r.get("vs_fp32") or {}
    if not v:
        return ""
    sp = v.get("speedup_e2e")
    n = v.get("fp32_classes")
    classes = f" ({n} class{'' if n == 1 else 'es'})" if n else ""  # 1 class: the images tell nothing apart
    return f"top-1 {v['top1_agreement']:.0%} of {v['images']}{classes}" + (f", {sp:.2f}x" if sp else "")


def _row_cell(row: dict[str, Any]) -> str:
    if row.get("status") == "ok":
        return _ms(row.get("stages", {}).get("inference"))
    if row.get("status") == "skipped":
        return NOT_AVAILABLE if str(row.get("reason") or "").startswith(NOT_AVAILABLE) else "skipped"
    return "failed"


def summary_table(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The published-table shape: one line per (model, batch), one column per backend (median inference ms).

    Columns: model, size (px), batch, params (M), FLOPs at the run's size (B, YOLOv5's count: ``FLOPs@<size> B``,
    the published column's definition at 224), true GFLOPs at ``size``,
    ``<CPU|GPU> <backend> ms`` per backend in the report, and the published YOLOv5 README numbers
    (CPU ONNX ms, V100 TensorRT ms) for reference.
    """
    rows = report["rows"]
    cols: list[str] = []
    for r in rows:
        c = _col(r)
        if c not in cols:
            cols.append(c)
    keys: list[tuple[str, int]] = []  # one line per model and batch: an INT8/FP16 file beside its FP32 one
    for r in rows:
        k = (r.get("base") or r["model"], int(r["batch"]))
        if k not in keys:
            keys.append(k)
    headers = ["model", "size", "batch", "params M", f"FLOPs@{_size_label(report)} B", "GFLOPs true", *cols,
               "pub. CPU ONNX ms", "pub. V100 TRT ms"]
    out = []
    for model, batch in keys:
        group = [r for r in rows if (r.get("base") or r["model"]) == model and int(r["batch"]) == batch]
        first = group[0]
        cells = {_col(r): _row_cell(r) for r in group}
        pub = first.get("published") or {}
        out.append([model, str(first.get("imgsz", "")), str(batch), _num(first.get("params_m"), "{:.2f}"),
                    _num(first.get("gflops"), "{:.2f}"), _num(first.get("gflops_true"), "{:.2f}"),
                    *[cells.get(c, "-") for c in cols],
                    _num(pub.get("cpu_onnx_ms")), _num(pub.get("v100_trt_ms"))])
    return headers, out


def _size_label(report: dict[str, Any]) -> str:
    """The image size the report's FLOPs are at: one number, or 'size' when its rows differ."""
    sizes = {str(r.get("imgsz")) for r in report.get("rows", []) if r.get("imgsz")}
    if len(sizes) == 1:
        return sizes.pop()
    return str(report.get("settings", {}).get("imgsz") or "size") if not sizes else "size"


def stage_table(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Per (model, backend, batch): median of each stage, p90/p99 of end to end, images/s, runs (or the reason)."""
    reduced = any(r.get("precision", "fp32") != "fp32" for r in report["rows"])
    headers = ["model", "backend", "prec", "device", "batch", "pre ms", "infer ms", "infer p90", "post ms", "e2e ms",
               "e2e p90", "e2e p99", "img/s", "runs", *(["vs fp32"] if reduced else [])]
    out = []
    for r in report["rows"]:
        head = [r["model"], r["backend"], r.get("precision", "fp32"), str(r.get("device", "cpu")), str(r["batch"])]
        if r.get("status") != "ok":
            why = r.get("reason") or r.get("status", "")
            out.append([*head, f"{r.get('status')}: {why}"] + [""] * (len(headers) - len(head) - 1))
            continue
        st = r.get("stages", {})
        out.append([*head, _ms(st.get("preprocess")), _ms(st.get("inference")), _ms(st.get("inference"), "p90_ms"),
                    _ms(st.get("postprocess")), _ms(st.get("end_to_end")), _ms(st.get("end_to_end"), "p90_ms"),
                    _ms(st.get("end_to_end"), "p99_ms"), _num(r.get("images_per_s")),
                    f"{r.get('runs')}{'*' if r.get('budget_hit') else ''}",
                    *([vs_fp32_cell(r) or "-"] if reduced else [])])
    return headers, out


def format_text(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Fixed-width text table; a row with fewer filled cells (a reason) spills over the empty ones."""
    widths = [len(h) for h in headers]
    for r in rows:
        if any(c == "" for c in r[1:]):  # reason rows do not widen the columns
            continue
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c))
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    for r in rows:
        filled = [c for c in r if c != ""]
        if len(filled) < len(r):
            lines.append("  ".join(c.ljust(w) for c, w in zip(filled[:-1], widths, strict=False)) + "  " + filled[-1])
        else:
            lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines)


def format_markdown(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """GitHub markdown table (pipes in cells escaped)."""
    def esc(c: str) -> str:
        return c.replace("|", "\\|")

    lines = ["| " + " | ".join(esc(h) for h in headers) + " |",
             "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _notes(report: dict[str, Any]) -> list[str]:
    s = report.get("settings", {})
    notes = [f"Machine: {describe_machine(report.get('machine', {}))}",
             f"Settings: imgsz {s.get('imgsz')}, frame {s.get('frame')}, runs <= {s.get('runs')}, warmup "
             f"{s.get('warmup')}, time budget {s.get('time_budget_s')} s per row, threads {s.get('threads')}, "
             f"device {s.get('device')}.",
             f"Backend columns: median inference ms per batch. FLOPs@{_size_label(report)} B: YOLOv5's count (2 x "
             "thop MACs of the fused model at 32 px, scaled to the size; the published FLOPs@224 at 224); GFLOPs "
             "true: 2 x Conv+Linear MACs at the given size. "
             "e2e: uint8 BGR frame -> top-5. runs*: stopped by the time budget."]
    vs = next((r["vs_fp32"] for r in report["rows"] if r.get("vs_fp32")), None)
    if vs:
        notes.append(f"vs fp32: top-1 agreement of a reduced-precision row with its fp32 model ({vs['images_from']}) "
                     "and its end-to-end speed-up over the fp32 row of the same backend and batch.")
    skipped = sorted({(r["backend"] + ("" if r.get("precision", "fp32") == "fp32" else " " + r["precision"]),
                       r.get("reason") or "") for r in report["rows"] if r.get("status") == "skipped"})
    notes += [f"Skipped {b}: {why}" for b, why in skipped]
    return notes


def render_text(report: dict[str, Any]) -> str:
    """Both tables and the notes as plain text (what the CLI prints)."""
    parts = [format_text(*summary_table(report)), "", format_text(*stage_table(report)), ""]
    return "\n".join(parts + _notes(report))


def render_markdown(report: dict[str, Any]) -> str:
    """Both tables and the notes as markdown."""
    parts = ["## Latency (median inference ms)", "", format_markdown(*summary_table(report)), "",
             "## Stages", "", format_markdown(*stage_table(report)), "", "## Notes", ""]
    return "\n".join(parts + [f"- {n}" for n in _notes(report)]) + "\n"


# ----------------------------------------------------------------------------------------------- plot
def plot_latency(report: dict[str, Any], path: str | Path, x: str = "params_m", stage: str = "inference",
                 batch: int | None = None) -> Path:
    """PNG of latency vs model size: one series per (backend, device), log-log, points labelled by model.

    Args:
        x: ``params_m`` (millions of parameters) or ``gflops_true``.
        stage: which stage's median to plot (``inference`` or ``end_to_end``).
        batch: which batch size (default: the smallest in the report). The published YOLOv5 CPU ONNX
            numbers are drawn as grey crosses for reference.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if x not in ("params_m", "gflops_true", "gflops"):
        raise InputError(f"x must be params_m, gflops or gflops_true, got {x!r}")
    if stage not in STAGES:
        raise InputError(f"stage must be one of {', '.join(STAGES)}, got {stage!r}")
    ok = [r for r in report["rows"] if r.get("status") == "ok" and r.get(x)]
    if not ok:
        raise InputError("the report has no measured rows to plot")
    b = batch if batch is not None else min(int(r["batch"]) for r in ok)
    ok = [r for r in ok if int(r["batch"]) == b]
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    series: dict[str, list[tuple[float, float, str]]] = {}
    for r in ok:
        med = r["stages"].get(stage, {}).get("median_ms")
        if med:
            prec = "" if r.get("precision", "fp32") == "fp32" else " " + r["precision"]
            series.setdefault(f"{r['backend']}{prec} ({r.get('device', 'cpu')})", []).append((r[x], med, r["model"]))
    for label, pts in series.items():
        pts.sort()
        # markers only: the models are different families, a line between them would suggest a trend
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ls="none", label=label)
    labelled: dict[str, tuple[float, float]] = {}
    for pts in series.values():
        for px, py, name in pts:
            labelled.setdefault(name, (px, py))
            labelled[name] = (px, min(py, labelled[name][1]))
    for name, (px, py) in labelled.items():
        ax.annotate(name, (px, py), textcoords="offset points", xytext=(3, -10), fontsize=7)
    pub = sorted({(r[x], r["published"]["cpu_onnx_ms"]) for r in ok
                  if (r.get("published") or {}).get("cpu_onnx_ms") and b == 1})
    if pub:
        ax.plot([p[0] for p in pub], [p[1] for p in pub], ls="none", color="grey", marker="x",
                label="published YOLOv5 CPU ONNX")
    ax.set_xscale("log")
    ax.set_yscale("log")
    from matplotlib.ticker import ScalarFormatter

    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(ScalarFormatter())
        axis.set_minor_formatter(ScalarFormatter())
    ax.tick_params(which="minor", labelsize=6)
    ax.set_xlabel({"params_m": "parameters (M)", "gflops_true": "GFLOPs (true, at imgsz)",
                   "gflops": f"FLOPs@{_size_label(report)} (B, YOLOv5 count)"}[x])
    ax.set_ylabel(f"median {stage.replace('_', ' ')} latency (ms), batch {b}")
    ax.set_title(report.get("machine", {}).get("cpu", ""), fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
