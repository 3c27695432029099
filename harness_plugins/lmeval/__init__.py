"""lm-eval glue: our tasks registered with lm-eval (``registry``), checkpoints scored through it
(``evaluate``), its results and samples files read (``results``), Hub model cards from them (``model_card``)."""
