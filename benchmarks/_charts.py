"""Charts for the documentation, drawn from the JSON the benchmark scripts write.

Two kinds, each stating the machine and the date it was measured on:

* :func:`comparison` -- per scenario, seconds and requests of bitrix_fast next to
  fast_bitrix24 (a client that died or lost rows is marked, never shown as fast);
* :func:`timeline` -- rows received over time for one export, with the portal's ceiling:
  the bucket's burst at once, then its rate.

matplotlib is the ``bench`` extra; it is imported only when a chart is drawn. Text stays
text in the SVG (``svg.fonttype = none``): the files are small and diff as text.
"""
from __future__ import annotations

import os
import textwrap
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

#: one colour per client, the same in every chart
COLOURS = {"bitrix_fast": "#1f6fb4", "fast_bitrix24": "#e07b24"}
ROWS_PER_REQUEST = 2500  # 50 commands of 50 rows: the batch ceiling

Results = Mapping[str, Mapping[str, Mapping[str, Any]]]  # scenario -> client -> report


def stamp(meta: Mapping[str, Any]) -> str:
    """The footer every chart carries: what machine, what day, how many runs."""
    repeats = meta.get("repeats", 3)
    runs = ("quick run: a tenth of the rows, one run per client" if meta.get("quick")
            else "one run per client" if repeats == 1
            else f"median of {repeats} runs per client")
    return f"{meta.get('machine', 'unknown machine')}; {meta.get('date', '?')}; {runs}"


def verdict(report: Mapping[str, Any]) -> str:
    """'' for a correct run, else a few words on what went wrong."""
    if report.get("error") and not report.get("rows") and not report.get("created"):
        return "died: " + str(report["error"]).split(":")[0]
    if report.get("all_correct", report.get("correct", True)):
        return ""
    return str(report.get("problem") or "wrong result")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.fonttype"] = "none"
    import matplotlib.pyplot as plt

    return plt


def comparison(results: Results, path: str, *, title: str, meta: Mapping[str, Any],
               value: str = "seconds") -> None:
    """Horizontal bars: per scenario, ``value`` (seconds) and requests for each client."""
    plt = _pyplot()
    names = list(results)
    clients = [c for c in COLOURS if any(c in results[n] for n in names)]
    height = 0.8 / max(1, len(clients))
    fig, axes = plt.subplots(1, 2, figsize=(11, 1.2 + 0.34 * len(names) * len(clients)),
                             sharey=True)
    for ax, key, label in ((axes[0], value, "seconds (less is better)"),
                           (axes[1], "requests", "requests to the portal")):
        for k, client in enumerate(clients):
            ys, widths, notes = [], [], []
            for i, name in enumerate(names):
                report = results[name].get(client)
                if report is None:
                    continue
                ys.append(i + (k - (len(clients) - 1) / 2) * height)
                widths.append(float(report.get(key) or 0))
                notes.append(verdict(report))
            bars = ax.barh(ys, widths, height=height * 0.92, color=COLOURS[client],
                           label=client)
            for bar, width, note in zip(bars, widths, notes):
                if note:
                    bar.set_hatch("//")
                    bar.set_alpha(0.55)
                text = f"{width:,.2f}" if key == "seconds" else f"{width:,.0f}"
                short = note.split(":")[0]  # "died", "71 missing": the table has the rest
                ax.annotate(text + (f"  ({short})" if short else ""),
                            (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                            xytext=(3, 0), textcoords="offset points", va="center",
                            fontsize=7.5)
        ax.set_xlabel(label)
        ax.grid(axis="x", alpha=0.3)
        ax.margins(x=0.45)
    axes[0].set_xscale("log")
    axes[0].xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}"))
    axes[0].set_yticks(range(len(names)))
    axes[0].set_yticklabels([textwrap.fill(n, 26) for n in names], fontsize=8.5)
    axes[0].invert_yaxis()
    axes[1].legend(fontsize=8, loc="lower right")
    fig.suptitle(title, fontsize=10.5)
    fig.text(0.01, 0.005, stamp(meta), fontsize=7.5, color="#555555")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    save(fig, path)
    plt.close(fig)


def ceiling(total: int, burst: int, rate: float, end: float) -> Tuple[List[float], List[float]]:
    """The most rows any client can have at each moment: a burst of full batches at once,
    then the rate, ``ROWS_PER_REQUEST`` rows a request, until the table is read."""
    xs: List[float] = [0.0, 0.0]
    ys: List[float] = [0.0, float(min(total, burst * ROWS_PER_REQUEST))]
    if ys[-1] < total:
        done = (total / ROWS_PER_REQUEST - burst) / rate
        xs.append(done)
        ys.append(float(total))
    xs.append(max(end, xs[-1]))
    ys.append(float(total))
    return xs, ys


def timeline(runs: Mapping[str, Mapping[str, Any]], path: str, *, title: str,
             meta: Mapping[str, Any], burst: int, rate: float) -> None:
    """Rows received over time, one line per client, against the portal's ceiling."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.6))
    total = max(int(r.get("rows") or 0) for r in runs.values())
    end = max(float(r["seconds"]) for r in runs.values())
    for client, report in runs.items():
        xs, ys = zip(*report["timeline"])
        note = verdict(report)
        label = f"{client}: {report['seconds']:.1f} s, {report['requests']} requests"
        ax.plot(xs, ys, "-" if client == "bitrix_fast" else "--", lw=2,
                color=COLOURS.get(client), label=label + (f" ({note})" if note else ""))
    cx, cy = ceiling(total, burst, rate, end)
    ax.plot(cx, cy, ":", color="#444444", lw=1.4,
            label=f"the portal's ceiling: {burst} requests at once, then {rate:g}/s, "
                  f"{ROWS_PER_REQUEST:,} rows each")
    ax.annotate(f"burst: {burst} requests\n= {burst * ROWS_PER_REQUEST:,} rows at once",
                (0, min(total, burst * ROWS_PER_REQUEST)), xytext=(12, -34),
                textcoords="offset points", fontsize=8,
                arrowprops={"arrowstyle": "->", "color": "#444444"})
    ax.set_xlabel("seconds since the first request")
    ax.set_ylabel("rows received")
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title, fontsize=10.5)
    fig.text(0.01, 0.005, stamp(meta), fontsize=7.5, color="#555555")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    save(fig, path)
    plt.close(fig)


def save(fig: Any, path: str) -> None:
    """Through a .part file: an interrupted run keeps the previous chart."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    part = f"{path}.part"
    fig.savefig(part, format=os.path.splitext(path)[1][1:] or "svg", dpi=110)
    os.replace(part, path)


def pick(results: Results, wanted: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """The scenarios to chart, in order: all, or those whose name starts with one of
    ``wanted`` (names carry their row count, which differs between quick and full runs)."""
    if not wanted:
        return dict(results)
    return {name: by_lib for prefix in wanted for name, by_lib in results.items()
            if name.startswith(prefix)}
