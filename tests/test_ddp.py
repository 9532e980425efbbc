"""A real 2-process DDP run (torchrun, gloo on CPU): one run folder, identical results on both ranks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent("""
    import json, os, sys
    from yolocls.engine.trainer import train
    out = sys.argv[1]
    r = train(model="tiny-cls", data="digits", epochs=1, imgsz=32, batch_size=64, lr0=0.02, augment=False,
              workers=0, device="cpu", project=out, name="ddp", progress=False, plots=False)
    with open(os.path.join(out, "rank%s.json" % os.environ["RANK"]), "w") as f:
        json.dump({"rows": r.rows, "best": r.best_fitness, "world": os.environ["WORLD_SIZE"],
                   "save_dir": str(r.save_dir), "completed": r.epochs_completed}, f)
""")


@pytest.mark.slow
def test_two_process_gloo_ddp(tmp_path: Path) -> None:
    from yolocls.models.checkpoint import read_checkpoint

    datasets = tmp_path / "datasets"
    env = {**os.environ, "YOLOCLS_DATASETS": str(datasets), "OMP_NUM_THREADS": "1"}
    script = tmp_path / "ddp_train.py"
    script.write_text(SCRIPT)
    out = tmp_path / "runs"
    out.mkdir()
    # --standalone picks a free rendezvous port, so parallel test runs do not collide on 29500
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script),
           str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    r0 = json.loads((out / "rank0.json").read_text())
    r1 = json.loads((out / "rank1.json").read_text())
    assert r0["world"] == r1["world"] == "2"
    assert r0 == {**r1, "world": r0["world"]}  # both ranks return rank 0's results
    assert len(r0["rows"]) == 1 and r0["completed"] == 1
    assert [p.name for p in out.iterdir() if p.is_dir()] == ["ddp"]  # one run folder, made by rank 0 only
    ckpt = read_checkpoint(out / "ddp" / "weights" / "last.pt")
    # DistributedSampler gives each rank ceil(1442 / 2) = 721 images -> 23 steps of 32; the EMA counts steps
    assert ckpt["updates"] == 23 and ckpt["epoch"] == 0
    assert (out / "ddp" / "results.csv").read_text().count("\n") == 2
    assert "2 process(es)" in proc.stdout


@pytest.mark.slow
def test_torchrun_cli_entry_point(tmp_path: Path) -> None:
    """How users launch it: ``torchrun --nproc_per_node 2 -m yolocls train ...``."""
    env = {**os.environ, "YOLOCLS_DATASETS": str(tmp_path / "datasets"), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "yolocls",
           "train", "--model", "tiny-cls", "--data", "digits", "--epochs", "1", "--imgsz", "32", "--batch-size", "64",
           "--no-augment", "--workers", "0", "--device", "cpu", "--project", str(tmp_path / "runs"), "--name", "cli",
           "--no-plots"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run = tmp_path / "runs" / "cli"
    assert (run / "weights" / "last.pt").is_file() and (run / "weights" / "best.pt").is_file()
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["cli"]
    assert proc.stdout.count("training images/s") == 1  # only rank 0 reports
