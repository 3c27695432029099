"""Logit and tuned lens per layer at the answer position (``lenses``) and their files (``files``)."""


def __getattr__(name: str):
    if name in ("run_lens", "lens_scores", "LogitLens", "TunedLens", "LensResult", "LayerScore"):
        from harness_plugins.lens import lenses

        return getattr(lenses, name)
    raise AttributeError(name)
