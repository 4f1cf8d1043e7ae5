"""Baselines: the metric values of a previous run, validated when they are loaded.

A baseline is a previous ``audit.json`` (``audit run --baseline``) or a dict ``{metric name: value}``.
Every value must be a number or null (``NaN``/null: the previous run could not compute it); anything
else (``"0.99"``, ``true``, a list) is refused with the file and the key, before any check runs, so a
broken baseline never silently passes a gate. A gated metric the baseline lacks, or holds as NaN, is
"not checked" and blocks like a missing metric (:meth:`audit.policy.Policy.evaluate`).

When the baseline came from another model, or its metric set differs from this run's for the checks
both ran, :func:`baseline_findings` reports it as a warning finding (``baseline.model``,
``baseline.metrics``) instead of comparing silently.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audit.errors import AuditInputError
from audit.findings import Finding
from audit.text import clip

if TYPE_CHECKING:
    from audit.policy import Policy
    from audit.section import Metric

#: how many names a mismatch message lists before "and N more"
_LISTED = 5


class Baseline(dict):
    """``{metric name: value}`` (NaN where the previous run had no value) plus where it came from.

    Attributes
    ----------
    source : str
        The file (or ``"baseline dict"``) the values came from, for messages.
    model : str or None
        The model name the previous run recorded (``meta.model`` of its audit.json).
    checks : dict of str to str
        Metric name -> the check that produced it.
    """

    def __init__(self, values: Mapping[str, float], *, source: str, model: str | None = None,
                 checks: Mapping[str, str] | None = None) -> None:
        super().__init__(values)
        self.source = source
        self.model = model
        self.checks = dict(checks or {})


def _number(value: Any, where: str) -> float:
    """A finite or non-finite float from a JSON/dict value; null -> NaN; strings and booleans are refused."""
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        kind = "a boolean" if isinstance(value, bool) else f"a {type(value).__name__}"
        raise AuditInputError(f"{where} must be a number or null, got {_shown(value)} ({kind}); "
                              "use the audit.json a previous run wrote, or write the value as a bare number")
    try:
        return float(value)
    except OverflowError:  # an integer of hundreds of digits: no metric value is that large
        digits = int(value.bit_length() * math.log10(2)) + 1
        raise AuditInputError(f"{where} is an integer of about {digits} digits, too large for a metric value; "
                              "use the audit.json a previous run wrote") from None


def _shown(value: Any, limit: int = 60) -> str:
    try:
        r = repr(value)
    except (ValueError, RecursionError):  # an int over 4,300 digits, a list nested thousands deep
        return f"a {type(value).__name__} too large to show"
    return r if len(r) <= limit else r[: limit - 3] + "..."


def load_baseline(baseline: str | Path | Mapping[str, Any] | None) -> Baseline | None:
    """Read and validate a baseline: a path to a previous ``audit.json`` or a dict of metric values.

    Raises :class:`~audit.errors.AuditInputError` naming the file and the key for a missing file,
    malformed JSON, a wrong structure, or a value that is not a number or null.

    Examples
    --------
    >>> b = load_baseline({"performance.accuracy": 0.89, "performance.roc_auc": None})
    >>> b["performance.accuracy"], math.isnan(b["performance.roc_auc"])
    (0.89, True)
    >>> load_baseline({"performance.accuracy": "0.89"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    audit.errors.AuditInputError: baseline['performance.accuracy'] must be a number or null, got '0.89' (a str); ...
    """
    if baseline is None:
        return None
    if isinstance(baseline, Baseline):
        return baseline
    if isinstance(baseline, Mapping):
        values = {}
        for k, v in baseline.items():
            if not isinstance(k, str):
                raise AuditInputError(f"baseline keys must be metric names (strings), got {k!r}")
            values[k] = _number(v, f"baseline[{k!r}]")
        return Baseline(values, source="baseline dict")
    if not isinstance(baseline, (str, Path)):
        raise AuditInputError(f"baseline must be the path of a previous audit.json or a dict of metric values, "
                              f"got {type(baseline).__name__}")
    p = Path(baseline)
    name = str(p)
    if not p.is_file():
        raise AuditInputError(f"baseline {name!r} not found; pass the audit.json of a previous run")
    try:
        data = json.loads(p.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise AuditInputError(f"baseline {name!r} is not UTF-8 text (offset {exc.start}); "
                              "pass the audit.json of a previous run") from None
    except json.JSONDecodeError as exc:
        raise AuditInputError(f"baseline {name!r} is not valid JSON: {exc}; pass the audit.json of a previous run") from None
    except RecursionError:  # arrays or objects nested thousands deep
        raise AuditInputError(f"baseline {name!r} nests JSON arrays or objects too deeply to read; an audit.json nests "
                              "a few levels: pass the audit.json of a previous run") from None
    except ValueError as exc:  # an integer over Python's 4,300-digit conversion limit
        raise AuditInputError(f"baseline {name!r} holds a number JSON cannot read here ({exc}); "
                              "pass the audit.json of a previous run") from None
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
        got = "no 'metrics' key" if isinstance(data, dict) and "metrics" not in data else (
            f"'metrics' is {type(data['metrics']).__name__}" if isinstance(data, dict) else f"a JSON {type(data).__name__}")
        raise AuditInputError(f"baseline {name!r} must be a JSON object with a 'metrics' object (an audit.json), "
                              f"but it has {got}; pass the audit.json of a previous run")
    values: dict[str, float] = {}
    checks: dict[str, str] = {}
    for k, entry in data["metrics"].items():
        where = f"baseline {name!r} key metrics[{k!r}]"
        if isinstance(entry, dict):
            if "value" not in entry:
                raise AuditInputError(f"{where} has no 'value'; each metric needs {{\"value\": number or null}}")
            values[k] = _number(entry["value"], f"{where}.value")
            check = entry.get("check")
            checks[k] = check if isinstance(check, str) else k.split(".")[0]
        else:
            values[k] = _number(entry, where)
            checks[k] = k.split(".")[0]
    meta = data.get("meta")
    model = meta.get("model") if isinstance(meta, dict) and isinstance(meta.get("model"), str) else None
    return Baseline(values, source=name, model=model, checks=checks)


def _listed(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:_LISTED])
    return shown + (f" and {len(names) - _LISTED} more" if len(names) > _LISTED else "")


def baseline_findings(baseline: Baseline, metrics: Mapping[str, Metric], check_of: Mapping[str, str],
                      model: str | None, policy: Policy) -> list[Finding]:
    """Warnings when ``baseline`` was recorded for another model or with another metric set.

    Metric sets are compared only over the checks both runs produced metrics for, so running fewer
    checks (``--checks``) is not a mismatch. A warning blocks only under ``fail_on="warn"``.
    """
    out: list[Finding] = []
    common = dict(check="baseline", value=None, severity="warn", status="warn", passed=policy.fail_on != "warn")
    # audit.json keeps names up to a limit (clip): compare the name with what the file could keep
    if baseline.model is not None and model is not None and baseline.model != clip(str(model)):
        out.append(Finding(**common, metric="baseline.model", threshold=f"model {_shown(baseline.model)}",
                           message=f"baseline {baseline.source!r} was recorded for model {_shown(baseline.model)}, "
                                   f"this run audits {_shown(model)}: the deltas compare different models"))
    if baseline.checks:
        mine = {n: check_of.get(n, n.split(".")[0]) for n in metrics}
        both = set(mine.values()) & set(baseline.checks.values())
        new = sorted(n for n, c in mine.items() if c in both and n not in baseline)
        gone = sorted(n for n, c in baseline.checks.items() if c in both and n not in mine)
        if new or gone:
            parts = []
            if new:
                parts.append(f"{len(new)} metric(s) of this run are not in the baseline ({_listed(new)})")
            if gone:
                parts.append(f"{len(gone)} baseline metric(s) were not produced by this run ({_listed(gone)})")
            out.append(Finding(**common, metric="baseline.metrics", threshold="same metric names",
                               message=f"baseline {baseline.source!r} has a different metric set: " + "; ".join(parts)
                                       + ": a column, group, class or setting changed, or the baseline is of another audit"))
    return out
