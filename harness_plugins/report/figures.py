"""The report's figures: scores (``report.png``), the comparisons that decide the claims
(``report_deltas.png``) and the training curves (``report_curves.png``).

Everything is drawn with matplotlib's Figure API, without pyplot: no global backend or figure registry is
touched, so a report can be built inside any process.
"""

from __future__ import annotations

import io
from collections import defaultdict
from typing import Sequence

from cot_tasks.conditions import condition_order, control_of
from cot_tasks.names import GENERATION, JUDGED_METRICS, PROTOCOL
from cot_tasks.prompts import MCF
from harness_plugins import claims
from harness_plugins.report.aggregate import Cell, Comparison
from harness_plugins.report.runs import Training

# Row marks of the comparison figure: decided either way in colour, undecided grey.
VERDICT_COLOURS = {claims.GAIN: "tab:green", claims.MATCHES: "tab:green", claims.NO_GAIN: "tab:red",
                   claims.FALLS_SHORT: "tab:red", claims.UNDECIDED: "0.45", claims.NOT_JUDGED: "0.7"}


def note(metric: str) -> str:
    return PROTOCOL[metric].note if metric in PROTOCOL else ""


def hatch(metric: str) -> str | None:
    """Free-generation scores hatched, so a grey-scale print still tells the two kinds of metric apart."""
    return "//" if metric in PROTOCOL and PROTOCOL[metric].kind == GENERATION else None


def to_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def has_cf(items) -> bool:
    return any(x.formulation != MCF for x in items)


def condition_colours(conditions: list[str]) -> dict[str, tuple]:
    """One tab20 hue family per condition (its dark shade); a control takes the light shade of the condition
    of the same argument it controls (``random_post:5`` beside ``keytokens_post:5``)."""
    import matplotlib

    palette = matplotlib.colormaps["tab20"]
    families: dict[str, int] = {}
    colours = {}
    for condition in sorted(conditions, key=condition_order):
        partner = control_of(condition)  # drawn beside it, in the light shade of its hue
        if partner is not None and partner in families:
            colours[condition] = palette(2 * families[partner] + 1)
            continue
        families[condition] = len(families) % 10
        colours[condition] = palette(2 * families[condition])
    return colours


def fitted_limits(values: Sequence[float], step: float = 5.0) -> tuple[float, float]:
    """A y range (points) that holds every value with a little room, on multiples of ``step``, within 0-100:
    a 2-point difference stays visible, where a fixed 0-100 axis flattens it."""
    low, high = min(values), max(values)
    bottom = max(0.0, step * ((low - 2) // step))
    top = min(100.0, step * -((-(high + 2)) // step))
    return bottom, max(top, bottom + step)


def scores_figure(cells: list[Cell]):
    """One panel per formulation x metric (rows) x dataset (columns): bars per student and condition with their
    CI, the dataset's chance level as a dashed line, the y-axis fitted to the data and chance; a score of 0 is
    written on its (empty) bar."""
    from matplotlib.figure import Figure

    metrics = list(dict.fromkeys((c.formulation, c.metric) for c in cells))
    cf = has_cf(cells)
    datasets = sorted({c.dataset for c in cells})
    conditions = sorted({c.condition for c in cells}, key=condition_order)
    fig = Figure(figsize=(5 * len(datasets), 3.6 * len(metrics)), layout="constrained")
    axes = fig.subplots(len(metrics), len(datasets), squeeze=False)
    width = 0.8 / len(conditions)
    colours = condition_colours(conditions)
    index = {(c.dataset, c.student, c.formulation, c.metric, c.condition): c for c in cells}
    for row, (formulation, metric) in enumerate(metrics):
        for ax, dataset in zip(axes[row], datasets):
            mine = [c for c in cells if (c.dataset, c.formulation, c.metric) == (dataset, formulation, metric)]
            panel = f"{formulation.upper()}: {metric}" if cf else metric
            if not mine:  # a dataset run in one formulation only (CF beside MCF): say so, draw no empty axes
                ax.set_title(f"{dataset}: {panel}\nno cells", fontsize="medium")
                ax.set_axis_off()
                continue
            students = sorted({c.student for c in mine})
            for j, condition in enumerate(conditions):
                found = [(i, index[k]) for i, s in enumerate(students)
                         if (k := (dataset, s, formulation, metric, condition)) in index]
                if not found:
                    continue
                xs = [i - 0.4 + width * (j + 0.5) for i, _ in found]
                ys = [100 * c.mean for _, c in found]
                errs = [[max(0.0, 100 * (c.mean - c.interval.low)) for _, c in found],
                        [max(0.0, 100 * (c.interval.high - c.mean)) for _, c in found]]
                ax.bar(xs, ys, width, yerr=errs, capsize=3, label=condition, color=colours[condition],
                       hatch=hatch(metric), edgecolor="black", linewidth=0.5)
                for x, y in zip(xs, ys):
                    if y == 0:  # no bar to see: say it is a zero, not a missing cell
                        ax.text(x, 1, "0", ha="center", va="bottom", fontsize="x-small")
            chance = [c.chance for c in mine if c.chance is not None]
            if chance:
                ax.axhline(100 * chance[0], color="black", linestyle="--", linewidth=1, label="chance")
            ax.set_xticks(range(len(students)), students, rotation=20)
            seeds = sorted({len(c.seeds) for c in mine})
            # Two short lines: panels side by side must not run into each other's titles.
            ax.set_title(f"{dataset}: {panel}{note(metric)}\n{mine[0].docs} docs, "
                         f"{'/'.join(map(str, seeds))} seed(s)", fontsize="medium")
            ax.set_ylabel(f"{metric} (%)")
            ax.set_ylim(*fitted_limits([100 * v for c in mine for v in (c.interval.low, c.interval.high, c.mean)]
                                       + [100 * c for c in chance[:1]]))
    _legend(fig, axes, "condition")
    return fig


def _legend(fig, axes, title: str) -> None:
    """Every panel's labels: the first panel may miss some (or be empty) when formulations ran different grids.
    In the order they are first drawn, first panel first."""
    drawn: dict[str, object] = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            drawn.setdefault(label, handle)
    if title == "condition":
        order = sorted(drawn, key=lambda x: (1, condition_order(x)) if x != "chance" else (0, ()))
        drawn = {label: drawn[label] for label in order}
    if drawn:
        fig.legend(list(drawn.values()), list(drawn), title=title, fontsize="small", loc="outside right upper")


def _row_order(c: Comparison) -> tuple:
    """The claims' comparisons first, in the paper's order, then every other condition against ``none``."""
    claim = claims.claim_of(c)
    if control_of(c.baseline) == c.condition:
        claim = 3.5  # key tokens against their length-matched control, beside the third claim
    return (claim if claim is not None else 9, condition_order(c.condition), c.baseline)


def deltas_figure(comparisons: list[Comparison], cells: list[Cell] = ()):
    """One panel per formulation x metric (rows) x dataset x student (columns): a row per comparison, its Δ
    in points with the hierarchical bootstrap's 95% interval (thick) and the seed-level t test's (thin), each
    seed's own Δ as a dot, the zero line and the ±MARGIN band the claim rules read; each row marked on the right
    with what the rules make of it (``claims.row_verdict``), the claims' rows named by claim number. Only the
    metrics the claims are judged on (CF's plain acc is recorded, not judged); a dataset x student without
    comparisons in a row leaves its place blank. None when nothing is left to draw."""
    from matplotlib.figure import Figure

    comparisons = [c for c in comparisons if c.metric in JUDGED_METRICS.get(c.formulation, ())]
    if not comparisons:
        return None
    keys = list(dict.fromkeys((c.formulation, c.metric) for c in comparisons))
    panels = sorted({(c.dataset, c.student) for c in comparisons})
    per_panel: dict[tuple, list[Comparison]] = defaultdict(list)
    for c in comparisons:
        per_panel[(c.formulation, c.metric, c.dataset, c.student)].append(c)
    most = max(len(v) for v in per_panel.values())
    fig = Figure(figsize=(6.2 * len(panels), (0.9 + 0.32 * most) * len(keys)), layout="constrained")
    axes = fig.subplots(len(keys), len(panels), squeeze=False)
    cf, margin = has_cf(comparisons), 100 * claims.MARGIN
    for r, (formulation, metric) in enumerate(keys):
        for ax, (dataset, student) in zip(axes[r], panels):
            rows = sorted(per_panel.get((formulation, metric, dataset, student), []), key=_row_order)
            title = f"{dataset}, {student}: {formulation.upper() + ' ' if cf else ''}{metric}"
            if not rows:
                ax.set_axis_off()
                continue
            ax.axvspan(-margin, margin, color="0.92", zorder=0)
            ax.axvline(0, color="black", linewidth=0.8, zorder=1)
            marks, verdicts = [], [claims.row_verdict(c, cells) for c in rows]
            for y, (c, verdict) in enumerate(zip(rows, verdicts)):
                colour = VERDICT_COLOURS[verdict]
                if c.seed_interval is not None:
                    ax.plot([100 * c.seed_interval.low, 100 * c.seed_interval.high], [y, y], color=colour,
                            linewidth=1, zorder=2)
                ax.plot([100 * c.interval.low, 100 * c.interval.high], [y, y], color=colour, linewidth=4,
                        alpha=0.55, solid_capstyle="butt", zorder=3)
                ax.plot([100 * d for d in c.seed_deltas], [y] * len(c.seed_deltas), "o", markersize=3.5,
                        markerfacecolor="white", markeredgecolor="black", markeredgewidth=0.7, zorder=4)
                ax.plot([100 * c.delta], [y], "D", color=colour, markeredgecolor="black", markersize=6, zorder=5)
                marks.append(f"{verdict} ({c.n_seeds} seed{'s' * (c.n_seeds != 1)})")
            labels = [f"{c.condition} − {c.baseline}" + (f"  [claim {n}]" if (n := claims.claim_of(c)) else "")
                      for c in rows]
            ax.set_yticks(range(len(rows)), labels, fontsize="small")
            ax.set_ylim(len(rows) - 0.5, -0.5)
            right = ax.secondary_yaxis("right")
            right.set_yticks(range(len(rows)), marks, fontsize="small")
            for tick, verdict in zip(right.get_yticklabels(), verdicts):
                tick.set_color(VERDICT_COLOURS[verdict])
            ax.set_xlabel(f"Δ {metric} (points)")
            ax.set_title(f"{title}{note(metric)}", fontsize="medium")
    fig.legend(handles=_delta_key(margin), fontsize="small", loc="outside right upper")
    return fig


def _delta_key(margin: float) -> list:
    """The comparison figure's legend, in neutral colours (a row's colour is its verdict)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    return [Line2D([], [], marker="D", color="0.45", markeredgecolor="black", linestyle="", label="Δ, mean over seeds"),
            Line2D([], [], color="0.45", linewidth=4, alpha=0.55, label="bootstrap 95% (seeds, then docs)"),
            Line2D([], [], color="0.45", linewidth=1, label="t test over seeds, 95%"),
            Line2D([], [], marker="o", markerfacecolor="white", markeredgecolor="black", linestyle="",
                   label="one seed's Δ"),
            Patch(color="0.92", label=f"±{margin:g} points (claim rules)"),
            *(Line2D([], [], color=colour, linewidth=4, label=verdict) for verdict, colour in VERDICT_COLOURS.items()
              if verdict != claims.NOT_JUDGED)]  # the figure leaves unjudged metrics out


def curves_figure(training: list[Training]):
    """One panel per dataset x student x formulation: each run's training loss per optimizer step
    (``train_log.jsonl``), coloured by condition, one thin line per seed. None when no run logged its steps
    (cells trained before the log existed)."""
    from matplotlib.figure import Figure

    logged = [t for t in training if t.curve]
    if not logged:
        return None
    cf = has_cf(logged)
    panels = sorted({(t.dataset, t.student, t.formulation) for t in logged})
    # Colours from every run's condition, logged or not: the same condition keeps one colour in every figure.
    colours = condition_colours(sorted({t.condition for t in training}, key=condition_order))
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    fig = Figure(figsize=(5 * columns, 3.4 * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax, (dataset, student, formulation) in zip(axes.flat, panels):
        mine = sorted((t for t in logged if (t.dataset, t.student, t.formulation) == (dataset, student, formulation)),
                      key=lambda t: (condition_order(t.condition), t.seed))
        for t in mine:
            steps, losses = zip(*t.curve)
            ax.plot(steps, losses, color=colours[t.condition], linewidth=0.8, alpha=0.8, label=t.condition)
        seeds = len({t.seed for t in mine})
        ax.set_title(f"{dataset}, {student}{': ' + formulation.upper() if cf else ''}\n{len(mine)} runs, "
                     f"{seeds} seed(s)", fontsize="medium")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("loss per target token")
        ax.set_yscale("log")
    for ax in list(axes.flat)[len(panels):]:
        ax.set_axis_off()
    _legend(fig, axes, "condition")
    return fig
