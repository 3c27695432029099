"""The grid: its config (``config``), its plan of steps (``plan``), what each step does (``cell``,
``attribution_step``, ``steps``), the sequential and Ray executors (``run``, ``ray_executor``) and the
per-step claims that keep two executors off one step (``claim``)."""


def __getattr__(name: str):
    # The entry points, without importing the executors (and torch) with the package.
    if name in ("run_grid", "prepare", "finish"):
        from harness_plugins.grid import run

        return getattr(run, name)
    if name in ("GridConfig", "load_grid_config"):
        from harness_plugins.grid import config

        return getattr(config, name)
    raise AttributeError(name)
