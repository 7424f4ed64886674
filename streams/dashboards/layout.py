"""Pictures of each dashboard's panel grid, drawn from the dashboard JSON, for the README.

Grafana's grid is 24 columns wide with rows of 30 px; each panel is drawn as a box at its
``gridPos`` with its title and type, rows as bands. Needs matplotlib (``pip install matplotlib``).
"""

from __future__ import annotations

import json
from pathlib import Path

PANEL_COLOURS = {
    "timeseries": "#3274d9", "stat": "#56a64b", "table": "#8f3bb8", "geomap": "#e0752d",
    "bargauge": "#f2cc0c", "state-timeline": "#c4162a", "row": "#444444",
}


def render(model: dict, out: Path) -> Path:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.patches import Rectangle
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("drawing dashboard layouts needs matplotlib: pip install matplotlib") from exc

    panels = model["panels"]
    bottom = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    fig, ax = plt.subplots(figsize=(12, max(3.0, bottom * 0.22)), dpi=100)
    ax.set_xlim(0, 24)
    ax.set_ylim(bottom, 0)
    ax.axis("off")
    ax.set_title(model["title"], loc="left", fontsize=14, fontweight="bold")
    for p in panels:
        g = p["gridPos"]
        colour = PANEL_COLOURS.get(p["type"], "#777777")
        if p["type"] == "row":
            ax.add_patch(Rectangle((g["x"], g["y"]), g["w"], g["h"], color=colour, alpha=0.15))
            ax.text(g["x"] + 0.2, g["y"] + g["h"] / 2, p["title"], va="center", fontsize=9,
                    fontweight="bold")
            continue
        ax.add_patch(Rectangle((g["x"] + 0.1, g["y"] + 0.1), g["w"] - 0.2, g["h"] - 0.2,
                               facecolor=colour, alpha=0.25, edgecolor=colour, linewidth=1.5))
        ax.text(g["x"] + 0.4, g["y"] + 0.9, p["title"], va="top", fontsize=8, wrap=True)
        ax.text(g["x"] + 0.4, g["y"] + g["h"] - 0.5, p["type"], va="bottom", fontsize=7,
                color=colour, style="italic")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", metadata={"Software": None})
    plt.close(fig)
    return out


def render_all(dashboards_dir: Path, out_dir: Path) -> list[Path]:
    return [render(json.loads(f.read_text()), out_dir / f"{f.stem}.png")
            for f in sorted(dashboards_dir.glob("*.json"))]
