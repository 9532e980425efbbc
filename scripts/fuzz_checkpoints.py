#!/usr/bin/env python3
"""A longer hunt with the structure-aware checkpoint fuzzer of tests/test_fuzz.py (CI runs 300 cases per run).

Generates hostile checkpoints (``tests/checkpoint_crafting.random_case``: pickles from the allow-listed globals with
BUILD/SETITEMS/nested REDUCE/memo sharing, tensor geometries, numpy dtype states, module DAGs and cycles, deep
nesting; zip layouts with duplicate/overlapping/deflated entries and wrong sizes; splices into real checkpoints) and
loads each with ``load_model`` in worker processes under a 1.5 GB address-space cap. A case fails if it kills the
worker (signal, abort), escapes as anything but a CheckpointError, prints more than one line, or takes more than
10 s of CPU or 1 GB. Failing cases are kept in --out with their description.

    python scripts/fuzz_checkpoints.py --cases 20000 --jobs 2            # ~15 min on 2 cores
    python scripts/fuzz_checkpoints.py --cases 2000 --seed 7 --out /tmp/fuzz-failures
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import shutil
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import checkpoint_crafting as cc  # noqa: E402

warnings.filterwarnings("ignore", "Duplicate name")  # duplicate entries are one of the layouts; threads race the
# catch_warnings() in join_zip

OK = ("loaded", "CheckpointError", "UnsafeCheckpointError", "PickledObjectsError")


def _seeds(fixtures: Path) -> dict[str, bytes]:
    """Real checkpoints to mutate: the official-format fixture (if present) and a fresh tiny yolocls checkpoint."""
    import torch

    import yolocls
    from yolocls.models.checkpoint import save_checkpoint

    seeds = {}
    official = fixtures / "yolov5n-cls-official-format.pt"
    if official.is_file():
        seeds["yolov5"] = official.read_bytes()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as d:
        tiny = yolocls.create_model("tiny-cls", num_classes=3)
        seeds["yolocls"] = save_checkpoint(Path(d) / "t.pt", tiny).read_bytes()
    return seeds


def _batch(index: int, seed: int, n: int, seeds: dict[str, bytes], seed_rate: float, out: Path | None) -> dict:
    rng = random.Random(seed * 1_000_003 + index)
    with tempfile.TemporaryDirectory(prefix="yolocls-fuzz-") as d:
        paths, descs = [], {}
        for i in range(n):
            desc, data = cc.random_case(rng, seeds, seed_rate)
            p = Path(d) / f"b{index}-{i:05d}.pt"
            p.write_bytes(data)
            paths.append(p)
            descs[str(p)] = desc
        failures, records = [], []
        todo = [("load_model", str(p)) for p in paths]
        deaths = 0
        while todo:
            run = cc.run_worker(todo, timeout=max(300, 10 * len(todo)))
            records += run.records
            todo = todo[len(run.records):]
            if todo:  # the worker died on todo[0]
                deaths += 1
                dead = todo.pop(0)[1]
                failures.append({"path": dead, "desc": descs[dead], "why": f"worker died ({run.outcome.returncode})",
                                 "detail": run.outcome.stderr[-1500:]})
        prev_rss = 0.0
        for rec in records:
            why = None
            msg = rec.get("message")
            if rec["outcome"] not in OK:
                why = f"escaped: {msg}"
            elif msg is not None and ("\n" in msg or not msg.isprintable() or len(msg) >= 600):
                why = "a message that is not one short printable line"
            elif rec["cpu_s"] >= 10:
                why = f"{rec['cpu_s']:.1f} s of CPU"
            elif rec["maxrss_mb"] >= 1024 and prev_rss < 1024:
                why = f"RSS reached {rec['maxrss_mb']:.0f} MB"
            prev_rss = rec["maxrss_mb"]
            if why:
                failures.append({"path": rec["path"], "desc": descs[rec["path"]], "why": why,
                                 "detail": rec.get("tb") or msg})
        if out is not None:
            for f in failures:
                dst = out / Path(f["path"]).name
                shutil.copy(f["path"], dst)
                dst.with_suffix(".json").write_text(json.dumps(f, indent=1))
    outcomes = collections.Counter(r["outcome"] for r in records)
    kinds = collections.Counter(descs[r["path"]].split(":")[0] + ":" + descs[r["path"]].split(":")[1] for r in records)
    return {"outcomes": outcomes, "kinds": kinds, "failures": failures, "deaths": deaths,
            "max_cpu": max((r["cpu_s"] for r in records), default=0.0),
            "max_rss": max((r["maxrss_mb"] for r in records), default=0.0)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2, help="worker processes at a time")
    ap.add_argument("--batch", type=int, default=500, help="cases per worker process")
    ap.add_argument("--seed-rate", type=float, default=0.15, help="share of cases mutated from real checkpoints")
    ap.add_argument("--fixtures", type=Path, default=ROOT.parent / "shared" / "fixtures")
    ap.add_argument("--out", type=Path, default=None, help="keep failing cases here")
    args = ap.parse_args()
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
    seeds = _seeds(args.fixtures)
    sizes = [min(args.batch, args.cases - i) for i in range(0, args.cases, args.batch)]
    t0 = time.time()
    totals: dict[str, collections.Counter] = {"outcomes": collections.Counter(), "kinds": collections.Counter()}
    failures, max_cpu, max_rss = [], 0.0, 0.0
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(_batch, i, args.seed, n, seeds, args.seed_rate, args.out) for i, n in enumerate(sizes)]
        for done, fut in enumerate(futures, 1):
            r = fut.result()
            totals["outcomes"].update(r["outcomes"])
            totals["kinds"].update(r["kinds"])
            failures += r["failures"]
            max_cpu, max_rss = max(max_cpu, r["max_cpu"]), max(max_rss, r["max_rss"])
            print(f"[{done}/{len(sizes)}] {sum(totals['outcomes'].values())} cases, {len(failures)} failures, "
                  f"{time.time() - t0:.0f} s", flush=True)
    print(f"\n{args.cases} cases (seed {args.seed}) in {time.time() - t0:.0f} s; slowest case {max_cpu:.2f} s CPU; "
          f"largest worker peak {max_rss:.0f} MB")
    print("outcomes:", dict(totals["outcomes"].most_common()))
    print("kinds:", dict(totals["kinds"].most_common()))
    for f in failures[:20]:
        print("FAIL", f["desc"], f["why"], f["path"], "\n   ", str(f["detail"])[-400:].replace("\n", "\n    "))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
