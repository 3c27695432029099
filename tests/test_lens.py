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
from harness_plugins.lens.lenses import (
    LabelUnembed,
    LogitLens,
    TunedLens,
    _encode,
    checkpoint_condition,
    lens_scores,
)
from trainers.model import final_norm, label_token_ids, residual_streams

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
    lens = LogitLens(LabelUnembed(model, ids))
    batch, mask, last = _encode(tokenizer, [render_prompt(ex) for ex in examples], "cpu")
    with torch.no_grad():
        streams, logits = residual_streams(model, batch, mask)
        rows = torch.arange(len(examples))
        assert len(streams) == model.config.num_hidden_layers + 1
        lens_last = lens(streams[-1][rows, last], len(streams) - 1)
        expected = logits[rows, last][:, ids]
        torch.testing.assert_close(lens_last, expected, rtol=1e-4, atol=1e-4)
        # Right padding must not change a prompt's answer-position logits (causal attention).
        alone = model(input_ids=batch[:1, : int(last[0]) + 1]).logits[0, -1, ids]
        torch.testing.assert_close(alone, expected[0], rtol=1e-4, atol=1e-4)


def test_the_logit_lens_object_gives_the_former_functions_numbers(tiny):
    """Bit for bit what the lens computed before it was an object: final norm, then the label rows of the head."""
    model, tokenizer = tiny
    examples = load_split("csqa", EVAL_SPLIT["csqa"], source="sample")[:6]
    ids = label_token_ids(tokenizer, examples[0].labels)
    lens = LogitLens(LabelUnembed(model, ids))
    batch, mask, last = _encode(tokenizer, [render_prompt(ex) for ex in examples], "cpu")
    head = model.get_output_embeddings().weight[torch.tensor(ids)]
    with torch.no_grad():
        streams, _ = residual_streams(model, batch, mask)
        for layer, stream in enumerate(streams):
            h = stream[torch.arange(len(examples)), last]
            assert torch.equal(lens.transform_hidden(h, layer), h)
            assert torch.equal(lens(h, layer), final_norm(model)(h).to(head.dtype) @ head.T)


def test_the_tuned_lens_translates_every_layer_but_the_last(tiny):
    model, tokenizer = tiny
    unembed = LabelUnembed(model, label_token_ids(tokenizer, ["A", "B", "C"]))
    n_layers = model.config.num_hidden_layers

    class Translators:  # a trained tuned_lens.nn.TunedLens as the wrapper uses it
        layer_translators = [None] * n_layers

        def transform_hidden(self, h, layer):
            assert h.dtype == torch.float32  # the translators are fp32 whatever the model's dtype
            return h + layer + 1

    lens = TunedLens(unembed, Translators())
    h = torch.randn(2, model.config.hidden_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for layer in range(n_layers):
            assert torch.equal(lens(h, layer), unembed(h + layer + 1))
        assert torch.equal(lens(h, n_layers), LogitLens(unembed)(h, n_layers))
        assert lens.transform_hidden(h.double(), 0).dtype == torch.float64  # back to the stream's dtype


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
