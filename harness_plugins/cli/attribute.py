"""``cot-distill attribute``: key rationale tokens by integrated gradients."""

from __future__ import annotations

from pathlib import Path

from cot_tasks.prompts import FORMULATIONS, MCF
from harness_plugins.cli.rationales import split_args
from trainers.attribution import BASELINE_HELP


def register(sub) -> None:
    att = sub.add_parser("attribute", help="key rationale tokens by integrated gradients")
    att.add_argument("--model", required=True,
                     help="checkpoint to attribute with (normally the student trained with 'pre'; a teacher works too)")
    split_args(att)
    att.add_argument("--rationales", required=True, type=Path, help="rationale file (JSON lines)")
    att.add_argument("--out", required=True, type=Path, help="attribution file to write (JSON lines; resumes)")
    att.add_argument("--steps", type=int, default=20, help="integrated-gradients points on the path")
    att.add_argument("--baseline", default="pad", help=BASELINE_HELP)
    att.add_argument("--k", type=int, default=10, help="top tokens recorded per example (for inspection)")
    att.add_argument("--batch-size", type=int, default=8, help="examples per captum call")
    att.add_argument("--internal-batch-size", type=int, default=64,
                     help="rows (examples x steps) per forward: bounds memory (default 64; 0: all at once)")
    att.add_argument("--limit", type=int, help="attribute only the first N examples")
    att.add_argument("--device", help="default: cuda when available")
    att.add_argument("--formulation", choices=FORMULATIONS, default=MCF,
                     help="the label attributed: the gold letter (mcf) or the gold answer text, all its tokens (cf); "
                          "as the model was trained")
    att.add_argument("--trust-remote-code", action="store_true",
                     help="let transformers run code shipped with the model (as train --trust-remote-code)")
    att.set_defaults(func=_attribute)


def _attribute(args) -> int:
    from trainers.attribution import AttributionConfig, run_attribution

    config = AttributionConfig(
        model=args.model, dataset=args.dataset, rationales=args.rationales, out=args.out, split=args.split,
        source=args.source, steps=args.steps, baseline=args.baseline, k=args.k, batch_size=args.batch_size,
        internal_batch_size=args.internal_batch_size or None, device=args.device, limit=args.limit,
        formulation=args.formulation, trust_remote_code=args.trust_remote_code,
    )
    print(run_attribution(config).line())
    return 0
