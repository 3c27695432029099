"""Model cards: the front matter parses and its model-index has the shape the Hub expects."""

from __future__ import annotations

import json

import pytest
import yaml

from cot_tasks.errors import DataError
from harness_plugins.lmeval.model_card import write_model_card

RESULTS = {
    "results": {"cot_csqa": {"alias": "cot_csqa", "acc,none": 0.4321, "acc_stderr,none": 0.01},
                "hellaswag": {"acc,none": 0.5}},
    "configs": {"cot_csqa": {"test_split": "validation"}},
    "versions": {"cot_csqa": 1.0},
}
RUN = {"dataset": "csqa", "condition": "post", "student": "google/gemma-2b", "seed": 0, "teacher": "gpt-4o",
       "rationales": "r.jsonl", "checkpoint": "x",
       "metrics": {"acc": {"task": "cot_csqa", "key": "acc,none", "value": 0.4321, "n_docs": 20, "invalid": 0.0},
                   "exact_match": {"task": "cot_csqa_gen", "key": "exact_match,first-label", "value": 0.25,
                                   "n_docs": 20, "invalid": 0.5}}}


def _front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_model_card_front_matter(tmp_path):
    (tmp_path / "cot_distill.json").write_text(json.dumps({"condition": "post", "seed": 0}))
    path = write_model_card(tmp_path, RUN, RESULTS)
    assert path == tmp_path / "README.md"
    text = path.read_text()
    meta = _front_matter(text)
    assert meta["base_model"] == "google/gemma-2b"
    assert meta["library_name"] == "transformers"
    assert meta["datasets"] == ["tau/commonsense_qa"]
    assert meta["tags"] == ["cot-distillation", "post"]
    (entry,) = meta["model-index"]
    (result,) = entry["results"]  # hellaswag is not one of ours
    assert result["task"] == {"type": "multiple-choice", "name": "Multiple Choice"}
    assert result["dataset"] == {"name": "CommonsenseQA", "type": "tau/commonsense_qa", "split": "validation"}
    assert result["metrics"] == [{"type": "accuracy", "value": 0.4321, "name": "acc (cot_csqa)"}]
    assert '--include_path "$(cot-distill tasks-dir)" --tasks cot_csqa' in text
    assert "`post`" in text and "gpt-4o" in text and '"seed": 0' in text
    assert "- **Formulation:** MCF (multiple choice" in text  # run.json without the key: MCF
    assert "`acc` = 0.4321 (lm-eval task `cot_csqa` version 1.0, key `acc,none`, 20 docs)" in text
    assert "`exact_match` = 0.2500 (lm-eval task `cot_csqa_gen`, key `exact_match,first-label`, 20 docs, " \
           "50.0% without a label)" in text


def test_model_card_of_a_reasoning_first_student_has_both_metrics_and_two_passes(tmp_path):
    run = {**RUN, "condition": "pre", "metrics": {
        "acc": {"task": "cot_obqa_commit", "key": "acc,none", "value": 0.3, "n_docs": 4, "invalid": 0.0},
        "exact_match": {"task": "cot_obqa_gen", "key": "exact_match,committed-label", "value": 0.2, "n_docs": 4,
                        "invalid": 0.25}}}
    results = {"results": {"cot_obqa_commit": {"acc,none": 0.3},
                           "cot_obqa_gen": {"exact_match,committed-label": 0.2, "invalid,committed-label": 0.25}},
               "versions": {"cot_obqa_commit": 1.0, "cot_obqa_gen": 2.0}}
    text = write_model_card(tmp_path, {**run, "dataset": "obqa"}, results).read_text()
    (entry,) = _front_matter(text)["model-index"]
    assert [m["name"] for r in entry["results"] for m in r["metrics"]] == [
        "acc (cot_obqa_commit)", "exact_match (cot_obqa_gen, committed-label)"]  # invalid is no accuracy
    # The gen pass first: the commit pass reads its samples file.
    gen_at, commit_at = text.index("--tasks cot_obqa_gen"), text.index("--tasks cot_obqa_commit")
    assert gen_at < commit_at and '"generations": "eval/<model>/samples_cot_obqa_gen_<timestamp>.jsonl"' in text


def test_model_card_parses_with_huggingface_hub(tmp_path):
    hub = pytest.importorskip("huggingface_hub")
    from huggingface_hub.repocard_data import model_index_to_eval_results

    path = write_model_card(tmp_path, {**RUN, "dataset": "obqa"},
                            {"results": {"cot_obqa": {"acc,none": 0.3}}})
    card = hub.ModelCard.load(path)
    assert card.data.eval_results and card.data.eval_results[0].metric_value == 0.3
    assert card.data.eval_results[0].dataset_type == "allenai/openbookqa"
    name, results = model_index_to_eval_results(hub.metadata_load(path)["model-index"])
    assert name.startswith("cot-distill-obqa-post") and results[0].dataset_split == "test"
    assert results[0].dataset_config == "additional"


def test_local_student_has_no_base_model(tmp_path):
    meta = _front_matter(write_model_card(tmp_path, {**RUN, "student": "tiny"}, RESULTS).read_text())
    assert "base_model" not in meta


def test_results_without_our_tasks_write_nothing(tmp_path):
    with pytest.raises(DataError, match="no csqa/obqa/quarel"):
        write_model_card(tmp_path, RUN, {"results": {"hellaswag": {"acc,none": 0.5}}})
    assert not (tmp_path / "README.md").exists()
    with pytest.raises(DataError, match="condition"):
        write_model_card(tmp_path, {**RUN, "condition": ""}, RESULTS)
    assert list(tmp_path.iterdir()) == []


def test_a_card_scored_on_the_sample_claims_no_hub_data_and_shows_no_machine_paths(tmp_path):
    record = {"status": "finished", "examples": 40, "config": {
        "source": "sample", "split": "train", "rationales": "/home/ada/secret/r.jsonl", "output": "/home/ada/ckpt"}}
    (tmp_path / "cot_distill.json").write_text(json.dumps(record))
    results = {**RESULTS, "configs": {"cot_csqa": {"validation_split": "validation",
                                                   "metadata": {"source": "sample"}}}}
    run = {**RUN, "student": "/home/ada/models/gpt2", "rationales": "/home/ada/secret/r.jsonl"}
    text = write_model_card(tmp_path, run, results).read_text()
    meta = _front_matter(text)
    assert "model-index" not in meta and "datasets" not in meta
    assert "/home/ada" not in text and "`r.jsonl`" in text and "`gpt2`" in text
    assert "bundled sample" in text and "(40 examples)" in text and "`validation` (20 docs)" in text


def test_a_card_of_a_student_not_scored_yet(tmp_path):
    text = write_model_card(tmp_path, {"dataset": "quarel", "condition": "pre", "student": "tiny", "seed": 1,
                                       "source": "hub"}, None).read_text()
    meta = _front_matter(text)
    assert "model-index" not in meta and meta["datasets"] == ["community-datasets/quarel"]
    assert "Not scored yet" in text and "--tasks cot_quarel_gen" in text and "--tasks cot_quarel_commit" in text
    assert '"source": "hub"' in text


def test_a_cf_card_names_its_formulation_and_an_unknown_one_is_refused(tmp_path):
    run = {**RUN, "formulation": "cf", "metrics": {
        "acc_norm": {"task": "cot_csqa_cf", "key": "acc_norm,none", "value": 0.5, "n_docs": 20},
        "exact_match": {"task": "cot_csqa_cf_gen", "key": "exact_match,first-label", "value": 0.25, "n_docs": 20}}}
    results = {"results": {"cot_csqa_cf": {"acc,none": 0.4, "acc_norm,none": 0.5},
                           "cot_csqa_cf_gen": {"exact_match,first-label": 0.25}}}
    text = write_model_card(tmp_path, run, results).read_text()
    assert "- **Formulation:** CF (cloze" in text and "`acc_norm` picks by log-likelihood per byte" in text
    assert "--tasks cot_csqa_cf_gen" in text and "--tasks cot_csqa_cf " in text
    not_scored = write_model_card(tmp_path, {**RUN, "formulation": "cf", "metrics": {}}, None).read_text()
    assert "--tasks cot_csqa_cf_gen" in not_scored  # the tasks to run are the CF ones
    with pytest.raises(DataError, match="field 'formulation': unknown formulation 'cloze'"):
        write_model_card(tmp_path, {**RUN, "formulation": "cloze"}, RESULTS)
