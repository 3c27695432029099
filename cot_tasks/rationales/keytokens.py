"""Key-token attribution files: the one writer, the one reader, and chosen tokens back to text.

Written by ``cot-distill attribute`` (``trainers/attribution.py`` builds each row
with :func:`attribution_record` and appends it with :func:`append_attributions`),
one JSON line per example: the rationale's tokens as the attribution model's
tokenizer splits them, each token's character span in the (normalised)
rationale, their ids, one score per token and the top-k, and the method that scored them (``method``,
integrated gradients in every file from before the key) with its settings.
Chosen tokens are cut from the rationale text through their spans, so key
tokens read as the rationale wrote them (spaces, whole characters) for
byte-level and SentencePiece tokenizers alike. Each row carries the
tokenizer's fingerprint, so a file made with another tokenizer is refused
instead of silently misread; ``cot-distill attribute`` resumes a file only with the method and
settings it was made with, and only with the weights it was made with where rows name them (the sha256 of
the model's safetensors, ``weights_sha256``; a grid resumed on another machine, whose pre student is trained
again, keeps a partial file only when the weights come out bit-equal). Kept free of torch: the ``keytokens_post`` /
``random_post`` conditions only need text.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from cot_tasks.errors import DataError
from cot_tasks.io import append_rows, iter_jsonl


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """Stable across processes and machines: a hash of the vocabulary and the special tokens."""
    vocab = sorted(tokenizer.get_vocab().items())
    special = sorted((str(k), str(v)) for k, v in tokenizer.special_tokens_map.items())
    digest = hashlib.sha256(json.dumps([vocab, special], ensure_ascii=False).encode("utf-8"))
    return digest.hexdigest()[:16]


# Version 2: token character spans (version 1 decoded tokens one at a time, which glued
# SentencePiece words together and split multi-byte characters).
FORMAT_VERSION = 2

# The method of a row without "method": every file from before the key was made by integrated gradients.
DEFAULT_METHOD = "integrated_gradients"


@dataclass(frozen=True)
class AttributionRow:
    id: str
    tokens: tuple[str, ...]  # each token's span of the rationale text
    token_ids: tuple[int, ...]
    spans: tuple[tuple[int, int], ...]
    scores: tuple[float, ...]
    model: str
    tokenizer_fingerprint: str
    # |sum of scores - (F(x) - F(baseline))| / |F(x) - F(baseline)|: how far the path integral is from converged
    completeness_error: float | None = None
    gap: float | None = None  # F(x) - F(baseline), what the scores should add up to; None: not recorded
    method: str = DEFAULT_METHOD  # what scored the tokens (trainers.attribution.METHODS)
    weights_sha256: str | None = None  # which exact weights scored them; None: not recorded (older files)

    def top(self, k: int) -> list[int]:
        """Indices of the ``k`` highest-scoring tokens, in rationale order."""
        return sorted(rank(self.scores)[:k])


def rank(scores: Sequence[float]) -> list[int]:
    """Token indices from the highest score down; a tie goes to the earlier token."""
    return sorted(range(len(scores)), key=lambda i: (-scores[i], i))


def attribution_record(*, id: str, dataset: str, rationale: str, token_ids: Sequence[int],
                       spans: Sequence[tuple[int, int]], scores: Sequence[float], k: int, model: str,
                       tokenizer_fingerprint: str, method: str, settings: Mapping[str, Any] | None = None,
                       **extra: Any) -> dict[str, Any]:
    """One line of the file; ``extra`` holds this example's other numbers (F(x), completeness error, ...),
    then come ``method`` and its ``settings`` (integrated gradients: steps, baseline) as keys of their own."""
    tokens = [rationale[s:e] for s, e in spans]
    ranked = rank(scores)[:k]
    return {"format": FORMAT_VERSION, "id": id, "dataset": dataset, "tokens": tokens,
            "token_ids": list(token_ids), "spans": [list(span) for span in spans],
            "scores": [round(float(s), 6) for s in scores], "top_indices": ranked,
            "top_tokens": [tokens[j] for j in ranked], "model": model,
            "tokenizer_fingerprint": tokenizer_fingerprint, **extra, "method": method, **(settings or {})}


def append_attributions(path: str | Path, rows: Sequence[dict[str, Any]]) -> None:
    """Append finished rows (crash-safe, so ``cot-distill attribute`` resumes)."""
    append_rows(path, rows)


_FIELDS = {"id": str, "tokens": list, "token_ids": list, "spans": list, "scores": list, "model": str,
           "tokenizer_fingerprint": str}


def _spans(value: list) -> tuple[tuple[int, int], ...] | None:
    try:
        spans = tuple((int(s), int(e)) for s, e in value)
    except (TypeError, ValueError):
        return None
    return spans if all(0 <= s <= e for s, e in spans) else None


def read_attributions(path: str | Path, fingerprint: str | None = None, *, method: str | None = None,
                      settings: Mapping[str, Any] | None = None,
                      weights: str | None = None) -> dict[str, AttributionRow]:
    """``{id: row}``; broken lines, an old format, missing fields, mixed tokenizers or methods, a fingerprint
    other than ``fingerprint``, a method other than ``method`` with ``settings``, or rows naming weights other
    than ``weights`` (each when given: what a resumed run would add) are one-line DataErrors naming the file.
    A row without ``method`` is integrated gradients."""
    path = Path(path)
    if not path.is_file():
        raise DataError("no such attribution file; run `cot-distill attribute` first", path=path)
    out: dict[str, AttributionRow] = {}
    seen_fp: tuple[str, str] | None = None
    seen_method: str | None = None
    for lineno, obj in iter_jsonl(path):
        if obj.get("format") != FORMAT_VERSION:
            raise DataError(f"attribution file format {obj.get('format', 1)}, this version reads "
                            f"{FORMAT_VERSION} (token character spans); redo it with `cot-distill attribute`",
                            path=path, line=lineno, field="format")
        for name, kind in _FIELDS.items():
            if not isinstance(obj.get(name), kind):
                raise DataError(f"missing or not a {kind.__name__}", path=path, line=lineno, field=name)
        if not len(obj["tokens"]) == len(obj["token_ids"]) == len(obj["spans"]) == len(obj["scores"]):
            raise DataError("tokens, token_ids, spans and scores differ in length", path=path, line=lineno)
        spans = _spans(obj["spans"])
        if spans is None:
            raise DataError("not a list of [start, end] character offsets", path=path, line=lineno, field="spans")
        fp = obj["tokenizer_fingerprint"]
        if fingerprint is not None and fp != fingerprint:
            raise DataError(f"made with another tokenizer ({obj['model']}, fingerprint {fp}; this one is "
                            f"{fingerprint}); rerun `cot-distill attribute` with this model",
                            path=path, line=lineno, field="tokenizer_fingerprint")
        if seen_fp is not None and fp != seen_fp[0]:
            raise DataError(f"mixes tokenizers ({seen_fp[1]} and {obj['model']}); one file per model",
                            path=path, line=lineno, field="tokenizer_fingerprint")
        seen_fp = (fp, obj["model"])
        made = obj.get("method", DEFAULT_METHOD)
        if not isinstance(made, str):
            raise DataError("not a method name", path=path, line=lineno, field="method")
        if method is not None:
            _check_made_with(obj, made, method, dict(settings or {}), path, lineno)
        elif seen_method is not None and made != seen_method:
            raise DataError(f"mixes attribution methods ({seen_method} and {made}); one file per method",
                            path=path, line=lineno, field="method")
        seen_method = made
        sha = obj.get("weights_sha256")
        if sha is not None and not isinstance(sha, str):
            raise DataError("not a sha256", path=path, line=lineno, field="weights_sha256")
        if weights is not None and sha is not None and sha != weights:
            raise DataError(f"made with other weights of {obj['model']} (sha256 {sha[:12]}..., this model's are "
                            f"{weights[:12]}...); write another file, or delete this one to redo it",
                            path=path, line=lineno, field="weights_sha256")
        out[obj["id"]] = AttributionRow(obj["id"], tuple(obj["tokens"]), tuple(obj["token_ids"]), spans,
                                        tuple(float(s) for s in obj["scores"]), obj["model"], fp,
                                        obj.get("completeness_error"), _gap(obj), made, sha)
    return out


def _check_made_with(obj: dict, made: str, method: str, settings: dict[str, Any], path: Path, lineno: int) -> None:
    """A resumed run adds rows only to a file of its own method and settings: two kinds of scores in one file
    would rank key tokens on different scales."""
    redo = "write another file, or delete this one to redo it"
    if made != method:
        raise DataError(f"made with the attribution method {made}, this run asks for {method}; {redo}",
                        path=path, line=lineno, field="method")
    for key, want in settings.items():
        if obj.get(key) != want:
            raise DataError(f"made with {method} {key}={obj.get(key)!r}, this run asks for {key}={want!r}; {redo}",
                            path=path, line=lineno, field=key)


def _gap(obj: dict) -> float | None:
    f_input, f_base = obj.get("f_input"), obj.get("f_baseline")
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (f_input, f_base))
    return float(f_input) - float(f_base) if numbers else None


def span_text(row: AttributionRow, rationale: str, indices: Sequence[int]) -> str:
    """The chosen tokens cut from ``rationale``, in its order: neighbouring tokens form one span (with
    the text between them), separate spans are joined by one space."""
    runs: list[list[int]] = []
    previous = None
    for i in sorted(set(indices)):
        start, end = row.spans[i]
        if rationale[start:end] != row.tokens[i]:
            raise DataError(f"the attribution of example {row.id!r} was made on another rationale text; "
                            "redo it with `cot-distill attribute`")
        if previous is not None and i == previous + 1:
            runs[-1][1] = max(runs[-1][1], end)
        else:
            runs.append([start, end])
        previous = i
    return " ".join(text for text in (" ".join(rationale[s:e].split()) for s, e in runs) if text)


def attribution_of(rows: dict[str, AttributionRow] | None, example_id: str) -> AttributionRow:
    """The attribution row of one example, for keytokens_post/random_post."""
    if rows is None:
        raise DataError("conditions keytokens_post/random_post need an attribution file "
                        "(cot-distill attribute; --attributions)")
    if example_id not in rows:
        raise DataError(f"no attribution for example {example_id!r}; rerun cot-distill attribute on this split")
    return rows[example_id]


def key_tokens(row: AttributionRow, rationale: str, k: int) -> str:
    """The ``k`` highest-attributed rationale tokens, in their original order."""
    return span_text(row, rationale, row.top(k))


def random_tokens(row: AttributionRow, rationale: str, k: int, rng: random.Random) -> str:
    """``k`` rationale tokens drawn uniformly without replacement, in their original order (the control)."""
    return span_text(row, rationale, rng.sample(range(len(row.tokens)), min(k, len(row.tokens))))
