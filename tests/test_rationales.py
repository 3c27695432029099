"""Rationale parsing, importers (on the real files where present), joins, filters, generation."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict

import pytest

from cot_tasks.errors import DataError
from cot_tasks.rationales import generic, importers
from cot_tasks.rationales.filtering import filter_rationales
from cot_tasks.rationales.format import Rationale, read_rationales, write_rationales
from cot_tasks.rationales.parse import parse_answer, strip_answer_sentence
from cot_tasks.rationales.teacher_prompts import PROMPT_VERSION, teacher_prompt
from cot_tasks.records import Example
from trainers.teacher import GenerateConfig, generate_rationales

CHOICES = (("A", "math problem"), ("B", "gravity"), ("C", "park"), ("D", "school"), ("E", "school band"))


def ex(i: int, answer: str = "A", question: str | None = None) -> Example:
    return Example(id=f"q{i}", dataset="csqa", split="train", question=question or f"Question number {i}?",
                   choices=CHOICES, answer=answer)


@pytest.mark.parametrize("text, label", [
    ("Of the choices only math problem fits. So the answer is (a) math problem.", "A"),
    ("So the answer is (d) school.\n\nQ: next question ... So the answer is (b) gravity.", None),  # two answers
    ("The answer is B", "B"),
    ("Things fall down. The answer is: E", "E"),
    ("Answer: C", "C"),
    ("So the answer is school band.", "E"),  # option text, longest match wins over "school"
    ("The answer is A because it is neither gravity nor park.", "A"),
    ("B. Because gravity pulls things down.", "B"),
    # hedged, missing or not an option
    ("So the answer is either (a) math problem or (e) school band.", None),
    ("The answer is A or B.", None),
    ("So the answer is math problem or gravity.", None),
    ("The answer is a place where children play.", None),  # the article "a" is not a label
    ("I am not sure which one it is.", None),
    ("The answer is None of the above.", None),
    ("A person would go there.", None),
])
def test_parse_answer_hand_made(text, label):
    assert parse_answer(text, CHOICES) == label


def test_strip_answer_sentence_keeps_reasons():
    assert strip_answer_sentence("Sun gives energy. The answer is D") == "Sun gives energy."
    assert strip_answer_sentence("Only a map fits. So the answer is (d) atlas.") == "Only a map fits."
    long = "The answer is A because deep sea animals live far down."
    assert strip_answer_sentence(long) == long


def test_filter_counts_kept_wrong_unparseable_missing():
    examples = [ex(i, answer="A") for i in range(5)]
    rats = {r.id: r for r in [
        Rationale("q0", "csqa", "r", "A", "t", "s"), Rationale("q1", "csqa", "r", "B", "t", "s"),
        Rationale("q2", "csqa", "r", None, "t", "s"), Rationale("q3", "csqa", "r", "A", "t", "s"),
        Rationale("zz", "csqa", "r", "A", "t", "s"),
    ]}
    kept, report = filter_rationales(examples, rats, "correct")
    assert [r.id for r in kept] == ["q0", "q3"]
    assert (report.kept, report.wrong, report.unparseable, report.missing, report.unmatched) == (2, 1, 1, 1, 1)
    kept_all, report_all = filter_rationales(examples, rats, "all")
    assert len(kept_all) == 4 and report_all.wrong == 1
    with pytest.raises(DataError, match="unknown --keep"):
        filter_rationales(examples, rats, "some")


def test_broken_rationale_file_is_one_line_error(tmp_path):
    path = tmp_path / "r.jsonl"
    good = json.dumps(asdict(Rationale("q0", "csqa", "r", "A", "t", "s")))
    path.write_text(good + "\n{not json\n" + good.replace("q0", "q1") + "\n")
    with pytest.raises(DataError) as err:
        read_rationales(path)
    assert f"{path}:2" in str(err.value) and "\n" not in str(err.value)


# -- real files ---------------------------------------------------------------

@pytest.fixture(scope="module")
def csqa_train(shared_data):
    from cot_tasks.data import load_split

    return load_split("csqa", "train", shared_data / "commonsenseqa")


@pytest.fixture(scope="module")
def obqa(shared_data):
    from cot_tasks.data import load_split

    return {split: load_split("obqa", split, shared_data / "openbookqa") for split in ("train", "validation")}


def _agreement(rationales, examples):
    gold = {e.id: e.answer for e in examples}
    return Counter("none" if r.teacher_answer is None else r.teacher_answer == gold[r.id] for r in rationales)


def test_dss_palm_rationales_reproduce_upstream_numbers(shared_data, csqa_train):
    directory = shared_data / "distilling_step_by_step" / "cqa"
    result = importers.import_dss(directory, csqa_train, "train")
    assert (result.rows, len(result.rationales), result.unjoined) == (9741, 9741, 0)
    # SOURCES.md D2: the upstream text parser gives label == gold on 74.3%, 0 unparseable.
    rows = [json.loads(line) for line in open(directory / "cqa_train.json")]
    outputs = sum((json.load(open(directory / "llm" / f"train_CoT_{i}.json")) for i in range(10)), [])
    upstream = [importers.dss_upstream_answer_text(o) for o in outputs]
    assert sum(u is None for u in upstream) == 0
    assert round(sum(u == r["answer"] for u, r in zip(upstream, rows)) / len(rows), 3) == 0.743
    assert "74.3%" in result.line()
    # Our parser maps to labels and refuses hedges ("either (a) ... or (e) ...") instead of guessing.
    counts = _agreement(result.rationales, csqa_train)
    assert counts[True] == 7336 and counts["none"] == 270
    first = result.rationales[0]
    assert first.teacher_answer == "D" and first.rationale.endswith("has to do with the above problem.")
    assert "Q:" not in first.rationale and "So the answer is" not in first.rationale


def test_cose_explanations_join_by_id(shared_data, csqa_train):
    result = importers.import_cose(shared_data / "cos_e" / "v1.11" / "cose_train_v1.11.jsonl", csqa_train)
    assert (result.rows, len(result.rationales), result.unjoined) == (9741, 9741, 0)
    by_id = {r.id: r for r in result.rationales}
    assert (by_id["3a1b3c21a11f4ec53c166b0559df7369"].rationale
            == "Bums are well known to take up residence under bridges.")


def test_eit_files_join_by_question_text(shared_data, csqa_train, obqa):
    data = shared_data / "eit_nlp_distilling_cot" / "data"
    result = importers.import_eit(data / "openbookQA_chatgpt_level_1_ranked.json", obqa["train"])
    # 4956 rows: every one joins, including the questions OBQA repeats under two ids.
    assert (result.rows, len(result.rationales), result.unjoined) == (4956, 4956, 0)
    assert _agreement(result.rationales, obqa["train"])[True] == 4936
    sun = next(r for r in result.rationales if r.id == "7-980")
    assert sun.teacher_answer == "D" and not sun.rationale.endswith("The answer is D")
    result = importers.import_eit(data / "csqa_llama_level1_ranked.json", csqa_train)
    assert (len(result.rationales), result.unjoined) == (9732, 0)
    assert result.rationales[0].teacher == "LLaMA-3-70B"


def test_sominw_mistral_files_join_by_id(shared_data, obqa):
    dev = obqa["validation"]
    jsonl = importers.import_eit(shared_data / "openbookqa" / "obqa_mistral7b_rationales.jsonl", dev)
    assert (len(jsonl.rationales), jsonl.unjoined) == (500, 0)
    # SOURCES.md F1 counts 347/112/41 from the first letter alone; ours also refuses hedges.
    assert _agreement(jsonl.rationales, dev) == Counter({True: 342, False: 102, "none": 56})
    csv_path = shared_data / "openbookqa" / "raw_sominw" / "openbookqa_mistral_7b_with_gold_rationales.csv"
    from_table = generic.import_generic(csv_path, dev, generic.Columns(rationale="gold_rationale", id="id"))
    assert [r.teacher_answer for r in from_table.rationales] == [r.teacher_answer for r in jsonl.rationales]


def test_fact1_as_rationale(shared_data, obqa):
    result = importers.import_fact1(obqa["train"])
    assert len(result.rationales) == 4957
    assert result.rationales[0].rationale == "the sun is the source of energy for physical cycles on Earth"
    assert result.rationales[0].teacher_answer == "D"


# -- generic importer and CLI ---------------------------------------------------

def test_generic_csv_by_question_and_missing_column(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("question,why,ans\n\"Question number 1?\",Because gravity.,B\nunknown q,x,A\n")
    result = generic.import_generic(path, [ex(1)], generic.Columns(rationale="why", id=None,
                                                                      question="question", answer="ans"))
    assert [(r.id, r.rationale, r.teacher_answer) for r in result.rationales] == [("q1", "Because gravity.", "B")]
    assert result.unjoined == 1
    with pytest.raises(DataError) as err:
        generic.import_generic(path, [ex(1)],
                                 generic.Columns(rationale="explanation", id=None, question="question"))
    message = str(err.value)
    assert str(path) in message and "'explanation'" in message and "question, why, ans" in message
    assert "\n" not in message


def test_cli_import_fact1_and_bad_column(tmp_path, capsys):
    from harness_plugins.cli import main

    out = tmp_path / "fact1.jsonl"
    assert main(["rationales", "import", "--format", "fact1", "--dataset", "obqa", "--split", "train",
                 "--out", str(out)]) == 0
    rats = read_rationales(out)
    assert rats and all(r.source == "openbookqa-fact1" for r in rats.values())
    bad = tmp_path / "x.jsonl"
    bad.write_text(json.dumps({"id": "a", "text": "t"}) + "\n")
    assert main(["rationales", "import", "--format", "generic", str(bad), "--dataset", "obqa",
                 "--split", "train", "--out", str(tmp_path / "y.jsonl")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(bad) in err and "'rationale'" in err and "available: id, text" in err


# -- generation -----------------------------------------------------------------

def test_teacher_prompt_is_few_shot_and_versioned():
    prompt = teacher_prompt(ex(1))
    assert prompt.count("\nA: ") == 3 and prompt.endswith("(e) school band\nA:")
    assert PROMPT_VERSION


def test_generate_with_fake_engine_parses_and_resumes(tmp_path):
    examples = [ex(i, answer="B") for i in range(5)]
    replies = iter([" Things fall. So the answer is (b) gravity.\n\nQ: more", " Hmm. The answer is either (a) or (c).",
                    " Parks are fun. So the answer is (c) park.", " No idea.", " Falling. Answer: B"])
    calls = []

    def engine(prompts):
        calls.append(len(prompts))
        return [next(replies) for _ in prompts]

    out = tmp_path / "gen.jsonl"
    config = GenerateConfig(teacher="fake", dataset="csqa", out=out, batch_size=2, limit=3)
    report = generate_rationales(config, examples, engine=engine)
    assert (report.generated, report.correct, report.wrong, report.unparseable) == (3, 1, 1, 1)
    rats = read_rationales(out)
    assert rats["q0"].rationale == "Things fall." and rats["q0"].teacher_answer == "B"
    assert rats["q0"].prompt_version == PROMPT_VERSION and rats["q1"].teacher_answer is None
    # A run killed mid-write leaves half a line: it is dropped, reported, and redone.
    with open(out, "a") as fh:
        fh.write('{"id": "q3", "datas')
    config = GenerateConfig(teacher="fake", dataset="csqa", out=out, batch_size=2)
    report = generate_rationales(config, examples, engine=engine)
    assert report.done_before == 3 and report.generated == 2 and report.dropped_broken_line
    assert calls == [2, 1, 2] and len(read_rationales(out)) == 5
    with pytest.raises(DataError, match="teacher 'fake'"):
        generate_rationales(GenerateConfig(teacher="other", dataset="csqa", out=out), examples, engine=engine)


def test_generate_with_tiny_teacher(tiny_checkpoint, tmp_path):
    from cot_tasks.data import load_split

    examples = load_split("csqa", "train", "sample")[:3]
    out = tmp_path / "tiny.jsonl"
    config = GenerateConfig(teacher=str(tiny_checkpoint), dataset="csqa", out=out, batch_size=2,
                            max_new_tokens=6, device="cpu")
    assert generate_rationales(config, examples).generated == 3
    rats = read_rationales(out)
    assert set(rats) == {e.id for e in examples}
    assert all(r.teacher == str(tiny_checkpoint) for r in rats.values())
    assert generate_rationales(config, examples).generated == 0  # resumed: nothing left


def test_unknown_teacher_is_one_line_error(tmp_path, capsys):
    from harness_plugins.cli import main

    code = main(["rationales", "generate", "--teacher", str(tmp_path / "no-such-model"), "--dataset", "csqa",
                 "--out", str(tmp_path / "o.jsonl"), "--limit", "1"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and "no-such-model" in err and "does not exist" in err
    code = main(["rationales", "generate", "--teacher", "nobody/no-such-teacher-xyz", "--dataset", "csqa",
                 "--out", str(tmp_path / "o.jsonl"), "--limit", "1"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and "cannot load teacher" in err


def test_vllm_engine_missing_is_clear(tmp_path):
    pytest.importorskip("torch")
    try:
        import vllm  # noqa: F401
        pytest.skip("vllm is installed")
    except ImportError:
        pass
    config = GenerateConfig(teacher="x", dataset="csqa", out=tmp_path / "o.jsonl", engine="vllm")
    with pytest.raises(DataError, match="needs the vllm package"):
        generate_rationales(config, [ex(1)])


def test_write_rationales_roundtrip(tmp_path):
    rats = [Rationale("q1", "csqa", "why", None, "t", "s", PROMPT_VERSION)]
    path = write_rationales(rats, tmp_path / "w.jsonl")
    assert list(read_rationales(path).values()) == rats
