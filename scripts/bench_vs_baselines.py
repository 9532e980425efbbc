#!/usr/bin/env python
"""Our fastest CPU path against the usual ways of running a YOLOv5 classifier, on the same frames and models.

Paths (each from a uint8 1280x720 BGR frame to the top-5 classes, batch 1):
  ours        yolocls.runtime.load(onnx, backend=B).predict(frame): the compiled preprocessing when built, then
              ONNX Runtime or OpenVINO (both run; the faster by median is 'ours'), softmax + top-k in NumPy.
  (a) yolov5  YOLOv5's classify/predict.py route: the PyTorch model (BN fused, as DetectMultiBackend does),
              its CenterCrop (square crop + cv2.resize INTER_LINEAR), ToTensor (HWC->CHW, BGR->RGB, float, /255),
              Normalize (ImageNet mean/std), inference mode, softmax, argsort[:5]. Written here from what those
              files do; no YOLOv5 code is copied.
  (b) ort     ONNX Runtime (default session) fed by the usual OpenCV + NumPy code: crop, cv2.resize,
              cv2.cvtColor, astype(float32) / 255, (x - mean) / std, transpose, [None].
  (c) cv2dnn  OpenCV DNN reading the same ONNX (YOLOv5's --dnn route), fed by YOLOv5's preprocessing.
  ours (openvino bf16)  our OpenVINO path at REDUCED precision (bf16 inference, opt-in via precision="bf16"), in
              every round like the other ours rows; never the headline 'ours' (that stays the fastest FP32 path). Its
              top-1 agreement with FP32 PyTorch on the benchmark frames and max |logit diff| / logit range are printed,
              with its own ratios vs (a) and (b).
With --explore, extra variants show where the time goes (ORT with a preallocated cv2 preprocessing, thread counts).

Ratios: for every round the paths run ``--iters`` calls each, in alternating order (forward, then reversed), and
the ratio of the round medians baseline/ours is taken; the report gives the median ratio over rounds with its
spread (min, p25, p75, max), so background load moves both sides of a ratio alike.

    python scripts/bench_vs_baselines.py --models yolov5n-cls,yolov5s-cls --rounds 15 --json runs/bench/vs.json
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from yolocls.benchmark import report as br
from yolocls.benchmark import runner as bm

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
TARGETS = {"yolov5": 3.0, "ort": 1.3}  # ours must be at least this many times faster end to end

BF16 = "ours (openvino bf16)"  # reduced-precision row (never the headline 'ours')
# INT8 rows (never the headline 'ours'): row -> (backend, file form). "u8" is <stem>.int8-u8.onnx (uint8 activations,
# what the CPU backends run: export --int8), "s8" the int8-activation <stem>.int8.onnx (TensorRT's form).
INT8_ROWS = {"ours int8 (onnxruntime)": ("onnxruntime", "u8"), "ours int8 (openvino)": ("openvino", "u8"),
             "ours int8 (openvino, int8-act file)": ("openvino", "s8")}
REDUCED = (BF16, *INT8_ROWS)

Stages = dict[str, float]
PathFn = Callable[[np.ndarray], tuple[list[int], Stages]]


def _now() -> float:
    return time.perf_counter()


# ----------------------------------------------------------------------------------------------- (a) YOLOv5
def yolov5_preprocess(frame: np.ndarray, size: int) -> Any:
    """YOLOv5 v7.0 classify_transforms: CenterCrop (cv2) -> ToTensor (CHW, RGB, /255) -> Normalize; [1,3,S,S]."""
    import torch

    h, w = frame.shape[:2]
    m = min(h, w)
    top, left = (h - m) // 2, (w - m) // 2
    im = cv2.resize(frame[top : top + m, left : left + m], (size, size), interpolation=cv2.INTER_LINEAR)
    im = np.ascontiguousarray(im.transpose((2, 0, 1))[::-1])  # HWC->CHW, BGR->RGB
    t = torch.from_numpy(im).float()
    t /= 255.0
    t = (t - torch.from_numpy(MEAN)[:, None, None]) / torch.from_numpy(STD)[:, None, None]  # torchvision Normalize
    return t[None]


def yolov5_path(module: Any, size: int) -> PathFn:
    import torch
    import torch.nn.functional as F

    net = copy.deepcopy(module).float().eval()
    if callable(getattr(net, "fuse", None)):
        net.fuse()  # DetectMultiBackend loads .pt models with fuse=True

    def run(frame: np.ndarray) -> tuple[list[int], Stages]:
        t0 = _now()
        with torch.inference_mode():  # predict.py runs under smart_inference_mode
            im = yolov5_preprocess(frame, size)
            t1 = _now()
            logits = net(im)
            t2 = _now()
            prob = F.softmax(logits, dim=1)[0]
            top5 = prob.argsort(0, descending=True)[:5].tolist()
        t3 = _now()
        return top5, {"preprocess": t1 - t0, "inference": t2 - t1, "postprocess": t3 - t2}

    return run


# ----------------------------------------------------------------------------------------------- (b) ORT + NumPy
def usual_preprocess(frame: np.ndarray, size: int) -> np.ndarray:
    """The common hand-written OpenCV + NumPy preprocessing: [1,3,S,S] float32."""
    h, w = frame.shape[:2]
    m = min(h, w)
    top, left = (h - m) // 2, (w - m) // 2
    im = cv2.resize(frame[top : top + m, left : left + m], (size, size), interpolation=cv2.INTER_LINEAR)
    im = cv2.cvtColor(im, cv2.COLOR_BGR2RGB)
    im = im.astype(np.float32) / 255.0
    im = (im - MEAN) / STD
    return np.ascontiguousarray(im.transpose(2, 0, 1)[None])


def _np_top5(logits: np.ndarray) -> list[int]:
    z = logits[0] - logits[0].max()
    p = np.exp(z)
    p /= p.sum()
    return np.argsort(-p)[:5].tolist()


def ort_session(onnx_path: Path, threads: int | None = None, spinning: bool = True) -> Any:
    import onnxruntime as ort

    opts = None
    if threads is not None or not spinning:
        opts = ort.SessionOptions()
        if threads is not None:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        if not spinning:  # idle worker threads sleep instead of spinning (matters on shared cores)
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(onnx_path), sess_options=opts, providers=["CPUExecutionProvider"])


def ort_usual_path(onnx_path: Path, size: int, threads: int | None = None) -> PathFn:
    sess = ort_session(onnx_path, threads)
    name = sess.get_inputs()[0].name

    def run(frame: np.ndarray) -> tuple[list[int], Stages]:
        t0 = _now()
        x = usual_preprocess(frame, size)
        t1 = _now()
        y = sess.run(None, {name: x})[0]
        t2 = _now()
        top5 = _np_top5(y)
        return top5, {"preprocess": t1 - t0, "inference": t2 - t1, "postprocess": _now() - t2}

    return run


# ----------------------------------------------------------------------------------------------- (c) OpenCV DNN
def cv2_dnn_path(onnx_path: Path, size: int) -> PathFn:
    import torch
    import torch.nn.functional as F

    net = cv2.dnn.readNetFromONNX(str(onnx_path))

    def run(frame: np.ndarray) -> tuple[list[int], Stages]:
        t0 = _now()
        im = yolov5_preprocess(frame, size).numpy()
        t1 = _now()
        net.setInput(im)
        y = net.forward()
        t2 = _now()
        prob = F.softmax(torch.from_numpy(np.asarray(y)), dim=1)[0]  # DetectMultiBackend returns a tensor
        top5 = prob.argsort(0, descending=True)[:5].tolist()
        return top5, {"preprocess": t1 - t0, "inference": t2 - t1, "postprocess": _now() - t2}

    return run


# ----------------------------------------------------------------------------------------------- ours
def ours_path(onnx_path: Path, backend: str, threads: int | None = None, precision: str | None = None) -> PathFn:
    from yolocls.runtime import load

    bk = load(onnx_path, backend=backend, threads=threads, precision=precision)

    def run(frame: np.ndarray) -> tuple[list[int], Stages]:
        preds = bk.predict(frame, topk=5)
        return [p.class_id for p in preds[0]], {k: v / 1e3 for k, v in bk.timings.items()}

    return run


def fast_preprocess_into(out: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """A careful cv2 + in-place NumPy preprocessing into a preallocated [1,3,S,S] float32 buffer (explore only)."""
    size = out.shape[2]
    h, w = frame.shape[:2]
    m = min(h, w)
    top, left = (h - m) // 2, (w - m) // 2
    im = cv2.resize(frame[top : top + m, left : left + m], (size, size), interpolation=cv2.INTER_LINEAR)
    for c in range(3):  # output channel c (RGB) is input channel 2 - c (BGR); x/255/std - mean/std in place
        plane = out[0, c]
        np.multiply(im[:, :, 2 - c], np.float32(1.0 / (255.0 * STD[c])), out=plane, casting="unsafe")
        plane -= np.float32(MEAN[c] / STD[c])
    return out


def _preprocess_into(size: int) -> Callable[[np.ndarray], np.ndarray]:
    """Our compiled preprocessing into one preallocated buffer when built, else the careful cv2 one."""
    from yolocls import _native
    from yolocls.spec.preprocess import PreprocessConfig

    buf = np.empty((1, 3, size, size), dtype=np.float32)
    if _native.available():
        cfg = PreprocessConfig(imgsz=size)
        return lambda frame: _native.preprocess([frame], cfg, out=buf)
    return lambda frame: fast_preprocess_into(buf, frame)


def ort_fast_path(onnx_path: Path, size: int, threads: int | None = None, spinning: bool = True) -> PathFn:
    """ORT fed by a preallocated buffer, bare top-5 (no Prediction objects): the floor of an ORT pipeline."""
    sess = ort_session(onnx_path, threads, spinning)
    name = sess.get_inputs()[0].name
    pre = _preprocess_into(size)

    def run(frame: np.ndarray) -> tuple[list[int], Stages]:
        t0 = _now()
        x = pre(frame)
        t1 = _now()
        y = sess.run(None, {name: x})[0]
        t2 = _now()
        top5 = _np_top5(y)
        return top5, {"preprocess": t1 - t0, "inference": t2 - t1, "postprocess": _now() - t2}

    return run


def openvino_py_path(onnx_path: Path, size: int, threads: int | None = None, precision: str | None = "f32"
                     ) -> PathFn:
    """OpenVINO's Python API (LATENCY hint, one request) fed by a preallocated buffer (explore only).

    ``precision=None`` keeps OpenVINO's default, which is bf16 on CPUs with AVX512-BF16/AMX (not fp32 results).
    """
    import openvino as ov

    cfg: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
    if precision:
        cfg["INFERENCE_PRECISION_HINT"] = precision
    if threads is not None:
        cfg["INFERENCE_NUM_THREADS"] = threads
    req = ov.Core().compile_model(str(onnx_path), "CPU", cfg).create_infer_request()
    pre = _preprocess_into(size)

    def run(frame: np.ndarray) -> tuple[list[int], Stages]:
        t0 = _now()
        x = pre(frame)
        t1 = _now()
        req.infer({0: x})
        y = req.get_output_tensor(0).data
        t2 = _now()
        top5 = _np_top5(y)
        return top5, {"preprocess": t1 - t0, "inference": t2 - t1, "postprocess": _now() - t2}

    return run


def ort_op_profile(onnx_path: Path, frames: list[np.ndarray], size: int, threads: int | None, runs: int = 30,
                   top: int = 8) -> list[dict[str, Any]]:
    """Where ONNX Runtime spends inference time: total ms per op type over ``runs`` calls (its own profiler)."""
    import os
    import tempfile

    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads is not None:
        opts.intra_op_num_threads = threads
    with tempfile.TemporaryDirectory() as tmp:
        opts.enable_profiling = True
        opts.profile_file_prefix = os.path.join(tmp, "ort")
        sess = ort.InferenceSession(str(onnx_path), sess_options=opts, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        pre = _preprocess_into(size)
        for i in range(runs):
            sess.run(None, {name: pre(frames[i % len(frames)])})
        events = json.loads(Path(sess.end_profiling()).read_text())
    per_op: dict[str, float] = {}
    for ev in events:
        if ev.get("cat") == "Node" and str(ev.get("name", "")).endswith("_kernel_time"):
            op = ev.get("args", {}).get("op_name", "?")
            per_op[op] = per_op.get(op, 0.0) + ev.get("dur", 0) / 1e3 / runs
    total = sum(per_op.values()) or 1.0
    return [{"op": k, "ms_per_run": v, "share": v / total}
            for k, v in sorted(per_op.items(), key=lambda kv: -kv[1])[:top]]


# ----------------------------------------------------------------------------------------------- rounds
def run_rounds(paths: dict[str, PathFn], frames: list[np.ndarray], rounds: int, iters: int, warmup: int
               ) -> dict[str, dict[str, Any]]:
    """A/B-alternated rounds. Returns per path: per-round medians (s) and all per-call samples per stage (s)."""
    names = list(paths)
    for n in names:
        for i in range(warmup):
            paths[n](frames[i % len(frames)])
    res: dict[str, dict[str, Any]] = {n: {"round_median": [], "samples": {}} for n in names}
    k = 0
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]
        for n in order:
            e2e = []
            for _ in range(iters):
                frame = frames[k % len(frames)]
                k += 1
                t0 = _now()
                _, stages = paths[n](frame)
                e2e.append(_now() - t0)
                for s, v in {**stages, "end_to_end": e2e[-1]}.items():
                    res[n]["samples"].setdefault(s, []).append(v)
            res[n]["round_median"].append(float(np.median(e2e)))
    return res


def ratio_stats(base: list[float], ours: list[float]) -> dict[str, float]:
    r = np.asarray(base) / np.asarray(ours)
    p = np.percentile(r, [0, 25, 50, 75, 100])
    return {"median": float(p[2]), "min": float(p[0]), "p25": float(p[1]), "p75": float(p[3]), "max": float(p[4]),
            "rounds": len(r)}


def _stage_ms(samples: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    return {s: br.latency_stats([v * 1e3 for v in vals]) for s, vals in samples.items()}


def bench_model(name: str, args: argparse.Namespace, frames: list[np.ndarray]) -> dict[str, Any]:
    from yolocls.runtime import available_backends

    src = bm.zoo_source(name, args.imgsz, seed=0)
    onnx_path = bm.onnx_for(src, args.imgsz, bm.cache_dir(args.cache_dir))
    size = args.imgsz
    ours_candidates = [b for b in ("onnxruntime", "openvino") if b in available_backends()]
    if args.ours:
        ours_candidates = [args.ours]
    # every candidate runs in the same alternated rounds; "ours" is the fastest by median afterwards
    paths: dict[str, PathFn] = {f"ours ({b})": ours_path(onnx_path, b, args.threads) for b in ours_candidates}
    notes: dict[str, str] = {}
    bf16_units = cpu_bf16_units()
    if "openvino" in available_backends():  # reduced precision: reported beside ours, never chosen as ours
        if bf16_units:
            paths[BF16] = ours_path(onnx_path, "openvino", args.threads, precision="bf16")
        else:
            notes[BF16] = ("row skipped: this CPU has no bf16 units (no avx512_bf16/amx_bf16 in /proc/cpuinfo), so "
                           "OpenVINO's bf16 hint would run emulated or fall back to f32; nothing to measure")
    int8_files: dict[str, Path] = {}
    int8_accuracy: dict[str, dict[str, Any]] = {}
    if not args.no_int8:
        tmp_int8 = Path(tempfile.mkdtemp(prefix="yolocls-bench-int8-"))
        int8_files, int8_accuracy = make_int8(src.module, size, frames, tmp_int8, args.threads)
        for row, (backend, form) in INT8_ROWS.items():
            if backend in available_backends():
                paths[row] = ours_path(int8_files[form], backend, args.threads)
    paths["yolov5 (a)"] = yolov5_path(src.module, size)
    paths["ort (b)"] = ort_usual_path(onnx_path, size, args.threads)
    try:
        paths["cv2dnn (c)"] = cv2_dnn_path(onnx_path, size)
        paths["cv2dnn (c)"](frames[0])
    except cv2.error as e:
        paths.pop("cv2dnn (c)", None)
        notes["cv2dnn (c)"] = f"OpenCV DNN cannot run this ONNX: {str(e).strip().splitlines()[-1]}"
    if args.explore:
        paths["ort + prealloc pre"] = ort_fast_path(onnx_path, size, args.threads)
        paths["ort + prealloc pre, no spin"] = ort_fast_path(onnx_path, size, args.threads, spinning=False)
        try:
            paths["openvino-py f32 + prealloc pre"] = openvino_py_path(onnx_path, size, args.threads)
            paths["openvino-py default precision"] = openvino_py_path(onnx_path, size, args.threads, None)
        except Exception as e:  # noqa: BLE001 - an explore variant that cannot run is a note, not a failure
            notes["openvino-py"] = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
        for b in ours_candidates:
            paths[f"ours ({b}) threads=1"] = ours_path(onnx_path, b, 1)
    # the preprocessing of every path must agree with ours (up to OpenCV's fixed-point rounding)
    from yolocls.spec.preprocess import PreprocessConfig, preprocess_with

    ref = preprocess_with([frames[0]], PreprocessConfig(imgsz=size))
    pre_diff = {"yolov5 (a)": float(np.abs(yolov5_preprocess(frames[0], size).numpy() - ref).max()),
                "ort (b)": float(np.abs(usual_preprocess(frames[0], size) - ref).max())}

    accuracy: dict[str, dict[str, Any]] = dict(_accuracy_vs_torch(
        [n for n in paths if n.startswith("ours (") and "threads=" not in n], src.module, frames, size, args.threads))
    accuracy.update({row: a for row, a in int8_accuracy.items() if row in paths})

    res = run_rounds(paths, frames, args.rounds, args.iters, args.warmup)
    if args.profile:
        notes["ort op profile (ms/run)"] = ", ".join(
            f"{p['op']} {p['ms_per_run']:.2f} ({p['share']:.0%})"
            for p in ort_op_profile(onnx_path, frames, size, args.threads))
    cand_ms = {b: float(np.median(res[f"ours ({b})"]["round_median"]) * 1e3) for b in ours_candidates}
    ours_key = f"ours ({min(cand_ms, key=lambda b: cand_ms[b])})"
    out: dict[str, Any] = {"model": name, "params_m": src.params_m, "gflops_true": src.gflops_true,
                           "ours": ours_key, "candidates_ms": cand_ms,
                           "preprocess_max_abs_diff_vs_reference": pre_diff, "accuracy_vs_torch_fp32": accuracy,
                           "notes": notes, "paths": {}}
    for n, v in res.items():
        out["paths"][n] = {"stages_ms": _stage_ms(v["samples"]),
                           "round_median_ms": [x * 1e3 for x in v["round_median"]]}
        if n != ours_key:
            out["paths"][n]["speedup_of_ours"] = ratio_stats(v["round_median"], res[ours_key]["round_median"])
    out["speedup_of_reduced"] = {
        row: {n: ratio_stats(res[n]["round_median"], res[row]["round_median"]) for n in ("yolov5 (a)", "ort (b)")
              if n in res} for row in REDUCED if row in res}
    if "ort (b)" in res:  # the moonshot: our whole INT8 path against ONNX Runtime's FP32 inference call alone
        ort_infer = float(np.median(res["ort (b)"]["samples"]["inference"]) * 1e3)
        out["moonshot"] = {row: {"e2e_ms": float(np.median(res[row]["samples"]["end_to_end"]) * 1e3),
                                 "ort_fp32_inference_ms": ort_infer} for row in INT8_ROWS if row in res}
    if int8_files:
        import shutil

        shutil.rmtree(next(iter(int8_files.values())).parent, ignore_errors=True)
    return out


def cpu_bf16_units() -> list[str]:
    """The bf16 instruction sets this CPU has (Linux /proc/cpuinfo flags), empty when none."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), [])
    return [f for f in ("avx512_bf16", "amx_bf16") if f in flags]


def make_int8(module: Any, size: int, frames: list[np.ndarray], tmp: Path, threads: int | None
              ) -> tuple[dict[str, Path], dict[str, dict[str, Any]]]:
    """The INT8 pair (``s8``: <stem>.int8.onnx, ``u8``: <stem>.int8-u8.onnx) of a BN-calibrated copy of ``module``,
    made by yolocls' quantizer on calibration frames that are not the benchmark frames, and per INT8 row its top-1
    agreement and max |logit diff| with that copy's FP32 ONNX on the benchmark frames (same input tensors).

    Timing does not depend on the weights; the agreement needs a model whose logits depend on every layer (a
    random-init model outputs ~its head bias, DESIGN.md), hence the BatchNorm calibration.
    """
    import warnings

    import onnx

    from yolocls.export.onnx import export_onnx
    from yolocls.export.quantize import quantize_qdq, to_u8_activations
    from yolocls.export.verify import synthetic_images
    from yolocls.runtime import available_backends, load
    from yolocls.spec.preprocess import PreprocessConfig, apply
    from yolocls.utils.torch_utils import calibrate_batchnorm

    cfg = PreprocessConfig(imgsz=size)
    calib = apply(bm.make_frames(24, *bm.FRAME_HW, seed=7) + synthetic_images(8, seed=5), cfg)
    net = copy.deepcopy(module).float()
    calibrate_batchnorm(net, apply(frames, cfg), passes=2)
    fp32 = tmp / "model.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_onnx(net, fp32, imgsz=size, dynamic=True, simplify=True, verify=False,
                    model_name=getattr(module, "model_name", None) or "model")
    files = {"s8": tmp / "model.int8.onnx", "u8": tmp / "model.int8-u8.onnx"}
    quantize_qdq(fp32, files["s8"], [calib[i : i + 8] for i in range(0, len(calib), 8)])
    proto = onnx.load(str(files["s8"]))
    to_u8_activations(proto)
    onnx.save(proto, str(files["u8"]))
    batch = apply(frames, cfg)
    with load(fp32, backend="onnxruntime", threads=threads) as bk:
        want = np.concatenate([bk.infer(batch[i : i + 1]) for i in range(len(batch))])
    span = float(np.ptp(want)) or 1.0
    acc: dict[str, dict[str, Any]] = {}
    for row, (backend, form) in INT8_ROWS.items():
        if backend not in available_backends():
            continue
        with load(files[form], backend=backend, threads=threads) as bk:
            got = np.concatenate([bk.infer(batch[i : i + 1]) for i in range(len(batch))])
        d = float(np.abs(got - want).max())
        acc[row] = {"top1_agree": float((got.argmax(1) == want.argmax(1)).mean()), "frames": len(frames),
                    "max_abs_logit_diff": d, "max_abs_logit_diff_rel_range": d / span, "logit_range": span,
                    "reference": "FP32 ONNX of the same BN-calibrated copy (ONNX Runtime)"}
    return files, acc


def _accuracy_vs_torch(rows: list[str], module: Any, frames: list[np.ndarray], size: int, threads: int | None
                       ) -> dict[str, dict[str, float]]:
    """Per ours row: top-1 agreement and max |logit diff| / logit range against FP32 PyTorch, same input tensors.

    Measured on a copy of the model whose BatchNorm statistics are calibrated on the benchmark frames: untrained zoo
    weights output almost exactly the head bias, on which any precision would "agree" (DESIGN.md).
    """
    import tempfile
    import warnings

    import torch

    from yolocls.export.onnx import export_onnx
    from yolocls.runtime import load
    from yolocls.spec.preprocess import PreprocessConfig, preprocess_with
    from yolocls.utils.torch_utils import calibrate_batchnorm

    batch = preprocess_with(frames, PreprocessConfig(imgsz=size))
    net = copy.deepcopy(module).float()
    calibrate_batchnorm(net, batch, passes=2)
    with torch.inference_mode():
        want = net(torch.from_numpy(batch)).numpy()
    span = float(np.ptp(want)) or 1.0
    out: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / "calibrated.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            export_onnx(net, onnx_path, imgsz=size, dynamic=True, simplify=True, verify=False,
                        model_name=getattr(module, "model_name", None) or "model")
        for row in rows:
            backend = row[len("ours ("):].split()[0].rstrip(")")
            with load(onnx_path, backend=backend, threads=threads, precision="bf16" if row == BF16 else None) as bk:
                got = np.concatenate([bk.infer(batch[i : i + 1]) for i in range(len(batch))])
            d = float(np.abs(got - want).max())
            out[row] = {"top1_agree": float((got.argmax(1) == want.argmax(1)).mean()), "frames": len(frames),
                        "max_abs_logit_diff": d, "max_abs_logit_diff_rel_range": d / span, "logit_range": span}
    return out


def render(model_res: dict[str, Any]) -> str:
    headers = ["path", "pre ms", "infer ms", "post ms", "e2e ms", "e2e p90", "ours faster by (median [p25-p75] "
               "min-max)", "target"]
    rows = []
    for n, v in model_res["paths"].items():
        st = v["stages_ms"]
        sp = v.get("speedup_of_ours")
        ratio = (f"{sp['median']:.2f}x [{sp['p25']:.2f}-{sp['p75']:.2f}] {sp['min']:.2f}-{sp['max']:.2f}"
                 if sp else "(reference)")
        key = n.split()[0]
        target = "-"
        if sp and key in TARGETS and "(" in n and not n.startswith("ours"):
            target = f">= {TARGETS[key]:.1f}x {'PASS' if sp['median'] >= TARGETS[key] else 'FAIL'}"
        if n in REDUCED:
            target = "reduced precision"
        rows.append([n, *(f"{st[s]['median_ms']:.2f}" if s in st else "-"
                          for s in ("preprocess", "inference", "postprocess", "end_to_end")),
                     f"{st['end_to_end']['p90_ms']:.2f}", ratio, target])
    title = (f"{model_res['model']} ({model_res['params_m']:.2f} M params, {model_res['gflops_true']:.3f} GFLOPs), "
             f"batch 1; ours = {model_res['ours']}, the faster of our backends (median of round medians, ms: "
             + ", ".join(f"{k} {v:.2f}" for k, v in model_res["candidates_ms"].items()) + ")")
    extra = [f"note: {k}: {v}" for k, v in model_res["notes"].items()]
    for row, per in model_res.get("speedup_of_reduced", {}).items():
        for n, sp in per.items():
            key = n.split()[0]
            extra.append(f"{row} [REDUCED PRECISION] faster than {n} by {sp['median']:.2f}x [{sp['p25']:.2f}-"
                         f"{sp['p75']:.2f}] {sp['min']:.2f}-{sp['max']:.2f} (target >= {TARGETS[key]:.1f}x: "
                         f"{'PASS' if sp['median'] >= TARGETS[key] else 'FAIL'})")
    for row, m in model_res.get("moonshot", {}).items():
        extra.append(f"moonshot: {row} whole path {m['e2e_ms']:.2f} ms vs ONNX Runtime FP32 inference call alone "
                     f"{m['ort_fp32_inference_ms']:.2f} ms ({'PASS' if m['e2e_ms'] < m['ort_fp32_inference_ms'] else 'FAIL'})")
    for n, a in model_res["accuracy_vs_torch_fp32"].items():
        ref = a.get("reference", "FP32 PyTorch (BN-calibrated copy)")
        extra.append(f"{n} vs {ref} on the {a['frames']} benchmark frames: top-1 agreement "
                     f"{a['top1_agree']:.0%}, max |logit diff| {a['max_abs_logit_diff']:.2e} = "
                     f"{a['max_abs_logit_diff_rel_range']:.2%} of the logit range ({a['logit_range']:.3g})")
    extra.append("preprocessing max |diff| vs the reference: " + ", ".join(
        f"{k} {v:.4f}" for k, v in model_res["preprocess_max_abs_diff_vs_reference"].items()))
    return "\n".join([title, br.format_text(headers, rows), *extra])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="yolov5n-cls,yolov5s-cls", help="comma list of zoo models")
    ap.add_argument("--imgsz", type=int, default=224)
    ap.add_argument("--rounds", type=int, default=12, help="A/B-alternated rounds")
    ap.add_argument("--iters", type=int, default=20, help="calls per path per round")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--frames", type=int, default=8, help="distinct 1280x720 frames, cycled")
    ap.add_argument("--threads", type=int, default=None, help="inference threads (default: each library's)")
    ap.add_argument("--ours", choices=("onnxruntime", "openvino"), default=None, help="force our backend")
    ap.add_argument("--explore", action="store_true", help="also measure variants that show where time goes")
    ap.add_argument("--profile", action="store_true", help="also print ONNX Runtime's time per op type")
    ap.add_argument("--no-int8", action="store_true", help="skip the INT8 rows (they quantize the model first)")
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    args = ap.parse_args(argv)

    frames = bm.make_frames(args.frames, *bm.FRAME_HW, seed=1)
    machine = br.machine_info()
    print(f"machine: {br.describe_machine(machine)}", flush=True)
    results = []
    for name in bm.resolve_models([args.models]):
        res = bench_model(name, args, frames)
        results.append(res)
        print(render(res) + "\n", flush=True)
    if args.json:
        report = {"schema": "yolocls.bench_vs_baselines/1", "machine": machine, "settings": vars(args) | {
            "json": str(args.json), "frame": "1280x720 uint8 BGR"}, "models": results}
        _save(report, args.json)
        print(f"JSON: {args.json}")
    return 0


def _save(report: dict[str, Any], path: Path) -> None:
    from yolocls.utils.files import atomic_write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(report, indent=2, default=str) + "\n")


if __name__ == "__main__":
    sys.exit(main())
