"""Does integrated gradients converge? Completeness error per attribution baseline and step count.

IG's scores over the rationale tokens should add up to F(x) - F(baseline), F = log p(gold label | prompt +
rationale + "\\nAnswer:"); the relative gap is the completeness error, and it should fall as steps grow.
For each baseline this prints, per step count, the median and largest error over the first N CSQA training
examples that have a rationale (the same examples for every row).

On SmolLM2 the pad baseline is <|endoftext|>, also its bos (a likely attention sink): the error from it does not
fall with steps (the path is near-singular), while from an ordinary token it does. That measurement fixed
the smollm2-cpu grid's baseline ('token: the') and step count (32).

    python benchmarks/ig_convergence.py --model smollm2-135m \\
        --rationales results/smollm2-cpu/rationales/csqa_palm540b.jsonl --source ../shared/data
    python benchmarks/ig_convergence.py --model PATH --baselines pad "token: the" "token: a" --steps 16 32 64
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
    ap.add_argument("--rationales", type=Path, required=True, help="CSQA training rationale file (JSON lines)")
    ap.add_argument("--source", default="../shared/data", help="folder of the official CSQA files")
    ap.add_argument("--n", type=int, default=8, help="examples")
    ap.add_argument("--baselines", nargs="+", default=["pad", "token: the"])
    ap.add_argument("--steps", nargs="+", type=int, default=[16, 32, 64])
    args = ap.parse_args()
    if not Path(args.source).is_dir() or not args.rationales.is_file():
        print(f"skipped: needs {args.source} and {args.rationales} (see results/smollm2-cpu/README.md)")
        return 0

    import torch

    from cot_tasks.data import load_split
    from cot_tasks.rationales import read_rationales
    from trainers.attribution import attribute_batch, baseline_token_id, completeness_error, encode
    from trainers.model import load_causal_lm, pad_id
    from trainers.students import resolve_student

    tok, model = load_causal_lm(resolve_student(args.model), "cpu", role="attribution")
    for p in model.parameters():
        p.requires_grad_(False)
    rationales = read_rationales(args.rationales, "csqa")
    examples = [ex for ex in load_split("csqa", "train", args.source) if ex.id in rationales][: args.n]
    items = [encode(ex, rationales[ex.id].rationale, tok) for ex in examples]
    print(f"{args.model}: {len(items)} CSQA training examples, {torch.get_num_threads()} threads")
    print("baseline      steps  median error  max error  seconds")
    for baseline in args.baselines:
        base_id = baseline_token_id(tok, baseline)
        for steps in args.steps:
            started = time.perf_counter()
            errors = []
            for i in range(0, len(items), 4):
                results = attribute_batch(model, items[i: i + 4], steps=steps, pad_id=pad_id(tok), device="cpu",
                                          baseline_id=base_id, internal_batch_size=64)
                errors += [completeness_error(r) for r in results]
            print(f"{baseline!r:13} {steps:5}  {statistics.median(errors):12.3f}  {max(errors):9.3f}  "
                  f"{time.perf_counter() - started:7.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
