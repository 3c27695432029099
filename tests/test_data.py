"""The data layer: bundled sample, original files, hub rows, and every bad-input case."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

import cot_tasks
from cot_tasks.data import EVAL_SPLIT, SPLITS, check_source, load_split
from cot_tasks.errors import DataError
from cot_tasks.prompts import render_prompt
from cot_tasks.rationales import read_rationales
from cot_tasks.records import DATASETS, LABELS
from cot_tasks.sample import SAMPLE_DIR, rationale_path, sample_dir
from harness_plugins.cli import main

# ---------------------------------------------------------------- bundled sample


@pytest.mark.parametrize("dataset", DATASETS)
def test_sample_splits(dataset):
    train = load_split(dataset, "train", "sample")
    evals = load_split(dataset, EVAL_SPLIT[dataset], "sample")
    assert (len(train), len(evals)) == (40, 20)
    for examples in (train, evals):
        assert all(ex.labels == LABELS[dataset] and ex.answer in LABELS[dataset] for ex in examples)
        # Gold labels balanced across letters.
        counts = [sum(ex.answer == label for ex in examples) for label in LABELS[dataset]]
        assert counts == [len(examples) // len(LABELS[dataset])] * len(LABELS[dataset])
    assert not {ex.id for ex in train} & {ex.id for ex in evals}
    assert len({ex.question for ex in train + evals}) == 60


def test_sample_extras():
    assert all(ex.extras["question_concept"] for ex in load_split("csqa", "train"))
    assert all(ex.extras["fact1"] for ex in load_split("obqa", "test"))
    assert all(set(ex.extras["world_literals"]) == {"world1", "world2"} for ex in load_split("quarel", "test"))


@pytest.mark.parametrize("dataset", DATASETS)
def test_sample_is_a_directory_source(dataset):
    for split in ("train", EVAL_SPLIT[dataset]):
        assert load_split(dataset, split, sample_dir(dataset)) == load_split(dataset, split, "sample")
    # From the installed package, wherever it lies (tox installs a built copy), never the working directory.
    assert sample_dir(dataset).parent == SAMPLE_DIR == Path(cot_tasks.__file__).parent / "sample"


@pytest.mark.parametrize("dataset", DATASETS)
def test_sample_rationales(dataset):
    train = {ex.id: ex for ex in load_split(dataset, "train")}
    rationales = read_rationales(rationale_path(dataset))
    assert set(rationales) == set(train)
    for rid, r in rationales.items():
        assert (r.dataset, r.teacher, r.source) == (dataset, "hand-written", "sample")
        assert r.teacher_answer == train[rid].answer
        assert train[rid].answer_text.lower() in r.rationale.lower()


def test_sample_missing_split_lists_what_it_has():
    with pytest.raises(DataError, match=r"bundled sample has no 'validation' split for quarel \(it has: train, test\)"):
        load_split("quarel", "validation", "sample")
    with pytest.raises(DataError, match=r"it has: train, validation"):
        load_split("csqa", "test", "sample")


def test_render_prompt_is_lm_eval_commonsense_qa():
    """Our CSQA prompt is character-for-character lm-eval's built-in ``commonsense_qa`` doc_to_text."""
    import lm_eval
    import yaml
    from lm_eval.utils import apply_template

    config = yaml.safe_load((Path(lm_eval.__file__).parent / "tasks/commonsense_qa/default.yaml").read_text())
    for ex in load_split("csqa", "validation")[:5]:
        hub_doc = {"question": ex.question, "choices": {"label": list(ex.labels), "text": [t for _, t in ex.choices]}}
        assert render_prompt(ex) == apply_template(config["doc_to_text"], hub_doc)
    assert render_prompt(ex).startswith(f"Question: {ex.question}\nA. ") and render_prompt(ex).endswith("\nAnswer:")


# ---------------------------------------------------------------- bad input

CSQA_ROW = {"answerKey": "B", "id": "q1", "question": {"question_concept": "c", "stem": "Which?", "choices": [
    {"label": label, "text": f"t{label}"} for label in "ABCDE"]}}
OBQA_ROW = {"id": "o1", "question": {"stem": "Which?", "choices": [{"text": f"t{label}", "label": label}
                                                                    for label in "ABCD"]},
            "fact1": "a fact", "answerKey": "C"}


def _write(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(r if isinstance(r, str) else json.dumps(r) + "\n" for r in rows))
    return path


def _mutated(row, change):
    row = copy.deepcopy(row)
    change(row)
    return row


def _pop(*keys):
    def change(row):
        for key in keys[:-1]:
            row = row[key]
        del row[keys[-1]]
    return change


CSQA_BAD = [
    ("broken JSON", '{"id": "q2", "answerKey": \n', None),
    ("expected a JSON object, got list", "[1, 2]\n", None),
    ("missing", _mutated(CSQA_ROW, _pop("answerKey")), "answerKey"),
    ("missing", _mutated(CSQA_ROW, _pop("question", "stem")), "question.stem"),
    ("missing", _mutated(CSQA_ROW, _pop("question", "question_concept")), "question.question_concept"),
    ("expected str", _mutated(CSQA_ROW, lambda r: r.update(id=7)), "id"),
    ("not among the choice labels", _mutated(CSQA_ROW, lambda r: r.update(answerKey="F")), "answerKey"),
    ("expected 5 choices, got 4", _mutated(CSQA_ROW, lambda r: r["question"]["choices"].pop()), "question.choices"),
    ("choice labels", _mutated(CSQA_ROW, lambda r: r["question"]["choices"][0].update(label="Z")), "question.choices"),
    ("missing", _mutated(CSQA_ROW, lambda r: r["question"]["choices"][1].pop("text")), "question.choices[1].text"),
    ("duplicate id 'q1'", CSQA_ROW, "id"),
]


@pytest.mark.parametrize("what, bad, field", CSQA_BAD, ids=[f"{c[0]}-{c[2]}" for c in CSQA_BAD])
def test_csqa_bad_row_names_file_line_field(tmp_path, what, bad, field):
    path = _write(tmp_path / "train_rand_split.jsonl", [CSQA_ROW, bad])
    with pytest.raises(DataError) as err:
        load_split("csqa", "train", tmp_path)
    message = str(err.value)
    assert f"{path}:2" in message and what in message and "\n" not in message
    if field:
        assert f"field {field!r}" in message


@pytest.mark.parametrize("what, change, field", [
    ("missing", _pop("question", "stem"), "question.stem"),
    ("missing", _pop("answerKey"), "answerKey"),
    ("not among the choice labels", lambda r: r.update(answerKey="E"), "answerKey"),
    ("expected 4 choices, got 5", lambda r: r["question"]["choices"].append({"text": "x", "label": "E"}),
     "question.choices"),
    ("expected str", lambda r: r.update(fact1=None), "fact1"),
])
def test_obqa_bad_row(tmp_path, what, change, field):
    path = _write(tmp_path / "Additional/test_complete.jsonl", [OBQA_ROW, OBQA_ROW | {"id": "o2"},
                                                                 _mutated(OBQA_ROW | {"id": "o3"}, change)])
    with pytest.raises(DataError) as err:
        load_split("obqa", "test", tmp_path)
    assert f"{path}:3" in str(err.value) and what in str(err.value) and f"field {field!r}" in str(err.value)


def test_obqa_falls_back_to_main(tmp_path):
    main_row = {k: v for k, v in OBQA_ROW.items() if k != "fact1"}
    _write(tmp_path / "Main/dev.jsonl", [main_row])
    (ex,) = load_split("obqa", "validation", tmp_path)
    assert ex.answer == "C" and "fact1" not in ex.extras
    _write(tmp_path / "Additional/dev_complete.jsonl", [OBQA_ROW])
    (ex,) = load_split("obqa", "validation", tmp_path)
    assert ex.extras["fact1"] == "a fact"


def test_choices_come_back_in_label_order(tmp_path):
    row = _mutated(CSQA_ROW, lambda r: r["question"]["choices"].reverse())
    _write(tmp_path / "dev_rand_split.jsonl", [row])
    (ex,) = load_split("csqa", "validation", tmp_path)
    assert ex.choices == tuple((label, f"t{label}") for label in "ABCDE") and ex.answer_text == "tB"


def test_empty_file(tmp_path):
    path = _write(tmp_path / "train_rand_split.jsonl", ["\n"])
    with pytest.raises(DataError, match=f"{path}: no rows"):
        load_split("csqa", "train", tmp_path)


@pytest.mark.parametrize("args, match", [
    (("squad", "train"), r"unknown dataset 'squad' \(known: csqa, obqa, quarel\)"),
    (("csqa", "dev"), r"unknown split 'dev' for csqa \(known: train, validation, test\)"),
    (("csqa", "train", "/no/such/dir"), r"unknown source '/no/such/dir': expected 'hub', 'sample' or an existing"),
])
def test_unknown_names(args, match):
    with pytest.raises(DataError, match=match):
        load_split(*args)


def test_missing_split_file(tmp_path):
    with pytest.raises(DataError,
                       match=rf"{tmp_path}: no validation file for csqa \(looked for dev_rand_split.jsonl\)"):
        load_split("csqa", "validation", tmp_path)


def test_test_split_without_gold(tmp_path):
    row = {k: v for k, v in CSQA_ROW.items() if k != "answerKey"}
    _write(tmp_path / "test_rand_split_no_answers.jsonl", [row])
    examples = load_split("csqa", "test", tmp_path)
    assert examples[0].answer is None


# ---------------------------------------------------------------- hub


def _fake_hub(monkeypatch, rows):
    import datasets

    calls = []

    def load_dataset(path, name=None, split=None):
        calls.append((path, name, split))
        if isinstance(rows, Exception):
            raise rows
        return rows

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return calls


def test_hub_unreachable_is_one_line(monkeypatch):
    offline = ConnectionError("Couldn't reach 'tau/commonsense_qa' on the Hub (OfflineModeIsEnabled)\nmore")
    _fake_hub(monkeypatch, offline)
    with pytest.raises(DataError) as err:
        load_split("csqa", "train", "hub")
    message = str(err.value)
    assert message.startswith("hub tau/commonsense_qa: cannot load from the Hugging Face Hub")
    assert "--source sample" in message and "\n" not in message


HUB_CSQA = {"id": "h1", "question": "Which?", "question_concept": "c",
            "choices": {"label": list("ABCDE"), "text": list("vwxyz")}, "answerKey": "D"}


def test_hub_rows(monkeypatch):
    calls = _fake_hub(monkeypatch, [HUB_CSQA, HUB_CSQA | {"id": "h2", "answerKey": ""}])
    examples = load_split("csqa", "test", "hub")
    assert calls == [("tau/commonsense_qa", None, "test")]
    assert [ex.answer for ex in examples] == ["D", None] and examples[0].answer_text == "y"

    _fake_hub(monkeypatch, [HUB_CSQA, HUB_CSQA | {"id": "h2", "answerKey": ""}])
    with pytest.raises(DataError, match=r"hub tau/commonsense_qa\[train\] row 1: field 'answerKey': empty"):
        load_split("csqa", "train", "hub")

    obqa = {"id": "7-1", "question_stem": "The sun is", "choices": {"text": list("abcd"), "label": list("ABCD")},
            "answerKey": "A", "fact1": "f", "humanScore": 1.0, "clarity": 2.0, "turkIdAnonymized": "t"}
    calls = _fake_hub(monkeypatch, [obqa, obqa])
    duplicate = r"hub allenai/openbookqa\[validation\] row 1: field 'id': duplicate id '7-1' \(first at row 0\)"
    with pytest.raises(DataError, match=duplicate):
        load_split("obqa", "validation", "hub")
    assert calls == [("allenai/openbookqa", "additional", "validation")]

    quarel = {"id": "Q1", "answer_index": 1, "logical_forms": ["f"], "logical_form_pretty": "p",
              "world_literals": {"world1": ["ice"], "world2": ["snow"]},
              "question": "Which is smoother? (A) snow (B) ice"}
    _fake_hub(monkeypatch, [quarel])
    (ex,) = load_split("quarel", "train", "hub")
    assert (ex.question, ex.choices, ex.answer) == ("Which is smoother?", (("A", "snow"), ("B", "ice")), "B")


def test_hub_choice_columns_must_match(monkeypatch):
    _fake_hub(monkeypatch, [HUB_CSQA | {"choices": {"label": list("ABCDE"), "text": list("vwx")}}])
    with pytest.raises(DataError, match=r"row 0: field 'choices': 5 labels but 3 texts"):
        load_split("csqa", "validation", "hub")


# ---------------------------------------------------------------- check + CLI


def test_check_source_sample():
    check = check_source("obqa", "sample")
    assert [(s.split, s.count) for s in check.splits] == [("train", 40), ("test", 20)]
    assert check.absent == ("validation",) and check.shared_ids == 0
    assert check.splits[0].labels == {"A": 10, "B": 10, "C": 10, "D": 10}


def test_cli_data_check(capsys):
    assert main(["data", "check", "--dataset", "csqa"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("csqa from sample")
    assert out[1].split()[:2] == ["train", "40"] and "A 8 (20%)" in out[1]
    assert out[2].split()[:2] == ["validation", "20"]
    assert out[3].split() == ["test", "-", "absent"]


def test_cli_data_check_errors_are_one_line(capsys, tmp_path):
    assert main(["data", "check", "--dataset", "quarel", "--source", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no quarel files here" in err
    _write(tmp_path / "quarel-v1-train.jsonl", ['{"id": \n'])
    assert main(["data", "check", "--dataset", "quarel", "--source", str(tmp_path)]) == 2
    assert "quarel-v1-train.jsonl:1: broken JSON" in capsys.readouterr().err


# ---------------------------------------------------------------- the real files


def _raw(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_real_csqa(shared_data):
    source = shared_data / "commonsenseqa"
    counts = {split: len(load_split("csqa", split, source)) for split in SPLITS["csqa"]}
    assert counts == {"train": 9741, "validation": 1221, "test": 1140}
    for split, name in (("train", "train_rand_split.jsonl"), ("validation", "dev_rand_split.jsonl")):
        raw, examples = _raw(source / name), load_split("csqa", split, source)
        for i in (0, -1):
            assert examples[i].id == raw[i]["id"] and examples[i].answer == raw[i]["answerKey"]
            assert examples[i].question == raw[i]["question"]["stem"]
            assert examples[i].extras["question_concept"] == raw[i]["question"]["question_concept"]
    test = load_split("csqa", "test", source)
    assert all(ex.answer is None for ex in test)


def test_real_obqa(shared_data):
    source = shared_data / "openbookqa"
    for split, name in (("train", "train"), ("validation", "dev"), ("test", "test")):
        examples = load_split("obqa", split, source)
        raw = _raw(source / f"Additional/{name}_complete.jsonl")
        assert len(examples) == len(raw) == {"train": 4957}.get(split, 500)
        assert all(ex.extras["fact1"] for ex in examples)
        for i in (0, -1):
            assert (examples[i].id, examples[i].answer) == (raw[i]["id"], raw[i]["answerKey"])
            assert examples[i].extras["fact1"] == raw[i]["fact1"]
    assert load_split("obqa", "train", source)[0].answer == "D"  # "The sun is responsible for" -> plants sprouting


def test_real_check_source(shared_data):
    check = check_source("csqa", shared_data / "commonsenseqa")
    assert [s.count for s in check.splits] == [9741, 1221, 1140] and check.shared_ids == 0
    assert check.splits[2].no_gold == 1140 and check.splits[2].labels == {}


def test_atomic_writes_honour_the_umask(tmp_path):
    import os

    from cot_tasks.io import write_atomic, write_files_atomic

    old = os.umask(0o022)
    try:
        a = write_atomic(tmp_path / "a.json", "{}")
        (b,) = write_files_atomic({tmp_path / "b.md": "x"})
        os.umask(0o027)
        c = write_atomic(tmp_path / "c.json", "{}")
    finally:
        os.umask(old)
    assert [p.stat().st_mode & 0o777 for p in (a, b, c)] == [0o644, 0o644, 0o640]


def test_saved_models_get_the_modes_open_would_give(tmp_path):
    """transformers writes big safetensors shards through mkstemp (0600: seen on SmolLM2-135M); the trainer's
    checkpoints and the converted students are made readable as the umask allows."""
    import os

    from cot_tasks.io import normal_modes

    shard = tmp_path / "model.safetensors"
    shard.write_bytes(b"x")
    os.chmod(shard, 0o600)
    (tmp_path / "sub").mkdir(mode=0o700)
    old = os.umask(0o022)
    try:
        normal_modes(tmp_path)
    finally:
        os.umask(old)
    assert shard.stat().st_mode & 0o777 == 0o644 and (tmp_path / "sub").stat().st_mode & 0o777 == 0o700


def test_a_parent_folder_serves_every_dataset(tmp_path):
    """One source for a whole grid: a folder holding the release folders under their usual names."""
    import shutil

    from cot_tasks.sample import sample_dir

    shutil.copytree(sample_dir("csqa"), tmp_path / "commonsenseqa")
    shutil.copytree(sample_dir("obqa"), tmp_path / "openbookqa")
    assert load_split("csqa", "train", tmp_path) == load_split("csqa", "train", tmp_path / "commonsenseqa")
    assert [ex.id for ex in load_split("obqa", "test", tmp_path)] == [ex.id for ex in load_split("obqa", "test",
                                                                                                 "sample")]


def test_a_jsonl_file_opening_with_a_utf8_bom_reads_and_a_bom_elsewhere_is_refused(tmp_path):
    from cot_tasks.io import iter_jsonl

    path = tmp_path / "bom.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"id": "a"}\n{"id": "b"}\n')
    assert [obj["id"] for _, obj in iter_jsonl(path)] == ["a", "b"]
    path.write_bytes(b'{"id": "a"}\n\xef\xbb\xbf{"id": "b"}\n')
    with pytest.raises(DataError, match=rf"^{path}:2: broken JSON"):
        list(iter_jsonl(path))
