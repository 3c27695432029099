"""Every CoT condition on hand-made examples: exact targets, determinism, label position, bad input."""

from __future__ import annotations

import pytest

from cot_tasks.conditions import (
    CONDITIONS,
    FILLER,
    MASK,
    Condition,
    build_targets,
    make_target,
    normalise,
    parse_condition,
    tasks_for,
)
from cot_tasks.errors import DataError
from cot_tasks.prompts import render_prompt
from cot_tasks.records import Example

EX = Example(id="q1", dataset="csqa", split="train", question="Where do you keep money?",
             choices=(("A", "bank"), ("B", "river"), ("C", "shoe"), ("D", "tree"), ("E", "cloud")), answer="A")
OTHER = Example(id="q2", dataset="csqa", split="train", question="What is wet?",
                choices=(("A", "sand"), ("B", "water"), ("C", "rock"), ("D", "air"), ("E", "fire")), answer="B")
# The conditions this file covers (attribution-based ones have their own tests).
BASIC = {"none": "none", "pre": "pre", "post": "post", "shuffled_post": "shuffled_post",
         "shuffled_pre": "shuffled_pre", "masked_post": "masked_post:0.3", "filler_post": "filler_post",
         "other_post": "other_post", "answer_masked_post": "answer_masked_post"}
RAT = "Money is kept\nsafe in a Bank.\n\nA bank  has vaults."
NORM = "Money is kept safe in a Bank. A bank has vaults."
POOL = {"q1": NORM, "q2": "Water is wet."}


def target(spec, example=EX, rationale=RAT, seed=0, **kw):
    from cot_tasks.conditions import ConditionContext

    return make_target(example, rationale, spec, seed=seed, ctx=ConditionContext(pool=POOL, **kw)).text


def test_exact_targets():
    assert target("none") == " A"
    assert target("pre") == f" {NORM}\nAnswer: A"
    assert target("post") == f" A. {NORM}"
    assert target("filler_post") == " A." + f" {FILLER}" * len(NORM.split())
    assert target("other_post") == " A. Water is wet."
    # Whole-word, case-insensitive removal of the gold answer's text.
    assert target("answer_masked_post") == " A. Money is kept safe in a . A has vaults."


def test_shuffles_permute_words_and_are_seeded():
    post, pre = target("shuffled_post"), target("shuffled_pre")
    assert post.startswith(" A. ") and pre.endswith("\nAnswer: A")
    assert sorted(post[len(" A. "):].split()) == sorted(NORM.split())
    assert sorted(pre[1:-len("\nAnswer: A")].split()) == sorted(NORM.split())
    assert post != f" A. {NORM}"
    assert target("shuffled_post") == post  # same seed, same target
    assert any(target("shuffled_post", seed=s) != post for s in range(1, 5))


def test_masked_fraction():
    words = target("masked_post:0.5")[len(" A. "):].split()
    assert len(words) == len(NORM.split())
    assert words.count(MASK) == round(0.5 * len(NORM.split()))
    assert target("masked_post:0") == f" A. {NORM}"
    assert set(target("masked_post:1")[len(" A. "):].split()) == {MASK}


def test_targets_never_hold_blank_lines_and_start_with_delimiter():
    assert set(BASIC) <= set(CONDITIONS)
    for name, spec in BASIC.items():
        text = target(spec)
        assert text.startswith(" ") and "\n\n" not in text, name


def test_label_is_first_target_token(tiny_checkpoint):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_checkpoint)
    prompt = render_prompt(EX)
    n_prompt = len(tok(prompt)["input_ids"])
    for name, spec in BASIC.items():
        if name == "none" or name.endswith("_post"):
            ids = tok(prompt + target(spec))["input_ids"]
            assert tok.decode(ids[n_prompt]) == " A", name


def test_token_level_variants(tiny_checkpoint):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_checkpoint)
    shuffled = target("shuffled_post@tokens", tokenizer=tok)
    n = len(tok(" " + NORM, add_special_tokens=False)["input_ids"])
    assert shuffled.startswith(" A. ") and shuffled != f" A. {NORM}"
    assert target("shuffled_post@tokens", tokenizer=tok) == shuffled
    assert sorted(shuffled[4:].replace(" ", "")) == sorted(NORM.replace(" ", ""))  # same characters
    filler = target("filler_post@tokens", tokenizer=tok)
    # One filler unit per rationale token (the tiny vocabulary may spell " ." as two tokens: then ".").
    assert filler.startswith(" A. ") and filler[4:].replace(" ", "") == FILLER * n
    with pytest.raises(DataError, match="tokenizer"):
        target("shuffled_post@tokens")


def test_parse_and_task_routing():
    assert parse_condition("masked_post:0.3") == Condition("masked_post", 0.3, False)
    assert parse_condition("shuffled_pre@tokens") == Condition("shuffled_pre", None, True)
    assert parse_condition("masked_post:0.25@tokens").spec == "masked_post:0.25@tokens"
    assert parse_condition("masked_post:0.25@tokens").slug == "masked_post-0.25+tokens"
    # Both metrics for every condition; where the student commits decides the task and filter.
    for name in ("pre", "shuffled_pre@tokens"):
        assert tasks_for(name, "obqa") == {"acc": ("cot_obqa_commit", "acc,none"),
                                           "exact_match": ("cot_obqa_gen", "exact_match,committed-label")}
    for name in ("none", "post", "shuffled_post", "masked_post:0.1", "filler_post", "other_post",
                 "answer_masked_post", "keytokens_post:3", "random_post:3"):
        assert tasks_for(name, "quarel") == {"acc": ("cot_quarel", "acc,none"),
                                             "exact_match": ("cot_quarel_gen", "exact_match,first-label")}


@pytest.mark.parametrize("spec, message", [
    ("nonsense", "unknown condition 'nonsense' (known: none, pre, post"),
    ("masked_post:1.5", "fraction P in [0, 1]"),
    ("masked_post:abc", "fraction P in [0, 1]"),
    ("masked_post:nan", "fraction P in [0, 1]"),
    ("masked_post", "needs an argument"),
    ("post:3", "takes no argument"),
    ("other_post@tokens", "no @tokens variant"),
])
def test_bad_specs_are_one_line_errors(spec, message):
    with pytest.raises(DataError) as err:
        parse_condition(spec)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_missing_rationales_are_dropped_and_counted():
    pairs, report = build_targets([EX, OTHER], {"q1": RAT}, "none")
    assert [ex.id for ex, _ in pairs] == ["q1"] and report.unjoined == 1 and report.missing_ids == ["q2"]
    assert "1/2 examples have a rationale (1 dropped)" == report.line()
    with pytest.raises(DataError, match="0 of 2 joined"):
        build_targets([EX, OTHER], {"zz": RAT}, "post", source="r.jsonl")
    with pytest.raises(DataError, match="needs a rationale file"):
        build_targets([EX], None, "post")
    with pytest.raises(DataError, match="at least two"):
        build_targets([EX], {"q1": RAT}, "other_post")
    assert normalise(" a\n\n b ") == "a b"


def test_targets_do_not_depend_on_the_rest_of_the_set():
    alone, _ = build_targets([EX], {"q1": RAT}, "shuffled_post", seed=3)
    both, _ = build_targets([OTHER, EX], {"q1": RAT, "q2": "x y z"}, "shuffled_post", seed=3)
    assert alone[0][1] == both[1][1]
