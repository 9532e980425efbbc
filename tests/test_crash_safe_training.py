"""Crash-safe training: a SIGKILLed `yolocls train` (no handler runs) loses at most the unfinished epoch.

- The trainer writes last.pt, best.pt and results.csv through ``atomic_open`` (temp file, fsync, rename), so a kill
  at any instant leaves either the old or the new file. A kill between the temp write and the rename is forced
  deterministically (``os.replace`` replaced by a SIGKILL in a child process).
- A real ``yolocls train`` subprocess is SIGKILLed mid-epoch (after >= 1 completed epoch); last.pt and results.csv
  load, then ``--resume`` continues from the last completed epoch and finishes with the same rows, optimizer,
  EMA, scheduler and LR state as an uninterrupted run.
"""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from yolocls.engine.trainer import RESULT_KEYS

pytestmark = pytest.mark.slow  # real training runs, killed and resumed in subprocesses (minutes)

# at import, so the module-scoped reference run uses it too: the subprocesses run with OMP_NUM_THREADS=1, and the
# same thread count gives the same float arithmetic (the comparisons below are to 1e-6)
torch.set_num_threads(1)

EPOCHS = 3
# tiny-cls on the built-in digits at 32 px: ~1-3 s per epoch on 2 shared cores (see tests/test_train.py)
TRAIN_ARGS = ["train", "--model", "tiny-cls", "--data", "digits", "--epochs", str(EPOCHS), "--imgsz", "32",
              "--batch-size", "128", "--lr0", "0.02", "--optimizer", "SGD", "--no-augment", "--workers", "0",
              "--device", "cpu", "--no-plots"]


@pytest.fixture(scope="module", autouse=True)
def datasets_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    d = tmp_path_factory.mktemp("datasets")
    old = os.environ.get("YOLOCLS_DATASETS")
    os.environ["YOLOCLS_DATASETS"] = str(d)
    from yolocls.data.digits import materialize_digits

    materialize_digits()  # once, before any subprocess races to write it
    yield d
    if old is None:
        os.environ.pop("YOLOCLS_DATASETS", None)
    else:
        os.environ["YOLOCLS_DATASETS"] = old


def _env() -> dict[str, str]:
    # the kill is timed from tqdm's bar on stderr, which a pipe would otherwise turn into one line per epoch
    return {**os.environ, "OMP_NUM_THREADS": "1", "YOLOCLS_PROGRESS": "bars"}


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _cli(args: list[str]) -> Any:
    from yolocls.cli.app import app

    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, (r.exit_code, r.output[-3000:], r.exception)
    return r


def _temp_files(run: Path) -> list[Path]:
    return [p for p in run.rglob(".*.tmp")]


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The uninterrupted reference run (same flags)."""
    project = tmp_path_factory.mktemp("full")
    _cli([*TRAIN_ARGS, "--project", str(project), "--name", "full"])
    return project / "full"


def _kill_mid_epoch(project: Path, name: str) -> tuple[int, int]:
    """Start `yolocls train`, SIGKILL it during epoch 2 or later; returns (completed epochs, batch it died near)."""
    cmd = [sys.executable, "-m", "yolocls", *TRAIN_ARGS, "--project", str(project), "--name", name]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    results = project / name / "results.csv"
    progress = re.compile(rb"epoch (\d+)/\d+:\s+\d+%\|[^|]*\|\s*(\d+)/(\d+)")
    seen: dict[str, tuple[int, int]] = {}

    def watch() -> None:  # tqdm's progress on stderr says which epoch and batch the run is in
        assert proc.stderr is not None
        buf = b""
        while chunk := proc.stderr.read1(4096):  # type: ignore[attr-defined]
            buf = (buf + chunk)[-4096:]
            for m in progress.finditer(buf):
                seen["last"] = (int(m.group(1)), int(m.group(2)))

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    deadline = time.time() + 180
    try:
        while time.time() < deadline and proc.poll() is None:
            rows = len(_read_csv(results)) if results.is_file() else 0
            ep, batch = seen.get("last", (0, 0))
            # >= 1 epoch on disk, and the progress bar shows batches of the next epoch (not its first or last)
            if rows >= 1 and ep == rows + 1 and 2 <= batch:
                break
            time.sleep(0.05)
        assert proc.poll() is None, f"the run ended before it could be killed (rc {proc.returncode})"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    t.join(timeout=5)
    assert proc.stderr is not None
    proc.stderr.close()  # the pipe the watcher read (left open it is a ResourceWarning, an error in the tests)
    assert proc.returncode == -signal.SIGKILL
    rows = len(_read_csv(results))
    return rows, seen.get("last", (0, 0))[1]


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(full_run: Path, tmp_path: Path) -> None:
    from yolocls.models.checkpoint import load_model, read_checkpoint

    completed, batch = _kill_mid_epoch(tmp_path, "killed")
    run = tmp_path / "killed"
    assert 1 <= completed < EPOCHS, "the kill must land before the run finished"
    print(f"killed after {completed} completed epoch(s), near batch {batch} of epoch {completed + 1}")

    # what the kill left is loadable and consistent: last.pt is the last completed epoch, results.csv its rows
    ck = read_checkpoint(run / "weights" / "last.pt")
    assert ck["epoch"] == completed - 1 and ck["optimizer"] is not None
    rows = _read_csv(run / "results.csv")
    assert [int(r["epoch"]) for r in rows] == list(range(1, completed + 1))
    assert load_model(run / "weights" / "best.pt").num_classes == 10
    full_rows = _read_csv(full_run / "results.csv")
    assert rows == full_rows[:completed]  # identical up to the kill (the same run, so far)
    leftovers = _temp_files(run)  # only an atomic write caught mid-way could leave one; never a real file
    assert all(p.name.startswith(".") for p in leftovers)

    # resume (the newest last.pt under the project, like `yolocls train --resume`)
    _cli(["train", "--resume", "--project", str(tmp_path), "--device", "cpu", "--workers", "0"])
    assert not _temp_files(run)
    resumed = _read_csv(run / "results.csv")
    assert [int(r["epoch"]) for r in resumed] == list(range(1, EPOCHS + 1))
    for a, b in zip(full_rows, resumed, strict=True):
        for k in RESULT_KEYS:
            assert float(a[k]) == pytest.approx(float(b[k]), rel=1e-6, abs=1e-9), (k, a, b)
    _assert_same_state(read_checkpoint(full_run / "weights" / "last.pt"), read_checkpoint(run / "weights" / "last.pt"))


def _assert_same_state(ca: dict[str, Any], cb: dict[str, Any]) -> None:
    """Weights, EMA, optimizer, scheduler and counters of two checkpoints agree."""
    assert ca["epoch"] == cb["epoch"] == EPOCHS - 1 and ca["updates"] == cb["updates"]
    assert ca["scheduler"]["last_epoch"] == cb["scheduler"]["last_epoch"]
    assert ca["scheduler"]["_last_lr"] == pytest.approx(cb["scheduler"]["_last_lr"])
    sa, sb = ca["optimizer"], cb["optimizer"]
    assert [g["lr"] for g in sa["param_groups"]] == pytest.approx([g["lr"] for g in sb["param_groups"]])
    assert sa["state"].keys() == sb["state"].keys()
    for k in sa["state"]:
        for name, t in sa["state"][k].items():
            assert torch.allclose(torch.as_tensor(t), torch.as_tensor(sb["state"][k][name]), atol=1e-6), (k, name)
    for key in ("state_dict", "ema_state_dict"):
        assert ca[key].keys() == cb[key].keys()
        for name, t in ca[key].items():
            assert torch.allclose(t.float(), cb[key][name].float(), atol=1e-6), (key, name)


_CRASH_IN_SAVE = r"""
import os, signal, sys
from pathlib import Path
import torch
from yolocls.models.checkpoint import read_checkpoint, save_checkpoint, model_from_checkpoint
from yolocls.engine.trainer import RESULT_KEYS, write_results_csv

last, csv_path, what = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
ck = read_checkpoint(last)
model = model_from_checkpoint(ck, use_ema=False)
with torch.no_grad():
    for p in model.parameters():
        p.add_(1.0)  # a visibly different checkpoint
os.replace = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)  # die after the temp write, before the rename
if what == "ckpt":
    save_checkpoint(last, model, optimizer=ck["optimizer"], scheduler=ck["scheduler"], epoch=ck["epoch"] + 1,
                    updates=ck["updates"], train_args=ck["train_args"])
else:
    write_results_csv(csv_path, [{k: 99.0 for k in RESULT_KEYS}])
print("not reached")
"""


def test_kill_between_temp_write_and_rename_keeps_old_files(tmp_path: Path) -> None:
    """The worst moment for a kill: the new file is fully written but not yet renamed over the old one."""
    from yolocls.models.checkpoint import read_checkpoint

    _cli([*TRAIN_ARGS[:6], "1", *TRAIN_ARGS[7:], "--project", str(tmp_path), "--name", "r"])
    run = tmp_path / "r"
    last, results = run / "weights" / "last.pt", run / "results.csv"
    before_ck, before_csv = last.read_bytes(), results.read_bytes()
    for what in ("ckpt", "csv"):
        p = subprocess.run([sys.executable, "-c", _CRASH_IN_SAVE, str(last), str(results), what], env=_env(),
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == -signal.SIGKILL, p.stderr[-2000:]
        assert "not reached" not in p.stdout
    assert last.read_bytes() == before_ck and results.read_bytes() == before_csv  # old files untouched
    tmps = _temp_files(run)
    assert {t.name.split(".")[1] for t in tmps} == {"last", "results"}, tmps  # the orphaned temp files
    assert read_checkpoint(last)["epoch"] == 0

    # the orphans break nothing: --resume reads the intact last.pt (this run is finished, so it says so in one
    # line) and clears the orphans
    from yolocls.cli.app import app

    r = CliRunner().invoke(app, ["train", "--resume", str(last), "--device", "cpu", "--workers", "0"])
    assert r.exit_code == 2 and "already finished" in r.stderr, r.output
    assert not _temp_files(run)
    assert last.read_bytes() == before_ck
