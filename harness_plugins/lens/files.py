"""``lens_<dataset>.csv`` and ``.png``: what ``cot-distill lens`` writes, one row (one point) per checkpoint x
lens x layer."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from harness_plugins.lens.lenses import LayerScore

CSV_FIELDS = ("checkpoint", "condition", "lens", "layer", "n_layers", "accuracy", "mean_rank", "docs")


def to_csv(scores: Sequence[LayerScore]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for s in scores:
        writer.writerow([s.checkpoint, s.condition, s.lens, s.layer, s.n_layers,
                         f"{s.accuracy:.4f}", f"{s.mean_rank:.4f}", s.docs])
    return buf.getvalue()


def to_png(scores: Sequence[LayerScore], title: str = "") -> bytes:
    """Accuracy by layer, one curve per condition (and lens), averaged over checkpoints."""
    from collections import defaultdict

    from matplotlib.figure import Figure

    curves: dict[tuple[str, str], dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for s in scores:
        curves[(s.condition, s.lens)][s.layer].append(s.accuracy)
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    for i, ((condition, lens), by_layer) in enumerate(sorted(curves.items())):
        layers = sorted(by_layer)
        ys = [100 * sum(by_layer[layer]) / len(by_layer[layer]) for layer in layers]
        label = condition if lens == "logit" else f"{condition} ({lens} lens)"
        ax.plot(layers, ys, marker="o", label=label, color=f"C{sorted({c for c, _ in curves}).index(condition)}",
                linestyle="-" if lens == "logit" else "--")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("layer (0 = embeddings)")
    ax.set_ylabel("accuracy at the answer position (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend(fontsize="small")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    return buf.getvalue()
