"""Does integrated gradients converge? Completeness error per attribution baseline and step count.

IG's scores over the rationale tokens should add up to F(x) - F(baseline), F = log p(gold label | prompt +
rationale + "\\nAnswer:"); the relative gap is the completeness error, and it should fall as steps grow.
For each baseline this prints, per step count, the median and largest error over the first N training
examples that have a rationale (the same examples for every row), and how far the K key tokens (the top K
scores, what ``keytokens_post:K`` keeps) agree with those of the largest step count: the mean share of them
kept, and the share of examples whose key tokens are all the same.

On SmolLM2 the pad baseline is <|endoftext|>, also its bos (a likely attention sink): the error from it does not
fall with steps (the path is near-singular), while from an ordinary token it does. That measurement fixed
the smollm2-cpu grid's baseline ('token: the') and step count (32).

    python benchmarks/ig_convergence.py --model smollm2-135m \\
        --rationales results/smollm2-cpu/rationales/csqa_palm540b.jsonl --source ../shared/data
    python benchmarks/ig_convergence.py --model PATH --baselines pad "token: the" "token: a" --steps 16 32 64
    python benchmarks/ig_convergence.py --model PATH --dataset obqa --rationales R.jsonl --steps 32 128 512 --k 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m", help="checkpoint, hub id or named student")
    ap.add_argument("--dataset", default="csqa", choices=["csqa", "obqa", "quarel"])
    ap.add_argument("--rationales", type=Path, required=True, help="training rationale file (JSON lines)")
    ap.add_argument("--source", default="../shared/data", help="folder of the official dataset files")
    ap.add_argument("--k", type=int, default=5, help="key tokens compared with the largest step count's")
    ap.add_argument("--n", type=int, default=8, help="examples")
    ap.add_argument("--baselines", nargs="+", default=["pad", "token: the"])
    ap.add_argument("--steps", nargs="+", type=int, default=[16, 32, 64])
    args = ap.parse_args()
    if not Path(args.source).is_dir() or not args.rationales.is_file():
        print(f"skipped: needs {args.source} and {args.rationales} (see results/smollm2-cpu/README.md)")
        return 0

    from harness_plugins.cli import quiet_third_party

    quiet_third_party()  # before transformers is imported, so its loading bars stay off too
    import torch

    from cot_tasks.data import load_split
    from cot_tasks.rationales import read_rationales
    from cot_tasks.rationales.keytokens import rank
    from trainers.attribution import encode
    from trainers.attribution_ig import IntegratedGradients
    from trainers.model import load_causal_lm
    from trainers.students import resolve_student

    tok, model = load_causal_lm(resolve_student(args.model), "cpu", role="attribution")
    for p in model.parameters():
        p.requires_grad_(False)
    rationales = read_rationales(args.rationales, args.dataset)
    examples = [ex for ex in load_split(args.dataset, "train", args.source) if ex.id in rationales][: args.n]
    items = [encode(ex, rationales[ex.id].rationale, tok) for ex in examples]
    print(f"{args.model}: {len(items)} {args.dataset} training examples, {torch.get_num_threads()} threads")
    reference = max(args.steps)
    print(f"baseline      steps  median gap  median error  max error  top-{args.k} kept  same top-{args.k}  seconds"
          f"   (gap: F(x) - F(baseline) in nats; top-{args.k} against {reference} steps)")
    for baseline in args.baselines:
        rows = {}
        for steps in args.steps:
            score = IntegratedGradients(steps, baseline, internal_batch_size=64).scorer(model, tok, "cpu")
            started = time.perf_counter()
            errors, tops, gaps = [], [], []
            for i in range(0, len(items), 4):
                results = score(items[i: i + 4])
                errors += [r.completeness_error for r in results]
                gaps += [r.values["f_input"] - r.values["f_baseline"] for r in results]
                tops += [set(rank(r.scores)[: args.k]) for r in results]
            rows[steps] = (errors, tops, statistics.median(gaps), time.perf_counter() - started)
        for steps in args.steps:
            errors, tops, gap, seconds = rows[steps]
            kept = [len(t & ref) / len(ref) for t, ref in zip(tops, rows[reference][1])]
            same = sum(t == ref for t, ref in zip(tops, rows[reference][1])) / len(tops)
            print(f"{baseline!r:13} {steps:5}  {gap:10.2f}  {statistics.median(errors):12.3f}  {max(errors):9.3f}  "
                  f"{statistics.mean(kept):10.1%}  {same:10.1%}  {seconds:7.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
