"""The accelerate-based student trainer, the run grid, and model-side analysis (attribution)."""
