"""One module per dataset: where its files live and row -> ``Example`` (its hub id and other facts are
``cot_tasks.records.FACTS``).

Each module defines ``DATASET``, ``FILES`` (split ->
candidate file names, first found wins), ``from_file(obj, where, split)`` and
``from_hub(row, where, split)``. ``cot_tasks.data`` is the public entry point.
"""

from cot_tasks.loaders import csqa, obqa, quarel

LOADERS = {module.DATASET: module for module in (csqa, obqa, quarel)}
