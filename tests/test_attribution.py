"""Key-token attribution: encoding, integrated gradients (shapes, completeness, batching), resume, conditions,
and the method seam (the registry, ``method`` in every record)."""

from __future__ import annotations

import json
import random

import pytest

from cot_tasks.conditions import ConditionContext
from cot_tasks.errors import DataError
from cot_tasks.rationales.keytokens import (
    FORMAT_VERSION,
    AttributionRow,
    attribution_record,
    key_tokens,
    random_tokens,
    read_attributions,
    span_text,
)
from cot_tasks.records import Example
from cot_tasks.targets import build_targets, make_target

EX = Example(id="q1", dataset="obqa", split="train", question="The sun is responsible for",
             choices=(("A", "puppies"), ("B", "rocks"), ("C", "snow"), ("D", "plants growing")), answer="D")
RAT = "The sun gives plants energy."
SPANS = ((0, 3), (4, 7), (8, 13), (14, 20), (21, 25), (25, 27), (27, 28))
ROW = AttributionRow(id="q1", tokens=tuple(RAT[s:e] for s, e in SPANS), spans=SPANS,
                     token_ids=(1, 2, 3, 4, 5, 6, 7), scores=(0.1, 0.9, -0.2, 0.8, 0.5, 0.6, 0.0),
                     model="m", tokenizer_fingerprint="fp")


def test_keytokens_and_random_conditions_exact_targets():
    ctx = ConditionContext(extras={"attributions": {"q1": ROW}})
    target = make_target(EX, RAT, "keytokens_post:3", ctx=ctx)
    # top 3 by score: sun (0.9), plants (0.8), gy (0.6) -> rationale order; "gy" is glued to nothing selected
    assert target.text == " D. sun plants gy"
    assert make_target(EX, RAT, "keytokens_post:4", ctx=ctx).text == " D. sun plants energy"
    assert make_target(EX, RAT, "keytokens_post:99", ctx=ctx).text == " D. The sun gives plants energy."
    rand = make_target(EX, RAT, "random_post:2", seed=5, ctx=ctx).text
    from cot_tasks.conditions import parse_condition
    from cot_tasks.targets import example_rng

    rng = example_rng(5, parse_condition("random_post:2"), "q1")
    assert rand == " D. " + span_text(ROW, RAT, rng.sample(range(7), 2))
    assert rand == make_target(EX, RAT, "random_post:2", seed=5, ctx=ctx).text  # seeded
    with pytest.raises(DataError, match="need an attribution file"):
        make_target(EX, "x", "keytokens_post:3")
    with pytest.raises(DataError, match="whole number"):
        make_target(EX, "x", "keytokens_post:0", ctx=ctx)
    pairs, _ = build_targets([EX], {"q1": RAT}, "keytokens_post:2",
                             extras={"attributions": {"q1": ROW}})
    assert pairs[0][1].text == " D. sun plants"


def test_key_token_helpers():
    assert ROW.top(2) == [1, 3]
    assert key_tokens(ROW, RAT, 1) == "sun"
    assert random_tokens(ROW, RAT, 10, random.Random(0)) == "The sun gives plants energy."
    # A rationale other than the one attributed is refused, not cut at the wrong places.
    with pytest.raises(DataError, match="another rationale text"):
        key_tokens(ROW, "The moon gives plants energy.", 2)


@pytest.fixture(scope="module")
def sample_setup(tiny_checkpoint):
    from cot_tasks.data import load_split
    from cot_tasks.sample import rationale_path

    return load_split("obqa", "train", "sample")[:6], rationale_path("obqa")


def _config(tiny_checkpoint, rationales, out, **kw):
    from trainers.attribution import AttributionConfig

    base = dict(model=str(tiny_checkpoint), dataset="obqa", rationales=rationales, out=out, steps=8,
                batch_size=3, k=3, device="cpu")
    return AttributionConfig(**{**base, **kw})


def test_encode_locates_rationale_and_label(tiny_checkpoint, sample_setup):
    from transformers import AutoTokenizer

    from cot_tasks.rationales import read_rationales
    from trainers.attribution import encode

    examples, path = sample_setup
    tok = AutoTokenizer.from_pretrained(tiny_checkpoint)
    ex = examples[0]
    rationale = read_rationales(path)[ex.id].rationale
    enc = encode(ex, rationale, tok)
    assert tok.decode([enc.input_ids[i] for i in enc.rationale]).strip() == " ".join(rationale.split())
    assert enc.label[-1] == len(enc.input_ids) - 1
    assert tok.decode([enc.input_ids[i] for i in enc.label]).strip() == ex.answer


def test_attribution_shapes_completeness_batching_and_resume(tiny_checkpoint, sample_setup, tmp_path):
    from trainers.attribution import run_attribution

    examples, rationales = sample_setup
    out = tmp_path / "attr.jsonl"
    report = run_attribution(_config(tiny_checkpoint, rationales, out), examples)
    assert report.attributed == 6 and report.median_completeness_error < 0.05
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    for row in rows:
        # Each record names its method and that method's settings, after the example's own numbers.
        assert list(row)[-5:] == ["f_baseline", "completeness_error", "method", "steps", "baseline"]
        assert (row["method"], row["steps"], row["baseline"]) == ("integrated_gradients", 8, "pad")
        assert len(row["tokens"]) == len(row["token_ids"]) == len(row["scores"]) > 0
        assert len(row["top_indices"]) == 3 and row["top_tokens"] == [row["tokens"][i] for i in row["top_indices"]]
        gap = row["f_input"] - row["f_baseline"]
        assert abs(sum(row["scores"]) - gap) <= 0.05 * abs(gap) + 1e-6
    # Padding and masks do not change the result: one example per call gives the same scores.
    single = tmp_path / "single.jsonl"
    run_attribution(_config(tiny_checkpoint, rationales, single, batch_size=1, limit=3), examples)
    batched = {r["id"]: r["scores"] for r in rows}
    for line in single.read_text().splitlines():
        row = json.loads(line)
        assert row["scores"] == pytest.approx(batched[row["id"]], abs=1e-4)
    # Steps chunked into forwards of 5 rows (not a divisor of 3 examples x 8 steps): the same scores.
    chunked = tmp_path / "chunked.jsonl"
    run_attribution(_config(tiny_checkpoint, rationales, chunked, internal_batch_size=5, limit=3), examples)
    for line in chunked.read_text().splitlines():
        row = json.loads(line)
        assert row["scores"] == pytest.approx(batched[row["id"]], abs=1e-4)
    # Resume: a half-written last line is dropped and redone; finished ids are skipped.
    lines = out.read_text().splitlines()
    out.write_text("\n".join(lines[:4]) + "\n" + lines[4][:30])
    again = run_attribution(_config(tiny_checkpoint, rationales, out), examples)
    assert (again.done_before, again.attributed, again.dropped_broken_line) == (4, 2, True)
    parsed = read_attributions(out)
    assert len(parsed) == 6
    # The reader hands on what the completeness check needs: F(x) - F(baseline) and the error.
    for row in (json.loads(line) for line in out.read_text().splitlines()):
        assert parsed[row["id"]].gap == pytest.approx(row["f_input"] - row["f_baseline"])
        assert parsed[row["id"]].completeness_error == row["completeness_error"]
    # Every row names the exact weights that scored it.
    from trainers.model import weights_sha256

    assert {row.weights_sha256 for row in parsed.values()} == {weights_sha256(tiny_checkpoint)} != {None}


def test_resuming_with_other_weights_is_refused(tiny_checkpoint, sample_setup, tmp_path):
    """Same path, same tokenizer, same settings, other weights (a checkpoint trained again elsewhere, not
    bit-equal): adding rows would rank key tokens of two models in one file."""
    from trainers.attribution import run_attribution

    examples, rationales = sample_setup
    out = tmp_path / "attr.jsonl"
    run_attribution(_config(tiny_checkpoint, rationales, out, limit=2), examples)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    out.write_text("".join(json.dumps({**row, "weights_sha256": "a" * 64}) + "\n" for row in rows))
    with pytest.raises(DataError) as err:
        run_attribution(_config(tiny_checkpoint, rationales, out), examples)
    message = str(err.value)
    assert message.startswith(f"{out}:1: field 'weights_sha256'") and "made with other weights" in message
    assert "aaaaaaaaaaaa..." in message and "\n" not in message
    # A row from before rows named their weights resumes, as before.
    out.write_text("".join(json.dumps({k: v for k, v in row.items() if k != "weights_sha256"}) + "\n"
                           for row in rows))
    assert run_attribution(_config(tiny_checkpoint, rationales, out), examples).done_before == 2
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(_record(weights_sha256=7)) + "\n")
    with pytest.raises(DataError, match=r"bad.jsonl:1: field 'weights_sha256': not a sha256"):
        read_attributions(path)


def test_attribution_file_from_another_tokenizer(tiny_checkpoint, sample_setup, tmp_path):
    from trainers.attribution import run_attribution

    examples, rationales = sample_setup
    out = tmp_path / "other.jsonl"
    out.write_text(json.dumps(attribution_record(id="zz", dataset="obqa", rationale="a", token_ids=[1],
                                                 spans=[(0, 1)], scores=[0.5], k=1, model="gpt2",
                                                 tokenizer_fingerprint="0123456789abcdef",
                                                 method="integrated_gradients")) + "\n")
    with pytest.raises(DataError) as err:
        run_attribution(_config(tiny_checkpoint, rationales, out), examples)
    message = str(err.value)
    assert str(out) in message and "another tokenizer" in message and "\n" not in message


def test_broken_attribution_file_is_one_line_error(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"format": 2, "id": "x"}\n')
    with pytest.raises(DataError, match=r"a.jsonl:1: field 'tokens'"):
        read_attributions(path)


def test_cli_attribute(tiny_checkpoint, sample_setup, tmp_path, capsys):
    from harness_plugins.cli import main

    _, rationales = sample_setup
    out = tmp_path / "cli.jsonl"
    assert main(["attribute", "--model", str(tiny_checkpoint), "--dataset", "obqa", "--rationales",
                 str(rationales), "--out", str(out), "--steps", "4", "--limit", "2", "--device", "cpu"]) == 0
    assert "2 attributed" in capsys.readouterr().out
    assert main(["attribute", "--model", str(tmp_path / "nope"), "--dataset", "obqa", "--rationales",
                 str(rationales), "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_old_attribution_file_is_refused_in_one_line(tmp_path):
    path = tmp_path / "old.jsonl"
    path.write_text(json.dumps({"id": "x", "tokens": [" a"], "token_ids": [1], "scores": [0.5], "model": "gpt2",
                                "tokenizer_fingerprint": "0123456789abcdef"}) + "\n")
    with pytest.raises(DataError) as err:
        read_attributions(path)
    message = str(err.value)
    assert message.startswith(f"{path}:1: field 'format'") and "redo it with `cot-distill attribute`" in message
    assert f"format 1, this version reads {FORMAT_VERSION}" in message and "\n" not in message


HARD = "The café is naïve → 🙂 so plants need energy. Atlases show maps."


@pytest.fixture(scope="module")
def styles():
    from conftest import sample_corpus
    from tokenizer_styles import STYLES, build_style_tokenizer

    corpus = sample_corpus()
    return {style: build_style_tokenizer(style, corpus) for style in STYLES}


@pytest.mark.parametrize("style", ["gpt2", "llama", "gemma"])
def test_key_tokens_are_cut_from_the_rationale_by_character_spans(styles, style, tmp_path):
    from trainers.attribution import encode

    tok = styles[style]
    enc = encode(EX, HARD, tok)
    n = len(enc.rationale)
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps(attribution_record(
        id=EX.id, dataset="obqa", rationale=enc.text, token_ids=[enc.input_ids[p] for p in enc.rationale],
        spans=enc.spans, scores=[0.0] * n, k=3, model="m", tokenizer_fingerprint="fp", method="m")) + "\n")
    row = read_attributions(path)[EX.id]
    assert row.gap is None and row.completeness_error is None  # a file without F values reads as not recorded
    assert span_text(row, HARD, range(n)) == HARD
    # Every token alone is whole characters of the rationale (byte pieces widen to their character).
    for i in range(n):
        piece = span_text(row, HARD, [i])
        assert piece in HARD and "\ufffd" not in piece
    # Neighbouring tokens keep the space between them; separate spans are joined by one space.
    words = [i for i in range(n) if HARD[slice(*row.spans[i])].strip() in ("The", "plants", "need")]
    assert span_text(row, HARD, words) == "The plants need"
    # A token holding part of a multi-byte character spans the whole character.
    for char in ("é", "ï", "→", "🙂"):
        start = HARD.index(char)
        inside = [i for i in range(n) if row.spans[i][0] <= start < row.spans[i][1]]
        assert inside and all(char in span_text(row, HARD, [i]) for i in inside)


@pytest.mark.parametrize("arch", ["gpt2", "llama", "gemma3"])
def test_reusing_the_prompt_gives_the_scores_of_the_full_sequence(tiny_checkpoint, sample_setup, arch):
    # The cached path runs the prompt once and only rationale + cue + label per IG step; the prompt's
    # attributions are exactly zero (input equals baseline there), so scores, F(x), F(baseline) and the
    # total must match the full-sequence path up to float32 rounding of differently shaped matmuls (~1e-6
    # relative here; 1e-4 absolute leaves room for other BLAS builds while still catching a wrong
    # position, mask or cache, which moves scores by 1e-2 or more).
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from cot_tasks.rationales import read_rationales
    from trainers.attribution import attribute_batch, encode

    examples, path = sample_setup
    tok = AutoTokenizer.from_pretrained(tiny_checkpoint)
    rationales = read_rationales(path)
    items = [encode(ex, rationales[ex.id].rationale, tok) for ex in examples[:4]]
    assert len({it.rationale[0] for it in items}) > 1  # prompts of different lengths: padding in the cache
    torch.manual_seed(0)
    if arch == "gpt2":
        model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint)
    elif arch == "gemma3":  # the gemma3-270m student: sliding-window layers (a window shorter than the prompts)
        try:
            from transformers import Gemma3ForCausalLM, Gemma3TextConfig
        except ImportError:
            pytest.skip("this transformers has no Gemma-3")
        model = Gemma3ForCausalLM(Gemma3TextConfig(
            vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4,
            num_key_value_heads=2, head_dim=16, sliding_window=8, layer_types=["sliding_attention"] * 2 +
            ["full_attention"]))
    else:
        model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128,
                                             num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                             tie_word_embeddings=True))
    model = model.eval().requires_grad_(False)
    from trainers import prompt_cache

    # Sliding-window layers would see the padding of shorter cached prompts: those run the full sequence.
    assert prompt_cache.supported(model) == (arch != "gemma3")
    kw = dict(steps=6, pad_id=tok.eos_token_id, baseline_id=tok.eos_token_id, device="cpu")
    full = attribute_batch(model, items, reuse_prompt=False, **kw)
    cached = attribute_batch(model, items, reuse_prompt=True, **kw)
    chunked = attribute_batch(model, items, reuse_prompt=True, internal_batch_size=8, **kw)  # 2 steps a call
    for a, b, c in zip(full, cached, chunked):
        assert len(a["scores"]) == len(b["scores"])
        for key in ("f_input", "f_baseline", "total"):
            assert b[key] == pytest.approx(a[key], abs=1e-4) and c[key] == pytest.approx(a[key], abs=1e-4)
        assert b["scores"] == pytest.approx(a["scores"], abs=1e-4)
        assert c["scores"] == pytest.approx(a["scores"], abs=1e-4)
        assert abs(a["f_input"] - a["f_baseline"]) > 1e-3  # a real gap, so the comparison means something


def test_baselines_name_a_token_or_fail_in_one_line(tiny_checkpoint, sample_setup, tmp_path, capsys):
    from transformers import AutoTokenizer

    from harness_plugins.cli import main
    from trainers.attribution import baseline_token_id, check_baseline

    tok = AutoTokenizer.from_pretrained(tiny_checkpoint)
    assert baseline_token_id(tok, "pad") == tok.pad_token_id and baseline_token_id(tok, "eos") == tok.eos_token_id
    the = tok(" the", add_special_tokens=False)["input_ids"]
    assert len(the) == 1 and baseline_token_id(tok, "token: the") == the[0]
    for bad, message in (("zero", "unknown baseline 'zero'"), ("token:", "unknown baseline 'token:'"),
                         ("token: unquestionably elaborate", "tokens of this student, not one")):
        with pytest.raises(DataError, match=message):
            check_baseline(bad) if message.startswith("unknown") else baseline_token_id(tok, bad)
    # The rows record the baseline they were made from; the CLI names the model in its one line.
    _, rationales = sample_setup
    out = tmp_path / "the.jsonl"
    assert main(["attribute", "--model", str(tiny_checkpoint), "--dataset", "obqa", "--rationales", str(rationales),
                 "--out", str(out), "--steps", "4", "--limit", "2", "--device", "cpu", "--baseline", "token: the"]) == 0
    assert {json.loads(line)["baseline"] for line in out.read_text().splitlines()} == {"token: the"}
    capsys.readouterr()
    assert main(["attribute", "--model", str(tiny_checkpoint), "--dataset", "obqa", "--rationales", str(rationales),
                 "--out", str(tmp_path / "x.jsonl"), "--baseline", "token: unquestionably elaborate"]) == 2
    err = capsys.readouterr().err.strip()
    assert str(tiny_checkpoint) in err and "not one" in err and "\n" not in err


def test_a_remote_code_model_is_attributed_only_with_trust_remote_code(tiny_checkpoint, sample_setup, tmp_path,
                                                                       monkeypatch, capsys):
    """transformers refuses a model that ships code unless trust_remote_code is on; the flag must reach it."""
    import transformers

    from harness_plugins.cli import main

    seen = []
    for cls in (transformers.AutoTokenizer, transformers.AutoModelForCausalLM):
        def remote(*args, _cls=cls, _load=cls.from_pretrained, trust_remote_code=False, **kwargs):
            seen.append((_cls.__name__, trust_remote_code))
            if not trust_remote_code:
                raise ValueError("this model contains custom code: pass trust_remote_code=True to run it\nmore")
            return _load(*args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", remote)
    _, rationales = sample_setup
    args = ["attribute", "--model", str(tiny_checkpoint), "--dataset", "obqa", "--rationales", str(rationales),
            "--out", str(tmp_path / "a.jsonl"), "--steps", "4", "--limit", "1", "--device", "cpu"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot load attribution tokenizer" in err and "trust_remote_code" in err and "\n" not in err
    assert seen == [("AutoTokenizer", False)]
    seen.clear()
    assert main(args + ["--trust-remote-code"]) == 0
    assert "1 attributed" in capsys.readouterr().out
    assert seen == [("AutoTokenizer", True), ("AutoModelForCausalLM", True)]


def _record(id="q1", **kw):
    base = dict(id=id, dataset="obqa", rationale="ab", token_ids=[1, 2], spans=[(0, 1), (1, 2)], scores=[0.5, 0.1],
                k=1, model="m", tokenizer_fingerprint="fp", method="integrated_gradients",
                settings={"steps": 8, "baseline": "pad"})
    return attribution_record(**{**base, **kw})


def test_a_record_without_method_is_integrated_gradients(tmp_path):
    # Every file from before the key was made by integrated gradients: it reads, and resumes, as that.
    old = _record()
    del old["method"]
    path = tmp_path / "old.jsonl"
    path.write_text(json.dumps(old) + "\n" + json.dumps(_record("q2")) + "\n")
    rows = read_attributions(path, method="integrated_gradients", settings={"steps": 8, "baseline": "pad"})
    assert {row.method for row in rows.values()} == {"integrated_gradients"}
    from trainers.attribution import AttributionConfig, IntegratedGradients

    assert IntegratedGradients.name == AttributionConfig.method == "integrated_gradients"


@pytest.mark.parametrize(("asked", "field", "words"), [
    (dict(method="gradient_x_input", settings={}), "method",
     "made with the attribution method integrated_gradients, this run asks for gradient_x_input"),
    (dict(method="integrated_gradients", settings={"steps": 8, "baseline": "eos"}), "baseline",
     "made with integrated_gradients baseline='pad', this run asks for baseline='eos'"),
])
def test_resuming_with_another_method_or_settings_is_refused(tmp_path, asked, field, words):
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps(_record()) + "\n")
    with pytest.raises(DataError) as err:
        read_attributions(path, **asked)
    message = str(err.value)
    assert message.startswith(f"{path}:1: field '{field}'") and words in message and "\n" not in message
    # Read for training (no method asked), one file holds one method.
    path.write_text(json.dumps(_record()) + "\n" + json.dumps(_record("q2", method="other", settings={})) + "\n")
    with pytest.raises(DataError, match="mixes attribution methods"):
        read_attributions(path)


def test_method_option_and_registry(tiny_checkpoint, sample_setup, tmp_path, capsys):
    from harness_plugins.cli import build_parser, main
    from trainers.attribution import METHODS, IntegratedGradients, run_attribution

    assert METHODS == {"integrated_gradients": IntegratedGradients}
    args = build_parser().parse_args(["attribute", "--model", "m", "--dataset", "obqa", "--rationales", "r",
                                      "--out", "o"])
    assert args.method == "integrated_gradients"
    examples, rationales = sample_setup
    out = tmp_path / "cli.jsonl"
    assert main(["attribute", "--model", str(tiny_checkpoint), "--dataset", "obqa", "--rationales", str(rationales),
                 "--out", str(out), "--steps", "4", "--limit", "1", "--device", "cpu",
                 "--method", "integrated_gradients"]) == 0
    assert json.loads(out.read_text())["method"] == "integrated_gradients"
    capsys.readouterr()
    with pytest.raises(DataError, match=r"unknown attribution method 'nope' \(one of integrated_gradients\)"):
        run_attribution(_config(tiny_checkpoint, rationales, tmp_path / "x.jsonl", method="nope"), examples)
    # The same file resumed with other steps is refused before any example is scored.
    with pytest.raises(DataError, match="made with integrated_gradients steps=4, this run asks for steps=8"):
        run_attribution(_config(tiny_checkpoint, rationales, out), examples)


def test_another_method_runs_through_the_seam(tiny_checkpoint, sample_setup, tmp_path, monkeypatch):
    """A method registered in METHODS is all it takes: its name and settings land in every record."""
    from trainers import attribution
    from trainers.attribution_method import AttributionMethod, Scored

    class TokenId(AttributionMethod):  # scores each rationale token by its id, times a setting
        name = "token_id"

        def __init__(self, scale):
            self.scale = scale

        @classmethod
        def from_config(cls, config):
            return cls(scale=config.k)

        def settings(self):
            return {"scale": self.scale}

        def scorer(self, model, tokenizer, device):
            assert not any(p.requires_grad for p in model.parameters())

            def score(items):
                return [Scored([self.scale * it.input_ids[p] for p in it.rationale], values={"n": len(it.rationale)})
                        for it in items]

            return score

    monkeypatch.setitem(attribution.METHODS, "token_id", TokenId)
    examples, rationales = sample_setup
    out = tmp_path / "ids.jsonl"
    report = attribution.run_attribution(_config(tiny_checkpoint, rationales, out, method="token_id", limit=4),
                                         examples)
    assert report.attributed == 4 and report.median_completeness_error is None
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    for row in rows:
        assert (row["method"], row["scale"], row["completeness_error"], row["n"]) == ("token_id", 3, None,
                                                                                      len(row["tokens"]))
        assert row["scores"] == [3 * t for t in row["token_ids"]] and "steps" not in row
    assert {row.method for row in read_attributions(out).values()} == {"token_id"}
    # Resumed by the same method it adds the rest; integrated gradients is refused on its file.
    again = attribution.run_attribution(_config(tiny_checkpoint, rationales, out, method="token_id"), examples)
    assert (again.done_before, again.attributed) == (4, 2)
    with pytest.raises(DataError, match="made with the attribution method token_id"):
        attribution.run_attribution(_config(tiny_checkpoint, rationales, out), examples)
