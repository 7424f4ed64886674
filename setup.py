"""Build hooks: compile the detectors' hot path with Cython, where a C compiler is at hand.

Everything else about the package is in ``pyproject.toml``. The compiled modules are the plain
Python sources in ``detectors/`` (Cython's pure-Python mode) with the C types declared beside
them in ``.pxd`` files, so there is one source to read, test and change. ``detectors/__init__.py``
runs the compiled modules only when they were built from the sources on disk (it checks the hashes
recorded here in ``detectors/_build_info.py``) and the plain Python ones otherwise, with a warning
saying how to rebuild: an edit to a detector is never silently ignored.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).parent
#: the detector modules compiled, in dependency order (``detectors.COMPILED_MODULES`` says the same)
COMPILED = ("range_break", "seasonal", "stuck", "likelihood", "ensemble")


def source_hashes() -> dict[str, str]:
    return {m: hashlib.sha256((HERE / "detectors" / f"{m}.py").read_bytes()).hexdigest() for m in COMPILED}


class OptionalBuildExt(build_ext):
    """Compile if possible; without a compiler the detectors run as plain Python (slower)."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler, no headers: still installable
            self.warn(f"opswatch: detectors not compiled ({exc}); the plain Python ones will run, slower")
            return
        info = ('"""Written by setup.py: the sources the compiled detector modules were built from."""\n\n'
                f"SOURCE_SHA256 = {source_hashes()!r}\n")
        targets = [Path(self.build_lib) / "detectors"]
        if self.inplace or getattr(self, "editable_mode", False):
            targets.append(HERE / "detectors")
        for target in targets:
            target.mkdir(parents=True, exist_ok=True)
            (target / "_build_info.py").write_text(info)

    def get_outputs(self) -> list[str]:
        return [*super().get_outputs(), str(Path(self.build_lib) / "detectors" / "_build_info.py")]


def extensions() -> list[Extension]:
    try:
        from Cython.Build import cythonize
    except ImportError:  # building without the build requirements (e.g. setup.py by hand)
        return []
    try:
        return cythonize(
            [Extension(f"detectors.{m}", [f"detectors/{m}.py"]) for m in COMPILED],
            # the C types come from the .pxd files only: the annotations stay for people and mypy
            compiler_directives={"language_level": "3", "binding": True, "annotation_typing": False},
            quiet=True,
        )
    except Exception as exc:  # a source Cython cannot compile: install the plain Python detectors
        print(f"opswatch: detectors not compiled ({exc}); the plain Python ones will run, slower")
        return []


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
