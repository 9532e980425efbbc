"""Validation (torch model, checkpoint path, exported ONNX) and prediction (fixture images), library and CLI."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

pytestmark = pytest.mark.slow  # every test uses `trained`: a 4-epoch training run on digits
runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """best.pt of a short tiny-cls run on digits at 32 px (good enough to make predictions non-trivial)."""
    from yolocls.engine.trainer import TrainConfig, Trainer

    d = tmp_path_factory.mktemp("valpred")
    old_env, old_threads = os.environ.get("YOLOCLS_DATASETS"), torch.get_num_threads()
    os.environ["YOLOCLS_DATASETS"] = str(d / "datasets")
    torch.set_num_threads(1)
    r = Trainer(TrainConfig(model="tiny-cls", data="digits", imgsz=32, batch_size=32, lr0=0.02, augment=False,
                            epochs=4, workers=0, device="cpu", progress=False, plots=False,
                            project=str(d), name="m")).train()
    yield r.best
    torch.set_num_threads(old_threads)
    if old_env is None:
        os.environ.pop("YOLOCLS_DATASETS", None)
    else:
        os.environ["YOLOCLS_DATASETS"] = old_env


@pytest.fixture(scope="module")
def onnx_file(trained: Path) -> Path:
    from yolocls.export.onnx import export_onnx
    from yolocls.models.checkpoint import load_model

    out = trained.parent / "best.onnx"
    export_onnx(load_model(trained), out, simplify=False)
    return out


def test_validate_torch_model_and_checkpoint_path(trained: Path) -> None:
    from yolocls.engine.validator import validate
    from yolocls.models.checkpoint import load_model

    model = load_model(trained)
    a = validate(model, "digits", batch_size=64, progress=False)
    b = validate(str(trained), "digits", batch_size=50, progress=False)
    assert a.num_images == b.num_images == 355
    assert a.top1 == b.top1 and a.top5 == b.top5 and a.loss == pytest.approx(b.loss, rel=1e-5)
    assert 0.5 < a.top1 <= a.top5 <= 1.0
    assert a.confusion.shape == (10, 10) and a.confusion.sum() == 355
    assert np.trace(a.confusion) == round(a.top1 * 355)
    support = a.confusion.sum(axis=1)
    np.testing.assert_allclose(a.per_class, np.diag(a.confusion) / support)
    assert set(a.speed) == {"preprocess", "inference", "postprocess"} and all(v >= 0 for v in a.speed.values())
    assert a.to_dict()["per_class"].keys() == set(model.names)


def test_validate_onnx_agrees_with_torch(trained: Path, onnx_file: Path) -> None:
    from yolocls import runtime
    from yolocls.engine.validator import validate

    ref = validate(str(trained), "digits", batch_size=64, progress=False)
    for backend in ("onnxruntime", None):  # None: the default CPU backend for .onnx (OpenVINO when installed)
        be = runtime.load(onnx_file, backend=backend, device="cpu")
        r = validate(be, "digits", batch_size=64, progress=False)
        assert r.backend == be.name
        # float differences may flip an image whose top-2 logits tie; allow one image of 355
        assert abs(r.top1 - ref.top1) <= 1 / 355 + 1e-12, (be.name, r.top1, ref.top1)
        assert abs(r.top5 - ref.top5) <= 1 / 355 + 1e-12
        assert r.loss == pytest.approx(ref.loss, abs=1e-3)
        assert np.abs(r.confusion - ref.confusion).sum() <= 2


def test_validate_rejects_dataset_with_other_classes(trained: Path, tmp_path: Path, fixture_images: list[Path]
                                                     ) -> None:
    import shutil

    from yolocls.engine.validator import validate
    from yolocls.errors import DatasetError, InputError

    for cls, img in (("cat", fixture_images[0]), ("rocket", fixture_images[-1])):
        (tmp_path / "val" / cls).mkdir(parents=True)
        shutil.copy(img, tmp_path / "val" / cls / img.name)
    with pytest.raises(DatasetError, match="2 classes but the model predicts 10"):
        validate(str(trained), tmp_path, progress=False)
    with pytest.raises(DatasetError):
        validate(str(trained), tmp_path / "missing", progress=False)
    with pytest.raises(InputError, match="needs data"):
        validate(str(trained), progress=False)


def test_predict_fixture_images(trained: Path, fixture_images: list[Path], tmp_path: Path) -> None:
    from yolocls.engine.predictor import predict
    from yolocls.models.checkpoint import load_model

    names = load_model(trained).names
    seen: list[str] = []
    res = predict(str(trained), str(fixture_images[0].parent), topk=3, device="cpu", save="json",
                  project=str(tmp_path), name="p", on_frame=lambda fp: seen.append(fp.name))
    assert len(res.frames) == len(fixture_images) == len(seen) and not res.skipped
    for fp in res.frames:
        assert len(fp.top) == 3
        probs = [p.prob for p in fp.top]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
        assert all(p.name == names[p.class_id] for p in fp.top)
        assert set(fp.timings) == {"preprocess", "inference", "postprocess"}
    saved = json.loads(res.saved.read_text())
    assert res.saved == tmp_path / "p" / "predictions.json"
    assert [s["source"] for s in saved] == [fp.name for fp in res.frames]
    # the same frame through the runtime directly gives the same top-k
    from yolocls import runtime

    direct = runtime.load(trained).predict([str(fixture_images[0])], topk=3)[0]
    assert [p.class_id for p in direct] == [p.class_id for p in res.frames[0].top]
    # CSV output: a header plus one row per frame
    res2 = predict(str(trained), str(fixture_images[0]), topk=2, device="cpu", save="csv", project=str(tmp_path),
                   name="p")
    lines = res2.saved.read_text().splitlines()
    assert res2.saved.parent.name == "p2" and len(lines) == 2 and lines[0].startswith("source,index,top1_id")


def _app():
    from yolocls.cli.app import app

    return app


def _one_line(result) -> str:
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_cli_val_and_predict(trained: Path, onnx_file: Path, fixture_images: list[Path]) -> None:
    app = _app()
    r = runner.invoke(app, ["val", "--weights", str(trained), "--data", "digits", "--device", "cpu", "--verbose"])
    assert r.exit_code == 0, r.output
    assert "top1" in r.stdout and "per-class accuracy" in r.stdout and "355" in r.stdout
    r = runner.invoke(app, ["val", "--weights", str(onnx_file), "--data", "digits", "--device", "cpu", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["num_images"] == 355
    r = runner.invoke(app, ["predict", "--weights", str(trained), "--source", str(fixture_images[0]), "--topk", "3",
                            "--device", "cpu"])
    assert r.exit_code == 0, r.output
    first = r.stdout.splitlines()[0]
    assert fixture_images[0].name in first and "ms inference" in first and first.split("(")[0].count(",") == 2
    assert "1 frame(s) with torch" in r.stdout


def test_cli_error_paths(trained: Path, onnx_file: Path, tmp_path: Path) -> None:
    app = _app()
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"this is not a jpeg")
    r = runner.invoke(app, ["predict", "--weights", str(trained), "--source", str(bad), "--device", "cpu"])
    assert r.exit_code == 2 and "bad.jpg" in _one_line(r)
    r = runner.invoke(app, ["predict", "--weights", str(tmp_path / "nope.pt"), "--source", str(bad)])
    assert r.exit_code == 2 and "nope.pt" in _one_line(r)
    r = runner.invoke(app, ["predict", "--weights", str(trained), "--source", str(tmp_path / "missing_dir")])
    assert r.exit_code == 2 and "not found" in _one_line(r)
    r = runner.invoke(app, ["val", "--weights", str(trained), "--data", str(tmp_path / "nodata"), "--device", "cpu"])
    assert r.exit_code == 2 and "not found" in _one_line(r)
    r = runner.invoke(app, ["val", "--weights", str(onnx_file), "--data", "digits", "--imgsz", "64"])
    assert r.exit_code == 2 and "re-export" in _one_line(r)
    r = runner.invoke(app, ["predict", "--weights", str(trained), "--source", str(bad), "--save", "xml"])
    assert r.exit_code == 2 and "--save" in r.stderr
