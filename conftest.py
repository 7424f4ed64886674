"""Repository-wide pytest set-up, loaded before anything is collected.

The doctests of ``detectors/`` run against the modules that really run: the compiled ones when
they are built (``detectors/_compiled.py``). pytest refuses a module whose ``__file__`` is not
the ``.py`` it collected, which a compiled module's ``.so`` never is; pytest's own switch for
that check turns it off.
"""

import os

os.environ.setdefault("PY_IGNORE_IMPORTMISMATCH", "1")
