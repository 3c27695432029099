"""The paper's three claims as verdicts over a report's comparisons, by rules fixed before any score is seen.

Each claim is judged per dataset x student x formulation x metric (never across them) from the comparisons
``aggregate`` makes, on the metrics ``cot_tasks.names.JUDGED_METRICS`` names for the formulation (CF:
``acc_norm`` and ``exact_match``; its plain ``acc`` is recorded, not judged): Holm-adjusted seed-level p
and the 95% interval of the difference, which here means the span of two intervals: the hierarchical
bootstrap's (seeds, then docs) and the seed-level t test's own.
``MARGIN`` is the smallest difference that counts: 2 accuracy points, about two standard
errors of one model's score on the 1,221 CSQA validation questions and the seed spread measured for
small fine-tuned students, so that nothing smaller is either claimed or ruled out.

- a gain claim (*post beats pre*, *shuffled post still helps*, i.e. beats ``none``) is **reproduced**
  when the difference is positive with Holm p < ``ALPHA``; **not reproduced** when its interval lies
  below +``MARGIN`` (no gain of that size) or it is negative with Holm p < ``ALPHA``; else
  **inconclusive**.
- *a few key tokens match the full CoT* is **reproduced** when ``keytokens_post:K`` beats ``none`` as
  above and its interval against ``post`` lies within +-``MARGIN``; **not reproduced** when it brings no
  gain over ``none`` (as above) or its interval against ``post`` lies below -``MARGIN``; else
  **inconclusive**. Its length-matched control ``random_post:K`` is reported beside it.

A comparison with one trained model per side (McNemar over docs) speaks for those models only, so it
never decides a claim: such a verdict is inconclusive and says why. Nor does a floor: "no gain" between
two conditions whose students both sit at chance (each 95% interval reaches down to the chance level)
says the student learned nothing, not that the rationale does not help, so it is inconclusive too (the
pilot of the SmolLM2 grid showed label-only students at chance, hence this rule, fixed before any
condition was compared).

Changed on 2026-12-04, after the SmolLM2 grid's scores were seen, towards fewer decisions: the interval
was the bootstrap's alone. With three seeds a percentile bootstrap can only recombine three seed values,
so it is far narrower than the t interval of the test whose p it is reported with, and it ruled out a
gain the test could not: CSQA post - pre, seeds at -0.2, -15.2, -15.2 points, bootstrap [-17.5, -0.7]
("not reproduced"), t [-31.7, +11.4], p = 0.18. Now an interval rules a difference out, or in, only when
both do; a verdict the old rule gave and this one does not becomes inconclusive, never the reverse.
"""

from __future__ import annotations

from dataclasses import dataclass

from cot_tasks.conditions import baselines_for, control_of, parse_condition, to_match
from cot_tasks.names import JUDGED_METRICS
from cot_tasks.prompts import MCF
from harness_plugins.report.aggregate import Cell, Comparison

ALPHA = 0.05
MARGIN = 0.02
# The comparisons that decide each of the paper's claims (condition name, baseline), in its numbering.
CLAIM_OF = {("post", "pre"): 1, ("shuffled_post", "none"): 2, ("keytokens_post", "post"): 3,
            ("keytokens_post", "none"): 3}
REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive at this scale"


@dataclass(frozen=True)
class Verdict:
    claim: str
    dataset: str
    student: str
    formulation: str
    metric: str
    verdict: str
    evidence: str  # the numbers that decide it


def _pts(x: float) -> str:
    return f"{100 * x:+.1f}"


def span(c: Comparison) -> tuple[float, float]:
    """The interval a verdict reads: the bootstrap's, widened to the seed-level t test's where there is one."""
    boot, t = c.interval, c.seed_interval
    return (boot.low, boot.high) if t is None else (min(boot.low, t.low), max(boot.high, t.high))


def _said(c: Comparison) -> str:
    t = "" if c.seed_interval is None else f", t over seeds {c.seed_interval.points()}"
    return (f"{c.condition} - {c.baseline} = {_pts(c.delta)} points, 95% CI {c.interval.points()}{t}, "
            f"Holm p = {c.p_holm:.3g} ({c.n_seeds} seed{'s' * (c.n_seeds != 1)}"
            f"{'; ' + c.cross_device_note() if c.cross_device else ''})")


def gain_verdict(c: Comparison, at_floor: bool = False) -> str:
    """``at_floor``: both conditions' students are at chance (then no gain is no evidence)."""
    if c.one_model:
        return INCONCLUSIVE
    if c.delta > 0 and c.p_holm < ALPHA:
        return REPRODUCED
    if not at_floor and (span(c)[1] < MARGIN or (c.delta < 0 and c.p_holm < ALPHA)):
        return NOT_REPRODUCED
    return INCONCLUSIVE


def match_verdict(gain: Comparison, versus_full: Comparison, at_floor: bool = False) -> str:
    """``at_floor``: key tokens and ``none`` are both at chance."""
    if gain.one_model or versus_full.one_model:
        return INCONCLUSIVE
    gained = gain_verdict(gain, at_floor)
    low, high = span(versus_full)
    if gained == NOT_REPRODUCED or high < -MARGIN:
        return NOT_REPRODUCED
    if gained == REPRODUCED and -MARGIN <= low and high <= MARGIN:
        return REPRODUCED
    return INCONCLUSIVE


def at_chance(cell: Cell | None) -> bool:
    """The cell's 95% interval reaches down to its chance level (unknown chance: not at chance)."""
    return cell is not None and cell.chance is not None and cell.interval.low <= cell.chance


# What one comparison says under the rules above, as the comparison figure marks its row: a gain row (any
# condition against a baseline it should beat) by ``gain_verdict``, key tokens against the full CoT by the
# +-MARGIN equivalence of ``match_verdict``.
GAIN, NO_GAIN, MATCHES, FALLS_SHORT, UNDECIDED, NOT_JUDGED = ("gain", "no gain", "matches", "falls short",
                                                              "inconclusive", "not judged")


def claim_of(c: Comparison) -> int | None:
    """The claim (1-3) a comparison decides, or None."""
    return CLAIM_OF.get((parse_condition(c.condition).name, c.baseline))


def row_verdict(c: Comparison, cells: list[Cell] = ()) -> str:
    """``NOT_JUDGED`` on a metric the claims do not read (CF's plain acc); a row with one model per side, or
    \"no gain\" between two conditions both at chance, is ``UNDECIDED`` as in the claims."""
    if c.metric not in JUDGED_METRICS.get(c.formulation, ()):
        return NOT_JUDGED
    if c.one_model:
        return UNDECIDED
    if to_match(c.condition, c.baseline):
        low, high = span(c)
        return FALLS_SHORT if high < -MARGIN else MATCHES if -MARGIN <= low and high <= MARGIN else UNDECIDED
    scores = {(x.dataset, x.student, x.formulation, x.metric, x.condition): x for x in cells}
    floor = all(at_chance(scores.get((c.dataset, c.student, c.formulation, c.metric, name)))
                for name in (c.condition, c.baseline))
    return {REPRODUCED: GAIN, NOT_REPRODUCED: NO_GAIN}.get(gain_verdict(c, floor), UNDECIDED)


def claim_verdicts(comparisons: list[Comparison], cells: list[Cell] = ()) -> list[Verdict]:
    """Every claim the comparisons can speak to, per dataset x student x formulation x judged metric (missing
    conditions: no verdict). ``cells``: the conditions' scores, for the floor rule (without them no pair counts
    as at chance)."""
    found = {(c.dataset, c.student, c.formulation, c.metric, c.condition, c.baseline): c for c in comparisons}
    scores = {(c.dataset, c.student, c.formulation, c.metric, c.condition): c for c in cells}
    verdicts = []
    for group in dict.fromkeys((c.dataset, c.student, c.formulation, c.metric) for c in comparisons):
        dataset, student, formulation, metric = group
        # Which metric a claim is judged on was fixed per formulation before any score was seen: no other.
        if metric not in JUDGED_METRICS.get(formulation, ()):
            continue

        def get(condition: str, baseline: str) -> Comparison | None:
            return found.get((*group, condition, baseline))

        def floor(a: str, b: str) -> bool:
            return at_chance(scores.get((*group, a))) and at_chance(scores.get((*group, b)))

        def add(claim: str, verdict: str, *evidence: Comparison, note: str = "", at_floor: bool = False) -> None:
            one = " (one model per condition: says nothing about the conditions)" * any(e.one_model for e in evidence)
            text = "; ".join(_said(e) for e in evidence) + one + note
            if at_floor and verdict == INCONCLUSIVE:
                text += f"; {evidence[0].condition} and {evidence[0].baseline} both at chance"
            verdicts.append(Verdict(claim, dataset, student, formulation, metric, verdict, text))

        if post_pre := get("post", "pre"):
            low = floor("post", "pre")
            add("post beats pre", gain_verdict(post_pre, low), post_pre, at_floor=low)
        if shuffled := get("shuffled_post", "none"):
            low = floor("shuffled_post", "none")
            add("shuffled post still helps", gain_verdict(shuffled, low), shuffled, at_floor=low)
        for (*key, condition, baseline), gain in found.items():
            if tuple(key) != group or baseline != "none":
                continue
            cond, own = parse_condition(condition), baselines_for(condition)
            matched = [b for b in own if to_match(condition, b)]
            if not matched or not (full := get(condition, matched[0])):
                continue
            control = next((x for b in own if control_of(b) == condition and (x := get(condition, b))), None)
            note = f"; control: {_said(control)}" if control else ""
            low = floor(condition, "none")
            add(f"a few key tokens ({cond.arg}) match the full CoT", match_verdict(gain, full, low), gain, full,
                note=note, at_floor=low)
    return verdicts


def to_markdown(verdicts: list[Verdict]) -> list[str]:
    """The report's "Claims" section (no lines when no claim can be judged). A formulation column only where a
    verdict is CF: an MCF-only report stays as it was before CF existed."""
    if not verdicts:
        return []
    cf = any(v.formulation != MCF for v in verdicts)
    judged = "; ".join(f"{f.upper()}: {', '.join(m)}" for f, m in JUDGED_METRICS.items())
    per_formulation = (f" Judged per formulation too, on {judged} (CF's plain acc, a summed log-likelihood that "
                       "prefers short answer texts, is recorded, not judged).") if cf else ""
    lines = ["## Claims", "",
             f"Rules (`harness_plugins/claims.py`): a gain is *reproduced* when it "
             f"is positive with Holm p < {ALPHA}, *not reproduced* when its 95% CI lies below "
             f"+{100 * MARGIN:g} points (or it is negative with Holm p < {ALPHA}); key tokens *match* the full CoT "
             f"when they beat `none` so and their CI against `post` lies within ±{100 * MARGIN:g} points. "
             "A CI here must hold for both the bootstrap and the seed-level t test's own interval (with few "
             "seeds the bootstrap is far narrower; widened on 2026-12-04, after scores were seen, so that "
             "fewer verdicts are decided, never more; the rest was fixed before any score). "
             "Anything else, any comparison of one trained model per condition, and \"no gain\" between two "
             "conditions both at chance (each CI reaching the chance level) is *inconclusive at this scale*. "
             "Judged per metric, never across metrics." + per_formulation, "",
             f"| claim | dataset | student |{' formulation |' * cf} metric | verdict | evidence |",
             "|---|---|---|" + "---|" * cf + "---|---|---|"]
    lines += [f"| {v.claim} | {v.dataset} | {v.student} |{f' {v.formulation.upper()} |' * cf} {v.metric} "
              f"| **{v.verdict}** | {v.evidence} |" for v in verdicts]
    return lines + [""]
