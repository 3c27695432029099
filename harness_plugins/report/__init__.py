"""The report of finished grids: runs read from lm-eval's files (``runs``), cells and comparisons
(``aggregate``, ``stats``), tables and figures (``build``, ``figures``), our students beside published numbers
(``compare``, ``baselines``). The paper's verdict rules are ``harness_plugins.claims``."""


def __getattr__(name: str):
    if name in ("build_report", "Report"):
        from harness_plugins.report import build

        return getattr(build, name)
    raise AttributeError(name)
