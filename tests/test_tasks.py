"""The lm-eval task definitions: indexed, prompts/choices/targets, the gen regex, the CLI listing."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cot_tasks.data import EVAL_SPLIT, load_split
from cot_tasks.names import ALL_NAMES, GEN_TASKS, LABEL_TASKS, gen_task, label_task
from cot_tasks.prompts import render_prompt
from cot_tasks.records import DATASETS, Example
from harness_plugins.cli import main
from harness_plugins.registry import TASKS_DIR, our_task_names, task_manager


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


@pytest.mark.parametrize(
    "output, label",
    [
        (" B. Because people keep food cold in a fridge.", "B"),  # label first, then rationale
        (" B", "B"),  # label only
        (" C\n", "C"),
        (" (D) since plants need light", "D"),
        (" Plants need the sun to grow.\nAnswer: D", "D"),  # rationale first
        (" Answer: A. Wait, cold means less energy.\nAnswer: C", "C"),  # the last cue is the commitment
        (" Rocks are heavy. Answer: (B)", "B"),
        (" A bird can fly, so", "[invalid]"),  # an article is not a label
        (" I am not sure.", "[invalid]"),
        ("", "[invalid]"),
    ],
)
def test_gen_regex_takes_committed_label(tasks, output, label):
    from lm_eval.filters.extraction import RegexFilter

    (regex,) = [f for f in tasks["cot_csqa_gen"].config.filter_list[0]["filter"] if f["function"] == "regex"]
    regex_filter = RegexFilter(**{k: v for k, v in regex.items() if k != "function"})
    assert list(regex_filter.apply([[output]], [{}])) == [[label]]


def test_gen_tasks_share_one_filter(tasks):
    assert len({repr(tasks[name].config.filter_list) for name in GEN_TASKS}) == 1


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
