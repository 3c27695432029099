"""Key-token attribution files: reading them and turning chosen tokens back into text.

Written by ``cot-distill attribute`` (``trainers/attribution.py``), one JSON
line per example: the rationale's tokens as the attribution model's tokenizer
splits and decodes them, their ids, one integrated-gradients score per token
and the top-k. Each row carries the tokenizer's fingerprint, so a file made
with another tokenizer is refused instead of silently misread. Kept free of
torch: the ``keytokens_post`` / ``random_post`` conditions only need text.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from cot_tasks.errors import DataError
from cot_tasks.io import iter_jsonl


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """Stable across processes and machines: a hash of the vocabulary and the special tokens."""
    vocab = sorted(tokenizer.get_vocab().items())
    special = sorted((str(k), str(v)) for k, v in tokenizer.special_tokens_map.items())
    digest = hashlib.sha256(json.dumps([vocab, special], ensure_ascii=False).encode("utf-8"))
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class AttributionRow:
    id: str
    tokens: tuple[str, ...]
    token_ids: tuple[int, ...]
    scores: tuple[float, ...]
    model: str
    tokenizer_fingerprint: str

    def top(self, k: int) -> list[int]:
        """Indices of the ``k`` highest-scoring tokens, in rationale order."""
        return sorted(rank(self.scores)[:k])


def rank(scores: Sequence[float]) -> list[int]:
    """Token indices from the highest score down; a tie goes to the earlier token."""
    return sorted(range(len(scores)), key=lambda i: (-scores[i], i))


_FIELDS = {"id": str, "tokens": list, "token_ids": list, "scores": list, "model": str, "tokenizer_fingerprint": str}


def read_attributions(path: str | Path, fingerprint: str | None = None) -> dict[str, AttributionRow]:
    """``{id: row}``; broken lines, missing fields, mixed tokenizers or a fingerprint other than
    ``fingerprint`` (when given) are one-line DataErrors naming the file."""
    path = Path(path)
    if not path.is_file():
        raise DataError("no such attribution file; run `cot-distill attribute` first", path=path)
    out: dict[str, AttributionRow] = {}
    seen_fp: tuple[str, str] | None = None
    for lineno, obj in iter_jsonl(path):
        for name, kind in _FIELDS.items():
            if not isinstance(obj.get(name), kind):
                raise DataError(f"missing or not a {kind.__name__}", path=path, line=lineno, field=name)
        if not len(obj["tokens"]) == len(obj["token_ids"]) == len(obj["scores"]):
            raise DataError("tokens, token_ids and scores differ in length", path=path, line=lineno)
        fp = obj["tokenizer_fingerprint"]
        if fingerprint is not None and fp != fingerprint:
            raise DataError(f"made with another tokenizer ({obj['model']}, fingerprint {fp}; this one is "
                            f"{fingerprint}); rerun `cot-distill attribute` with this model",
                            path=path, line=lineno, field="tokenizer_fingerprint")
        if seen_fp is not None and fp != seen_fp[0]:
            raise DataError(f"mixes tokenizers ({seen_fp[1]} and {obj['model']}); one file per model",
                            path=path, line=lineno, field="tokenizer_fingerprint")
        seen_fp = (fp, obj["model"])
        out[obj["id"]] = AttributionRow(obj["id"], tuple(obj["tokens"]), tuple(obj["token_ids"]),
                                        tuple(float(s) for s in obj["scores"]), obj["model"], fp)
    return out


def tokens_text(tokens: Sequence[str], indices: Sequence[int]) -> str:
    """Chosen tokens as text, in rationale order: neighbouring tokens stay glued (sub-word pieces
    rebuild their word), separate runs are joined by one space."""
    runs: list[str] = []
    previous = None
    for i in sorted(indices):
        if previous is not None and i == previous + 1:
            runs[-1] += tokens[i]
        else:
            runs.append(tokens[i])
        previous = i
    return " ".join(" ".join(run.split()) for run in runs if run.strip())


def key_tokens(row: AttributionRow, k: int) -> str:
    """The ``k`` highest-attributed rationale tokens, in their original order."""
    return tokens_text(row.tokens, row.top(k))


def random_tokens(row: AttributionRow, k: int, rng: random.Random) -> str:
    """``k`` rationale tokens drawn uniformly without replacement, in their original order (the control)."""
    return tokens_text(row.tokens, rng.sample(range(len(row.tokens)), min(k, len(row.tokens))))
