"""One module per dataset: where its files live, its hub id, and row -> ``Example``.

Each module defines ``DATASET``, ``HUB_ID``, ``HUB_CONFIG``, ``FILES`` (split ->
candidate file names, first found wins), ``from_file(obj, where, split)`` and
``from_hub(row, where, split)``. ``cot_tasks.data`` is the public entry point.
"""

from cot_tasks.loaders import csqa, obqa, quarel

LOADERS = {module.DATASET: module for module in (csqa, obqa, quarel)}
