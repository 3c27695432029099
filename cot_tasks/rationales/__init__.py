"""Teacher rationales: one JSON-lines format, its reader and writer, importers, filtering, teacher prompts
(the generator that runs a teacher model is trainers.teacher)."""

from cot_tasks.rationales.format import Rationale, read_rationales, write_rationales

__all__ = ["Rationale", "read_rationales", "write_rationales"]
