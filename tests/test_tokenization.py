"""Training targets under GPT-2-, Llama- and Gemma-style tokenizers: the label is the first
target token (cut or not), and the prompt is encoded as the installed lm-eval's HFLM encodes it."""

from __future__ import annotations

import pytest
from tokenizer_styles import STYLES, build_style_tokenizer

from cot_tasks.conditions import ConditionContext, Target
from cot_tasks.data import load_split
from cot_tasks.errors import DataError
from cot_tasks.prompts import render_prompt
from cot_tasks.rationales import read_rationales
from cot_tasks.sample import rationale_path
from cot_tasks.targets import make_target
from trainers.data import encode, lm_eval_adds_special_tokens

LONG = ("People keep such things where they are safe and easy to reach, so the answer is the place "
        "everybody would name first. ") * 8


@pytest.fixture(scope="module")
def data():
    exs = load_split("csqa", "train", source="sample")[:10]
    rats = read_rationales(rationale_path("csqa"))
    return exs, [render_prompt(ex) + " " + rats[ex.id].rationale for ex in exs if ex.id in rats] + [LONG]


@pytest.fixture(scope="module", params=STYLES)
def style(request, data):
    return request.param, build_style_tokenizer(request.param, data[1])


def _one_run_removed(full: tuple, cut: tuple) -> int:
    """Length of the common prefix, given that ``cut`` is ``full`` less one contiguous run of tokens."""
    prefix = next((i for i, (a, b) in enumerate(zip(full, cut)) if a != b), len(cut))
    suffix = next((i for i, (a, b) in enumerate(zip(reversed(full), reversed(cut))) if a != b), len(cut))
    assert len(cut) < len(full) and prefix + suffix >= len(cut), "not the whole encoding less one run"
    return prefix


@pytest.mark.parametrize("condition", ["none", "post", "shuffled_post", "masked_post:0.3", "pre"])
def test_label_is_the_first_target_token_cut_or_not(style, data, condition):
    name, tok = style
    for ex in data[0][:4]:
        target = make_target(ex, LONG, condition, ctx=ConditionContext(tokenizer=tok))
        label = None if condition == "pre" else ex.answer
        prompt = render_prompt(ex)
        full = encode(tok, prompt, target, 4096, label=label, example_id=ex.id)
        assert not full.truncated and full.input_ids[-1] == tok.eos_token_id
        n = full.n_prompt
        if label is not None:
            assert tok.decode(full.input_ids[n:n + 1]).strip() == ex.answer
        if condition == "none":
            continue
        limit = n + 12
        cut = encode(tok, prompt, target, limit, label=label, example_id=ex.id)
        assert cut.truncated and len(cut.input_ids) == limit and cut.n_prompt == n
        # No stray word-mark pieces: the cut is the whole encoding with rationale tokens taken out.
        kept = _one_run_removed(full.input_ids, cut.input_ids)
        assert kept > n
        if label is not None:
            assert cut.input_ids[n] == full.input_ids[n]
        else:
            assert tok.decode(cut.input_ids[:-1]).endswith(f"\nAnswer: {ex.answer}")


def test_a_label_that_is_not_the_first_target_token_is_refused(style, data):
    name, tok = style
    ex = data[0][0]
    wrong = "B" if ex.answer != "B" else "C"
    with pytest.raises(DataError, match=f"example '{ex.id}': the first target token is '{ex.answer}', not the "
                                        f"label '{wrong}', under tokenizer"):
        encode(tok, render_prompt(ex), Target(f" {ex.answer}."), 512, label=wrong, example_id=ex.id)


def test_cut_keeps_prompt_and_label_or_refuses(style, data):
    name, tok = style
    ex = data[0][0]
    prompt = render_prompt(ex)
    n = encode(tok, prompt, Target(" A"), 512).n_prompt
    with pytest.raises(DataError, match="prompt and label alone take .* raise --max-length"):
        encode(tok, prompt, make_target(ex, LONG, "post"), n + 1)


def _tiny_model(style: str, vocab: int):
    from transformers import GemmaConfig, GemmaForCausalLM, GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    small = dict(vocab_size=vocab, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                 num_attention_heads=2, num_key_value_heads=1)
    if style == "gpt2":
        return GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_positions=512, n_embd=16, n_layer=1, n_head=2))
    if style == "llama":
        return LlamaForCausalLM(LlamaConfig(**small))
    return GemmaForCausalLM(GemmaConfig(**small, head_dim=8))


def test_prompt_ids_match_lm_eval_hflm(style, data):
    """Under whichever lm-eval is installed (tox: latest and oldest), with its default arguments."""
    from lm_eval.models.huggingface import HFLM

    name, tok = style
    model = _tiny_model(name, len(tok))
    lm = HFLM(pretrained=model, tokenizer=tok, device="cpu", batch_size=1)
    special = lm_eval_adds_special_tokens(model.config.model_type)
    for ex in data[0][:3]:
        prompt = render_prompt(ex)
        for condition in ("none", "post", "pre"):
            target = make_target(ex, "One keeps it there, as everybody knows.", condition)
            ours = encode(tok, prompt, target, 512, special_tokens=special, example_id=ex.id)
            context, continuation = lm._encode_pair(prompt, target.text)  # what the loglikelihood tasks score
            assert list(ours.input_ids[:ours.n_prompt]) == context == lm.tok_encode(prompt)
            assert list(ours.input_ids[ours.n_prompt:-1]) == continuation
        # The generation task (pre) encodes its context through the batch path.
        assert lm.tok_batch_encode([prompt])[0][0].tolist() == list(ours.input_ids[:ours.n_prompt])
    assert (ours.input_ids[0] == tok.bos_token_id) == (special and name != "gpt2")


def test_lm_eval_special_tokens_detected_for_old_and_new_hflm(monkeypatch):
    import lm_eval.models.huggingface as hf

    class Old:  # lm-eval <= 0.4.9: no BOS unless the model type is Gemma's
        def __init__(self, pretrained="gpt2", add_bos_token=False):
            pass

    class New:  # lm-eval >= 0.4.10: None, the tokenizer's own default
        def __init__(self, pretrained="gpt2", add_bos_token=None):
            pass

    monkeypatch.setattr(hf, "HFLM", Old)
    assert [lm_eval_adds_special_tokens(t) for t in ("gpt2", "llama", "mistral", "gemma", "gemma2")] == [
        False, False, False, True, True]
    monkeypatch.setattr(hf, "HFLM", New)
    assert all(lm_eval_adds_special_tokens(t) for t in ("gpt2", "llama", "gemma"))
