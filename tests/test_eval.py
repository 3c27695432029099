"""Scoring a checkpoint on the cot_* tasks through lm-eval's real CLI and simple_evaluate."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from cot_tasks.data import EVAL_SPLIT, load_split
from cot_tasks.names import GEN_GROUP, GROUP, commit_task, gen_task, label_task
from cot_tasks.prompts import TARGET_DELIMITER, commit_context, render_prompt
from cot_tasks.records import DATASETS
from cot_tasks.tasks.utils import extract_label
from harness_plugins.cli import main
from harness_plugins.lmeval.evaluate import evaluate_checkpoint

LIMIT = 3

# The MCF tasks the two groups run (the cloze tasks have groups of their own: tests/test_cloze.py).
LABEL_TASKS = tuple(label_task(d) for d in DATASETS)
GEN_TASKS = tuple(gen_task(d) for d in DATASETS)


def _samples(output_dir, task):
    # samples_<task>_<timestamp>.jsonl; the timestamp has no "_", so cot_csqa never picks cot_csqa_gen.
    (path,) = [p for p in output_dir.rglob("samples_*.jsonl") if p.name.rsplit("_", 1)[0] == f"samples_{task}"]
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def cli_run(tiny_checkpoint, tmp_path_factory):
    """``cot-distill eval`` on both groups, as a user would type it; returns (results, output_dir)."""
    out = tmp_path_factory.mktemp("lm_eval_out")
    cmd = [
        sys.executable, "-m", "harness_plugins", "eval",
        "--model", "hf", "--model_args", f"pretrained={tiny_checkpoint}",
        "--tasks", f"{GROUP},{GEN_GROUP}", "--device", "cpu", "--batch_size", "8",
        "--limit", str(LIMIT), "--gen_kwargs", "max_gen_toks=8",
        "--metadata", '{"source": "sample"}', "--output_path", str(out), "--log_samples",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ | {"HF_HUB_OFFLINE": "1"}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (path,) = sorted(out.rglob("results_*.json"))
    return json.loads(path.read_text()), out


def test_cli_results_json(cli_run):
    results, out = cli_run
    scores = results["results"]
    assert set(LABEL_TASKS + GEN_TASKS + (GROUP, GEN_GROUP)) <= set(scores)
    for name in LABEL_TASKS:
        assert 0.0 <= scores[name]["acc,none"] <= 1.0
        assert "acc_norm,none" not in scores[name]
    for name in GEN_TASKS:
        for filter_name in ("first-label", "committed-label"):
            assert 0.0 <= scores[name][f"exact_match,{filter_name}"] <= 1.0
            assert 0.0 <= scores[name][f"invalid,{filter_name}"] <= 1.0
    for name in LABEL_TASKS + GEN_TASKS:
        assert results["n-samples"][name]["effective"] == LIMIT
        assert results["configs"][name]["metadata"]["source"] == "sample"
        # One line per doc and filter.
        assert len(_samples(out, name)) == LIMIT * (2 if name in GEN_TASKS else 1)
    # The groups are the plain (macro) mean over their three datasets.
    group_acc = sum(scores[name]["acc,none"] for name in LABEL_TASKS) / len(LABEL_TASKS)
    assert scores[GROUP]["acc,none"] == pytest.approx(group_acc)
    assert {"exact_match,committed-label", "invalid,first-label"} <= set(scores[GEN_GROUP])


def test_cli_gen_samples_score_the_extracted_label(cli_run):
    _, out = cli_run
    for name in GEN_TASKS:
        for sample in _samples(out, name):
            (label,) = sample["filtered_resps"]
            gold = sample["doc"]["answer"]
            (text,) = sample["resps"][0]
            first = sample["filter"] == "first-label"
            expected = extract_label(text, sample["doc"]["labels"], reasoning_first=not first)
            assert label == (expected or "[invalid]")
            assert sample["exact_match"] == float(label == gold)
            assert sample["invalid"] == float(label == "[invalid]")


def _hand_scored(checkpoint, dataset, limit, contexts=None):
    """acc from the model's own logits: sum of log-probs of ' X' after the prompt (or the given
    contexts), argmax vs gold."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForCausalLM.from_pretrained(checkpoint).eval()
    correct, loglikelihoods = [], []
    for i, ex in enumerate(load_split(dataset, EVAL_SPLIT[dataset], source="sample")[:limit]):
        prompt = contexts[i] if contexts else render_prompt(ex)
        n_prompt = len(tokenizer(prompt)["input_ids"])
        scores = []
        for label in ex.labels:
            ids = tokenizer(prompt + TARGET_DELIMITER + label, return_tensors="pt")["input_ids"]
            with torch.no_grad():
                logprobs = torch.log_softmax(model(ids).logits[0, :-1].float(), dim=-1)
            continuation = ids[0, n_prompt:]
            scores.append(logprobs[n_prompt - 1 :].gather(1, continuation[:, None]).sum().item())
        loglikelihoods.append(scores)
        correct.append(float(ex.labels[scores.index(max(scores))] == ex.answer))
    return correct, loglikelihoods


@pytest.mark.parametrize("dataset", ["csqa", "quarel"])
def test_simple_evaluate_acc_equals_hand_computed(tiny_checkpoint, tmp_path, dataset):
    task = label_task(dataset)
    results = evaluate_checkpoint(tiny_checkpoint, [task], source="sample", output_dir=tmp_path, batch_size=4, limit=4)
    correct, loglikelihoods = _hand_scored(tiny_checkpoint, dataset, 4)
    assert results["results"][task]["acc,none"] == pytest.approx(sum(correct) / len(correct))
    # Saved in lm-eval's own layout, one line per scored doc, same log-likelihoods.
    (path,) = sorted(tmp_path.rglob("results_*.json"))
    assert json.loads(path.read_text())["results"][task]["acc,none"] == results["results"][task]["acc,none"]
    samples = sorted(_samples(tmp_path, task), key=lambda s: s["doc_id"])
    assert [s["acc"] for s in samples] == correct
    lm_eval_lls = [float(ll) for s in samples for ll, _ in s["filtered_resps"]]
    assert lm_eval_lls == pytest.approx([ll for doc in loglikelihoods for ll in doc], abs=1e-4)


def test_dtype_reaches_lm_eval_and_heldout_scores_training_docs(tiny_checkpoint, tmp_path):
    """The grid's eval.dtype is lm-eval's dtype model argument; heldout metadata scores training questions."""
    task = label_task("csqa")
    results = evaluate_checkpoint(tiny_checkpoint, [task], source="sample", output_dir=tmp_path, batch_size=4,
                                  limit=2, dtype="bfloat16", metadata={"heldout": 1})
    assert "dtype=bfloat16" in results["config"]["model_args"] or results["config"]["model_args"]["dtype"] == \
        "bfloat16"
    train_ids = [ex.id for ex in load_split("csqa", "train", source="sample")]
    assert [s["doc"]["id"] for s in sorted(_samples(tmp_path, task), key=lambda s: s["doc_id"])] == train_ids[1:3]


def test_commit_task_scores_labels_after_the_students_own_generation(tiny_checkpoint, tmp_path):
    """Two passes: the gen task, then the commit task fed with its samples file; the commit task's
    log-likelihoods are the model's own scores of prompt + generated rationale + answer cue."""
    from harness_plugins.lmeval.results import results_for_task, samples_path

    dataset, limit = "csqa", 3
    gen, commit = gen_task(dataset), commit_task(dataset)
    evaluate_checkpoint(tiny_checkpoint, [gen], source="sample", output_dir=tmp_path, batch_size=4, limit=limit,
                        gen_kwargs="max_gen_toks=12")
    samples = samples_path(results_for_task(tmp_path, gen), gen)
    results = evaluate_checkpoint(tiny_checkpoint, [commit], source="sample", output_dir=tmp_path, batch_size=4,
                                  limit=limit, metadata={"generations": str(samples), "limit": limit})
    generated = {s["doc"]["id"]: s["resps"][0][0] for s in _samples(tmp_path, gen)}
    examples = load_split(dataset, EVAL_SPLIT[dataset], source="sample")[:limit]
    contexts = [commit_context(ex, generated[ex.id]) for ex in examples]
    correct, loglikelihoods = _hand_scored(tiny_checkpoint, dataset, limit, contexts)
    assert results["results"][commit]["acc,none"] == pytest.approx(sum(correct) / len(correct))
    assert results["configs"][commit]["metadata"]["generations"] == str(samples)
    commit_samples = sorted(_samples(tmp_path, commit), key=lambda s: s["doc_id"])
    assert [s["acc"] for s in commit_samples] == correct
    lm_eval_lls = [float(ll) for s in commit_samples for ll, _ in s["filtered_resps"]]
    assert lm_eval_lls == pytest.approx([ll for doc in loglikelihoods for ll in doc], abs=1e-4)
    # The newest results file is the commit pass; the gen pass is still found by its task.
    assert results_for_task(tmp_path, gen).path != results_for_task(tmp_path, commit).path


def test_unknown_source_is_one_line(tiny_checkpoint, capsys):
    argv = ["eval", "--model", "hf", "--model_args", f"pretrained={tiny_checkpoint}", "--tasks", "cot_obqa",
            "--device", "cpu", "--metadata", '{"source": "/no/such/dir"}']  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        "cot-distill: error: unknown source '/no/such/dir': expected 'hub', 'sample' "
        "or an existing directory of the original obqa files"
    )
