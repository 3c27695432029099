"""The keys of a ``cot-distill run`` YAML file, checked field by field before anything runs.

A wrong key, type or value is one line naming the file, the line in it and the
field (``seeds[1]``, ``train.lr``), never a traceback hours later.
"""

from __future__ import annotations

import os
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Mapping

import trainers
from cot_tasks.conditions import parse_condition
from cot_tasks.data import DEFAULT_SOURCE
from cot_tasks.errors import DataError
from cot_tasks.prompts import FORMULATIONS
from cot_tasks.records import DATASETS
from trainers.attribution import AttributionConfig
from trainers.config import TrainConfig

DEFAULT_CONFIG = Path(trainers.__file__).resolve().parent / "configs" / "default.yaml"


EVAL_DTYPES = ("float32", "bfloat16", "float16")
# The demo's conditions: every one, the key tokens at K=5 (the sample rationales are 14-43 tiny-student tokens,
# about 24: 5 keep about a fifth).
DEMO_CONDITIONS = ("none", "pre", "post", "shuffled_post", "shuffled_pre", "masked_post:0.5", "filler_post",
                   "other_post", "answer_masked_post", "keytokens_post:5", "random_post:5")


@dataclass
class EvalConfig:
    batch_size: int = 32
    device: str = "cpu"
    # Score only the first N eval documents (quick looks); None: the whole split.
    limit: int | None = None
    # lm-eval --gen_kwargs for the gen tasks; the demo's rationales are short (None: the task's 256 tokens).
    gen_kwargs: str | None = "max_gen_toks=48"
    # lm-eval's dtype model argument: every cell of a grid is scored in one precision (None: the checkpoint's).
    dtype: str | None = None


@dataclass
class AttributionOptions:
    """How key-token cells' rationale tokens are scored, with ``cot-distill attribute``'s defaults."""

    # trainers.attribution.METHODS; steps and baseline are integrated gradients' settings.
    method: str = AttributionConfig.method
    steps: int = AttributionConfig.steps
    # What the rationale tokens are replaced by at the path's start: pad | eos | token:TEXT.
    baseline: str = AttributionConfig.baseline


@dataclass
class CellResources:
    """What one step (a cell's training + evaluation, a pre student, an attribution pass) asks of a node
    under ``--executor ray``; the sequential executor ignores it."""

    num_cpus: float = 1
    num_gpus: float = 0


@dataclass
class GridConfig:
    """The keys of a ``cot-distill run`` YAML file. ``GridConfig()`` is the bundled demo, which
    trainers/configs/default.yaml writes out (a test holds them equal): the sample data and rationales, the
    locally built tiny student, every condition. ``train``, ``rationales`` and ``teacher`` are the demo's
    own, so a grid of other data or students must set them (``from_dict`` says so)."""

    output: str = "cot-distill-runs/default"
    source: str = DEFAULT_SOURCE
    datasets: list[str] = field(default_factory=lambda: list(DATASETS))
    conditions: list[str] = field(default_factory=lambda: list(DEMO_CONDITIONS))
    students: list[str] = field(default_factory=lambda: ["tiny"])
    seeds: list[int] = field(default_factory=lambda: [0])
    # mcf: lettered options, the label is a letter; cf (cloze): no options, the label is the answer text.
    formulation: str = "mcf"
    # Per dataset: a rationale file, or "sample" for the bundled sample's rationales.
    rationales: dict[str, str] = field(default_factory=lambda: dict.fromkeys(DATASETS, "sample"))
    # Who wrote the rationales (recorded in run.json).
    teacher: str = "hand-written (bundled sample)"
    # TrainConfig fields shared by every cell (epochs, lr, batch_size, max_length, tiny: {...}, ...); the demo's:
    # a tiny student from scratch on 40 questions needs a large learning rate and few, small steps.
    train: dict[str, Any] = field(default_factory=lambda: {
        "epochs": 4, "lr": 0.002, "batch_size": 8, "max_length": 256, "warmup_ratio": 0.1, "save_steps": 0,
        "tiny": {"vocab_size": 1024, "n_layer": 2, "n_head": 2, "n_embd": 64}})
    eval: EvalConfig = field(default_factory=EvalConfig)
    # Scores rationale tokens for keytokens_post/random_post; None: the cell's own student trained with 'pre'.
    # Another model (a teacher) may have its own tokenizer: key tokens reach the targets as text.
    attribution_model: str | None = None
    attribution: AttributionOptions = field(default_factory=AttributionOptions)
    # Per step under --executor ray (harness_plugins/grid/ray_executor.py): a cluster with N GPUs runs N cells at once.
    resources: CellResources = field(default_factory=CellResources)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "config",
                  lines: Mapping[str, int] | None = None) -> "GridConfig":
        """Checked keys, types and values; ``lines`` maps a field path to its line in the file."""
        lines = lines or {}

        def fail(message: str, name: str):
            return DataError(message, path=where, line=lines.get(name) or lines.get(name.split("[")[0]), field=name)

        if not isinstance(data, Mapping):
            raise fail(f"expected a mapping of grid keys, got {type(data).__name__}", "(top level)")
        data = dict(data)
        for key in ("datasets", "conditions", "students", "seeds"):  # one entry may be written without a list
            if data.get(key) is not None and not isinstance(data[key], list):
                data[key] = [data[key]]
        _check(data, cls, "", fail)
        demo = data.get("source", DEFAULT_SOURCE) == "sample" and set(data.get("students") or ["tiny"]) == {"tiny"}
        for key in ("train", "rationales", "teacher") if not demo else ():
            if key not in data:
                raise fail("not set, and its default is the bundled demo's (tiny student, sample data): set it for "
                           "this grid's data and students", key)
        for key, kind in (("eval", EvalConfig), ("attribution", AttributionOptions), ("resources", CellResources)):
            if key in data:
                data[key] = kind(**(data[key] or {}))
        grid = cls(**data)
        _check_values(grid, fail)
        _check(grid.train, TrainConfig, "train.", fail)
        return grid


def optional_of(annotation):
    """``X | None`` -> (X, True); anything else -> (itself, False)."""
    import types

    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        return annotation, False
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return args[0], True


def _type_ok(value, kind) -> bool:
    origin = typing.get_origin(kind)
    if kind is Any:
        return True
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin in (list, dict) or kind in (list, dict):
        return isinstance(value, origin or kind)
    return isinstance(value, kind) if isinstance(kind, type) else True


def _check(data, cls, prefix: str, fail) -> Mapping[str, Any]:
    """Unknown keys and wrong types of a mapping meant for dataclass ``cls`` (nested dataclasses too)."""
    if not isinstance(data, Mapping):
        raise fail(f"expected a mapping of keys, got {type(data).__name__}", prefix.rstrip(".") or "(top level)")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    for key in data:
        if key not in known:
            raise fail(f"unknown key(s) {key} (known: {', '.join(sorted(known))})", f"{prefix}{key}")
    for key, value in data.items():
        kind, optional = optional_of(hints[key])
        name = f"{prefix}{key}"
        if value is None and optional:
            continue
        if is_dataclass(kind):
            _check(value or {}, kind, f"{name}.", fail)
            continue
        if not _type_ok(value, kind):
            raise fail(f"expected {_type_name(kind)}, got {type(value).__name__} {value!r}", name)
        (item_kind, *_) = typing.get_args(kind)[-1:] or (None,)
        if item_kind is not None and isinstance(value, (list, dict)):
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for i, item in items:
                if not _type_ok(item, item_kind):
                    raise fail(f"expected {_type_name(item_kind)}, got {type(item).__name__} {item!r}",
                               f"{name}[{i}]" if isinstance(value, list) else f"{name}.{i}")
    return data


def _type_name(kind) -> str:
    origin = typing.get_origin(kind)
    if origin in (list, dict):
        return f"a {origin.__name__} of {', '.join(_type_name(a) for a in typing.get_args(kind))}"
    return {int: "a whole number", float: "a number", str: "text", bool: "true or false"}.get(kind, str(kind))


def _check_values(grid: GridConfig, fail) -> None:
    from trainers.attribution import check_baseline

    for i, dataset in enumerate(grid.datasets):
        if dataset not in DATASETS:
            raise fail(f"unknown dataset {dataset!r} (known: {', '.join(DATASETS)})", f"datasets[{i}]")
    for i, condition in enumerate(grid.conditions):
        try:
            parse_condition(condition)
        except DataError as err:
            raise fail(str(err), f"conditions[{i}]") from None
    if grid.formulation not in FORMULATIONS:
        raise fail(f"unknown formulation {grid.formulation!r} (known: {', '.join(FORMULATIONS)})", "formulation")
    for i, seed in enumerate(grid.seeds):
        if seed < 0:
            raise fail(f"seeds are whole numbers >= 0, got {seed}", f"seeds[{i}]")
    for name, collection in (("datasets", grid.datasets), ("conditions", grid.conditions),
                             ("students", grid.students), ("seeds", grid.seeds)):
        if not collection:
            raise fail("empty grid: needs at least one entry", name)
        if len(set(collection)) != len(collection):
            raise fail("lists an entry twice", name)
    for dataset in grid.rationales:
        if dataset not in DATASETS:
            raise fail(f"unknown dataset {dataset!r} (known: {', '.join(DATASETS)})", f"rationales.{dataset}")
    try:
        check_baseline(grid.attribution.baseline)
    except DataError as err:
        raise fail(str(err), "attribution.baseline") from None
    if grid.attribution.steps < 2:
        raise fail("at least 2", "attribution.steps")
    for name in ("num_cpus", "num_gpus"):
        if getattr(grid.resources, name) < 0:
            raise fail("at least 0", f"resources.{name}")
    if grid.eval.limit is not None and grid.eval.limit < 1:
        raise fail("at least 1 (or leave it out for the whole split)", "eval.limit")
    if grid.eval.dtype is not None and grid.eval.dtype not in EVAL_DTYPES:
        raise fail(f"one of {', '.join(EVAL_DTYPES)} (or leave it out for the checkpoint's own)", "eval.dtype")
    if "attributions" in grid.train:
        raise fail("the grid makes the attribution files itself; choose the model with attribution_model",
                   "train.attributions")
    for key in sorted({"dataset", "condition", "student", "seed", "rationales", "output", "source",
                       "formulation"} & set(grid.train)):
        raise fail(f"set {key} at the top level of the grid, not under train", f"train.{key}")


def _key_lines(node, prefix: str = "") -> dict[str, int]:
    """Field path -> 1-based line of its value in a YAML node tree (for error messages)."""
    import yaml

    out: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            name = f"{prefix}{key.value}"
            out[name] = key.start_mark.line + 1
            out.update(_key_lines(value, f"{name}."))
    elif isinstance(node, yaml.SequenceNode):
        base = prefix.rstrip(".")
        for i, item in enumerate(node.value):
            out[f"{base}[{i}]"] = item.start_mark.line + 1
    return out


def load_grid_config(path: str | os.PathLike | None = None) -> GridConfig:
    import yaml

    path = Path(path) if path else DEFAULT_CONFIG
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text) or {}
        lines = _key_lines(yaml.compose(text))
    except UnicodeDecodeError as err:
        raise DataError(f"not UTF-8 text (byte {err.start})", path=path) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise DataError(f"bad YAML ({str(err).splitlines()[0]})", path=path,
                        line=mark.line + 1 if mark else None) from None
    return GridConfig.from_dict(data, where=str(path), lines=lines)
