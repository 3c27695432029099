"""``cot-distill train``: one student under one CoT condition."""

from __future__ import annotations

from cot_tasks.conditions import known_conditions
from cot_tasks.prompts import FORMULATIONS
from cot_tasks.records import DATASETS
from harness_plugins.cli.options import add_config_options, config_from_args
from trainers.config import MIXED_PRECISION, TrainConfig


def register(sub) -> None:
    p = sub.add_parser("train", help="fine-tune one student on one CoT condition",
                       description="Fine-tune a student on prompt -> target for one CoT condition and save a "
                                   "from_pretrained checkpoint with its tokenizer, cot_distill.json and a model card.")
    add_config_options(p, TrainConfig, required=("dataset", "condition", "output"),
                       choices={"dataset": DATASETS, "mixed_precision": MIXED_PRECISION,
                                "formulation": FORMULATIONS},
                       help={"condition": f"(known: {known_conditions()})"})
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --output")
    p.set_defaults(func=_train)


def _train(args) -> int:
    from accelerate import PartialState

    from harness_plugins.lmeval.model_card import write_model_card
    from trainers.train import train

    result = train(config_from_args(TrainConfig, args), resume=args.resume)
    if not PartialState().is_main_process:  # under `accelerate launch`, one summary, not one per process
        return 0
    config = config_from_args(TrainConfig, args)
    # Not scored yet: the card says how the student was made and how to score it.
    write_model_card(result.output, {"dataset": config.dataset, "condition": config.condition,
                                     "formulation": config.formulation,
                                     "student": config.student, "seed": config.seed,
                                     "rationales": config.rationales, "examples": result.examples}, None)
    what = "reused finished run" if result.reused else f"trained {result.steps} steps in {result.seconds:.1f}s"
    print(f"{what}: {result.examples} examples ({result.dropped} without rationale dropped, "
          f"{result.truncated} rationales cut); checkpoint and model card {result.output}")
    return 0
