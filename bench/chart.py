#!/usr/bin/env python3
"""Chart of an `oegd-bench --json` run: throughput and p99 latency against concurrent clients.

    python3 bench/chart.py OUT.svg LABEL=RUN.json [LABEL=RUN.json ...]

One line per (label, connection mode) for the gateway, and dashed lines for the bare TLS/HTTP
baseline measured in the same run (if the run had --baselines). Clients on a log axis.
Standard library only; the SVG has a <title> and <desc> and no scripts or styles.
"""

import json
import math
import sys
from xml.sax.saxutils import escape

W, H = 920, 380
PANEL_W, PANEL_H = 380, 270
LEFT = [70, 530]
TOP = 50
COLOURS = ["#1f5fa8", "#c0392b", "#2e8b57", "#8e44ad", "#d35400", "#555555"]


def series(runs):
    """[(name, mode, [(clients, reports/s, p99 ms)], dashed)] from the labelled runs."""
    out = []
    for label, data in runs:
        modes = {}
        bare = {}
        for r in data["runs"]:
            g = r["gateway"]
            modes.setdefault(r["mode"], []).append((r["clients"], g["throughput_per_s"], g["latency_ms"]["p99"]))
            if r.get("bare_tls_http"):
                b = r["bare_tls_http"]
                bare.setdefault(r["mode"], []).append((r["clients"], b["throughput_per_s"], b["latency_ms"]["p99"]))
        for mode, pts in modes.items():
            out.append((f"{label} {mode}", mode, sorted(pts), False))
        for mode, pts in bare.items():
            out.append((f"bare TLS/HTTP {mode} ({label} run)", mode, sorted(pts), True))
    return out


def nice_max(v):
    if v <= 0:
        return 1
    e = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * e:
            return m * e
    return 10 * e


def panel(x0, title, ylabel, all_series, index, log_y=False):
    clients = sorted({c for _, _, pts, _ in all_series for c, *_ in pts})
    cmin, cmax = min(clients), max(clients)
    values = [p[index] for _, _, pts, _ in all_series for p in pts]
    lx = lambda c: x0 + (0 if cmax == cmin else (math.log(c) - math.log(cmin)) / (math.log(cmax) - math.log(cmin))) * PANEL_W
    if log_y:
        lo = 10 ** math.floor(math.log10(max(min(values), 1e-3)))
        hi = 10 ** math.ceil(math.log10(max(values)))
        ly = lambda v: TOP + PANEL_H - (math.log10(max(v, lo)) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * PANEL_H
        ticks = [10 ** k for k in range(int(math.log10(lo)), int(math.log10(hi)) + 1)]
    else:
        hi = nice_max(max(values))
        ly = lambda v: TOP + PANEL_H - v / hi * PANEL_H
        ticks = [hi * k / 5 for k in range(6)]
    s = [f'<text x="{x0 + PANEL_W / 2}" y="{TOP - 18}" text-anchor="middle" font-size="14" font-weight="bold">{escape(title)}</text>']
    s.append(f'<rect x="{x0}" y="{TOP}" width="{PANEL_W}" height="{PANEL_H}" fill="none" stroke="#999"/>')
    for t in ticks:
        y = ly(t)
        s.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + PANEL_W}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        lab = f"{t:g}" if t < 10000 else f"{t / 1000:g}k"
        s.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{lab}</text>')
    for c in clients:
        x = lx(c)
        s.append(f'<line x1="{x:.1f}" y1="{TOP + PANEL_H}" x2="{x:.1f}" y2="{TOP + PANEL_H + 5}" stroke="#999"/>')
        s.append(f'<text x="{x:.1f}" y="{TOP + PANEL_H + 18}" text-anchor="middle" font-size="11">{c}</text>')
    s.append(f'<text x="{x0 + PANEL_W / 2}" y="{TOP + PANEL_H + 36}" text-anchor="middle" font-size="12">concurrent clients (log scale)</text>')
    s.append(f'<text transform="translate({x0 - 52},{TOP + PANEL_H / 2}) rotate(-90)" text-anchor="middle" font-size="12">{escape(ylabel)}</text>')
    for i, (name, _, pts, dashed) in enumerate(all_series):
        colour = COLOURS[i % len(COLOURS)]
        d = " ".join(f"{'M' if j == 0 else 'L'}{lx(p[0]):.1f},{ly(p[index]):.1f}" for j, p in enumerate(pts))
        dash = ' stroke-dasharray="6 4"' if dashed else ""
        s.append(f'<path d="{d}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
        for p in pts:
            s.append(f'<circle cx="{lx(p[0]):.1f}" cy="{ly(p[index]):.1f}" r="3" fill="{colour}"/>')
    return s


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out = sys.argv[1]
    runs = []
    for arg in sys.argv[2:]:
        label, _, path = arg.partition("=")
        with open(path) as f:
            runs.append((label, json.load(f)))
    all_series = series(runs)
    legend_h = 18 * len(all_series)
    height = H + legend_h
    desc = "; ".join(
        f"{name}: " + ", ".join(f"{c} clients {t:g}/s p99 {p:g} ms" for c, t, p in pts) for name, _, pts, _ in all_series
    )
    s = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" viewBox="0 0 {W} {height}" role="img" font-family="sans-serif">',
        "<title>oegd-bench: accepted reports per second and p99 latency against concurrent clients</title>",
        f"<desc>{escape(desc)}</desc>",
        f'<rect width="{W}" height="{height}" fill="white"/>',
    ]
    s += panel(LEFT[0], "Throughput", "accepted reports per second (log scale)", all_series, 1, log_y=True)
    s += panel(LEFT[1], "Latency p99", "p99 latency in ms (log scale)", all_series, 2, log_y=True)
    for i, (name, _, _, dashed) in enumerate(all_series):
        y = H + 18 * i
        colour = COLOURS[i % len(COLOURS)]
        dash = ' stroke-dasharray="6 4"' if dashed else ""
        s.append(f'<line x1="{LEFT[0]}" y1="{y}" x2="{LEFT[0] + 30}" y2="{y}" stroke="{colour}" stroke-width="2"{dash}/>')
        s.append(f'<text x="{LEFT[0] + 38}" y="{y + 4}" font-size="12">{escape(name)}</text>')
    s.append("</svg>")
    with open(out, "w") as f:
        f.write("\n".join(s) + "\n")


if __name__ == "__main__":
    main()
