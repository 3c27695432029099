"""`cot-distill train` (one student) and `cot-distill run` (the grid: train + evaluate + table)."""

from __future__ import annotations

from cot_tasks.records import DATASETS
from trainers.config import MIXED_PRECISION, TrainConfig

_DEFAULTS = TrainConfig()


def register(sub) -> None:
    p = sub.add_parser("train", help="fine-tune one student on one CoT condition",
                       description="Fine-tune a student on prompt -> target for one CoT condition "
                                   "(cot_tasks/conditions.py) and save a from_pretrained checkpoint.")
    p.add_argument("--dataset", required=True, choices=DATASETS)
    p.add_argument("--condition", required=True, help="e.g. none, pre, post, masked_post:0.3, shuffled_post@tokens")
    p.add_argument("--rationales", help="rationale file (JSON lines); optional only for --condition none")
    p.add_argument("--attributions", metavar="FILE",
                   help="attribution file from `cot-distill attribute` (keytokens_post:K, random_post:K only)")
    p.add_argument("--student", default=_DEFAULTS.student,
                   help="hub name, local path, a named student (cot-distill students list) or 'tiny' (default: tiny)")
    p.add_argument("--output", required=True, help="checkpoint folder")
    p.add_argument("--source", default=_DEFAULTS.source, help="sample | hub | directory of original files")
    p.add_argument("--epochs", type=float, default=_DEFAULTS.epochs)
    p.add_argument("--lr", type=float, default=_DEFAULTS.lr)
    p.add_argument("--batch-size", type=int, default=_DEFAULTS.batch_size)
    p.add_argument("--grad-accum", type=int, default=_DEFAULTS.grad_accum)
    p.add_argument("--max-length", type=int, default=_DEFAULTS.max_length)
    p.add_argument("--seed", type=int, default=_DEFAULTS.seed)
    p.add_argument("--save-steps", type=int, default=_DEFAULTS.save_steps, help="checkpoint every N steps")
    p.add_argument("--limit", type=int, help="train on the first N examples only")
    p.add_argument("--mixed-precision", choices=MIXED_PRECISION, default=_DEFAULTS.mixed_precision)
    p.add_argument("--trust-remote-code", action="store_true")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --output")
    p.set_defaults(func=_train)

    r = sub.add_parser("run", help="train and evaluate a grid from a YAML config (default: the bundled demo)",
                       description="Train and evaluate datasets x conditions x students x seeds; write "
                                   "RUN_DIR/runs/*/run.json, RUN_DIR/results.csv and print the table. "
                                   "Finished runs are reused; an interrupted grid resumes.")
    r.add_argument("config", nargs="?", help="grid YAML (default: trainers/configs/default.yaml)")
    r.add_argument("--output", help="override the config's output folder")
    r.set_defaults(func=_run)


def _train(args) -> int:
    from trainers.train import train

    config = TrainConfig(dataset=args.dataset, condition=args.condition, rationales=args.rationales,
                         attributions=args.attributions,
                         student=args.student, output=args.output, source=args.source, epochs=args.epochs,
                         lr=args.lr, batch_size=args.batch_size, grad_accum=args.grad_accum,
                         max_length=args.max_length, seed=args.seed, save_steps=args.save_steps, limit=args.limit,
                         mixed_precision=args.mixed_precision, trust_remote_code=args.trust_remote_code)
    result = train(config, resume=args.resume)
    from accelerate import PartialState

    if not PartialState().is_main_process:  # under `accelerate launch`, one summary, not one per process
        return 0
    what = "reused finished run" if result.reused else f"trained {result.steps} steps in {result.seconds:.1f}s"
    print(f"{what}: {result.examples} examples ({result.dropped} without rationale dropped, "
          f"{result.truncated} rationales cut); checkpoint {result.output}")
    return 0


def _run(args) -> int:
    from trainers.grid import load_grid_config, run_grid

    grid = load_grid_config(args.config)
    if args.output:
        grid.output = args.output
    run_grid(grid)
    return 0
