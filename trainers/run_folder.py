"""A trainer's output folder: claiming it, its run record, its resumable state, its final checkpoint.

Layout (``TrainConfig.output``)::

    cot_distill.json     run identity (config, data hashes) + status; written first, finished last
    model.safetensors, config.json, tokenizer files   (after training: save_pretrained)
    .student_init/       the locally built ``--student tiny`` (until finished)
    .train_state/        accelerate save_state checkpoint + step, for resume (until finished)

Every write is atomic (temp + rename), so a killed run leaves a folder the
next run either resumes or refuses with one line, never a torn file.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from cot_tasks.errors import DataError
from cot_tasks.grid_files import write_json
from cot_tasks.io import normal_modes
from cot_tasks.train_log import TRAIN_LOG
from trainers.config import LOGS_DIR, RUN_FILE, TrainConfig, read_run_record

STATE_DIR = ".train_state"
INIT_DIR = ".student_init"


def check_output(out: Path, identity: dict) -> dict | None:
    """Refuse a folder holding another run's files; return our earlier run record, if any."""
    if not out.exists() or not any(out.iterdir()):
        return None
    record = read_run_record(out)
    if record is None:
        raise DataError(f"output folder holds other files (no {RUN_FILE}); choose another --output", path=out)
    if record.get("identity") != identity:
        changed = sorted(k for k in identity if record.get("identity", {}).get(k) != identity[k])
        raise DataError(f"output folder holds another run (differs in: {', '.join(changed) or 'format'}); "
                        "choose another --output", path=out)
    return record


@contextmanager
def exclusive(accelerator, out: Path) -> Iterator[None]:
    """One training process per output folder on this machine: a second one started on the same folder at
    the same moment (both would find it empty and claim it) stops with one line, before it writes anything.
    An OS lock (flock) outside the folder, so the checkpoint holds no lock file and a killed run holds none."""
    handle, ok = _try_lock(out) if accelerator.is_main_process else (None, True)
    if accelerator.num_processes > 1:  # the ranks of one launch share its lock, and its refusal
        from accelerate.utils import broadcast_object_list

        ok = broadcast_object_list([ok])[0]
    if not ok:
        raise DataError("output folder is in use by another training process on this machine: wait for it to "
                        "finish, or choose another --output", path=out)
    try:
        yield
    finally:
        if handle is not None:
            handle.close()


def _try_lock(out: Path):
    """(open lock file, True) once held; (None, False) when another process holds it; (None, True) where the
    OS has no flock (nothing to hold)."""
    try:
        import fcntl
    except ImportError:
        return None, True
    import hashlib

    folder = Path(tempfile.gettempdir()) / "cot-distill-locks"
    folder.mkdir(exist_ok=True)
    key = hashlib.sha256(str(out.resolve()).encode()).hexdigest()[:32]
    handle = open(folder / f"{key}.lock", "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None, False
    return handle, True


@contextmanager
def claimed(accelerator, out: Path, identity: dict, record: dict | None) -> Iterator[None]:
    """The main process claims ``out`` (a run record saying "starting") once every process has read it;
    a bad-input error before any training state exists takes the claim back, so the corrected command is
    never refused as "another run"."""
    main = accelerator.is_main_process
    accelerator.wait_for_everyone()
    new_claim = main and record is None
    created = not out.exists()
    if main:
        out.mkdir(parents=True, exist_ok=True)
        if record is None:  # claim the folder before writing anything else into it
            write_json(out / RUN_FILE, {"identity": identity, "status": "starting"})
    accelerator.wait_for_everyone()
    try:
        yield
    except DataError:
        if new_claim and not (out / STATE_DIR).exists():
            _unclaim(out, created)
        raise


def _unclaim(out: Path, created: bool) -> None:
    for name in (RUN_FILE, INIT_DIR, TRAIN_LOG, LOGS_DIR):
        path = out / name
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    if created and not any(out.iterdir()):
        out.rmdir()


def tiny_student(out: Path, corpus: list[str], config: TrainConfig) -> Path:
    """Build ``--student tiny`` once into the output folder (atomically), reuse it on resume."""
    from trainers.tiny import build_tiny_student

    init = out / INIT_DIR
    if not (init / "config.json").exists():
        tmp = Path(tempfile.mkdtemp(dir=out, prefix=".student_init."))
        build_tiny_student(corpus, tmp, config.tiny, n_positions=max(config.max_length, 64), seed=config.seed)
        os.replace(tmp, init)
    return init


def has_state(out: Path) -> bool:
    return (out / STATE_DIR).exists() or (out / f"{STATE_DIR}.old").exists()


def load_state(accelerator, out: Path) -> dict | None:
    """Model, optimizer, scheduler and RNG states of the newest checkpoint, restored; its step counters."""
    state = _state_dir(out)
    if state is None:
        return None
    accelerator.load_state(str(state))
    return json.loads((state / "step.json").read_text())


def _state_dir(out: Path) -> Path | None:
    """The newest complete training state (a crash between the two renames leaves only ``.old``)."""
    for name in (STATE_DIR, f"{STATE_DIR}.old"):
        if (out / name / "step.json").exists():
            return out / name
    return None


def save_state(accelerator, out: Path, progress: dict) -> None:
    """accelerate's save_state (model, optimizer, scheduler, RNG states) into a temp folder, then swapped in."""
    tmp = out / f"{STATE_DIR}.tmp"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    # Pickled state: tied weights (GPT-2's head and embedding) round-trip without safetensors' sharing rules.
    accelerator.save_state(str(tmp), safe_serialization=False)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (tmp / "step.json").write_text(json.dumps(progress))
        current, old = out / STATE_DIR, out / f"{STATE_DIR}.old"
        shutil.rmtree(old, ignore_errors=True)
        if current.exists():
            os.replace(current, old)
        os.replace(tmp, current)
        shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def save_final(accelerator, out: Path, model, tokenizer, run_record: dict) -> None:
    """save_pretrained + tokenizer into a temp folder, moved in; the run record marked finished last; the
    training state and the tiny student's init removed."""
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        tmp = Path(tempfile.mkdtemp(dir=out, prefix=".final."))
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        normal_modes(tmp)
        for item in tmp.iterdir():
            os.replace(item, out / item.name)
        tmp.rmdir()
        write_json(out / RUN_FILE, run_record)
        for leftover in (STATE_DIR, f"{STATE_DIR}.old", INIT_DIR):
            shutil.rmtree(out / leftover, ignore_errors=True)
    accelerator.wait_for_everyone()
