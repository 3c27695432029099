"""Shared file helpers: strict JSON-lines reading, atomic writes, and crash-safe appends for long jobs.

Long jobs that resume (teacher generation, attribution) append each batch as
complete lines and fsync, so a killed run loses at most the line being written.
On resume that broken last line is dropped (and reported); a broken line anywhere
else is real damage and stays an error for the strict readers.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from cot_tasks.errors import DataError


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, object)`` per non-blank line; broken JSON or a non-object is a DataError.

    A UTF-8 byte-order mark opening the file is read past, as pandas and most editors do (Windows tools
    write one); a BOM anywhere else is not JSON and stays an error."""
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise DataError(f"not UTF-8 text (byte {err.start} of the line)", path=path, line=lineno) from None
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"broken JSON ({err.msg} at column {err.colno})", path=path, line=lineno) from None
            if not isinstance(obj, dict):
                raise DataError(f"expected a JSON object, got {type(obj).__name__}", path=path, line=lineno)
            yield lineno, obj


def current_umask() -> int:
    """The process umask (reading it means setting it: put straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def open_mode() -> int:
    """The mode open() gives a new file: 0666 less the umask (mkstemp's files are 0600)."""
    return 0o666 & ~current_umask()


def normal_modes(folder: str | Path) -> None:
    """Give every file in ``folder`` the mode open() would: transformers writes large safetensors shards
    through mkstemp, 0600, so a saved model would be unreadable to anyone else."""
    mode = open_mode()
    for item in Path(folder).iterdir():
        if item.is_file():
            os.chmod(item, mode)


def write_temp(path: str | Path, content: str | bytes) -> Path:
    """Write ``content`` to a new temp file next to ``path`` and return it; the caller renames it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Same folder as the target, so the later os.replace is a rename on one filesystem (atomic).
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content.encode("utf-8") if isinstance(content, str) else content)
        # mkstemp makes the file 0600; the renamed file should be as readable as one made by open().
        os.chmod(tmp, open_mode())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def write_atomic(path: str | Path, content: str | bytes) -> Path:
    """Readers see the old file or the new one, never half of one (a killed run leaves no torn file)."""
    path = Path(path)
    os.replace(write_temp(path, content), path)
    return path


def write_json_atomic(path: str | Path, data: Any, **json_kwargs: Any) -> Path:
    """``data`` as JSON (``json.dumps`` keywords pass through) plus a final newline, written atomically."""
    return write_atomic(path, json.dumps(data, **json_kwargs) + "\n")


def write_files_atomic(files: Mapping[Path, bytes | str]) -> list[Path]:
    """Write every file to a temp name first, then rename them all: no half-written set."""
    temps: list[tuple[Path, Path]] = []
    try:
        for path, content in files.items():
            temps.append((write_temp(path, content), path))
    except BaseException:
        for tmp, _ in temps:
            tmp.unlink()
        raise
    for tmp, path in temps:
        os.replace(tmp, path)
    return [path for _, path in temps]


def repair_tail(path: str | Path) -> bool:
    """Drop an unfinished last line (no newline, or not JSON); True if one was dropped."""
    path = Path(path)
    if not path.is_file():
        return False
    data = path.read_bytes()
    if not data:
        return False
    body, _, last = data.rstrip(b"\n").rpartition(b"\n")
    complete = data.endswith(b"\n")
    if complete:
        try:
            json.loads(last)
            return False
        except ValueError:
            pass
    keep = body + b"\n" if body else b""
    write_atomic(path, keep)
    return True


def append_rows(path: str | Path, rows: Iterable[dict[str, Any]]) -> None:
    """Append whole lines and fsync, so a finished batch survives a crash."""
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    if not text:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
