"""Training configuration: one dataclass, saved into every checkpoint as ``cot_distill.json``."""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from cot_tasks.data import DEFAULT_SOURCE
from cot_tasks.errors import DataError
from cot_tasks.grid_files import read_json
from trainers.tiny import TinyConfig

RUN_FILE = "cot_distill.json"
LOGS_DIR = "logs"  # the accelerate trackers' folder inside the output folder
MIXED_PRECISION = ("no", "fp16", "bf16", "auto")  # accelerate's names; auto: bf16 where it is fast


def read_run_record(checkpoint: str | Path) -> dict | None:
    """A checkpoint's ``cot_distill.json`` (run identity, status, config, data hashes); None if absent."""
    try:
        return read_json(Path(checkpoint) / RUN_FILE)
    except FileNotFoundError:
        return None


def option(default=MISSING, help: str = "", **kw):
    """A config field whose ``help`` is the CLI's help text (``harness_plugins.cli.options``); without a default,
    a required one."""
    return field(default=default, metadata={"help": help}, **kw)


# Where a command's questions come from, for the configs (and CLI options) that read a split of a dataset.
SPLIT_HELP = "the split whose questions are used"
SOURCE_HELP = "where the questions come from: hub, sample, or a directory of the original files"


def split_option():
    return option("train", SPLIT_HELP)


def source_option():
    return option(DEFAULT_SOURCE, SOURCE_HELP)


@dataclass
class TrainConfig:
    dataset: str = option("csqa", "csqa, obqa or quarel")
    condition: str = option("post", "CoT condition (cot_tasks/conditions.py)")
    formulation: str = option("mcf", "mcf (lettered options, the label is a letter) or cf (cloze: no options "
                                   "in the prompt, the label is the answer text)")
    rationales: str | None = option(None, "rationale file (JSON lines); needed by every condition but none")
    attributions: str | None = option(None, "attribution file from `cot-distill attribute` "
                                          "(keytokens_post:K and random_post:K only)")
    student: str = option("tiny", "a named student (`cot-distill students list`), a hub name, a local path, or "
                                "'tiny' (a small GPT-2 built locally)")
    output: str = option("cot-distill-student", "checkpoint folder")
    source: str = option(DEFAULT_SOURCE, "where examples come from: sample (bundled), hub, or a folder of the "
                                 "original files")
    split: str = option("train", "the split to train on")
    epochs: float = option(3.0, "passes over the training set (a fraction cuts the last one short)")
    lr: float = option(5e-5, "peak learning rate (AdamW; linear warmup, then linear decay)")
    batch_size: int = option(8, "examples per micro-batch (per process)")
    grad_accum: int = option(1, "micro-batches per optimizer step")
    max_length: int = option(512, "longest sequence in tokens; a longer rationale is cut, never prompt or label")
    warmup_ratio: float = option(0.06, "share of optimizer steps spent warming the learning rate up")
    weight_decay: float = option(0.0, "AdamW weight decay (never on biases, norms and embeddings)")
    max_grad_norm: float = option(1.0, "gradient clipping norm (0: off)")
    seed: int = option(0, "seed of the initialisation (tiny), data order and condition randomness")
    mixed_precision: str = option("no", "no, fp16, bf16 (accelerate's mixed precision) or auto: "
                                           "bf16 on a GPU with bf16 or a CPU with AVX512-BF16/AMX, else no")
    save_steps: int = option(50, "checkpoint the training state every N optimizer steps (0: only at the end)")
    target_only_logits: bool = option(True, "compute the LM head only where the loss is (same loss, less work)")
    trust_remote_code: bool = option(False, "let transformers run code shipped with the student")
    report_to: str = option("", "accelerate trackers that get the training curves besides train_log.jsonl (always "
                              "written): tensorboard, wandb, mlflow, comet_ml, aim, clearml, dvclive, ..., all; "
                              "comma-separated")
    limit: int | None = option(None, "use only the first N training examples")
    tiny: TinyConfig = field(default_factory=TinyConfig, metadata={"help": "size of the 'tiny' student"})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "config") -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise DataError(f"unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})", path=where)
        data = dict(data)
        if isinstance(data.get("tiny"), Mapping):
            data["tiny"] = TinyConfig(**data["tiny"])
        return cls(**data)

    def identity(self) -> dict[str, Any]:
        """The fields that decide the trained weights; two runs with equal identity may share an output folder."""
        out = self.to_dict()
        out.pop("output")
        out.pop("save_steps")  # how often we checkpoint does not change the result
        out.pop("report_to")  # nor where the curves go
        if out["attributions"] is None:
            out.pop("attributions")  # runs from before this option keep their identity
        if out["formulation"] == "mcf":
            out.pop("formulation")  # so do MCF runs from before the cloze formulation
        return out

    def check(self) -> None:
        from cot_tasks.conditions import needs_attributions, parse_condition
        from cot_tasks.prompts import check_formulation
        from cot_tasks.records import DATASETS

        if self.dataset not in DATASETS:
            raise DataError(f"unknown dataset {self.dataset!r} (known: {', '.join(DATASETS)})")
        check_formulation(self.formulation)
        spec = parse_condition(self.condition).spec
        if needs_attributions(spec) and not self.attributions:
            raise DataError(f"condition {spec!r} needs an attribution file: set attributions (--attributions FILE; "
                            "`cot-distill attribute` makes one, `cot-distill run` makes it from the pre student)")
        if self.attributions and not needs_attributions(spec):
            raise DataError(f"attributions are read only by keytokens_post/random_post, not by {spec!r}")
        for name in ("batch_size", "grad_accum", "max_length"):
            if getattr(self, name) < 1:
                raise DataError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.epochs <= 0 or self.lr <= 0:
            raise DataError("epochs and lr must be > 0")
        # Each range where a value outside it would train, silently, something else than asked for
        # (a negative limit slices from the end; a warmup of the whole run never decays).
        for name, bad, want in (("limit", self.limit is not None and self.limit < 1, ">= 1 (or unset: all)"),
                                ("warmup_ratio", not 0 <= self.warmup_ratio < 1, "in [0, 1)"),
                                ("weight_decay", self.weight_decay < 0, ">= 0"),
                                ("max_grad_norm", self.max_grad_norm < 0, ">= 0 (0: off)"),
                                ("save_steps", self.save_steps < 0, ">= 0 (0: only at the end)")):
            if bad:
                raise DataError(f"{name} must be {want}, got {getattr(self, name)}", field=name)
        self.trackers()
        if self.mixed_precision not in MIXED_PRECISION:
            raise DataError(f"mixed_precision must be no, fp16, bf16 or auto, got {self.mixed_precision!r}")

    def trackers(self) -> list[str]:
        """``report_to`` as accelerate tracker names, each checked to be one accelerate knows and has installed."""
        names = [n.strip() for n in self.report_to.split(",") if n.strip()]
        if not names:
            return []
        from accelerate.tracking import get_available_trackers
        from accelerate.utils import LoggerType

        known = [t.value for t in LoggerType]
        for name in names:
            if name not in known:
                raise DataError(f"report_to: unknown tracker {name!r} (accelerate's: {', '.join(known)})")
            if name != "all" and name not in [str(getattr(t, "value", t)) for t in get_available_trackers()]:
                raise DataError(f"report_to: the {name} tracker's package is not installed (pip install {name})")
        return names

    def hyperparameters(self) -> dict[str, Any]:
        """The config as flat scalars, as trackers store hyper-parameters (``tiny.n_layer``; None as text)."""
        flat = {}
        for key, value in self.to_dict().items():
            items = value.items() if isinstance(value, dict) else [(None, value)]
            for sub, v in items:
                flat[f"{key}.{sub}" if sub else key] = v if isinstance(v, (int, float, str, bool)) else str(v)
        return flat
