"""``cot-distill report RUN_DIR``: aggregate a grid of lm-eval runs into report.md/.csv/.png.

Reads only what the grid and lm-eval already wrote: ``runs/*/run.json`` and each
run's lm-eval output folder (``results_<ts>.json`` + ``samples_<task>_<ts>.jsonl``
from ``--log_samples``). Per dataset x student x condition: mean and standard
deviation over seeds, a bootstrap interval over eval docs, and paired tests of
every condition against ``none`` and of ``post`` against ``pre`` on the same docs.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from cot_tasks.errors import DataError
from cot_tasks.io import write_files_atomic
from harness_plugins import stats
from harness_plugins.results import DocScore, latest_results, read_samples

REPORT_FILES = ("report.md", "report.csv", "report.png")
# Reference condition -> conditions compared against it (None: every other condition).
COMPARISONS: dict[str, tuple[str, ...] | None] = {"none": None, "pre": ("post",)}
_ORDER = ("none", "pre", "post", "shuffled_post")


# --------------------------------------------------------------------------- one run of the grid


@dataclass(frozen=True)
class Run:
    path: Path
    dataset: str
    condition: str
    student: str
    seed: int
    task: str
    metric: str  # bare name: acc, exact_match
    value: float
    version: object
    docs: Mapping[int, DocScore] = field(repr=False)


def load_run(run_dir: str | Path) -> Run:
    run_dir = Path(run_dir)
    info_path = run_dir / "run.json"
    if not info_path.is_file():
        raise DataError("no run.json (not a finished grid run)", path=run_dir)
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"broken JSON ({err.msg})", path=info_path) from None
    for name in ("dataset", "condition", "student", "seed", "task", "metric"):
        if info.get(name) is None:
            raise DataError("missing", path=info_path, field=name)
    results = latest_results(run_dir / "eval")
    task = info["task"]
    key = results.metric_key(task, str(info["metric"]))
    metric, filter_name = key.split(",", 1)
    samples = results.path.with_name(f"samples_{task}_{results.timestamp}.jsonl")
    if not samples.is_file():
        raise DataError(f"no {samples.name} next to the results (evaluate with --log_samples)",
                        path=results.path.parent)
    return Run(
        path=run_dir,
        dataset=str(info["dataset"]),
        condition=str(info["condition"]),
        student=str(info["student"]),
        seed=int(info["seed"]),
        task=task,
        metric=metric,
        value=float(results.tasks()[task][key]),
        version=results.version(task),
        docs=read_samples(samples, metric, filter_name),
    )


def load_grid(run_dir: str | Path) -> list[Run]:
    runs_root = Path(run_dir) / "runs"
    dirs = sorted(p for p in runs_root.iterdir() if p.is_dir()) if runs_root.is_dir() else []
    if not dirs:
        raise DataError("no runs/ folders (run `cot-distill run` first)", path=run_dir)
    runs = [load_run(d) for d in dirs]
    check_versions(runs)
    return runs


def check_versions(runs: Iterable[Run]) -> None:
    """Scores of one task under two task versions are not comparable: refuse to mix them."""
    seen: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        seen[run.task][str(run.version)].append(run.path.name)
    for task, by_version in seen.items():
        if len(by_version) > 1:
            parts = "; ".join(f"version {v}: {', '.join(names)}" for v, names in sorted(by_version.items()))
            raise DataError(f"mixed versions of task {task!r} across runs ({parts}); re-evaluate so they match")


# --------------------------------------------------------------------------- aggregation


@dataclass(frozen=True)
class Paired:
    reference: str
    pairs: int
    delta: float
    mcnemar: stats.McNemar
    bootstrap: stats.PairedBootstrap


@dataclass(frozen=True)
class Cell:
    dataset: str
    student: str
    condition: str
    task: str
    metric: str
    seeds: tuple[int, ...]
    docs: int
    mean: float
    std: float
    interval: stats.Interval
    paired: dict[str, Paired] = field(default_factory=dict)


def _condition_key(condition: str) -> tuple:
    return (_ORDER.index(condition) if condition in _ORDER else len(_ORDER), condition)


def _doc_matrix(runs: list[Run], doc_ids: list[int]) -> np.ndarray:
    return np.array([[run.docs[d].score for d in doc_ids] for run in runs])


def _common_docs(runs: list[Run], where: str) -> list[int]:
    ids = set.intersection(*(set(r.docs) for r in runs))
    if not ids:
        raise DataError("runs share no eval docs (different splits or --limit?)", path=where)
    return sorted(ids)


def _check_same_docs(a: list[Run], b: list[Run], doc_ids: list[int]) -> None:
    """Pairing by doc_id is only valid if the ids name the same documents."""
    for ra, rb in zip(a, b):
        for d in doc_ids:
            ha, hb = ra.docs[d].doc_hash, rb.docs[d].doc_hash
            if ha and hb and ha != hb:
                raise DataError(f"doc_id {d} is a different document in {ra.path.name} and {rb.path.name}")


def _pair(ref: list[Run], other: list[Run], reference: str, seed: int, n_resamples: int) -> Paired:
    """Pair by seed where both cells have it, else seeds in sorted order; then by doc_id."""
    ref_by, oth_by = {r.seed: r for r in ref}, {r.seed: r for r in other}
    common = sorted(set(ref_by) & set(oth_by))
    pairs = [(s, s) for s in common] or list(zip(sorted(ref_by), sorted(oth_by)))
    a, b = [ref_by[s] for s, _ in pairs], [oth_by[t] for _, t in pairs]
    doc_ids = _common_docs(a + b, f"{reference} vs {other[0].condition}")
    _check_same_docs(a, b, doc_ids)
    ma, mb = _doc_matrix(a, doc_ids), _doc_matrix(b, doc_ids)
    return Paired(
        reference=reference,
        pairs=ma.size,
        delta=float(mb.mean() - ma.mean()),
        mcnemar=stats.mcnemar_exact(ma.ravel(), mb.ravel()),
        bootstrap=stats.paired_bootstrap(ma.mean(axis=0), mb.mean(axis=0), seed=seed, n_resamples=n_resamples),
    )


def aggregate(runs: list[Run], *, seed: int = 0, n_resamples: int = stats.N_RESAMPLES) -> list[Cell]:
    groups: dict[tuple[str, str, str], list[Run]] = defaultdict(list)
    for run in runs:
        groups[(run.dataset, run.student, run.condition)].append(run)
    cells: dict[tuple[str, str, str], Cell] = {}
    for (dataset, student, condition), members in groups.items():
        members.sort(key=lambda r: r.seed)
        seeds = [r.seed for r in members]
        if len(set(seeds)) != len(seeds):
            dup = ", ".join(r.path.name for r in members)
            raise DataError(f"repeated seed among runs of {dataset}/{student}/{condition}: {dup}")
        if len({(r.task, r.metric) for r in members}) > 1:
            raise DataError(f"runs of {dataset}/{student}/{condition} use different tasks or metrics")
        doc_ids = _common_docs(members, f"{dataset}/{student}/{condition}")
        per_doc = _doc_matrix(members, doc_ids).mean(axis=0)
        values = np.array([r.value for r in members])
        cells[(dataset, student, condition)] = Cell(
            dataset=dataset, student=student, condition=condition,
            task=members[0].task, metric=members[0].metric,
            seeds=tuple(seeds), docs=len(doc_ids),
            mean=float(values.mean()),
            std=float(values.std(ddof=1)) if len(values) > 1 else math.nan,
            interval=stats.bootstrap_interval(per_doc, seed=seed, n_resamples=n_resamples),
        )
    for (dataset, student, condition), cell in cells.items():
        for reference, targets in COMPARISONS.items():
            ref_key = (dataset, student, reference)
            if condition == reference or ref_key not in cells or (targets and condition not in targets):
                continue
            cell.paired[reference] = _pair(groups[ref_key], groups[(dataset, student, condition)],
                                           reference, seed, n_resamples)
    return sorted(cells.values(), key=lambda c: (c.dataset, c.student, _condition_key(c.condition)))


# --------------------------------------------------------------------------- rendering

CSV_FIELDS = ["dataset", "student", "condition", "task", "metric", "seeds", "docs", "mean", "std", "ci_low", "ci_high"]
PAIRED_FIELDS = ["delta", "pairs", "ref_only", "other_only", "p_mcnemar", "delta_ci_low", "delta_ci_high",
                 "p_bootstrap"]


def _fmt(x: float, digits: int = 4) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def to_csv(cells: list[Cell]) -> str:
    header = CSV_FIELDS + [f"vs_{ref}_{f}" for ref in COMPARISONS for f in PAIRED_FIELDS]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for c in cells:
        row = [c.dataset, c.student, c.condition, c.task, c.metric, " ".join(map(str, c.seeds)), c.docs,
               _fmt(c.mean), _fmt(c.std), _fmt(c.interval.low), _fmt(c.interval.high)]
        for ref in COMPARISONS:
            p = c.paired.get(ref)
            row += ([_fmt(p.delta), p.pairs, p.mcnemar.ref_only, p.mcnemar.other_only, _fmt(p.mcnemar.p_value),
                     _fmt(p.bootstrap.interval.low), _fmt(p.bootstrap.interval.high), _fmt(p.bootstrap.p_value)]
                    if p else [""] * len(PAIRED_FIELDS))
        writer.writerow(row)
    return buf.getvalue()


def _pct(x: float) -> str:
    return "" if math.isnan(x) else f"{100 * x:.1f}"


def to_markdown(cells: list[Cell], *, n_resamples: int = stats.N_RESAMPLES) -> str:
    lines = [
        "# CoT-distillation report",
        "",
        "Accuracy in percent: mean ± sd over seeds; 95% CI: percentile bootstrap over eval docs "
        f"({n_resamples} resamples, per-doc mean over seeds). Δ: paired difference on the same docs "
        "(pairs = seed × doc); p: exact McNemar on discordant pairs / paired bootstrap.",
        "",
        "| dataset | student | condition | task | seeds | docs | acc | 95% CI "
        "| Δ vs none | p (McNemar / boot) | Δ vs pre | p (McNemar / boot) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cells:
        acc = _pct(c.mean) + ("" if math.isnan(c.std) else f" ± {_pct(c.std)}")
        row = [c.dataset, c.student, c.condition, f"{c.task} ({c.metric})", str(len(c.seeds)), str(c.docs), acc,
               f"[{_pct(c.interval.low)}, {_pct(c.interval.high)}]"]
        for ref in COMPARISONS:
            p = c.paired.get(ref)
            row += ([f"{100 * p.delta:+.1f}", f"{p.mcnemar.p_value:.3g} / {p.bootstrap.p_value:.3g}"] if p
                    else ["", ""])
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def to_png(cells: list[Cell]) -> bytes:
    # The Figure API without pyplot: no global backend or figure registry touched.
    import matplotlib
    from matplotlib.figure import Figure

    datasets = sorted({c.dataset for c in cells})
    fig = Figure(figsize=(5 * len(datasets), 4), layout="constrained")
    axes = fig.subplots(1, len(datasets), squeeze=False)[0]
    conditions = sorted({c.condition for c in cells}, key=_condition_key)
    width = 0.8 / len(conditions)
    # tab20 keeps up to 20 conditions apart; the default cycle repeats after 10.
    palette = matplotlib.colormaps["tab20" if len(conditions) > 10 else "tab10"]
    for ax, dataset in zip(axes, datasets):
        students = sorted({c.student for c in cells if c.dataset == dataset})
        for j, condition in enumerate(conditions):
            xs, ys, errs = [], [], [[], []]
            for i, student in enumerate(students):
                key = (dataset, student, condition)
                cell = next((c for c in cells if (c.dataset, c.student, c.condition) == key), None)
                if cell is None:
                    continue
                xs.append(i - 0.4 + width * (j + 0.5))
                ys.append(100 * cell.mean)
                errs[0].append(max(0.0, 100 * (cell.mean - cell.interval.low)))
                errs[1].append(max(0.0, 100 * (cell.interval.high - cell.mean)))
            if xs:
                ax.bar(xs, ys, width, yerr=errs, capsize=3, label=condition, color=palette(j % palette.N))
        ax.set_xticks(range(len(students)), students, rotation=20)
        ax.set_title(dataset)
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(0, 100)
    # Beside the panels, not over the bars.
    fig.legend(*axes[0].get_legend_handles_labels(), title="condition", fontsize="small", loc="outside right upper")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    return buf.getvalue()


@dataclass(frozen=True)
class Report:
    cells: list[Cell]
    markdown: str
    paths: list[Path]


def build_report(run_dir: str | Path, out_dir: str | Path | None = None, *, seed: int = 0,
                 n_resamples: int = stats.N_RESAMPLES) -> Report:
    """Read the grid, compute everything, then write report.md/.csv/.png into ``out_dir`` (default RUN_DIR)."""
    cells = aggregate(load_grid(run_dir), seed=seed, n_resamples=n_resamples)
    out = Path(out_dir) if out_dir is not None else Path(run_dir)
    markdown = to_markdown(cells, n_resamples=n_resamples)
    contents = dict(zip((out / name for name in REPORT_FILES), (markdown, to_csv(cells), to_png(cells))))
    return Report(cells, markdown, write_files_atomic(contents))
