"""QuaRel's inline options: split right on every question shape the real data has."""

from __future__ import annotations

import json

import pytest

from cot_tasks.data import load_split
from cot_tasks.errors import DataError
from cot_tasks.loaders.quarel import split_options

# (question text, stem, option A, option B); hand-written in QuaRel's shapes.
SHAPES = [
    (("Ana was skating on the grass and then on the frozen pond. She went much faster on the pond because "
      "_____ is smoother. (A) grass (B) ice"),
     ("Ana was skating on the grass and then on the frozen pond. She went much faster on the pond because "
      "_____ is smoother."), "grass", "ice"),
    (("A ball rolling on the carpet stops sooner than one rolling on the tiles. This is because there is more "
      "friction on the (A) carpet (B) tiles."),
     ("A ball rolling on the carpet stops sooner than one rolling on the tiles. This is because there is more "
      "friction on the"), "carpet", "tiles"),
    ("Does a heavier cart need (A) less (B) more?", "Does a heavier cart need", "less", "more"),
    ("The chain squeaks on the dusty trail because the dusty trail has (A) more grit (B) less grit.",
     "The chain squeaks on the dusty trail because the dusty trail has", "more grit", "less grit"),
    (("When does the ball fly farther? (A) When Ana's arm is rested (B) When Ana's arm is sore after the "
      "long game."),
     "When does the ball fly farther?", "When Ana's arm is rested", "When Ana's arm is sore after the long game"),
    # Option texts with their own parentheses.
    ("Which slides farther? (A) the sled (metal runners) (B) the tube (rubber).",
     "Which slides farther?", "the sled (metal runners)", "the tube (rubber)"),
    ("Which is lighter? (A) box (small) (B) crate (large)", "Which is lighter?", "box (small)", "crate (large)"),
    # The stem itself names "(A)" and "(B)": the options are the last pair.
    ("Plate (A) is hotter than plate (B). Which one cools faster? (A) plate A (B) plate B",
     "Plate (A) is hotter than plate (B). Which one cools faster?", "plate A", "plate B"),
    # Spacing: doubled spaces kept in the stem, missing spaces around markers, trailing whitespace.
    ("Ana and Ben jog together.  Ben stops to rest.  Who jogged farther? (A) Ana (B) Ben",
     "Ana and Ben jog together.  Ben stops to rest.  Who jogged farther?", "Ana", "Ben"),
    ("Which is smoother?(A)glass(B)sandpaper", "Which is smoother?", "glass", "sandpaper"),
    ("Which is faster?  (A)  a cheetah   (B)  a snail  \n", "Which is faster?", "a cheetah", "a snail"),
    # Joiners before (B) and repeated closing punctuation.
    ("Which is colder? (A) ice, (B) steam", "Which is colder?", "ice", "steam"),
    ("Which is colder? (A) ice or (B) steam?", "Which is colder?", "ice", "steam"),
    ("Which gets hotter? (A) the pan (B) the towel?!", "Which gets hotter?", "the pan", "the towel"),
    ("Which rolls farther? (A) the ball ... (B) the cube...", "Which rolls farther?", "the ball ...", "the cube"),
    # A period closing option A, a dangling "or" after option B (both in the real files).
    ("Which branch bends more? (A) The fresh branch. (B) The dry branch.", "Which branch bends more?",
     "The fresh branch", "The dry branch"),
    ("Which is heavier? (A) a brick (B) a feather or", "Which is heavier?", "a brick", "a feather"),
    ("Which is closer? (A) the U.S. (B) Peru", "Which is closer?", "the U.S.", "Peru"),
    # A final abbreviation keeps its period; numbers with decimals stay whole.
    ("Where is the bigger crowd? (A) a small village (B) Washington D.C.",
     "Where is the bigger crowd?", "a small village", "Washington D.C."),
    ("Which jump is longer? (A) 5.5 meters (B) 4.5 meters.", "Which jump is longer?", "5.5 meters", "4.5 meters"),
]


@pytest.mark.parametrize("text, stem, option_a, option_b", SHAPES)
def test_split_options(text, stem, option_a, option_b):
    assert split_options(text) == (stem, option_a, option_b)


@pytest.mark.parametrize("text", [
    "Which is heavier, a rock or a feather?",                # no markers
    "Which is heavier? (B) feather (A) rock",                # reversed
    "Which is heavier? (A) rock",                            # only (A)
    "Which is heavier? (A)  (B) feather",                    # empty option A
    "Which is heavier? (A) rock (B) .",                      # empty option B
    "(A) rock (B) feather",                                  # no question
    "Which vitamin helps? (A) vitamin (A) (B) none",        # an "(A)" inside option A leaves it empty
])
def test_split_options_refuses(text):
    with pytest.raises(ValueError):
        split_options(text)


def _row(i, question, answer_index=0, **extra):
    row = {"id": f"Q{i}", "answer_index": answer_index, "logical_forms": ["(infer (a higher world1))"],
           "logical_form_pretty": "qrel(a, higher, world1)", "world_literals": {"world1": "x", "world2": "y"},
           "question": question}
    row.update(extra)
    return row


def test_loader_on_tricky_rows(tmp_path):
    rows = [_row(i, text, answer_index=i % 2) for i, (text, _, _, _) in enumerate(SHAPES)]
    (tmp_path / "quarel-v1-dev.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    examples = load_split("quarel", "validation", tmp_path)
    expected = SHAPES
    assert len(examples) == len(expected)
    for i, (ex, (_, stem, a, b)) in enumerate(zip(examples, expected)):
        assert ex.question == stem and ex.choices == (("A", a), ("B", b))
        assert ex.answer == "AB"[i % 2]
        assert ex.extras["world_literals"] == {"world1": "x", "world2": "y"}
        assert set(ex.extras) == {"world_literals", "logical_forms", "logical_form_pretty"}


@pytest.mark.parametrize("row, field", [
    (_row(0, "Which is heavier? (A) rock (B) feather", answer_index=2), "answer_index"),
    (_row(0, "Which is heavier? (A) rock (B) feather", answer_index="1"), "answer_index"),
    (_row(0, "Which is heavier? (A) rock (B) feather", answer_index=True), "answer_index"),
    (_row(0, "Which is heavier, a rock or a feather?"), "question"),
    ({"id": "Q0", "answer_index": 0}, "question"),
])
def test_loader_bad_rows(tmp_path, row, field):
    good = _row(9, "Which is lighter? (A) rock (B) feather", answer_index=1)
    path = tmp_path / "quarel-v1-test.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(DataError) as err:
        load_split("quarel", "test", tmp_path)
    assert f"{path}:2" in str(err.value) and f"field {field!r}" in str(err.value)
