"""Data, prompt formats, CoT conditions and lm-eval task definitions for cot-distill."""
