"""Training configuration: one dataclass, saved into every checkpoint as ``cot_distill.json``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from cot_tasks.errors import DataError
from trainers.tiny import TinyConfig

RUN_FILE = "cot_distill.json"
MIXED_PRECISION = ("no", "fp16", "bf16")  # accelerate's names


def read_run_record(checkpoint: str | Path) -> dict | None:
    """A checkpoint's ``cot_distill.json`` (run identity, status, config, data hashes); None if absent."""
    path = Path(checkpoint) / RUN_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as err:
        raise DataError(f"broken JSON ({err.msg})", path=path, line=err.lineno) from None


@dataclass
class TrainConfig:
    dataset: str = "csqa"
    condition: str = "post"
    # Rationale file (JSON lines, cot_tasks/rationales/format.py); None only for condition 'none'.
    rationales: str | None = None
    # Attribution file (JSON lines, `cot-distill attribute`); needed by keytokens_post:K / random_post:K only.
    attributions: str | None = None
    # Hub name or local path of any causal LM, or 'tiny'.
    student: str = "tiny"
    output: str = "cot-distill-student"
    # Where examples come from: 'sample' (bundled), 'hub', or a directory (cot_tasks.data.load_split).
    source: str = "sample"
    split: str = "train"
    epochs: float = 3.0
    lr: float = 5e-5
    batch_size: int = 8
    grad_accum: int = 1
    max_length: int = 512
    warmup_ratio: float = 0.06
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    seed: int = 0
    # 'no' | 'fp16' | 'bf16' (accelerate's mixed_precision).
    mixed_precision: str = "no"
    # Checkpoint the training state every N optimizer steps (0: only at the end of training).
    save_steps: int = 50
    # Compute the LM head only on target positions (the prompt has no loss): same loss, less work.
    target_only_logits: bool = True
    trust_remote_code: bool = False
    # Use only the first N training examples (quick runs); None: all.
    limit: int | None = None
    tiny: TinyConfig = field(default_factory=TinyConfig)

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
        if out["attributions"] is None:
            out.pop("attributions")  # runs from before this option keep their identity
        return out

    def check(self) -> None:
        from cot_tasks.conditions import needs_attributions, parse_condition
        from cot_tasks.records import DATASETS

        if self.dataset not in DATASETS:
            raise DataError(f"unknown dataset {self.dataset!r} (known: {', '.join(DATASETS)})")
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
        if self.mixed_precision not in MIXED_PRECISION:
            raise DataError(f"mixed_precision must be no, fp16 or bf16, got {self.mixed_precision!r}")
