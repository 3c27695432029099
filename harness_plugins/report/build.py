"""``cot-distill report RUN_DIR``: a grid's runs as report.md, report.csv and report.png.

Reading is ``harness_plugins.report.runs``, the statistics ``harness_plugins.report.aggregate``
and ``stats``; this module only renders. Every comparison stays within one formulation
and metric: ``acc`` (the label letter with the highest log-likelihood where the student
commits to its answer) and ``exact_match`` (the label in its greedy output) are reported
side by side, never set against each other; a CF (cloze) cell, whose label is the answer
text (plus ``acc_norm``, per byte), is reported under its own headings, never beside MCF.
A report without CF cells reads exactly as before CF existed.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

from cot_tasks.conditions import condition_order
from cot_tasks.errors import DataError, check_at_least
from cot_tasks.io import write_files_atomic
from cot_tasks.names import JUDGED_METRICS, PROTOCOL
from cot_tasks.prompts import MCF
from harness_plugins import claims
from harness_plugins.report import stats
from harness_plugins.report.aggregate import Cell, Comparison, aggregate
from harness_plugins.report.figures import curves_figure, deltas_figure, has_cf, scores_figure, to_png
from harness_plugins.report.runs import RunDirs, Training, load_grid, load_training, run_dirs, unfinished_cells

REPORT_FILES = ("report.md", "report.csv", "report.png", "report_deltas.png", "report_curves.png")
# What each figure shows, as report.md names it (a figure with nothing to draw is not written).
FIGURE_WORDS = {"report.png": "scores per condition with their 95% CI and chance",
                "report_deltas.png": "every comparison's Δ with its intervals, seeds and the ±2-point band, each row "
                                     "marked with its verdict",
                "report_curves.png": "training loss per optimizer step of every run (train_log.jsonl)"}
FORMULATION_WORDS = ("**Formulations:** MCF (multiple choice): lettered options in the prompt, the label is a letter. "
                     "CF (cloze): no options in the prompt, the label is the answer text and each option's text is "
                     "scored as the continuation. Cells of two formulations are never compared (Holm: per "
                     "formulation too); claims are judged on " + "; ".join(
                         f"{', '.join(m)} in {f.upper()}" for f, m in JUDGED_METRICS.items()) + ".")
CSV_FIELDS = ["dataset", "student", "metric", "condition", "task", "n_seeds", "n_docs", "mean", "sd", "ci_low",
              "ci_high", "invalid", "chance", "baseline", "delta", "delta_ci_low", "delta_ci_high", "delta_t_low",
              "delta_t_high", "p_value", "p_holm", "test", "cross_device_seeds"]


def _num(x: float | None, digits: int = 4) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _pct(x: float | None) -> str:
    return "" if x is None or math.isnan(x) else f"{100 * x:.1f}"


def _p(x: float) -> str:
    return "" if math.isnan(x) else f"{x:.3g}"


def metric_words(formulation: str, metric: str) -> str:
    return PROTOCOL[metric].words.get(formulation, metric) if metric in PROTOCOL else metric


def to_csv(cells: list[Cell], comparisons: list[Comparison]) -> str:
    """One row per cell x baseline (a cell without comparisons: one row, baseline empty); fractions. A
    ``formulation`` column after ``student`` where any cell is CF."""
    by_cell: dict[tuple, list[Comparison]] = {}
    for c in comparisons:
        by_cell.setdefault((c.dataset, c.student, c.formulation, c.metric, c.condition), []).append(c)
    cf = has_cf(cells)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_FIELDS[:2] + ["formulation"] * cf + CSV_FIELDS[2:])
    for cell in cells:
        base = [cell.dataset, cell.student, *[cell.formulation] * cf, cell.metric, cell.condition, cell.task,
                len(cell.seeds), cell.docs, _num(cell.mean), _num(cell.std), _num(cell.interval.low),
                _num(cell.interval.high), _num(cell.invalid), _num(cell.chance)]
        rows = by_cell.get((cell.dataset, cell.student, cell.formulation, cell.metric, cell.condition)) or [None]
        for c in rows:
            t = c.seed_interval if c else None
            writer.writerow(base + ([c.baseline, _num(c.delta), _num(c.interval.low), _num(c.interval.high),
                                     _num(t and t.low), _num(t and t.high), _num(c.p_value), _num(c.p_holm), c.test,
                                     " ".join(map(str, c.cross_device))]
                                    if c else [""] * 10))
    return buf.getvalue()


def training_markdown(training: list[Training]) -> list[str]:
    """Per trained model: what it was trained on, and each control measured on its own targets."""
    if not training:
        return []

    def fact(t: Training, key: str, fmt: str) -> str:
        value = t.facts.get(key)
        return "" if value is None else format(value, fmt)

    cf = has_cf(training)
    lines = ["## Training, per run", "",
             "target len: mean tokens of the student per target (label + body + EOS). control/CoT: a control's "
             "body against the rationale it replaces, in the student's tokens (mean ratio). answer left: targets "
             "still holding a form of the answer after removal. precision, device: the training's. Blank: not recorded "
             "(cells finished before run.json carried the trainer's measurements).", "",
             f"| dataset | student |{' formulation |' * cf} condition | seed | examples | dropped | cut "
             "| target len | control/CoT | answer left | steps | final loss | precision | device |",
             "|" + "---|" * (14 + cf)]
    for t in sorted(training, key=lambda t: (t.dataset, t.student, t.formulation != MCF, condition_order(t.condition),
                                             t.seed)):
        counts = " | ".join("" if n is None else str(n) for n in (t.examples, t.dropped, t.truncated))
        facts = " | ".join(fact(t, key, fmt) for key, fmt in (("target_length_mean", ".1f"), ("length_ratio", ".3f"),
                                                                ("answer_leaks", "d"), ("steps", "d"),
                                                                ("final_loss", ".3f")))
        precision = t.facts.get("mixed_precision") or ""
        precision = "fp32" if precision == "no" else precision
        lines.append(f"| {t.dataset} | {t.student} |{f' {t.formulation.upper()} |' * cf} {t.condition} | {t.seed} "
                     f"| {counts} | {facts} | {precision} "
                     f"| {t.facts.get('device') or ''} |")
    return lines + [""]


def to_markdown(cells: list[Cell], comparisons: list[Comparison], *,
                n_resamples: int = stats.N_RESAMPLES, verdicts: list[claims.Verdict] = (),
                unfinished: list[str] = (), training: list[Training] = (), figures: list[str] = ()) -> str:
    lines = ["# CoT-distillation report", "",
             "Scores in percent. mean ± sd: over seeds (each seed's accuracy on the eval docs). 95% CI: "
             f"hierarchical percentile bootstrap ({n_resamples} resamples), seeds drawn with replacement, then eval "
             "docs; for a difference the docs are drawn once for both conditions. p: a test over seed-level "
             "accuracies (paired t when the conditions share seeds, else Welch) with at least two seeds per "
             "condition; t CI: that test's own 95% interval of Δ (it excludes 0 exactly when p < 0.05; with few "
             "seeds it is far wider than the bootstrap, which can only recombine the seeds there are); Holm: "
             "adjusted over every comparison of one dataset × student × metric.", ""]
    if figures:
        lines += ["Figures: " + "; ".join(f"`{name}`, {FIGURE_WORDS[name]}" for name in figures) + ".", ""]
    cf = has_cf(cells)
    if cf:
        lines += [FORMULATION_WORDS, ""]
    if unfinished:
        lines += [f"**Grid in progress:** {len(unfinished)} cell(s) of the grid not finished, left out: "
                  f"{', '.join(unfinished)}.", ""]
    if any(c.one_model for c in comparisons):
        lines += ["**One seed:** where `seeds` is 1, p is an exact McNemar test over eval docs of one trained model "
                  "per condition. It holds for those two models only, not for the conditions: train more seeds to "
                  "test a condition.", ""]
    if any(c.cross_device for c in comparisons):
        lines += ["**Devices:** a comparison whose test ends in *cross-device* pairs, for the seeds it names, a cell "
                  "trained on one device with one trained on another (the per-run table's device column): its Δ "
                  "holds what the device alone moves as well as what the condition does.", ""]
    lines += claims.to_markdown(verdicts)
    for formulation, metric in dict.fromkeys((c.formulation, c.metric) for c in cells):
        lines += [f"## {formulation.upper() + ': ' if cf else ''}{metric}", "", metric_words(formulation, metric), "",
                  "| dataset | student | condition | seeds | docs | chance | score | 95% CI | invalid |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for c in (c for c in cells if (c.formulation, c.metric) == (formulation, metric)):
            score = _pct(c.mean) + ("" if math.isnan(c.std) else f" ± {_pct(c.std)}")
            lines.append(f"| {c.dataset} | {c.student} | {c.condition} | {len(c.seeds)} | {c.docs} | "
                         f"{_pct(c.chance)} | {score} | [{_pct(c.interval.low)}, {_pct(c.interval.high)}] | "
                         f"{_pct(c.invalid)} |")
        rows = [c for c in comparisons if (c.formulation, c.metric) == (formulation, metric)]
        if rows:
            lines += ["", "| dataset | student | condition | vs | Δ | 95% CI of Δ | t CI | p | p (Holm) | seeds "
                          "| test |", "|" + "---|" * 11]
            lines += [f"| {c.dataset} | {c.student} | {c.condition} | {c.baseline} | {100 * c.delta:+.1f} | "
                      f"{c.interval.points()} | {c.seed_interval.points() if c.seed_interval else ''} | "
                      f"{_p(c.p_value)} | {_p(c.p_holm)} | {c.n_seeds} | "
                      f"{'; '.join(filter(None, (c.test, c.cross_device_note())))} |" for c in rows]
        lines.append("")
    lines += training_markdown(list(training))
    return "\n".join(lines)


@dataclass(frozen=True)
class Report:
    cells: list[Cell]
    comparisons: list[Comparison]
    verdicts: list[claims.Verdict]
    unfinished: list[str]
    markdown: str
    paths: list[Path]


def build_report(run_dir: RunDirs, out_dir: str | Path | None = None, *, seed: int = 0,
                 n_resamples: int = stats.N_RESAMPLES) -> Report:
    """Read the grid (or several grids as one: two students, say), compute everything, then write
    report.md/.csv/.png into ``out_dir`` (default: the one RUN_DIR)."""
    check_at_least(dict(resamples=n_resamples), resamples=1)
    dirs = run_dirs(run_dir)
    if out_dir is None and len(dirs) > 1:
        raise DataError(f"{len(dirs)} run folders need --out: a folder for their report")
    cells, comparisons = aggregate(load_grid(dirs), seed=seed, n_resamples=n_resamples)
    verdicts, unfinished = claims.claim_verdicts(comparisons, cells), unfinished_cells(dirs)
    out = Path(out_dir) if out_dir is not None else dirs[0]
    training = load_training(dirs)
    drawn = {"report.png": scores_figure(cells),
             "report_deltas.png": deltas_figure(comparisons, cells),
             "report_curves.png": curves_figure(training)}
    figures = {name: to_png(fig) for name, fig in drawn.items() if fig is not None}
    markdown = to_markdown(cells, comparisons, n_resamples=n_resamples, verdicts=verdicts, unfinished=unfinished,
                           training=training, figures=list(figures))
    contents = {out / "report.md": markdown, out / "report.csv": to_csv(cells, comparisons),
                **{out / name: png for name, png in figures.items()}}
    return Report(cells, comparisons, verdicts, unfinished, markdown, write_files_atomic(contents))
