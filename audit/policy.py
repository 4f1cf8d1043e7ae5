"""Policy: thresholds that turn metrics into pass/fail findings.

A policy maps metric names (exact, or fnmatch patterns such as ``fairness.*.false_positive_rate_ratio``)
to a :class:`Threshold`. Names are validated against the metric patterns every check declares, so
a typo fails early with the list of valid names. A policy is a value: it imports no check. Its caller
(the orchestrator, the CLI) reads the patterns and the starter thresholds off the check registry and
passes them in (:meth:`Policy.validate`, :meth:`Policy.default`).
"""

from __future__ import annotations

import fnmatch
import math
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from audit.errors import AuditInputError
from audit.findings import Finding
from audit.section import Metric, pattern_regex

InconclusiveAs = Literal["fail", "warn", "pass"]
#: a starter policy was asked for without its thresholds (a programming error, not bad input)
NO_STARTER = ("the starter policy needs its thresholds: pass starter=audit.starter_thresholds() (every registered "
              "check's default_policy), or use audit.starter_policy()")
_THRESHOLD_KEYS = {"min", "max", "severity", "max_increase", "max_decrease"}

#: Bounds are inclusive up to float noise: a bound is broken only when exceeded by more than
#: ``BOUND_TOLERANCE * (1 + the largest magnitude compared)`` (1e-9 absolute plus 1e-9 relative), so
#: accuracy 0.87 against a baseline of 0.89 with ``max_decrease = 0.02`` passes although 0.87 - 0.89 is
#: -0.020000000000000018 in binary floating point.
BOUND_TOLERANCE = 1e-9


def exceeds(x: float, limit: float, *others: float) -> bool:
    """``x > limit`` by more than float noise (:data:`BOUND_TOLERANCE`); ``others`` also set the scale
    (the operands of a difference such as value - baseline).

    Examples
    --------
    >>> exceeds(0.89 - 0.87, 0.02, 0.89, 0.87), exceeds(0.0201, 0.02)
    (False, True)
    """
    scale = max(abs(x), abs(limit), *(abs(o) for o in others))
    return x - limit > BOUND_TOLERANCE * (1.0 + scale)


# ----------------------------------------------------------------------------- gaps between groups
#: metrics that are gaps between groups: fairness disparities and per-metric differences / ratios, a regressor's
#: gaps (``fairness.*_gap``) and distributional parity (``fairness.*ks_parity``), the ECE gap, the robust-accuracy
#: gap and the conformal coverage gap. Their interval covers a gap of 0 (audit.stats._gaps), so the interval rule
#: below is what makes a gap gate fail only on evidence; gap_rule says so in the finding.
GAP_METRIC_PATTERNS = ("fairness.*_difference", "fairness.*_ratio", "fairness.*_gap", "fairness.*ks_parity",
                       "calibration.*.ece_gap", "robustness.*group_gap@*", "uncertainty.*coverage_gap")


def is_gap(name: str) -> bool:
    """Whether metric ``name`` is a gap between groups (see :data:`GAP_METRIC_PATTERNS`).

    >>> is_gap("fairness.race.demographic_parity_difference"), is_gap("calibration.sex.ece_gap"), is_gap("calibration.ece")
    (True, True, False)
    >>> is_gap("robustness.pgd.linf.race.group_gap@0.1"), is_gap("robustness.pgd.linf.accuracy@0.1")
    (True, False)
    """
    return any(fnmatch.fnmatchcase(name, p) for p in GAP_METRIC_PATTERNS)


def gap_rule(th: Threshold, has_interval: bool) -> str:
    """The rule a gate on a gap applies, in the words its finding ends with.

    The rule is the interval rule every metric with an interval follows (:meth:`Policy._judge`); for a gap
    it is what keeps a gate from failing on noise: the plug-in max - min of equal groups is above 0 by
    chance, so only an interval that lies wholly above a maximum (below a minimum) fails.

    >>> gap_rule(Threshold(max=0.1), True)
    'gap rule: fail only when the interval lies above 0.1 (evidence of a larger gap), pass when it lies at or below 0.1, otherwise inconclusive'
    """
    if not has_interval:
        return "gap rule: no interval (n_boot = 0), so judged on the estimate alone"
    parts = []
    if th.max is not None:
        parts.append(f"fail only when the interval lies above {th.max:g} (evidence of a larger gap), pass when it lies at or "
                     f"below {th.max:g}")
    if th.min is not None:
        parts.append(f"fail only when the interval lies below {th.min:g} (evidence of a smaller ratio), pass when it lies at "
                     f"or above {th.min:g}")
    if not parts:
        return ""
    return "gap rule: " + "; ".join(parts) + ", otherwise inconclusive"


@dataclass(frozen=True)
class Threshold:
    """Bounds for one metric.

    ``min``/``max`` bound the value; ``max_increase``/``max_decrease`` bound the change against a
    baseline report (``audit run --baseline``). ``severity="warn"`` reports without failing the gate.
    Every bound is inclusive, up to a float tolerance of 1e-9 absolute plus 1e-9 relative
    (:data:`BOUND_TOLERANCE`): ``value >= min``, ``value <= max``, ``value - baseline <= max_increase``,
    ``baseline - value <= max_decrease``.
    """

    min: float | None = None
    max: float | None = None
    severity: Literal["fail", "warn"] = "fail"
    max_increase: float | None = None
    max_decrease: float | None = None

    def __post_init__(self) -> None:
        # a NaN bound compares False with everything, so it would pass every value; an infinite one bounds nothing
        for k in ("min", "max", "max_increase", "max_decrease"):
            v = getattr(self, k)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
                raise AuditInputError(f"threshold {k} must be a finite number, got {v!r}")

    def describe(self) -> str:
        parts = []
        if self.min is not None:
            parts.append(f">= {self.min:g}")
        if self.max is not None:
            parts.append(f"<= {self.max:g}")
        if self.max_increase is not None:
            parts.append(f"increase <= {self.max_increase:g}")
        if self.max_decrease is not None:
            parts.append(f"decrease <= {self.max_decrease:g}")
        return " and ".join(parts)


def _threshold_from(key: str, spec: Any) -> Threshold:
    if isinstance(spec, Threshold):
        return spec
    if not isinstance(spec, Mapping):
        raise AuditInputError(f"policy[{key!r}] must be a table like {{ min = 0.8 }} or {{ max = 0.1 }}, got {spec!r}")
    unknown = set(spec) - _THRESHOLD_KEYS
    if unknown:
        raise AuditInputError(f"policy[{key!r}] has unknown key(s) {sorted(unknown)}; valid keys are {sorted(_THRESHOLD_KEYS)}")
    sev = spec.get("severity", "fail")
    if sev not in ("fail", "warn"):
        raise AuditInputError(f"policy[{key!r}].severity must be 'fail' or 'warn', got {sev!r}")
    vals = {}
    for k in ("min", "max", "max_increase", "max_decrease"):
        if k in spec:
            v = spec[k]
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise AuditInputError(f"policy[{key!r}].{k} must be a number, got {v!r}")
            try:
                f = float(v)
            except OverflowError:  # an integer with hundreds of digits
                f = math.inf
            if not math.isfinite(f):
                # NaN compares False with every value, so the bound would pass anything; inf bounds nothing
                raise AuditInputError(f"policy[{key!r}].{k} must be a finite number, got {_shown_number(v)}; "
                                      f"write the bound as a number such as {k} = 0.1")
            vals[k] = f
    if not vals:
        raise AuditInputError(f"policy[{key!r}] sets no bound; give min, max, max_increase or max_decrease")
    return Threshold(severity=sev, **vals)


def _shown_number(v: float) -> str:
    """A bound as the error quotes it: an integer of hundreds of digits is shortened."""
    if isinstance(v, int) and v.bit_length() > 200:  # str() of an int over 4,300 digits raises
        return f"an integer of about {int(v.bit_length() * math.log10(2)) + 1} digits"
    return repr(v)


def _did_you_mean(key: str, names: Any) -> str:
    """``"; did you mean 'a' or 'b'?"`` for the names closest to ``key``, or ``""``."""
    import difflib

    close = difflib.get_close_matches(key, list(names), n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


@dataclass
class Policy:
    """Thresholds per metric name plus how to treat inconclusive results.

    Parameters
    ----------
    thresholds : dict
        Metric name or fnmatch pattern -> :class:`Threshold` (or a dict with ``min``/``max``/``severity``).
    inconclusive : {"fail", "warn", "pass"}
        What a finding whose confidence interval straddles the threshold (or whose value is
        undefined) does to the gate. Default ``"warn"``: reported, does not fail.
    fail_on : {"fail", "warn"}
        ``"warn"`` makes every finding whose status is not ``pass`` (or ``info``) block: warnings,
        inconclusive results (whatever ``inconclusive`` says) and gates whose metric was not computed
        (``audit run --fail-on warn``). ``info`` findings are starter-policy gates that did not apply:
        their metric checks an approximation the audit chose not to verify (``Metric.not_computed``).

    Examples
    --------
    >>> p = Policy({"performance.accuracy": {"min": 0.6}})
    >>> p.thresholds["performance.accuracy"].min
    0.6
    """

    thresholds: dict[str, Threshold] = field(default_factory=dict)
    inconclusive: InconclusiveAs = "warn"
    fail_on: Literal["fail", "warn"] = "fail"
    include_defaults: bool = False
    #: keys the user set (not from the starter policy): a missing metric for these is reported
    explicit: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if self.explicit is None:
            self.explicit = frozenset(self.thresholds)
        self.thresholds = {str(k): _threshold_from(str(k), v) for k, v in self.thresholds.items()}
        if self.inconclusive not in ("fail", "warn", "pass"):
            raise AuditInputError(f"policy inconclusive must be 'fail', 'warn' or 'pass', got {self.inconclusive!r}")
        if self.fail_on not in ("fail", "warn"):
            raise AuditInputError(f"policy fail_on must be 'fail' or 'warn', got {self.fail_on!r}")

    # --------------------------------------------------------------- builders
    @classmethod
    def default(cls, starter: Mapping[str, Any]) -> Policy:
        """The starter policy made of ``starter`` thresholds (none of them the user's own).

        The orchestrator passes every registered check's ``default_policy`` merged
        (:func:`audit.starter_thresholds`); a policy knows no check.

        Examples
        --------
        >>> p = Policy.default({"calibration.ece": {"max": 0.1, "severity": "warn"}})
        >>> p.thresholds["calibration.ece"].describe(), p.explicit
        ('<= 0.1', frozenset())
        """
        return cls(dict(starter), explicit=frozenset())

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any], *, starter: Mapping[str, Any] | None = None) -> Policy:
        """Build from a mapping; the keys ``inconclusive``, ``fail_on``, ``defaults`` are options, the rest metrics.

        ``defaults = true`` adds the ``starter`` thresholds under the user's own (:meth:`default`).
        """
        spec = dict(spec)
        options = {k: spec.pop(k) for k in ("inconclusive", "fail_on") if k in spec}
        include_defaults = spec.pop("defaults", False)
        if not isinstance(include_defaults, bool):  # bool("no") is True: only a real boolean is read
            raise AuditInputError(f"policy option 'defaults' must be true or false (a boolean, without quotes), "
                                  f"got {include_defaults!r}")
        policy = cls(spec, include_defaults=include_defaults, **options)
        if include_defaults:
            if starter is None:
                raise ValueError(NO_STARTER)
            base = cls.default(starter).thresholds
            base.update(policy.thresholds)
            policy.thresholds = base  # explicit stays the user's own keys
        return policy

    @classmethod
    def from_toml(cls, path: str | Path, *, starter: Mapping[str, Any] | None = None) -> Policy:
        """Read a TOML file holding a ``[policy]`` table (or only thresholds at top level)."""
        p = Path(path)
        if not p.is_file():
            raise AuditInputError(f"policy file {str(p)!r} not found")
        with p.open("rb") as fh:
            try:
                data = tomllib.load(fh)
            except tomllib.TOMLDecodeError as exc:
                raise AuditInputError(f"policy file {str(p)!r} is not valid TOML: {exc}") from exc
        return cls.from_dict(data.get("policy", data), starter=starter)

    @classmethod
    def coerce(cls, policy: Policy | Mapping[str, Any] | str | Path | None, *,
               starter: Mapping[str, Any] | None = None) -> Policy:
        """None -> the starter policy (:meth:`default`); a dict -> :meth:`from_dict`; a path -> :meth:`from_toml`.

        ``starter`` holds the starter thresholds, which the caller reads off the check registry
        (:func:`audit.starter_thresholds`).
        """
        if policy is None:
            if starter is None:
                raise ValueError(NO_STARTER)
            return cls.default(starter)
        if isinstance(policy, Policy):
            return policy
        if isinstance(policy, Mapping):
            return cls.from_dict(policy, starter=starter)
        if isinstance(policy, (str, Path)):
            return cls.from_toml(policy, starter=starter)
        raise AuditInputError(f"policy must be a Policy, a dict, a TOML path or None, got {type(policy).__name__}")

    # -------------------------------------------------------------- validation
    def validate(self, patterns: list[str]) -> None:
        """Raise if a threshold names no metric any check can produce; the error lists valid names."""
        regexes = [pattern_regex(p) for p in patterns]
        for key in self.thresholds:
            probe = key.replace("*", "x").replace("?", "x")
            if "*" in key or "?" in key:
                ok = any(fnmatch.fnmatchcase(p.replace("<", "").replace(">", ""), key) for p in patterns) or any(
                    r.match(probe) for r in regexes
                )
            else:
                ok = any(r.match(key) for r in regexes)
            if not ok:
                hint = _did_you_mean(key, patterns)
                raise AuditInputError(
                    f"policy names unknown metric {key!r}{hint or ';'} valid metric names are: " + ", ".join(sorted(patterns))
                )

    # -------------------------------------------------------------- evaluation
    def matching(self, metric_name: str) -> list[tuple[str, Threshold]]:
        """Thresholds that apply to ``metric_name``: the exact key, else every matching pattern."""
        if metric_name in self.thresholds:
            return [(metric_name, self.thresholds[metric_name])]
        return [(k, t) for k, t in self.thresholds.items() if ("*" in k or "?" in k) and fnmatch.fnmatchcase(metric_name, k)]

    def evaluate(
        self,
        metrics: Mapping[str, Metric],
        check_of: Mapping[str, str],
        *,
        baseline: Mapping[str, float] | None = None,
        skipped: Mapping[str, str] | None = None,
        ran: Collection[str] | None = None,
    ) -> list[Finding]:
        """Findings for every (metric, threshold) pair, plus one per explicit threshold with no metric.

        An explicit threshold whose metric is missing blocks like a broken gate when its check was selected
        but skipped (``skipped``: check -> reason, e.g. no sensitive columns) or ran (``ran``) without
        producing it (a column or eps that does not exist); it is only inconclusive when its check was not
        selected at all (``audit run --checks``), which is a deliberate choice.
        """
        findings: list[Finding] = []
        used: set[str] = set()
        source = getattr(baseline, "source", "the baseline")
        for name, metric in metrics.items():
            for key, th in self.matching(name):
                used.add(key)
                base = None if baseline is None else baseline.get(name)
                findings.append(self._judge(check_of.get(name, name.split(".")[0]), metric, th, base,
                                            None if baseline is None else source, explicit=key in self.explicit))
        for key, th in self.thresholds.items():
            if key in used or "*" in key or "?" in key or key not in self.explicit:
                continue  # starter-policy metrics that a skipped check did not produce stay silent
            check = key.split(".")[0]
            why = (skipped or {}).get(check)
            common = dict(check=check, metric=key, value=None, threshold=th.describe(), severity=th.severity)
            if why is None and check not in (ran or ()):
                findings.append(Finding(**common, passed=self.inconclusive != "fail", status="inconclusive",
                                        message=f"{key} was not computed (check {check!r} was not run)"))
                continue
            if why is not None:
                msg = f"{key} was not computed: check {check!r} was skipped ({why}); the gate cannot pass without it"
            else:
                produced = [n for n in metrics if n.split(".")[0] == check]
                msg = (f"{key} was not produced by check {check!r} (no such column, group or eps in this audit)"
                       + _did_you_mean(key, produced))
            findings.append(Finding(**common, **self._broken(th), message=msg))
        if self.fail_on == "warn":  # one rule for every status that is not a pass (or a gate that did not apply): it blocks
            findings = [f if f.status in ("pass", "info") or not f.passed else replace(f, passed=False) for f in findings]
        return findings

    def _broken(self, th: Threshold) -> dict[str, Any]:
        """Status and passed flag of a broken gate: a failure, or a warning that blocks only with fail_on='warn'."""
        status = "fail" if th.severity == "fail" else "warn"
        return {"status": status, "passed": status == "warn" and self.fail_on != "warn"}

    def _judge(self, check: str, m: Metric, th: Threshold, base: float | None, source: str | None = None, *,
               explicit: bool = True) -> Finding:
        """One finding; ``source`` names the baseline when one was given (None: no baseline at all);
        ``explicit``: the threshold is the user's (not the starter policy's)."""
        v = m.value
        common = dict(check=check, metric=m.name, value=v, threshold=th.describe(), severity=th.severity, low=m.low,
                      high=m.high, baseline=base)
        unjudged = self._unjudged(m, th, common, explicit)
        if unjudged is not None:
            return unjudged
        lo = m.low if m.low is not None and not math.isnan(m.low) else v
        hi = m.high if m.high is not None and not math.isnan(m.high) else v
        bad, straddle = _bound_breaks(v, lo, hi, th)
        bad += _baseline_breaks(v, th, base, source)
        return self._verdict(m, th, base, common, bad, straddle)

    def _unjudged(self, m: Metric, th: Threshold, common: dict[str, Any], explicit: bool) -> Finding | None:
        """The finding of a metric without a value (not computed, or NaN); None when it has one."""
        v = m.value
        desc = th.describe()
        undefined = v is None or (isinstance(v, float) and math.isnan(v))
        if undefined and m.not_computed:
            # a metric that only checks an approximation, skipped by the audit for cost: the starter policy's
            # gate must not let that budget choice decide the verdict; a gate the user named still hears of it
            if not explicit:
                return Finding(**common, passed=True, status="info",
                               message=f"{m.name} was not computed ({m.not_computed}); the starter policy's gate "
                                       f"({desc}) does not apply")
            return Finding(**common, passed=self.inconclusive != "fail", status="inconclusive",
                           message=f"{m.name} was not computed ({m.not_computed}); cannot judge {desc}")
        if undefined:
            return Finding(**common, passed=self.inconclusive != "fail", status="inconclusive",
                           message=f"{m.name} is undefined (NaN); cannot judge {desc}")
        return None

    def _verdict(self, m: Metric, th: Threshold, base: float | None, common: dict[str, Any], bad: list[str],
                 straddle: bool) -> Finding:
        """The finding and its message from the broken bounds (``bad``) and whether the interval straddles one."""
        v, desc = m.value, th.describe()
        ci = f" [95% CI {m.low:.4g}, {m.high:.4g}]" if m.low is not None and m.high is not None else ""
        # a gap's finding states the rule and quotes the description (plug-in value, permutation p-value)
        rule = ""
        if is_gap(m.name) and (th.min is not None or th.max is not None):
            rule_text = gap_rule(th, bool(ci))
            rule = ". " + rule_text + (f" ({m.description})" if m.description else "")
            common["rule"] = rule_text
        if bad:
            return Finding(**common, **self._broken(th), message=f"{m.name} = {v:.4g}{ci}: " + "; ".join(bad) + rule)
        if straddle:
            passed = self.inconclusive == "pass" or (self.inconclusive == "warn" and self.fail_on != "warn")
            return Finding(**common, passed=passed, status="inconclusive",
                           message=f"{m.name} = {v:.4g}{ci}: interval straddles the threshold ({desc}); inconclusive{rule}")
        unchecked = ""
        change = th.max_increase is not None or th.max_decrease is not None
        if change and base is None:  # no baseline at all (a first release): nothing to compare against
            unchecked = " (no baseline value, so the change bound was not checked)"
        return Finding(**common, passed=True, status="pass", message=f"{m.name} = {v:.4g}{ci} meets {desc}{unchecked}{rule}")


def _bound_breaks(v: float, lo: float, hi: float, th: Threshold) -> tuple[list[str], bool]:
    """The ``min``/``max`` bounds the interval ``[lo, hi]`` breaks, and whether it straddles one.

    The interval rule: fail only when the whole interval lies beyond a bound; inconclusive when it
    reaches across one.

    >>> _bound_breaks(0.2, 0.15, 0.25, Threshold(max=0.1)), _bound_breaks(0.2, 0.05, 0.25, Threshold(max=0.1))
    ((['0.2 > max 0.1'], False), ([], True))
    """
    bad: list[str] = []
    straddle = False
    if th.min is not None:
        if exceeds(th.min, hi):
            bad.append(f"{v:.4g} < min {th.min:g}")
        elif exceeds(th.min, lo):
            straddle = True
    if th.max is not None:
        if exceeds(lo, th.max):
            bad.append(f"{v:.4g} > max {th.max:g}")
        elif exceeds(hi, th.max):
            straddle = True
    return bad, straddle


def _baseline_breaks(v: float, th: Threshold, base: float | None, source: str | None) -> list[str]:
    """The change bounds (``max_increase``/``max_decrease``) the value breaks against the baseline.

    A baseline that was given (``source``) but holds no finite value for the metric breaks a change
    bound too: the gate cannot pass without it. No baseline at all checks nothing.

    >>> _baseline_breaks(0.85, Threshold(max_decrease=0.02), 0.89, "old.json")
    ['decreased by -0.04 from baseline 0.89 (max 0.02)']
    """
    bad: list[str] = []
    change = th.max_increase is not None or th.max_decrease is not None
    if base is not None and math.isfinite(base):
        delta = v - base
        if th.max_increase is not None and exceeds(delta, th.max_increase, v, base):
            bad.append(f"increased by {delta:+.4g} over baseline {base:.4g} (max {th.max_increase:g})")
        if th.max_decrease is not None and exceeds(-delta, th.max_decrease, v, base):
            bad.append(f"decreased by {delta:+.4g} from baseline {base:.4g} (max {th.max_decrease:g})")
    elif change and source is not None:
        # a baseline was given but cannot judge this metric: as blocking as a metric that was not computed
        why = "has no value for it" if base is None else f"holds {base} for it"
        bad.append(f"change not checked: baseline {source!r} {why}; the gate cannot pass without it")
    return bad
