"""Every CoT condition on hand-made examples: exact targets, determinism, label position, bad input."""

from __future__ import annotations

import pytest

from cot_tasks.conditions import CONDITIONS, MASK, Condition, normalise, parse_condition
from cot_tasks.controls import body_lengths
from cot_tasks.errors import DataError
from cot_tasks.names import tasks_for
from cot_tasks.prompts import render_prompt
from cot_tasks.records import Example
from cot_tasks.targets import build_targets, make_target

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


@pytest.fixture(scope="module")
def styles():
    from conftest import sample_corpus
    from tokenizer_styles import STYLES, build_style_tokenizer

    corpus = sample_corpus()
    return {style: build_style_tokenizer(style, corpus) for style in STYLES}


def target(spec, example=EX, rationale=RAT, seed=0, **kw):
    from cot_tasks.conditions import ConditionContext

    return make_target(example, rationale, spec, seed=seed, ctx=ConditionContext(pool=POOL, **kw)).text


def test_exact_targets():
    assert target("none") == " A"
    assert target("pre") == f" {NORM}\nAnswer: A"
    assert target("post") == f" A. {NORM}"
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


def test_masked_fraction(styles):
    # Whole words are masked until they hold half the rationale's student tokens.
    tok = styles["gpt2"]
    words, masked = NORM.split(), target("masked_post:0.5", tokenizer=tok)[len(" A. "):].split()
    kept = [w for w in masked if w != MASK]
    assert set(kept) < set(words) and len(kept) < len(words)
    lengths = dict(zip(words, body_lengths(tok, [" " + w for w in words])))
    n = body_lengths(tok, [" " + NORM])[0]
    assert abs(sum(lengths[w] for w in words) - sum(lengths[w] for w in kept) - round(0.5 * n)) < max(lengths.values())
    assert target("masked_post:0", tokenizer=tok) == f" A. {NORM}"
    assert set(target("masked_post:1", tokenizer=tok)[len(" A. "):].split()) == {MASK}
    with pytest.raises(DataError, match="needs the student tokenizer"):
        target("masked_post:0.5")
    with pytest.raises(DataError, match="needs the student tokenizer"):
        target("filler_post")


def test_targets_never_hold_blank_lines_and_start_with_delimiter(tiny_checkpoint):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_checkpoint)
    assert set(BASIC) <= set(CONDITIONS)
    for name, spec in BASIC.items():
        text = target(spec, tokenizer=tok)
        assert text.startswith(" ") and "\n\n" not in text, name


def test_label_is_first_target_token(tiny_checkpoint):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_checkpoint)
    prompt = render_prompt(EX)
    n_prompt = len(tok(prompt)["input_ids"])
    for name, spec in BASIC.items():
        if name == "none" or name.endswith("_post"):
            ids = tok(prompt + target(spec, tokenizer=tok))["input_ids"]
            assert tok.decode(ids[n_prompt]) == " A", name


def test_token_level_variants(tiny_checkpoint):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_checkpoint)
    shuffled = target("shuffled_post@tokens", tokenizer=tok)
    n = len(tok(" " + NORM, add_special_tokens=False)["input_ids"])
    assert shuffled.startswith(" A. ") and shuffled != f" A. {NORM}"
    assert target("shuffled_post@tokens", tokenizer=tok) == shuffled
    assert sorted(shuffled[4:].replace(" ", "")) == sorted(NORM.replace(" ", ""))  # same characters
    assert n > len(NORM.split())
    with pytest.raises(DataError, match="tokenizer"):
        target("shuffled_post@tokens")
    # Decoded pieces merge with new neighbours when re-tokenised: the report measures the length.
    _, report = build_targets([EX], {"q1": RAT}, "shuffled_post@tokens", tokenizer=tok)
    assert report.length_ratio == body_lengths(tok, [shuffled[3:]])[0] / n
    assert f"control/rationale length {report.length_ratio:.3f}" in report.line()


def test_parse_and_task_routing():
    assert parse_condition("masked_post:0.3") == Condition("masked_post", 0.3, False)
    assert parse_condition("shuffled_pre@tokens") == Condition("shuffled_pre", None, True)
    assert parse_condition("masked_post:0.25").spec == "masked_post:0.25"
    assert parse_condition("shuffled_pre@tokens").slug == "shuffled_pre+tokens"
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
    # Length-matched in student tokens already: their @tokens variants are gone.
    ("masked_post:0.3@tokens", "no @tokens variant"),
    ("filler_post@tokens", "no @tokens variant"),
])
def test_bad_specs_are_one_line_errors(spec, message):
    with pytest.raises(DataError) as err:
        parse_condition(spec)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_missing_rationales_are_dropped_and_counted():
    pairs, report = build_targets([EX, OTHER], {"q1": RAT}, "none")
    assert [ex.id for ex, _ in pairs] == ["q1"] and report.unjoined == 1 and report.missing_ids == ["q2"]
    assert "1/2 examples have a rationale (1 dropped)" == report.line() and report.measurements() == {}
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


def _ex(answer_text, id="a1"):
    return Example(id=id, dataset="csqa", split="train", question="Q?",
                   choices=(("A", answer_text), ("B", "other")), answer="A")


@pytest.mark.parametrize("answer, rationale, expected", [
    # plural and singular forms, both ways; possessives
    ("atlas", "An atlas holds maps. Atlases and an atlas's index.", "An holds maps. and an index."),
    ("atlases", "One atlas, two atlases.", "One , two ."),
    ("city", "Cities and a city's cities' parks; velocity stays.", "and a parks; velocity stays."),
    ("box", "boxes hold a box", "hold a"),
    # hyphen, space and joined spellings of a multi-word answer, and each content word alone
    ("ice cream", "Ice-cream, ice cream and icecream melt; the cream and ice too.", ", and melt; the and too."),
    ("ice-cream", "ice cream is cold", "is cold"),
    ("go to market", "You go to the markets to shop at a market.", "You go to the to shop at a ."),
    # whole words only: 'bank' does not eat into 'embankment'
    ("bank", "The embankment by the Bank", "The embankment by the"),
])
def test_answer_masked_post_removes_every_surface_form(answer, rationale, expected):
    text = make_target(_ex(answer), rationale, "answer_masked_post").text
    assert text == " A. " + expected


def test_answer_leaks_are_counted_before_and_after_removal():
    exs = [_ex("atlas", "a1"), _ex("ice cream", "a2"), _ex("mouse", "a3")]
    rats = {"a1": "Atlases show maps.", "a2": "Nothing about it.", "a3": "Mice are small; a mouse too."}
    pairs, report = build_targets(exs, rats, "answer_masked_post")
    # Irregular plurals are outside the rule set: 'Mice' stays, and is not counted as a leak either.
    assert [t.text for _, t in pairs] == [" A. show maps.", " A. Nothing about it.", " A. Mice are small; a too."]
    assert (report.answer_found, report.answer_leaks) == (2, 0)
    assert report.measurements() == {"answer_found": 2, "answer_leaks": 0}
    assert "answer in 2 rationales, still in 0 targets after removal" in report.line()
    _, post = build_targets(exs, rats, "post")
    assert post.answer_leaks is None and post.length_ratio is None


def _sample_rationales():
    from cot_tasks.data import load_split
    from cot_tasks.rationales import read_rationales
    from cot_tasks.sample import rationale_path

    exs = load_split("csqa", "train", "sample")
    rats = {rid: r.rationale for rid, r in read_rationales(rationale_path("csqa")).items()}
    # A few hard cases beside the sample: multi-byte characters, digits, hyphens, punctuation runs.
    extra = {exs[0].id: "Café crème costs 3.50€ → a naïve, well-known fact... isn't it? 🙂 Yes!!"}
    return exs, {**rats, **extra}


@pytest.mark.parametrize("style", ["gpt2", "llama", "gemma"])
@pytest.mark.parametrize("spec", ["filler_post", "masked_post:0.5", "masked_post:0.2", "masked_post:1"])
def test_length_controls_match_the_rationale_in_student_tokens(styles, style, spec):
    tok = styles[style]
    exs, rats = _sample_rationales()
    pairs, report = build_targets(exs, rats, spec, tokenizer=tok)
    rationale = body_lengths(tok, [" " + normalise(rats[ex.id]) for ex, _ in pairs])
    control = body_lengths(tok, [t.body for _, t in pairs])
    assert all(abs(c - r) <= 1 for c, r in zip(control, rationale)), [(c, r) for c, r in zip(control, rationale)]
    # Measured as the trainer encodes it: the whole target after the prompt, label included.
    prompt = render_prompt(pairs[0][0])
    whole = len(tok(prompt + pairs[0][1].text)["input_ids"]) - len(tok(prompt + pairs[0][1].head)["input_ids"])
    assert whole == control[0]
    ratios = [c / r for c, r in zip(control, rationale)]
    assert report.length_ratio == pytest.approx(sum(ratios) / len(ratios))
    assert abs(report.length_ratio - 1) < 0.05


def test_answer_masked_post_on_real_csqa_palm_rationales(shared_data):
    # The old exact-phrase removal left a form of the answer in 1865 of these 7336 targets (25.4%).
    from cot_tasks.data import load_split
    from cot_tasks.rationales import importers

    csqa = load_split("csqa", "train", shared_data / "commonsenseqa")
    gold = {ex.id: ex.answer for ex in csqa}
    imported = importers.import_dss(shared_data / "distilling_step_by_step" / "cqa", csqa, "train")
    rats = {r.id: r.rationale for r in imported.rationales if r.teacher_answer == gold[r.id]}
    pairs, report = build_targets([ex for ex in csqa if ex.id in rats], rats, "answer_masked_post")
    assert len(pairs) == 7336 and report.answer_found == 7168 and report.answer_leaks == 0


def test_comparison_semantics_live_on_the_registry(monkeypatch):
    """What a condition is set against, what it must match and what it controls are fields of its registry
    entry: a new control is one entry, and aggregate, claims and the figures follow it."""
    from cot_tasks import conditions as c

    assert c.baselines_for("none") == [] and c.baselines_for("post") == ["none", "pre"]
    assert c.baselines_for("keytokens_post:5") == ["none", "post", "random_post:5"]
    assert c.to_match("keytokens_post:5", "post") and not c.to_match("keytokens_post:5", "none")
    assert c.control_of("random_post:5") == "keytokens_post:5" and c.control_of("post") is None
    assert sorted(["random_post:5", "post", "none", "pre"], key=c.condition_order) == [
        "none", "pre", "post", "random_post:5"]
    assert not c.reads_rationale("none") and c.reads_rationale("filler_post")

    monkeypatch.setitem(c.CONDITIONS, "reversed_post", c.ConditionSpec(
        lambda ex, r, rng, ctx, arg: c.cond_post(ex, " ".join(reversed(r.split())), rng, ctx, arg),
        compared_with=("shuffled_post",), control_of="post"))
    assert c.baselines_for("reversed_post") == ["none", "shuffled_post"]
    assert c.control_of("reversed_post") == "post"
    assert c.condition_order("reversed_post") > c.condition_order("random_post:5")
