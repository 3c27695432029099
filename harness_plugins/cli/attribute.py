"""``cot-distill attribute``: key rationale tokens by integrated gradients."""

from __future__ import annotations

from cot_tasks.prompts import FORMULATIONS
from cot_tasks.records import DATASETS
from harness_plugins.cli.options import add_config_options, config_from_args
from trainers.attribution import METHODS, AttributionConfig


def register(sub) -> None:
    att = sub.add_parser("attribute", help="key rationale tokens by an attribution method (integrated gradients)")
    add_config_options(att, AttributionConfig, required=("model", "dataset", "rationales", "out"),
                       choices={"dataset": DATASETS, "formulation": FORMULATIONS, "method": METHODS})
    att.set_defaults(func=_attribute)


def _attribute(args) -> int:
    from trainers.attribution import run_attribution

    # 0 on the command line is "all at once", as None is in the config.
    config = config_from_args(AttributionConfig, args, internal_batch_size=args.internal_batch_size or None)
    print(run_attribution(config).line())
    return 0
