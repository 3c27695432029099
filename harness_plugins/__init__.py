"""The harness side, one sub-package per stage: lm-eval glue (``lmeval``), the grid (``grid``), the report
(``report``, with the paper's verdict rules in ``claims``), the lens (``lens``) and the ``cot-distill`` CLI
(``cli``)."""
