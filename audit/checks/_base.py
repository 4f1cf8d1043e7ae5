"""The one small base every check derives from, and the registry that lists them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar

from audit.context import AuditContext
from audit.section import Section, pattern_regex

__all__ = ["REQUIREMENTS", "Check", "pattern_regex", "task_reason", "unmet_requirement"]


#: What a check may need, each with its test and the skip reason the orchestrator writes when it is missing.
REQUIREMENTS: dict[str, tuple[Callable[[AuditContext], bool], Callable[[AuditContext], str]]] = {
    "labels": (lambda ctx: ctx.y is not None, lambda ctx: "the data has no labels"),
    "scores": (lambda ctx: ctx.model.has_scores,
               lambda ctx: "the model returns hard labels only: this check needs class scores"),
    "gradients": (lambda ctx: ctx.model.differentiable,
                  lambda ctx: f"needs a differentiable torch model (gradients are taken through the network); "
                              f"this is a {ctx.model.kind} model"),
    "model": (lambda ctx: ctx.model.backend.calls_model,
              lambda ctx: "the audit reads stored predictions: there is no model to call on new rows"),
    "tabular": (lambda ctx: ctx.data.modality == "tabular",
                lambda ctx: f"needs tabular data; this is {ctx.data.modality} data"),
    "tabular_or_text": (lambda ctx: ctx.data.modality in ("tabular", "text"),
                        lambda ctx: f"needs tabular or text data; this is {ctx.data.modality} data"),
    "text": (lambda ctx: ctx.data.modality == "text", lambda ctx: f"needs text data; this is {ctx.data.modality} data"),
    "images": (lambda ctx: ctx.data.modality == "image", lambda ctx: f"needs image data; this is {ctx.data.modality} data"),
    "sensitive": (lambda ctx: ctx.data.sensitive.shape[1] > 0,
                  lambda ctx: "no sensitive columns were given (pass sensitive=[...])"),
    "train_or_history": (
        lambda ctx: (ctx.train is not None and ctx.train_y is not None and ctx.y is not None)
        or ctx.options.history is not None,
        lambda ctx: "needs labelled training data (train=) or a per-epoch training history (history=)",
    ),
}


def task_reason(check: Check, ctx: AuditContext) -> str | None:
    """The skip reason when ``check`` does not serve the audit's task (:attr:`AuditContext.task`), else None."""
    task = ctx.task
    if task in check.tasks:
        return None
    return check.task_reasons.get(task) or (f"this check serves {' and '.join(check.tasks)} models; the model is "
                                            f"a {'regressor' if task == 'regression' else task + ' classifier'}")


def unmet_requirement(check: Check, ctx: AuditContext) -> str | None:
    """The skip reason for the first of ``check.requires`` that ``ctx`` does not meet, else None."""
    for need in check.requires:
        test, reason = REQUIREMENTS[need]
        if not test(ctx):
            return check.requirement_reasons.get(need) or reason(ctx)
    return None


class Check(ABC):
    """A unit of the audit: declares what it needs, computes in :meth:`run`, returns a Section.

    Constructors only store keyword-only settings; all work happens in ``run``.
    ``metric_patterns`` lists the metric names the check can produce; ``<...>`` stands for one
    dotted part (a column, a group) and ``<eps>`` for a number, so a policy can be validated
    before the audit runs.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    #: what the check needs, as keys of :data:`REQUIREMENTS`; the orchestrator skips it (with the
    #: reason) when one is missing, before :meth:`skip_reason` is asked about anything more specific
    requires: ClassVar[tuple[str, ...]] = ()
    #: the tasks the check serves, as :attr:`AuditContext.task` names them; for any other the orchestrator skips
    #: it with ``task_reasons[task]`` (or a generic reason), before anything else is asked
    tasks: ClassVar[tuple[str, ...]] = ("binary", "multiclass")
    #: why the check does not serve a task, in the words of its skip reason
    task_reasons: ClassVar[dict[str, str]] = {}
    #: a check's own wording of a requirement's skip reason, where the generic one says too little
    requirement_reasons: ClassVar[dict[str, str]] = {}
    metric_patterns: ClassVar[tuple[str, ...]] = ()
    #: what ``audit run`` documents for each metric pattern
    metric_docs: ClassVar[dict[str, str]] = {}
    #: True for checks whose numbers weigh rows by ``sample_weight=`` (performance, fairness, calibration);
    #: the others say in a note that they ignore the weights (:meth:`weights_note`)
    uses_weights: ClassVar[bool] = False

    def skip_reason(self, ctx: AuditContext) -> str | None:
        """Why this check does not apply to ``ctx`` (None when it does): the first unmet entry of ``requires``,
        else :meth:`specific_skip_reason`. Checks declare ``requires`` rather than override this."""
        return task_reason(self, ctx) or unmet_requirement(self, ctx) or self.specific_skip_reason(ctx)

    def specific_skip_reason(self, ctx: AuditContext) -> str | None:
        """A reason beyond the declared ``requires`` (a combination no single requirement says); None by default."""
        return None

    @abstractmethod
    def run(self, ctx: AuditContext) -> Section:
        """Compute the section for ``ctx``."""

    def row_budget(self, ctx: AuditContext, section: Section) -> str | None:
        """The rows this check computed on, and why, for its section's ``Row budget:`` note (the orchestrator
        adds it to every section that ran); None when :meth:`run` states the budget itself.

        The default is every row: for checks whose work is counts, linear in rows and cheap (performance,
        fairness, calibration). A check that samples or caps overrides this with its numbers.
        """
        return f"all {ctx.n_rows:,} rows (no cap: the work is counting, linear in rows)"

    def weights_note(self, ctx: AuditContext) -> str | None:
        """The note a section gets when the audit has sample weights this check does not use; None otherwise."""
        if ctx.weights is None or self.uses_weights:
            return None
        return ("Sample weights (sample_weight=) are not used here: every row counts once (this check samples or "
                "perturbs rows, or compares distributions of rows).")

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({settings})"
