"""Reading lm-eval's ``samples_<task>_<ts>.jsonl`` (``--log_samples``): the one reader of that format.

It lives at the bottom of the stack because the commit task's loader
(cot_tasks/tasks/utils.py) reads a gen run's samples file; harness_plugins.lmeval.results
builds its per-doc scores on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from cot_tasks.errors import DataError
from cot_tasks.io import iter_jsonl


def iter_samples(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, sample)`` with an integer ``doc_id``; a missing file or a bad line is a DataError."""
    path = Path(path)
    if not path.is_file():
        raise DataError("lm-eval samples file not found", path=path)
    for lineno, obj in iter_jsonl(path):
        if not isinstance(obj.get("doc_id"), int) or isinstance(obj.get("doc_id"), bool):
            raise DataError("missing or not a whole number", path=path, line=lineno, field="doc_id")
        yield lineno, obj


def read_generations(path: str | Path, dataset: str, split: str) -> dict[str, str]:
    """``{example id: generated text}`` from a gen task's samples file of ``dataset``/``split``.

    A file of another dataset or split is refused at its first such line; the
    several lines a doc gets (one per filter) hold the same generation.
    """
    out: dict[str, str] = {}
    for lineno, obj in iter_samples(path):
        doc = obj.get("doc")
        if not isinstance(doc, dict) or not isinstance(doc.get("id"), str):
            raise DataError("missing the doc and its id (not a cot_* task's samples?)", path=path, line=lineno,
                            field="doc")
        for name, want in (("dataset", dataset), ("split", split)):
            if doc.get(name) != want:
                raise DataError(f"a {doc.get(name)!r} doc, expected {dataset} {split} generations", path=path,
                                line=lineno, field=f"doc.{name}")
        resps = obj.get("resps")
        if not (isinstance(resps, list) and resps and isinstance(resps[0], list) and resps[0]
                and isinstance(resps[0][0], str)):
            raise DataError("expected [[generated text]] (a generate_until task's samples?)", path=path, line=lineno,
                            field="resps")
        if out.setdefault(doc["id"], resps[0][0]) != resps[0][0]:
            raise DataError(f"two different generations for doc {doc['id']!r}", path=path, line=lineno,
                            field="resps")
    return out
