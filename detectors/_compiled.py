"""Which implementation of the detectors' hot path runs: compiled, or the plain Python sources.

``setup.py`` compiles ``COMPILED_MODULES`` with Cython and records the hash of each source it
compiled (``detectors/_build_info.py``). The compiled modules run only when every one of them is
there and was built from the source now on disk; otherwise (an edited source, a machine without a
C compiler, or ``OPSWATCH_PURE_PYTHON=1``) the plain Python sources run, which give the same
results (``tests/detectors/test_compiled.py``) more slowly.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import warnings
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

#: compiled by setup.py, in dependency order
COMPILED_MODULES = ("range_break", "seasonal", "stuck", "likelihood", "ensemble")
#: whether the compiled modules are the ones running (set by ``choose_implementation``)
COMPILED = False

_HERE = Path(__file__).parent


def _built(module: str) -> bool:
    return any((_HERE / f"{module}{suffix}").exists() for suffix in EXTENSION_SUFFIXES)


def _stale() -> list[str]:
    """The compiled modules whose source changed since they were built (all of them if unknown)."""
    try:
        from detectors._build_info import SOURCE_SHA256
    except ImportError:
        return list(COMPILED_MODULES)
    return [m for m in COMPILED_MODULES
            if SOURCE_SHA256.get(m) != hashlib.sha256((_HERE / f"{m}.py").read_bytes()).hexdigest()]


def choose_implementation() -> None:
    global COMPILED
    built = [m for m in COMPILED_MODULES if _built(m)]
    if not built:
        return  # nothing compiled: the sources are what import finds
    if os.environ.get("OPSWATCH_PURE_PYTHON", "") not in ("", "0"):
        _load_sources()
        return
    stale = _stale()
    if stale or len(built) < len(COMPILED_MODULES):
        warnings.warn(f"detectors: the compiled {', '.join(stale or COMPILED_MODULES)} are older than the "
                      f"sources; running the plain Python detectors (slower). Rebuild with "
                      f"`pip install -e .`", stacklevel=3)
        _load_sources()
        return
    COMPILED = True


def _load_sources() -> None:
    """Import every compiled module from its ``.py`` source instead (all or none: they share types)."""
    for m in COMPILED_MODULES:
        name = f"detectors.{m}"
        spec = importlib.util.spec_from_file_location(name, _HERE / f"{m}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
