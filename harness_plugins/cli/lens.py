"""``cot-distill lens``: logit (and tuned) lens per layer at the answer position."""

from __future__ import annotations

from dataclasses import asdict

from cot_tasks.records import DATASETS
from harness_plugins.cli.options import add_config_options, config_from_args
from harness_plugins.lens.config import LensOptions


def register(sub) -> None:
    p = sub.add_parser("lens", help="logit/tuned lens: per-layer accuracy at the answer position")
    p.add_argument("checkpoints", nargs="+", metavar="CHECKPOINT", help="trained students (folders) to compare")
    add_config_options(p, LensOptions, required=("dataset", "out"), choices={"dataset": DATASETS})
    p.set_defaults(func=_lens)


def _lens(args) -> int:
    from harness_plugins.lens.lenses import run_lens

    options = asdict(config_from_args(LensOptions, args))
    result = run_lens(args.checkpoints, out_dir=options.pop("out"), **options)
    print("checkpoint,condition,lens,layer,accuracy,mean_rank")
    for s in result.scores:
        print(f"{s.checkpoint},{s.condition},{s.lens},{s.layer},{s.accuracy:.4f},{s.mean_rank:.3f}")
    print("wrote " + ", ".join(map(str, result.paths)))
    return 0
