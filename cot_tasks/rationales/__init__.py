"""Teacher rationales: one JSON-lines format, readers, importers and the generator."""

from cot_tasks.rationales.format import Rationale, read_rationales, write_rationales

__all__ = ["Rationale", "read_rationales", "write_rationales"]
