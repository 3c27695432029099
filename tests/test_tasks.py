"""The lm-eval task definitions: indexed, prompts/choices/targets, the gen regex, the CLI listing."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cot_tasks.data import EVAL_SPLIT, load_split
from cot_tasks.names import ALL_NAMES, GEN_TASKS, LABEL_TASKS, commit_task, gen_task, label_task
from cot_tasks.prompts import render_prompt
from cot_tasks.records import DATASETS, Example
from harness_plugins.cli import main
from harness_plugins.lmeval.registry import TASKS_DIR, our_task_names, task_manager


@pytest.fixture(scope="module")
def tasks():
    """Every cot_* task, loaded by lm-eval from the bundled sample (no model, no network)."""
    from lm_eval.tasks import get_task_dict

    manager = task_manager({"source": "sample"}, include_defaults=False)
    names = list(LABEL_TASKS + GEN_TASKS)
    # TaskManager.load arrived in lm-eval 0.4.10 and deprecates get_task_dict.
    return manager.load(names)["tasks"] if hasattr(manager, "load") else get_task_dict(names, manager)


def test_every_name_is_indexed():
    # lm-eval skips a malformed YAML silently; a missing name here is how it shows.
    assert set(ALL_NAMES) <= set(task_manager(include_defaults=False).all_tasks)
    assert our_task_names() == sorted(ALL_NAMES)


@pytest.mark.parametrize("dataset", DATASETS)
def test_label_task_docs_prompt_choices_target(tasks, dataset):
    task = tasks[label_task(dataset)]
    examples = load_split(dataset, EVAL_SPLIT[dataset], source="sample")
    docs = list(task.eval_docs)
    assert [doc["id"] for doc in docs] == [ex.id for ex in examples]
    assert task.OUTPUT_TYPE == "multiple_choice"
    assert task.config.target_delimiter == " "
    for doc, ex in zip(docs, examples):
        assert task.doc_to_text(doc) == render_prompt(ex)
        assert task.doc_to_choice(doc) == list(ex.labels)
        assert task.doc_to_target(doc) == ex.labels.index(ex.answer)


@pytest.mark.parametrize("dataset", DATASETS)
def test_gen_task_config(tasks, dataset):
    task = tasks[gen_task(dataset)]
    assert task.OUTPUT_TYPE == "generate_until"
    assert {"\n\n", "Question:"} <= set(task.config.generation_kwargs["until"])
    doc = next(iter(task.eval_docs))
    ex = Example.from_row(doc)
    assert task.doc_to_text(doc) == render_prompt(ex)
    # lm-eval scores generate_until against choices[target] when doc_to_choice is set.
    assert task.doc_to_choice(doc)[task.doc_to_target(doc)] == ex.answer


def test_cot_csqa_matches_builtin_commonsense_qa(tasks):
    """Same prompt text, choices and delimiter as lm-eval's commonsense_qa on the same question.

    The built-in task cannot fetch its data offline, so its own YAML template is
    applied to the HF-shaped (tau/commonsense_qa) version of each sample row.
    """
    import lm_eval
    from lm_eval.utils import apply_template

    builtin = yaml.safe_load((Path(lm_eval.__file__).parent / "tasks/commonsense_qa/default.yaml").read_text())
    ours = tasks["cot_csqa"]
    assert builtin["output_type"] == ours.OUTPUT_TYPE
    assert builtin.get("target_delimiter", " ") == ours.config.target_delimiter
    assert [m["metric"] for m in builtin["metric_list"]] == [m["metric"] for m in ours.config.metric_list]
    for doc in ours.eval_docs:
        hf_doc = {
            "id": doc["id"],
            "question": doc["question"],
            "choices": {"label": doc["labels"], "text": doc["texts"]},
            "answerKey": doc["answer"],
        }
        assert apply_template(builtin["doc_to_text"], hf_doc) == ours.doc_to_text(doc)
        assert builtin["doc_to_choice"] == ours.doc_to_choice(doc)
        assert builtin["doc_to_choice"].index(hf_doc[builtin["doc_to_target"]]) == ours.doc_to_target(doc)


LABEL_FIRST_OUTPUTS = [
    (" B. Because people keep food cold in a fridge.", "B"),  # label first, then rationale
    (" B", "B"),  # label only
    (" C\n", "C"),
    (" (D) since plants need light", "D"),
    (" (B)", "B"),
    (" B.", "B"),
    (" The answer is C", "C"),
    (" Answer: (c)", "C"),
    (" c", "C"),  # lower case
    (" C because it is cold", "C"),
    (" A because birds fly", "A"),
    (" B. Wait, no.\nAnswer: D", "B"),  # its first label is its answer; a later cue does not override it
    (" A bird can fly, so", None),  # an article is not a label
    (" Plants need the sun to grow.\nAnswer: D", None),  # a reasoning output has no label first
    (" Bird", None),
    (" I am not sure.", None),
    ("", None),
]
REASONING_FIRST_OUTPUTS = [
    (" Plants need the sun to grow.\nAnswer: D", "D"),
    (" Answer: A. Wait, cold means less energy.\nAnswer: C", "C"),  # the last cue is the commitment
    (" Rocks are heavy. Answer: (B)", "B"),
    (" Rocks are heavy, so the answer is c.", "C"),
    (" Rocks are heavy. answer: b because", "B"),
    (" A bird can fly. Answer: A bird", None),
    (" C. Rocks are heavy.", None),  # never committed after a cue
    (" A A is is is", None),
    ("", None),
]


@pytest.mark.parametrize("output, label", LABEL_FIRST_OUTPUTS)
def test_extract_label_first(output, label):
    from cot_tasks.tasks.utils import extract_label

    assert extract_label(output, "ABCDE", reasoning_first=False) == label


@pytest.mark.parametrize("output, label", REASONING_FIRST_OUTPUTS)
def test_extract_label_reasoning_first(output, label):
    from cot_tasks.tasks.utils import extract_label

    assert extract_label(output, "ABCDE", reasoning_first=True) == label


def test_extract_label_only_reads_the_docs_labels():
    from cot_tasks.tasks.utils import extract_label

    assert extract_label(" C.", ("A", "B"), reasoning_first=False) is None  # QuaRel has two choices
    assert extract_label(" B.", ("A", "B"), reasoning_first=False) == "B"


def test_gen_filters_and_metrics_through_lm_eval(tasks):
    """The task's own filters (as lm-eval builds them) and process_results give exact_match and invalid."""
    from lm_eval.api.instance import Instance

    task = tasks["cot_csqa_gen"]
    doc = {**next(iter(task.eval_docs)), "answer": "C"}
    outputs = [" C. Because.", " Cold things.\nAnswer: C", " A bird"]
    instances = [Instance("generate_until", doc, ("", {}), i, resps=[out]) for i, out in enumerate(outputs)]
    for ensemble in task._filters:
        ensemble.apply(instances)
    got = {f.name: [task.process_results(doc, [inst.filtered_resps[f.name]]) for inst in instances]
           for f in task._filters}
    hit, invalid = {"exact_match": 1.0, "invalid": 0.0}, {"exact_match": 0.0, "invalid": 1.0}
    assert got == {"first-label": [hit, invalid, invalid], "committed-label": [invalid, hit, invalid]}


def test_gen_tasks_share_their_filters(tasks):
    def spelled(name):
        return [(f["name"], [step.get("filter_fn", step["function"]).__name__ if "filter_fn" in step
                             else step["function"] for step in f["filter"]]) for f in tasks[name].config.filter_list]

    assert spelled("cot_csqa_gen") == [("first-label", ["first_label", "take_first"]),
                                       ("committed-label", ["committed_label", "take_first"])]
    assert all(spelled(name) == spelled("cot_csqa_gen") for name in GEN_TASKS)


def _write_generations(path, dataset, texts, *, split=None):
    """A gen task's samples file in lm-eval's layout: one line per doc and filter."""
    import json

    examples = load_split(dataset, split or EVAL_SPLIT[dataset], source="sample")
    with open(path, "w") as fh:
        for doc_id, (ex, text) in enumerate(zip(examples, texts)):
            for filter_name in ("first-label", "committed-label"):
                fh.write(json.dumps({"doc_id": doc_id, "doc": ex.to_row(), "resps": [[text]],
                                     "filtered_resps": ["[invalid]"], "filter": filter_name}) + "\n")
    return path


def _commit_task(dataset, **metadata):
    from lm_eval.tasks import get_task_dict

    manager = task_manager({"source": "sample", **metadata}, include_defaults=False)
    name = commit_task(dataset)
    return (manager.load([name])["tasks"] if hasattr(manager, "load") else get_task_dict([name], manager))[name]


def test_commit_task_context_is_prompt_rationale_cue(tmp_path):
    texts = [" Money is kept safe.\nAnswer: B", " Cold keeps food.  Answer: (C) and more", " No cue here \n", ""]
    path = _write_generations(tmp_path / "s.jsonl", "csqa", texts)
    task = _commit_task("csqa", generations=str(path), limit=4)
    examples = load_split("csqa", EVAL_SPLIT["csqa"], source="sample")[:4]
    docs = list(task.eval_docs)
    assert task.OUTPUT_TYPE == "multiple_choice" and [d["id"] for d in docs] == [ex.id for ex in examples]
    rationales = [" Money is kept safe.", " Cold keeps food.", " No cue here", ""]
    for doc, ex, rationale in zip(docs, examples, rationales):
        # The layout of a pre training target up to its label: " <rationale>\nAnswer: B".
        assert task.doc_to_text(doc) == render_prompt(ex) + rationale + "\nAnswer:"
        assert task.doc_to_choice(doc) == list(ex.labels)
        assert task.doc_to_target(doc) == ex.labels.index(ex.answer)
    assert task.config.target_delimiter == " "


def test_commit_task_bad_generations_are_one_line_errors(tmp_path):
    from cot_tasks.errors import DataError

    n = len(load_split("csqa", EVAL_SPLIT["csqa"], source="sample"))
    full = _write_generations(tmp_path / "full.jsonl", "csqa", ["x\nAnswer: A"] * n)
    cases = [
        ({}, "needs metadata key 'generations'"),
        ({"generations": str(tmp_path / "nope.jsonl")}, "nope.jsonl: lm-eval samples file not found"),
        ({"generations": str(_write_generations(tmp_path / "obqa.jsonl", "obqa", ["x"] * 3))},
         "obqa.jsonl:1: field 'doc.dataset': a 'obqa' doc, expected csqa validation generations"),
        ({"generations": str(_write_generations(tmp_path / "train.jsonl", "csqa", ["x"] * 3, split="train"))},
         "train.jsonl:1: field 'doc.split'"),
        ({"generations": str(_write_generations(tmp_path / "part.jsonl", "csqa", ["x"] * 3))},
         f"part.jsonl: no generation for {n - 3} of {n} csqa validation docs"),
        ({"generations": str(full)}, None),
    ]
    for metadata, message in cases:
        if message is None:
            assert len(list(_commit_task("csqa", **metadata).eval_docs)) == n
            continue
        with pytest.raises(DataError) as err:
            _commit_task("csqa", **metadata)
        assert message in str(err.value) and "\n" not in str(err.value), (metadata, str(err.value))


def test_cli_tasks_dir_and_tasks(capsys):
    assert main(["tasks-dir"]) == 0
    assert Path(capsys.readouterr().out.strip()) == TASKS_DIR
    assert (TASKS_DIR / "utils.py").is_file()
    assert main(["tasks"]) == 0
    assert capsys.readouterr().out.split() == sorted(ALL_NAMES)


def test_cli_eval_refuses_second_include_path(capsys):
    assert main(["eval", "--tasks", "cot_csqa", "--include_path", "elsewhere"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cot-distill: error: ") and "\n" not in err


def test_heldout_scores_training_questions_from_n_on():
    """metadata heldout=N: the eval split becomes the training questions from index N on (for choosing
    hyper-parameters without the eval set); the few-shot pool keeps only the first N."""
    from cot_tasks.tasks.utils import load

    train = load_split("csqa", "train", source="sample")
    data = load("csqa", source="sample", heldout=3)
    assert [row["id"] for row in data[EVAL_SPLIT["csqa"]]] == [ex.id for ex in train[3:]]
    assert [row["id"] for row in data["train"]] == [ex.id for ex in train[:3]]
    assert {row["split"] for row in data[EVAL_SPLIT["csqa"]]} == {"train"}
    # Without it, the eval split is the real one.
    assert [row["id"] for row in load("csqa", source="sample")[EVAL_SPLIT["csqa"]]] == [
        ex.id for ex in load_split("csqa", EVAL_SPLIT["csqa"], source="sample")]


@pytest.mark.parametrize("heldout", ["3", -1, 10**6, True])
def test_heldout_out_of_range_is_one_line(heldout, capsys):
    from cot_tasks.errors import DataError
    from cot_tasks.tasks.utils import load

    with pytest.raises(DataError, match="metadata 'heldout' must be an integer from 0 to"):
        load("csqa", source="sample", heldout=heldout)


def test_the_protocol_table_agrees_with_the_task_yamls(tasks):
    """Filter and metric names are the YAML's; the protocol table (cot_tasks.names) must spell them alike, and
    derive every per-formulation list and the order of lm-eval's passes from its rows."""
    from cot_tasks.names import (
        COMMITTED_LABEL,
        FIRST_LABEL,
        FORMULATION_METRICS,
        GENERATION,
        JUDGED_METRICS,
        PROTOCOL,
        Pass,
        invalid_key,
        passes_for,
        tasks_for,
    )

    for name in GEN_TASKS:
        assert [f["name"] for f in tasks[name].config.filter_list] == [FIRST_LABEL, COMMITTED_LABEL]
    for condition, dataset, formulation in (("post", "csqa", "mcf"), ("none", "obqa", "cf")):
        for metric, (task, key) in tasks_for(condition, dataset, formulation).items():
            assert metric in FORMULATION_METRICS[formulation] and PROTOCOL[metric].words[formulation]
            listed = [m["metric"] for m in tasks[task].config.metric_list]
            assert metric in listed, (task, metric)
            if PROTOCOL[metric].kind == GENERATION:
                assert invalid_key(metric, key).split(",")[0] in listed
            else:
                assert invalid_key(metric, key) is None
    assert JUDGED_METRICS == {"mcf": ("acc", "exact_match"), "cf": ("acc_norm", "exact_match")}
    assert passes_for("pre", "obqa", "cf") == [Pass("cot_obqa_cf_gen"), Pass("cot_obqa_cf_commit", "cot_obqa_cf_gen")]
    assert passes_for("post", "csqa") == [Pass("cot_csqa_gen"), Pass("cot_csqa")]
