"""Public entry point of the data layer: ``load_split(dataset, split, source)``.

A source is ``"hub"`` (``datasets.load_dataset`` on the original hub copy),
``"sample"`` (the hand-written sample bundled in ``cot_tasks/sample``) or a
directory holding the datasets' original release files. Every row is checked;
bad input raises a one-line ``DataError`` naming file, line and field.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cot_tasks.errors import DataError
from cot_tasks.loaders import LOADERS
from cot_tasks.loaders.rows import Where, read_jsonl
from cot_tasks.records import DATASETS, FACTS, LABELS, Example
from cot_tasks.sample import sample_dir

SPLITS: dict[str, tuple[str, ...]] = {dataset: ("train", "validation", "test") for dataset in DATASETS}
EVAL_SPLIT: dict[str, str] = {name: f.eval_split for name, f in FACTS.items()}
SOURCES = ("hub", "sample")
# The one default of every entry point (CLI, Python API, lm-eval tasks): the bundled sample, because the
# README's first commands must run where they are typed (offline, no account), and every artefact states
# the source it scored (model cards, results), so sample numbers are never passed off as hub ones.
# A real-data run names its source: --source hub, --metadata '{"source": "hub"}', source: hub.
DEFAULT_SOURCE = "sample"
# How each entry point is told to use another source, for the message of a failed hub load.
SOURCE_FIX = {
    "cli": "--source sample (or a folder of the original files)",
    "lm-eval": "--metadata '{\"source\": \"sample\"}' (or a folder of the original files)",
    "python": "source=\"sample\" (or a folder of the original files)",
    "grid": "source: sample in the grid file (or a folder of the original files)",
}
DISPLAY_NAMES = {name: f.short for name, f in FACTS.items()}


def _loader(dataset: str):
    if dataset not in LOADERS:
        raise DataError(f"unknown dataset {dataset!r} (known: {', '.join(DATASETS)})")
    return LOADERS[dataset]


def _check_split(dataset: str, split: str) -> None:
    if split not in SPLITS[dataset]:
        raise DataError(f"unknown split {split!r} for {dataset} (known: {', '.join(SPLITS[dataset])})")


def source_dir(dataset: str, source: str | os.PathLike) -> Path | None:
    """The directory of original files a source stands for; None for the hub.

    The keywords win: a directory literally named "hub" or "sample" needs a path like "./hub". A folder
    holding the dataset's release folder under its usual name (``commonsenseqa/``, ``openbookqa/``,
    ``quarel/``) stands for that folder, so one source serves every dataset of a grid.
    """
    _loader(dataset)
    if source == "hub":
        return None
    if source == "sample":
        return sample_dir(dataset)
    path = Path(source)
    if not path.is_dir():
        raise DataError(f"unknown source {os.fspath(source)!r}: expected 'hub', 'sample' "
                        f"or an existing directory of the original {dataset} files")
    nested = path / FACTS[dataset].folder
    return nested if nested.is_dir() else path


def available_splits(dataset: str, source: str | os.PathLike) -> tuple[str, ...]:
    """Splits the source has a file for (all of them for the hub, which we cannot list offline)."""
    directory = source_dir(dataset, source)
    if directory is None:
        return SPLITS[dataset]
    files = _loader(dataset).FILES
    return tuple(s for s in SPLITS[dataset] if any((directory / name).is_file() for name in files[s]))


def split_file(dataset: str, split: str, source: str | os.PathLike) -> Path:
    """The original file a local source holds for ``split``; a clear DataError when absent."""
    _check_split(dataset, split)
    directory = source_dir(dataset, source)
    if directory is None:
        raise DataError(f"the hub source has no local file for {dataset} {split}")
    names = _loader(dataset).FILES[split]
    for name in names:
        if (directory / name).is_file():
            return directory / name
    if source == "sample":
        have = ", ".join(available_splits(dataset, source))
        raise DataError(f"the bundled sample has no {split!r} split for {dataset} (it has: {have})", path=directory)
    raise DataError(f"no {split} file for {dataset} (looked for {', '.join(names)})", path=directory)


def load_split(dataset: str, split: str, source: str | os.PathLike = DEFAULT_SOURCE, *,
               entry: str = "cli") -> list[Example]:
    """All examples of one split, in file order, each checked (see module docstring).

    ``entry`` (a key of SOURCE_FIX) decides how a failed hub load names its fix."""
    module = _loader(dataset)
    _check_split(dataset, split)
    if source == "hub":
        return _load_hub(module, split, entry)
    path = split_file(dataset, split, source)
    return _convert(read_jsonl(path), module.from_file, split, path)


def _convert(rows: Iterable[tuple[Where, dict]], convert, split: str, origin: object) -> list[Example]:
    """Rows -> examples, refusing a duplicate id within the split and an empty split."""
    examples, first_seen = [], {}
    for where, row in rows:
        example = convert(row, where, split)
        if example.id in first_seen:
            raise where.error(f"duplicate id {example.id!r} (first at {first_seen[example.id]})", field="id")
        first_seen[example.id] = f"{'row' if where.hub else 'line'} {where.line}"
        examples.append(example)
    if not examples:
        raise DataError("no rows", path=origin)
    return examples


def _load_hub(module, split: str, entry: str) -> list[Example]:
    import datasets

    dataset = module.DATASET
    try:
        rows = datasets.load_dataset(FACTS[dataset].hub_id, name=FACTS[dataset].hub_config, split=split)
    except Exception as err:  # noqa: BLE001 - any failure to fetch (offline, renamed, auth) is the user's to fix
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise DataError(f"cannot load from the Hugging Face Hub ({reason}); is it reachable? "
                        f"offline, use {SOURCE_FIX[entry]}",
                        path=f"hub {FACTS[dataset].hub_id}") from None
    origin = f"hub {FACTS[dataset].hub_id}[{split}]"
    return _convert(((Where(origin, i, hub=True), row) for i, row in enumerate(rows)), module.from_hub, split, origin)


@dataclass(frozen=True)
class SplitCheck:
    split: str
    count: int
    labels: dict[str, int]  # gold letter -> count, in label order; examples without gold are not counted
    no_gold: int
    file: str | None


@dataclass(frozen=True)
class DataCheck:
    dataset: str
    source: str
    splits: tuple[SplitCheck, ...]
    absent: tuple[str, ...]
    shared_ids: int  # ids found in more than one split: a leak between train and eval

    def lines(self) -> list[str]:
        out = [f"{self.dataset} from {self.source}"]
        checks = {s.split: s for s in self.splits}
        for split in SPLITS[self.dataset]:
            s = checks.get(split)
            if s is None:
                out.append(f"  {split:<10} {'-':>6}  absent")
                continue
            labels = "  ".join(f"{label} {n} ({n / s.count:.0%})" for label, n in s.labels.items())
            gold = labels + (f"  no gold {s.no_gold}" if s.no_gold else "")
            out.append(f"  {s.split:<10} {s.count:>6}  {gold.strip()}")
        out.append(f"  ids shared between splits: {self.shared_ids}")
        return out


def check_source(dataset: str, source: str | os.PathLike = DEFAULT_SOURCE) -> DataCheck:
    """Load every split the source has and count rows and gold labels (``cot-distill data check``)."""
    directory = source_dir(dataset, source)
    present = available_splits(dataset, source)
    if not present:
        names = ", ".join(name for split in SPLITS[dataset] for name in _loader(dataset).FILES[split])
        raise DataError(f"no {dataset} files here (looked for {names})", path=directory)
    checks, ids = [], Counter()
    for split in present:
        examples = load_split(dataset, split, source)
        gold = Counter(ex.answer for ex in examples if ex.answer is not None)
        checks.append(SplitCheck(
            split=split,
            count=len(examples),
            labels={label: gold[label] for label in LABELS[dataset]} if gold else {},
            no_gold=len(examples) - sum(gold.values()),
            file=None if directory is None else str(split_file(dataset, split, source)),
        ))
        ids.update({ex.id for ex in examples})
    shown = os.fspath(source) if directory is None or source != "sample" else f"sample ({directory})"
    return DataCheck(dataset=dataset, source=shown, splits=tuple(checks),
                     absent=tuple(s for s in SPLITS[dataset] if s not in present),
                     shared_ids=sum(1 for n in ids.values() if n > 1))
