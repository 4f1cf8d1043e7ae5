"""The arguments of a Dask audit, read once into one typed object (:class:`DaskAuditArgs`)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from audit.context import AuditOptions

#: what the in-memory audit of a prediction log does not take: the log's columns are the stored scores, its checks
#: are the full-data ones, and the model's wrapping (transform, output, device) was done by the engine
_NOT_FOR_LOG = ("checks", "features", "transform", "model_output", "device", "train", "history", "immutable", "task")


@dataclass(frozen=True)
class DaskAuditArgs:
    """The keyword arguments :func:`audit.audit` passes on to :func:`audit.engines.dask.audit_dask`.

    Field for field those of ``audit()`` (see there), with ``checks`` already resolved to Check instances
    and ``policy`` to a Policy. The audit-wide options default to :class:`~audit.context.AuditOptions`'s
    defaults, so both engines state them once. An unknown name is a ``TypeError`` here, not a setting
    silently ignored.

    Examples
    --------
    >>> args = DaskAuditArgs(target="y", min_group_size=50)
    >>> args.target, args.min_group_size, args.period
    ('y', 50, 'M')
    """

    target: str | None = None
    sensitive: Any = None
    train: Any = None
    checks: tuple[Any, ...] = ()
    policy: Any = None
    device: Any = "auto"
    seed: int = 0
    transform: Any = None
    features: Any = None
    modality: str | None = None
    model_output: str = "auto"
    task: str = "auto"
    #: refused before the engine runs (audit() audits text on pandas); kept so every audit() argument has its default
    tokenizer: Any = None
    immutable: Any = AuditOptions.immutable
    history: Any = AuditOptions.history
    baseline: Any = None
    name: str | None = None
    progress: bool = True
    min_group_size: int = AuditOptions.min_group_size
    positive_class: Any = AuditOptions.positive_class
    positive_is_favorable: bool = AuditOptions.positive_is_favorable
    time_column: str | None = AuditOptions.time_column
    period: str = AuditOptions.period
    sample_weight: Any = None

    def given(self) -> dict[str, Any]:
        """Every argument as keywords for :func:`audit.audit` (a sampled audit of the rows)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def for_log(self) -> dict[str, Any]:
        """The keywords of an in-memory audit of the prediction log (the full-data checks gathered as rows)."""
        return {k: v for k, v in self.given().items() if k not in _NOT_FOR_LOG}

    @property
    def sensitive_names(self) -> list[str]:
        """``sensitive`` as a list (a bare name is one column; None is none)."""
        sensitive = self.sensitive or []
        return [sensitive] if isinstance(sensitive, str) else list(sensitive)
