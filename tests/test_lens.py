"""Logit lens on the tiny student: the last layer reproduces the model's own label logits."""

from __future__ import annotations

import csv
import importlib.util
import json
import shutil

import pytest

from cot_tasks.data import EVAL_SPLIT, load_split
from cot_tasks.errors import DataError
from cot_tasks.prompts import render_prompt
from harness_plugins.cli import main
from harness_plugins.lens import (
    _Decoder,
    _encode,
    checkpoint_condition,
    label_token_ids,
    lens_scores,
    residual_streams,
)
from trainers.model import final_norm

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tiny(tiny_checkpoint):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(tiny_checkpoint).eval(), AutoTokenizer.from_pretrained(tiny_checkpoint)


def test_last_layer_equals_model_logits_on_labels(tiny):
    model, tokenizer = tiny
    examples = load_split("csqa", EVAL_SPLIT["csqa"], source="sample")[:5]
    ids = label_token_ids(tokenizer, examples[0].labels)
    assert len(set(ids)) == 5
    decoder = _Decoder(model, ids)
    batch, mask, last = _encode(tokenizer, [render_prompt(ex) for ex in examples], "cpu")
    with torch.no_grad():
        streams, logits = residual_streams(model, batch, mask)
        rows = torch.arange(len(examples))
        assert len(streams) == model.config.num_hidden_layers + 1
        lens_last = decoder(streams[-1][rows, last])
        expected = logits[rows, last][:, ids]
        torch.testing.assert_close(lens_last, expected, rtol=1e-4, atol=1e-4)
        # Right padding must not change a prompt's answer-position logits (causal attention).
        alone = model(input_ids=batch[:1, : int(last[0]) + 1]).logits[0, -1, ids]
        torch.testing.assert_close(alone, expected[0], rtol=1e-4, atol=1e-4)


def test_final_norm_lookup(tiny):
    model, _ = tiny
    assert final_norm(model) is model.transformer.ln_f

    class Bare(torch.nn.Module):
        pass

    with pytest.raises(DataError, match="final norm"):
        final_norm(Bare())


def test_lens_scores_last_layer_matches_argmax(tiny_checkpoint, tiny):
    model, tokenizer = tiny
    examples = load_split("csqa", "validation", source="sample")[:8]
    scores = lens_scores(tiny_checkpoint, examples, batch_size=3, device="cpu", condition="post")
    layers = model.config.num_hidden_layers
    assert [s.layer for s in scores] == list(range(layers + 1))
    ids = label_token_ids(tokenizer, examples[0].labels)
    with torch.no_grad():
        hits = 0
        for ex in examples:
            enc = tokenizer(render_prompt(ex), return_tensors="pt")
            pred = model(**enc).logits[0, -1, ids].argmax().item()
            hits += examples[0].labels[pred] == ex.answer
    assert scores[-1].accuracy == pytest.approx(hits / len(examples))
    assert all(1 <= s.mean_rank <= 5 and s.condition == "post" for s in scores)


def test_condition_from_checkpoint_metadata(tmp_path):
    (tmp_path / "ckpt").mkdir()
    assert checkpoint_condition(tmp_path / "ckpt") == "ckpt"
    (tmp_path / "ckpt" / "cot_distill.json").write_text(json.dumps({"config": {"condition": "shuffled_post"}}))
    assert checkpoint_condition(tmp_path / "ckpt") == "shuffled_post"


def test_cli_lens_writes_csv_and_plot(tiny_checkpoint, tmp_path, capsys):
    ckpt = tmp_path / "post_student"
    shutil.copytree(tiny_checkpoint, ckpt)
    (ckpt / "cot_distill.json").write_text(json.dumps({"condition": "post"}))
    out = tmp_path / "lens"
    assert main(["lens", str(tiny_checkpoint), str(ckpt), "--dataset", "quarel", "--limit", "6", "--out", str(out),
                 "--device", "cpu"]) == 0
    rows = list(csv.DictReader(open(out / "lens_quarel.csv")))
    assert {r["condition"] for r in rows} == {"student", "post"}
    assert len(rows) == 2 * 3 and all(r["docs"] == "6" and r["lens"] == "logit" for r in rows)
    assert (out / "lens_quarel.png").read_bytes()[:4] == b"\x89PNG"


def test_bad_checkpoint_is_one_line_error(tmp_path, capsys):
    assert main(["lens", str(tmp_path / "nope"), "--dataset", "csqa", "--out", str(tmp_path / "o")]) == 2
    assert "checkpoint folder not found" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(importlib.util.find_spec("tuned_lens") is not None, reason="tuned-lens is installed")
def test_tuned_without_package_is_one_line_error(tiny_checkpoint, tmp_path, capsys):
    assert main(["lens", str(tiny_checkpoint), "--dataset", "csqa", "--tuned", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "tuned-lens" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(importlib.util.find_spec("tuned_lens") is None, reason="optional tuned-lens not installed")
def test_tuned_lens_runs(tiny_checkpoint):
    examples = load_split("csqa", "validation", source="sample")[:4]
    prompts = [render_prompt(ex) for ex in load_split("csqa", "train", source="sample")[:8]]
    scores = lens_scores(tiny_checkpoint, examples, tuned_prompts=prompts, device="cpu", tuned_epochs=1)
    logit = {s.layer: s for s in scores if s.lens == "logit"}
    tuned = {s.layer: s for s in scores if s.lens == "tuned"}
    last = max(logit)
    assert tuned[last].accuracy == logit[last].accuracy  # identity at the last layer
