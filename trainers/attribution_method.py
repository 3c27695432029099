"""What an attribution method is to ``cot-distill attribute``: a name, its settings, a scorer of encoded examples.

``trainers.attribution`` does everything around the scores: it reads the examples and rationales, encodes
them (:class:`trainers.attribution.Encoded`: token ids, where the rationale and the gold label sit), sorts
and batches them, resumes the file and writes one record per example. A method only scores. It is looked
up by ``AttributionConfig.method`` in ``trainers.attribution.METHODS``; its :attr:`~AttributionMethod.name`
and :meth:`~AttributionMethod.settings` go into every record, and a file is resumed only by the same
method with the same settings. Integrated gradients (``trainers.attribution_ig``) is the one there is.

Adding one (plain gradient x input, attention, ...) is its module, a subclass::

    class GradientTimesInput(AttributionMethod):
        name = "gradient_x_input"

        def scorer(self, model, tokenizer, device):
            def score(items):
                ...  # one Scored per item: a score per rationale token (item.rationale positions)
            return score

and one line registering it in ``trainers.attribution.METHODS``. ``from_config`` reads the method's settings
off ``AttributionConfig`` (a setting of its own is a field there).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Sequence

if TYPE_CHECKING:
    from trainers.attribution import AttributionConfig, Encoded


@dataclass(frozen=True)
class Scored:
    """One example's attribution."""

    scores: list[float]  # one per rationale token, in order (the positions in ``Encoded.rationale``)
    # How far the scores are from what they should add up to (integrated gradients: |sum - (F(x) -
    # F(baseline))| / |F(x) - F(baseline)|); None: the method has no such check.
    completeness_error: float | None = None
    values: dict[str, Any] = field(default_factory=dict)  # more of this example's numbers for its record


Scorer = Callable[[Sequence["Encoded"]], "list[Scored]"]


class AttributionMethod:
    """A way of scoring rationale tokens. Subclasses set :attr:`name` and implement :meth:`scorer`; one with
    settings also overrides :meth:`from_config` and :meth:`settings`."""

    name: ClassVar[str]  # written in each record as "method"

    @classmethod
    def from_config(cls, config: AttributionConfig) -> AttributionMethod:
        """The method with its settings read off ``config``; a bad setting is a one-line DataError here,
        before any model is loaded."""
        return cls()

    def settings(self) -> dict[str, Any]:
        """What decides the scores besides the model and the inputs (JSON values): written in each record
        beside ``method``, and a file made with other settings is not resumed."""
        return {}

    def scorer(self, model: Any, tokenizer: Any, device: str) -> Scorer:
        """A function from a batch of encoded examples (similar lengths) to one :class:`Scored` per example.
        Called once per run, after the model's parameters are frozen; a DataError raised here (a setting this
        tokenizer cannot serve) is reported against the model."""
        raise NotImplementedError
