"""Pickling for detector parts that may be compiled (see ``detectors/__init__.py``).

A compiled part has no ``__dict__``, so each part names its state in ``_STATE`` and pickles as
that dict, the same shape the plain-Python class pickles as. Checkpoints therefore load whether
the detectors that wrote them were compiled or not, and those written before the parts were
compiled load too.
"""

from __future__ import annotations

import copyreg


def state_reduce(obj) -> tuple:
    """``__reduce__`` for a part: rebuilt without ``__init__``, then given its named state."""
    return copyreg.__newobj__, (type(obj),), {name: getattr(obj, name) for name in obj._STATE}


def restore_state(obj, state: dict) -> None:
    """``__setstate__`` for a part: set each named attribute (old pickles may carry memos: skipped)."""
    names = obj._STATE
    for name, value in state.items():
        if name in names:
            setattr(obj, name, value)
