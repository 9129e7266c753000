"""Inline SVG drawn on the server: a DAG in layers, and a run's step timeline.

Every label is escaped here, so the templates may insert the result as markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from markupsafe import Markup

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 230, 34, 40, 46, 12
STATUS_CLASS = {
    "succeeded": "ok",
    "cached": "cached",
    "failed": "failed",
    "running": "running",
    "pending": "pending",
    "skipped": "pending",
}


def layers(nodes: Sequence[str], edges: Sequence[tuple[str, str]]) -> list[list[str]]:
    """Nodes grouped by their longest distance from a source (Kahn's order, so cycles end it)."""
    preds: dict[str, list[str]] = {n: [] for n in nodes}
    succs: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        if a in preds and b in preds:
            preds[b].append(a)
            succs[a].append(b)
    indegree = {n: len(p) for n, p in preds.items()}
    depth = dict.fromkeys(nodes, 0)
    ready = [n for n in nodes if indegree[n] == 0]
    seen = []
    while ready:
        node = ready.pop(0)
        seen.append(node)
        for nxt in succs[node]:
            depth[nxt] = max(depth[nxt], depth[node] + 1)
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                ready.append(nxt)
    for node in nodes:  # nodes on a cycle: put them after everything else
        if node not in seen:
            depth[node] = max(depth.values(), default=0) + 1
    grouped: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for node in nodes:
        grouped[depth[node]].append(node)
    return grouped


def dag_svg(
    nodes: Sequence[str],
    edges: Sequence[tuple[str, str]],
    status: dict[str, str] | None = None,
    title: str = "pipeline DAG",
) -> Markup:
    """The DAG top to bottom, one row per layer; nodes coloured by `status` when given."""
    rows = layers(nodes, edges)
    width = max((len(r) for r in rows), default=1) * (NODE_W + GAP_X) - GAP_X + 2 * PAD
    height = len(rows) * (NODE_H + GAP_Y) - GAP_Y + 2 * PAD
    pos: dict[str, tuple[float, float]] = {}
    for i, row in enumerate(rows):
        row_w = len(row) * (NODE_W + GAP_X) - GAP_X
        x0 = (width - row_w) / 2
        for j, node in enumerate(row):
            pos[node] = (x0 + j * (NODE_W + GAP_X), PAD + i * (NODE_H + GAP_Y))
    parts = [
        f'<svg class="dag" xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" '
        f'height="{max(height, NODE_H):.0f}" viewBox="0 0 {width:.0f} {max(height, NODE_H):.0f}" '
        f'role="img" aria-label="{escape(title)}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z"/></marker></defs>',
    ]
    for a, b in edges:
        if a in pos and b in pos:
            (ax, ay), (bx, by) = pos[a], pos[b]
            x1, y1, x2, y2 = ax + NODE_W / 2, ay + NODE_H, bx + NODE_W / 2, by
            mid = (y1 + y2) / 2
            parts.append(
                f'<path class="edge" d="M {x1:.0f} {y1:.0f} C {x1:.0f} {mid:.0f}, {x2:.0f} {mid:.0f}, '
                f'{x2:.0f} {y2:.0f}" marker-end="url(#arrow)"/>'
            )
    for node, (x, y) in pos.items():
        state = (status or {}).get(node, "")
        label = node if len(node) <= 30 else node[:29] + "…"
        parts.append(
            f'<g class="node {STATUS_CLASS.get(state, "")}"><title>{escape(node)}'
            f"{escape(' (' + state + ')') if state else ''}</title>"
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{NODE_W}" height="{NODE_H}" rx="6"/>'
            f'<text x="{x + NODE_W / 2:.0f}" y="{y + NODE_H / 2 + 4:.0f}">{escape(label)}</text></g>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def timeline_svg(steps: Sequence[dict[str, Any]], run_started: float | None) -> Markup:
    """One bar per step from its start to its end, on a shared time axis starting at the run."""
    timed = [s for s in steps if s.get("started")]
    if not timed:
        return Markup('<p class="muted">no step has started</p>')
    t0 = min([float(s["started"]) for s in timed] + ([run_started] if run_started else []))
    t1 = max(float(s.get("ended") or s["started"]) for s in timed)
    span = max(t1 - t0, 1e-3)
    label_w, bar_w, row_h = 250, 640, 22
    height = len(steps) * row_h + 28
    parts = [
        f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 70}" '
        f'height="{height}" role="img" aria-label="step timeline">'
    ]
    for i, step in enumerate(steps):
        y = 4 + i * row_h
        name = str(step["name"])
        parts.append(
            f'<text class="label" x="{label_w - 8}" y="{y + 14}">{escape(name[:34])}</text>'
        )
        if not step.get("started"):
            continue
        start = float(step["started"]) - t0
        end = float(step.get("ended") or step["started"]) - t0
        x = label_w + bar_w * start / span
        w = max(2.0, bar_w * (end - start) / span)
        state = "cached" if step.get("cache_hit") else step.get("status", "")
        parts.append(
            f'<g class="bar {STATUS_CLASS.get(state, "")}"><title>{escape(name)}: '
            f"{end - start:.2f} s ({escape(state)})</title>"
            f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row_h - 6}" rx="2"/></g>'
            f'<text class="secs" x="{x + w + 4:.1f}" y="{y + 13}">{end - start:.2f} s</text>'
        )
    axis_y = height - 8
    for k in range(5):
        x = label_w + bar_w * k / 4
        parts.append(f'<text class="axis" x="{x:.0f}" y="{axis_y}">{span * k / 4:.1f} s</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
