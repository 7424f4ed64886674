"""``python -m streams.dashboards [DIR]``: regenerate deploy/grafana (dashboards, provisioning, layout)."""

from __future__ import annotations

import sys
from pathlib import Path

from streams.dashboards import write_all
from streams.dashboards.layout import render_all

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "deploy" / "grafana"


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else DEFAULT_ROOT
    files = write_all(root)
    print(f"wrote {len(files)} files under {root}")
    try:
        pngs = render_all(root / "dashboards", root / "layout")
    except ImportError as exc:
        print(f"skipped layout pictures: {exc}", file=sys.stderr)
    else:
        print(f"rendered {len(pngs)} layout pictures under {root / 'layout'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
