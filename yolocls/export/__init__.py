"""Export: PyTorch classifier -> ONNX (metadata, onnxsim, fp16, verified), Triton repository, TensorRT engine.

Main entry points (imported lazily, so ``import yolocls.export`` stays cheap)::

    from yolocls.export import export_onnx, read_metadata, export_triton
    res = export_onnx(model, "model.onnx", half=False)      # ExportResult: path, metadata, nodes, verification
    export_triton(res.path, "model_repository")              # <repo>/<name>/config.pbtxt + 1/model.onnx

TensorRT engines: :func:`yolocls.export.tensorrt.build_engine` (needs TensorRT and a GPU).
"""

from __future__ import annotations

from yolocls._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "export_onnx": "yolocls.export.onnx",
    "read_metadata": "yolocls.export.onnx",
    "write_metadata": "yolocls.export.onnx",
    "ExportResult": "yolocls.export.onnx",
    "MIN_OPSET": "yolocls.export.onnx",
    "MAX_OPSET": "yolocls.export.onnx",
    "simplify_onnx": "yolocls.export.simplify",
    "convert_to_fp16": "yolocls.export.fp16",
    "verify_onnx": "yolocls.export.verify",
    "VerificationReport": "yolocls.export.verify",
    "export_triton": "yolocls.export.triton",
    "FORMATS": "yolocls.export.formats",
    "ExportFormat": "yolocls.export.formats",
    "get_format": "yolocls.export.formats",
}, submodules=("calibration", "formats", "fp16", "onnx", "simplify", "tensorrt", "triton", "verify"))
