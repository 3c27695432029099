"""lm-eval registration, the evaluation wrapper, reports and the ``cot-distill`` CLI."""
