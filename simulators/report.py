"""The backtest report: one HTML page with the scorecard tables and a plotly figure per disruption.

Where this sits in the flow: ... -> incident -> rule -> **sink** (a file a person opens). Each
figure shows the affected series around one ground-truth window: the value on top, the detector's
anomaly score below (when the series has one), the ground truth as a green band, every incident
the core opened on that entity as a red band (opened -> resolved) and the detection as a line.
plotly.js is inlined once, so the page opens offline.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from simulators.backtest import RunResult, _truth_key


def _plotly():
    try:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots
    except ImportError as exc:  # pragma: no cover - listed in the dependencies
        raise ImportError("the backtest report needs plotly: pip install 'plotly>=5.20,<7'") from exc
    return go, make_subplots


#: Readings further apart than this are drawn with a gap (a silent site must look silent).
GAP = timedelta(minutes=5)


def _with_gaps(ts: list, values: list, gap: timedelta | None) -> tuple[list, list]:
    if gap is None:
        return ts, values
    xs, ys = [], []
    for i, (t, v) in enumerate(zip(ts, values, strict=True)):
        if i and t - ts[i - 1] > gap:
            xs.append(ts[i - 1] + gap / 2)
            ys.append(None)
        xs.append(t)
        ys.append(v)
    return xs, ys


def _figure(run: RunResult, verdict, threshold: float):
    go, make_subplots = _plotly()
    g = verdict.truth
    series = run.series.get(_truth_key(g), {})
    score = series.get("anomaly score")
    values = [s for name, s in series.items() if name != "anomaly score"]
    rows = 2 if score is not None else 1
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        row_heights=[0.65, 0.35] if rows == 2 else [1.0])
    for s in values:
        step = "units sold" in s.name
        xs, ys = _with_gaps(s.ts, s.values, None if step else GAP)
        fig.add_trace(go.Scatter(x=xs, y=ys, name=s.name, mode="lines", connectgaps=False,
                                 line_shape="hv" if step or s.name in ("on_hand", "delay_min") else "linear"),
                      row=1, col=1)
    if score is not None:
        fig.add_trace(go.Scatter(x=score.ts, y=score.values, name="anomaly score", mode="lines",
                                 line={"color": "#7f7f7f"}), row=2, col=1)
        fig.add_hline(y=threshold, line_dash="dot", line_color="#d62728", row=2, col=1)
        fig.update_yaxes(range=[0, 1.05], title_text="score", row=2, col=1)
    end = g.end or run.end
    fig.add_vrect(x0=g.start, x1=end, fillcolor="#2ca02c", opacity=0.15, line_width=0,
                  annotation_text="ground truth", annotation_position="top left")
    lo = min((s.ts[0] for s in series.values() if s.ts), default=g.start)
    hi = max((s.ts[-1] for s in series.values() if s.ts), default=end)
    for inc in run.incidents:
        on_entity = inc.entity == g.entity or (g.kind == "site_silent" and inc.site == g.entity)
        if on_entity and inc.opened <= hi and (inc.resolved or run.end) >= lo:
            fig.add_vrect(x0=inc.opened, x1=inc.resolved or run.end, fillcolor="#d62728", opacity=0.12,
                          line_width=0, annotation_text=inc.kind, annotation_position="bottom left")
    if verdict.detected_at is not None:
        fig.add_vline(x=verdict.detected_at, line_color="#d62728", line_width=2)
    state = (f"detected after {verdict.delay_s / 60:.0f} min ({verdict.signal})" if verdict.detected
             else "MISSED")
    fig.update_layout(title=f"{g.disruption}: {g.kind} on {g.entity} - {state}", height=360 if rows == 2 else 280,
                      margin={"l": 50, "r": 20, "t": 50, "b": 30}, legend={"orientation": "h", "y": -0.15},
                      template="plotly_white")
    return fig


def _table(headers: Sequence[str], rows: Sequence[Sequence]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


CSS = """body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px}
th{background:#f3f3f3}.missed{color:#b00;font-weight:bold}h2{margin-top:32px}.note{color:#666;font-size:13px}"""


def write_report(path: Path, runs: Sequence[RunResult], summary: dict, threshold: float,
                 runtime_s: float | None = None) -> Path:
    """Write the HTML report; returns the path."""
    go, _ = _plotly()
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>opswatch backtest</title>"
             f"<style>{CSS}</style></head><body>",
             "<h1>opswatch backtest</h1>",
             f"<p class='note'>seed {summary.get('seed')}, world preset {summary.get('preset')}, "
             f"{len(runs)} scenario runs, grace {summary['grace_min']:.0f} min after each disruption"
             + (f", {runtime_s:.0f} s on this machine" if runtime_s is not None else "") + "</p>",
             "<h2>Per disruption kind</h2>"]
    rows = []
    for name, r in summary["by_disruption"].items():
        rows.append([name, r["incident_kind"], f"{r['detected']}/{r['disruptions']}",
                     "-" if r["median_delay_min"] is None else r["median_delay_min"],
                     "-" if r["max_delay_min"] is None else r["max_delay_min"],
                     ", ".join(r["signal"]) or "-",
                     "-" if r["false_incidents_per_entity_per_day"] is None else r["false_incidents_per_entity_per_day"],
                     r["related_incidents"], r["recommendations"], ", ".join(r["recommendation_kinds"]) or "-"])
    parts.append(_table(["disruption", "incident kind", "detected", "median delay (min)", "max delay (min)",
                         "signal", "false incidents / entity / day", "related incidents", "recommendations",
                         "recommendation kinds"],
                        rows).replace("<td>0/", "<td class='missed'>0/"))
    parts.append("<h2>False incidents by kind</h2>")
    parts.append(_table(["incident kind", "false incidents", "entity-days", "per entity per day"],
                        [[k, v["false_incidents"], v["entity_days"], v["per_entity_per_day"]]
                         for k, v in summary["false_incidents_by_kind"].items()]))
    parts.append("<p class='note'>sensor_fault counts temperature anomaly episodes (score at or above the "
                 "threshold, door-open readings excluded) outside any disruption of that fridge: the noise of "
                 "the signal stuck and drifting probes are judged by. It pages nobody on its own.</p>")
    first = True
    for run in runs:
        parts.append(f"<h2>{html.escape(run.name)}</h2><p>{html.escape(run.description)}</p>")
        parts.append(_table(["entity", "kind", "start", "end", "detected", "delay (min)", "related incidents",
                             "recommendations"],
                            [[v.truth.entity, v.truth.kind, f"{v.truth.start:%a %H:%M}",
                              f"{v.truth.end:%a %H:%M}" if v.truth.end else "-",
                              "yes" if v.detected else "MISSED",
                              "-" if v.delay_s is None else round(v.delay_s / 60, 1),
                              len(v.related), ", ".join(v.recommendations) or "-"] for v in run.verdicts]))
        if run.false_incidents:
            parts.append("<p>False incidents: " + html.escape(", ".join(
                f"{s.kind} on {s.entity} at {s.opened:%a %H:%M}" for s in run.false_incidents)) + "</p>")
        for v in run.verdicts:
            fig = _figure(run, v, threshold)
            parts.append(fig.to_html(full_html=False, include_plotlyjs=True if first else False,
                                     config={"displaylogo": False}))
            first = False
    parts.append("</body></html>")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def screenshot(html_path: Path, png_path: Path, width: int = 1280, height: int = 2200) -> Path:
    """A PNG of the report with headless Chromium (for the README); raises if Chromium is missing."""
    import shutil
    import subprocess

    exe = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    if exe is None:
        raise FileNotFoundError("a PNG of the report needs Chromium: apt-get install chromium")
    png_path = Path(png_path)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--window-size={width},{height}", "--virtual-time-budget=8000",
                    f"--screenshot={png_path.resolve()}", Path(html_path).resolve().as_uri()],
                   check=True, capture_output=True, timeout=120)
    return png_path
