"""The cloze formulation (CF): prompts without options, the answer text as the label, its targets, the option a
generation commits to, the docs CF can score, leaderboard parity with lm-eval's openbookqa, and a CF grid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tokenizer_styles import STYLES, build_style_tokenizer

from cot_tasks.answers import cf_scorable, extract_text
from cot_tasks.conditions import ConditionContext
from cot_tasks.data import load_split
from cot_tasks.errors import DataError
from cot_tasks.names import JUDGED_METRICS, TASK_FACTS, tasks_for
from cot_tasks.prompts import CF, MCF, commit_context, gold_label, render_prompt
from cot_tasks.records import Example
from cot_tasks.targets import build_targets, make_target
from cot_tasks.tasks.utils import first_label, process_gen
from trainers.config import TrainConfig
from trainers.data import encode

CF_CTX = ConditionContext(formulation=CF)


def _ex(dataset="csqa", texts=("bank", "bank account", "river", "library", "shed"), answer="B", question="Where?"):
    labels = "ABCDE"[: len(texts)]
    return Example(id="q1", dataset=dataset, split="validation", question=question,
                   choices=tuple(zip(labels, texts)), answer=answer)


def test_cf_prompts_hold_no_options_and_obqa_is_the_bare_stem():
    csqa = load_split("csqa", "validation", source="sample")[0]
    assert render_prompt(csqa, CF) == f"Question: {csqa.question.strip()}\nAnswer:"
    assert all(text not in render_prompt(csqa, CF) for _, text in csqa.choices if text not in csqa.question)
    obqa = load_split("obqa", "test", source="sample")[0]
    assert render_prompt(obqa, CF) == obqa.question  # lm-eval's openbookqa: doc_to_text is question_stem
    assert render_prompt(csqa) == render_prompt(csqa, MCF) and "A. " in render_prompt(csqa)
    assert gold_label(csqa, CF) == csqa.answer_text and gold_label(csqa, MCF) == csqa.answer
    assert commit_context(csqa, " Some reason.\nAnswer: x", CF) == render_prompt(csqa, CF) + " Some reason.\nAnswer:"
    with pytest.raises(DataError, match="unknown formulation 'xyz' .known: mcf, cf."):
        render_prompt(csqa, "xyz")


def test_cf_targets_put_the_answer_text_where_mcf_has_the_letter():
    ex = _ex()
    assert make_target(ex, "It holds money.", "none", ctx=CF_CTX).text == " bank account"
    assert make_target(ex, "It holds money.", "pre", ctx=CF_CTX).text == " It holds money.\nAnswer: bank account"
    assert make_target(ex, "It holds money.", "post", ctx=CF_CTX).text == " bank account\nIt holds money."
    shuffled = make_target(ex, "It holds money.", "shuffled_post", ctx=CF_CTX)
    assert shuffled.head == " bank account\n" and sorted(shuffled.body.split()) == ["It", "holds", "money."]
    assert make_target(ex, "It holds money.", "post").text == " B. It holds money."  # MCF unchanged
    pairs, _ = build_targets([ex], None, "none", formulation=CF)
    assert pairs[0][1].text == " bank account"


@pytest.mark.parametrize("output, committed", [
    (" bank account\nIt holds money.", "bank account"),  # the longest option wins over its prefix "bank"
    (" Bank.", "bank"),  # case and trailing punctuation
    (" bank", "bank"),
    ("   bank   account because", "bank account"),  # whitespace
    (" The answer is river", "river"),  # a leading cue
    (" banks are near rivers", None),  # a word that only starts like an option
    (" Money goes to a bank.", None),  # a rationale first: no option opens the output
    ("", None),
])
def test_label_first_cf_students_commit_with_how_their_output_begins(output, committed):
    assert extract_text(output, [t for _, t in _ex().choices], reasoning_first=False) == committed


@pytest.mark.parametrize("output, committed", [
    (" Money is kept safe.\nAnswer: bank account", "bank account"),
    (" Answer: river. No, wait.\nAnswer: Library", "library"),  # the last cue is the commitment
    (" It holds money, so the answer is bank.", "bank"),
    (" It holds money.", None),  # no cue
    (" Money.\nAnswer: a vault", None),  # names no option
])
def test_reasoning_first_cf_students_commit_after_their_last_cue(output, committed):
    assert extract_text(output, [t for _, t in _ex().choices], reasoning_first=True) == committed


def test_cf_gen_filter_and_score_read_the_docs_formulation():
    row = {**_ex().to_row(), "formulation": CF}
    assert first_label([[" bank account\nbecause"]], [row]) == [["bank account"]]
    assert process_gen(row, ["bank account"]) == {"exact_match": 1.0, "invalid": 0.0}
    assert process_gen(row, ["bank"]) == {"exact_match": 0.0, "invalid": 0.0}
    mcf = _ex().to_row()
    assert first_label([[" B. bank account"]], [mcf]) == [["B"]] and process_gen(mcf, ["B"])["exact_match"] == 1.0


def test_cf_skips_questions_with_two_options_of_one_text_and_refuses_an_empty_one(capsys):
    fine, twice = _ex(), Example("q2", "csqa", "validation", "Q?", tuple(zip("ABCDE", ("a", "B.", "b", "c", "d"))),
                                  "A")
    assert cf_scorable([fine, twice], "csqa", "validation") == [fine]
    err = capsys.readouterr().err.strip()
    assert err == ("cot-distill: csqa validation (cloze): 1 of 2 questions skipped, two of their options have the "
                   "same text (first: 'q2')")
    empty = Example("q3", "csqa", "validation", "Q?", tuple(zip("ABCDE", ("a", " ", "b", "c", "d"))), "A")
    with pytest.raises(DataError, match=r"^csqa validation doc 'q3': option B has no answer text"):
        cf_scorable([empty], "csqa", "validation")


def test_the_protocol_names_cf_tasks_metrics_and_the_judged_metric():
    assert tasks_for("post", "obqa", CF) == {"acc": ("cot_obqa_cf", "acc,none"),
                                             "acc_norm": ("cot_obqa_cf", "acc_norm,none"),
                                             "exact_match": ("cot_obqa_cf_gen", "exact_match,first-label")}
    assert tasks_for("pre", "csqa", CF)["acc_norm"] == ("cot_csqa_cf_commit", "acc_norm,none")
    assert tasks_for("pre", "csqa") == {"acc": ("cot_csqa_commit", "acc,none"),
                                        "exact_match": ("cot_csqa_gen", "exact_match,committed-label")}
    assert TASK_FACTS["cot_quarel_cf_gen"] == ("quarel", CF) and TASK_FACTS["cot_quarel"] == ("quarel", MCF)
    assert JUDGED_METRICS[CF] == ("acc_norm", "exact_match")


def test_train_identity_keeps_mcf_runs_and_names_cf():
    assert "formulation" not in TrainConfig(formulation=MCF).identity()
    assert TrainConfig(formulation=CF).identity()["formulation"] == CF
    with pytest.raises(DataError, match="unknown formulation 'xyz'"):
        TrainConfig(formulation="xyz").check()


@pytest.fixture(scope="module", params=STYLES)
def style_tok(request):
    exs = load_split("quarel", "train", source="sample")
    corpus = [render_prompt(ex, CF) + " " + t for ex in exs for _, t in ex.choices]
    return build_style_tokenizer(request.param, corpus)


def test_a_cf_target_opens_with_the_tokens_lm_eval_scores_for_the_answer(style_tok):
    """QuaRel's "sandy path (loose)": its ")" must not merge with what follows (". " would: ")." is one piece)."""
    for ex in load_split("quarel", "train", source="sample")[:8]:
        prompt = render_prompt(ex, CF)
        for condition in ("none", "post", "filler_post", "pre"):
            target = make_target(ex, "Loose ground has more friction (a reason).", condition,
                                 ctx=ConditionContext(tokenizer=style_tok, formulation=CF))
            label = None if condition == "pre" else ex.answer_text
            enc = encode(style_tok, prompt, target, 512, label=label, one_token=False, example_id=ex.id)
            want = style_tok(prompt + " " + ex.answer_text, add_special_tokens=True)["input_ids"][enc.n_prompt:]
            if label is not None:
                assert list(enc.input_ids[enc.n_prompt:enc.n_prompt + len(want)]) == want


def test_a_cf_target_that_does_not_open_with_the_answer_is_refused_in_one_line(style_tok):
    ex = load_split("quarel", "train", source="sample")[0]
    prompt = render_prompt(ex, CF)
    other = next(t for _, t in ex.choices if t != ex.answer_text)
    with pytest.raises(DataError) as err:
        encode(style_tok, prompt, make_target(ex, "r", "none", ctx=CF_CTX), 512, label=other, one_token=False,
               example_id=ex.id)
    assert str(err.value).startswith(f"example '{ex.id}': the target does not open with the ") and \
        "\n" not in str(err.value)
    with pytest.raises(DataError, match="tokenises to nothing"):
        encode(style_tok, prompt, make_target(ex, "r", "none", ctx=CF_CTX), 512, label="", one_token=False,
               example_id=ex.id)


def test_a_grid_refuses_an_unknown_formulation_in_one_line(tmp_path, capsys):
    from harness_plugins.cli import main

    config = tmp_path / "grid.yaml"
    config.write_text(f"output: {tmp_path / 'out'}\nsource: sample\nformulation: xyz\nrationales:\n  csqa: sample\n")
    assert main(["run", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(f"{config}:3: field 'formulation': unknown formulation 'xyz' (known: mcf, cf)")
    assert "\n" not in err and not (tmp_path / "out").exists()


def test_a_cf_grid_trains_scores_and_attributes_in_cf(tmp_path):
    """Cell names, run.json, the metrics and their tasks, the attribution file: every stage in CF."""
    from harness_plugins.grid.config import GridConfig
    from harness_plugins.grid.run import run_grid

    grid = GridConfig.from_dict({
        "output": str(tmp_path / "run"), "source": "sample", "datasets": ["obqa"], "formulation": "cf",
        "conditions": ["none", "pre", "keytokens_post:2"], "rationales": {"obqa": "sample"},
        "train": {"epochs": 1, "batch_size": 8, "save_steps": 0, "limit": 16,
                  "tiny": {"vocab_size": 512, "n_layer": 1, "n_head": 2, "n_embd": 32}},
        "eval": {"limit": 6, "gen_kwargs": "max_gen_toks=8"}, "attribution": {"steps": 2}})
    rows = run_grid(grid)
    assert [r.formulation for r in rows] == ["cf"] * 3
    runs = tmp_path / "run" / "runs"
    assert sorted(p.name for p in runs.iterdir()) == ["obqa__cf__keytokens_post-2__tiny__seed0",
                                                      "obqa__cf__none__tiny__seed0", "obqa__cf__pre__tiny__seed0"]
    info = json.loads((runs / "obqa__cf__pre__tiny__seed0" / "run.json").read_text())
    assert {k: v["task"] for k, v in info["metrics"].items()} == {
        "acc": "cot_obqa_cf_commit", "acc_norm": "cot_obqa_cf_commit", "exact_match": "cot_obqa_cf_gen"}
    assert all(v["n_docs"] == 6 for v in info["metrics"].values())
    done = json.loads((tmp_path / "run" / "attributions" / "obqa__cf__tiny__seed0.done.json").read_text())
    assert done["formulation"] == "cf"
    record = json.loads((runs / "obqa__cf__none__tiny__seed0" / "checkpoint" / "cot_distill.json").read_text())
    assert record["config"]["formulation"] == "cf"
    # Each cell's training curve lies beside its run.json (committed; the checkpoint is not).
    from cot_tasks.train_log import read_train_log

    for cell in runs.iterdir():
        steps = json.loads((cell / "run.json").read_text())["training"]["steps"]
        assert len(read_train_log(cell / "train_log.jsonl")) == steps


def _hf_openbookqa_rows(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [{"id": r["id"], "question_stem": r["question"]["stem"],
             "choices": {"text": [c["text"] for c in r["question"]["choices"]],
                         "label": [c["label"] for c in r["question"]["choices"]]},
             "answerKey": r["answerKey"]} for r in rows]


def test_cot_obqa_cf_gives_the_loglikelihoods_of_builtin_openbookqa_on_every_test_doc(tmp_path, shared_data,
                                                                                       tiny_checkpoint):
    """Same context, same continuations, same scores, all 500 OBQA test docs: the built-in task's own YAML
    over the official Main/ files in the hub's allenai/openbookqa shape (it cannot fetch them offline)."""
    import lm_eval.tasks
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    from harness_plugins.lmeval.registry import TASKS_DIR

    main = shared_data / "openbookqa" / "Main"
    hub = tmp_path / "hub"
    hub.mkdir()
    for split, name in (("train", "train"), ("validation", "dev"), ("test", "test")):
        (hub / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n"
                                                    for r in _hf_openbookqa_rows(main / f"{name}.jsonl")))
    builtin = Path(lm_eval.tasks.__file__).parent / "openbookqa" / "openbookqa.yaml"
    (hub / "local_openbookqa.yaml").write_text(
        f"include: {builtin}\ntask: local_openbookqa\ndataset_path: json\ndataset_name: null\ndataset_kwargs:\n"
        f"  data_files:\n    train: {hub / 'train.jsonl'}\n    validation: {hub / 'validation.jsonl'}\n"
        f"    test: {hub / 'test.jsonl'}\n")
    manager = TaskManager(include_path=[str(TASKS_DIR), str(hub)], include_defaults=False,
                          metadata={"source": str(shared_data)})
    out = simple_evaluate(model="hf", model_args={"pretrained": str(tiny_checkpoint)}, device="cpu", batch_size=64,
                          tasks=["cot_obqa_cf", "local_openbookqa"], task_manager=manager, log_samples=True)
    ours, theirs = out["samples"]["cot_obqa_cf"], out["samples"]["local_openbookqa"]
    assert len(ours) == len(theirs) == 500
    for a, b in zip(ours, theirs):
        assert a["arguments"] == b["arguments"]  # same context and continuations
        assert [r[0][0] for r in a["resps"]] == [r[0][0] for r in b["resps"]]
        assert a["target"] == b["target"]
    for metric in ("acc,none", "acc_norm,none"):
        assert out["results"]["cot_obqa_cf"][metric] == out["results"]["local_openbookqa"][metric]


def test_the_cf_groups_run_under_plain_lm_eval(tiny_checkpoint, tmp_path):
    """``lm_eval --include_path`` with nothing of ours but the task folder: both CF groups, every metric."""
    import os
    import subprocess
    import sys

    from cot_tasks.names import gen_group, gen_task, group, label_task
    from cot_tasks.records import DATASETS
    from harness_plugins.lmeval.registry import TASKS_DIR

    limit = 4
    cmd = [sys.executable, "-m", "lm_eval", "--model", "hf", "--model_args", f"pretrained={tiny_checkpoint}",
           "--include_path", str(TASKS_DIR), "--tasks", f"{group(CF)},{gen_group(CF)}", "--device", "cpu",
           "--batch_size", "8", "--limit", str(limit), "--gen_kwargs", "max_gen_toks=8",
           "--metadata", '{"source": "sample"}', "--output_path", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ | {"HF_HUB_OFFLINE": "1"}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (path,) = sorted(tmp_path.rglob("results_*.json"))
    scores = json.loads(path.read_text())["results"]
    for dataset in DATASETS:
        assert {"acc,none", "acc_norm,none"} <= set(scores[label_task(dataset, CF)])
        assert {"exact_match,first-label", "exact_match,committed-label", "invalid,first-label"} <= \
            set(scores[gen_task(dataset, CF)])
    mean = sum(scores[label_task(d, CF)]["acc_norm,none"] for d in DATASETS) / len(DATASETS)
    assert scores[group(CF)]["acc_norm,none"] == pytest.approx(mean)


def test_cf_attribution_scores_every_token_of_the_gold_answer_text(style_tok):
    from trainers.attribution import encode as attribution_encode

    ex = load_split("quarel", "train", source="sample")[0]
    enc = attribution_encode(ex, "Loose ground has more friction.", style_tok, CF)
    assert style_tok.decode([enc.input_ids[p] for p in enc.label]).strip() == ex.answer_text
    assert enc.label[-1] == len(enc.input_ids) - 1 and not set(enc.label) & set(enc.rationale)
    assert style_tok.decode(enc.input_ids).endswith(f"\nAnswer: {ex.answer_text}")
    mcf = attribution_encode(ex, "Loose ground has more friction.", style_tok)
    assert style_tok.decode([mcf.input_ids[p] for p in mcf.label]).strip() == ex.answer
