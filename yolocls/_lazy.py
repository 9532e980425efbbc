"""One helper for the packages that import their names on first use (``import yolocls.x`` stays cheap).

Each lazy package says what it offers in one table and gets its module-level ``__getattr__``/``__dir__``::

    __getattr__, __dir__, __all__ = lazy_exports(__name__, {"Trainer": "yolocls.engine.trainer"},
                                                 submodules=("trainer",))

A name maps to the module that defines it; a submodule name is imported as ``<package>.<name>`` and returned
itself. Either is cached in the package's namespace, so the second access is a plain attribute lookup.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_exports(package: str, names: Mapping[str, str], submodules: Iterable[str] = (),
                 eager: Iterable[str] = ()) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` for ``package``.

    Args:
        package: the package's ``__name__``.
        names: attribute name -> module that defines it (imported when the name is first used).
        submodules: subpackage/module names reachable as attributes (``yolocls.runtime`` after ``import yolocls``).
        eager: names the package defines itself (listed in ``__all__`` and ``dir()``).
    """
    table = dict(names)
    subs = tuple(submodules)
    public = [*eager, *table, *subs]

    def __getattr__(name: str) -> Any:
        if name in table:
            value = getattr(importlib.import_module(table[name]), name)
        elif name in subs:
            value = importlib.import_module(f"{package}.{name}")
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        setattr(sys.modules[package], name, value)  # the next access skips __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(set(public) | set(vars(sys.modules[package])))

    return __getattr__, __dir__, sorted(public)
