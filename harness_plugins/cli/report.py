"""``cot-distill report | compare | lens``: results that plug into leaderboards."""

from __future__ import annotations

from pathlib import Path


def _report(args) -> int:
    from harness_plugins.report import build_report

    report = build_report(args.run_dir, args.out, seed=args.seed, n_resamples=args.resamples)
    print(report.markdown)
    print("wrote " + ", ".join(map(str, report.paths)))
    return 0


def _compare(args) -> int:
    from harness_plugins.compare import compare, format_table

    rows = compare(args.paths, baselines_path=args.baselines, datasets=args.dataset,
                   metric=None if args.metric == "any" else args.metric)
    print(format_table(rows))
    return 0


def _lens(args) -> int:
    from harness_plugins.lens import run_lens

    result = run_lens(args.checkpoints, args.dataset, source=args.source, split=args.split, limit=args.limit,
                      out_dir=args.out, tuned=args.tuned, tuned_limit=args.tuned_limit,
                      batch_size=args.batch_size, device=args.device)
    print("checkpoint,condition,lens,layer,accuracy,mean_rank")
    for s in result.scores:
        print(f"{s.checkpoint},{s.condition},{s.lens},{s.layer},{s.accuracy:.4f},{s.mean_rank:.3f}")
    print("wrote " + ", ".join(map(str, result.paths)))
    return 0


def register(sub) -> None:
    from cot_tasks.records import DATASETS

    p = sub.add_parser("report", help="aggregate a grid: means, bootstrap intervals, paired tests, plot")
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    p.add_argument("--out", type=Path, default=None, help="folder for report.md/.csv/.png (default: RUN_DIR)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples")
    p.set_defaults(func=_report)

    p = sub.add_parser("compare", help="our students beside published numbers and other lm-eval results")
    p.add_argument("paths", nargs="+", metavar="RUN_DIR|RESULTS.json",
                   help="grid folders, lm-eval output folders or results JSON")
    p.add_argument("--baselines", type=Path, default=None, help="baselines CSV (default: the one shipped)")
    p.add_argument("--dataset", action="append", choices=DATASETS, help="only these datasets (repeatable)")
    p.add_argument("--metric", default="acc", help="acc, acc_norm or 'any' (default: acc)")
    p.set_defaults(func=_compare)

    p = sub.add_parser("lens", help="logit/tuned lens: per-layer accuracy at the answer position")
    p.add_argument("checkpoints", nargs="+", metavar="CHECKPOINT")
    p.add_argument("--dataset", required=True, choices=DATASETS)
    p.add_argument("--source", default="sample", help="'sample', 'hub' or a folder of the original files")
    p.add_argument("--split", default=None, help="default: the dataset's eval split")
    p.add_argument("--limit", type=int, default=None, help="score only the first N examples")
    p.add_argument("--out", type=Path, default=Path("lens"), help="output folder (default: ./lens)")
    p.add_argument("--tuned", action="store_true", help="also a tuned lens (needs the tuned-lens package)")
    p.add_argument("--tuned-limit", type=int, default=512, help="training prompts for the tuned lens")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    p.set_defaults(func=_lens)
