"""Benchmarking: latency per stage and end to end of zoo models and model files on every backend here.

- :mod:`yolocls.benchmark.runner`: what is measured and how (sources, cached exports, interleaved timing, rows).
- :mod:`yolocls.benchmark.report`: the report dict (JSON form), statistics, text/markdown tables and the plot.

``yolocls benchmark`` is the command line over both; ``import yolocls.benchmark`` imports neither (NumPy-only
modules, but the runner pulls in the runtime on first use).
"""

from __future__ import annotations

from yolocls._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "BenchmarkSettings": "yolocls.benchmark.runner",
    "run_benchmark": "yolocls.benchmark.runner",
    "iter_benchmark": "yolocls.benchmark.runner",
    "new_report": "yolocls.benchmark.report",
    "render_text": "yolocls.benchmark.report",
    "render_markdown": "yolocls.benchmark.report",
    "save_json": "yolocls.benchmark.report",
    "load_json": "yolocls.benchmark.report",
    "plot_latency": "yolocls.benchmark.report",
})
