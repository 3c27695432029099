"""The accelerate-based student trainer, the model loader and surgery, named students, the teacher, and
model-side analysis (attribution). The run grid is ``harness_plugins``; its files are in ``configs/``."""
