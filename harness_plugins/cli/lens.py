"""``cot-distill lens``: logit (and tuned) lens per layer at the answer position."""

from __future__ import annotations

from pathlib import Path

from cot_tasks.data import DEFAULT_SOURCE
from cot_tasks.records import DATASETS


def register(sub) -> None:
    p = sub.add_parser("lens", help="logit/tuned lens: per-layer accuracy at the answer position")
    p.add_argument("checkpoints", nargs="+", metavar="CHECKPOINT", help="trained students (folders) to compare")
    p.add_argument("--dataset", required=True, choices=DATASETS, help="whose eval prompts are decoded")
    p.add_argument("--source", default=DEFAULT_SOURCE, help="sample, hub or a folder of the original files")
    p.add_argument("--split", default=None, help="default: the dataset's eval split")
    p.add_argument("--limit", type=int, default=None, help="score only the first N examples")
    p.add_argument("--out", type=Path, required=True, help="output folder for lens_DATASET.csv and .png")
    p.add_argument("--tuned", action="store_true", help="also a tuned lens (needs the tuned-lens package)")
    p.add_argument("--tuned-limit", type=int, help="training prompts for the tuned lens (only with --tuned; "
                                                   "default 512)")
    p.add_argument("--batch-size", type=int, default=16, help="prompts per forward")
    p.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    p.set_defaults(func=_lens)


def _lens(args) -> int:
    from cot_tasks.errors import DataError
    from harness_plugins.lens.lenses import run_lens

    if args.tuned_limit is not None and not args.tuned:
        raise DataError("--tuned-limit sizes the tuned lens's training: add --tuned, or leave it out")

    tuned_limit = 512 if args.tuned_limit is None else args.tuned_limit
    result = run_lens(args.checkpoints, args.dataset, source=args.source, split=args.split, limit=args.limit,
                      out_dir=args.out, tuned=args.tuned, tuned_limit=tuned_limit,
                      batch_size=args.batch_size, device=args.device)
    print("checkpoint,condition,lens,layer,accuracy,mean_rank")
    for s in result.scores:
        print(f"{s.checkpoint},{s.condition},{s.lens},{s.layer},{s.accuracy:.4f},{s.mean_rank:.3f}")
    print("wrote " + ", ".join(map(str, result.paths)))
    return 0
