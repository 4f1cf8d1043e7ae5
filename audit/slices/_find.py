"""Weak slices: the single levels and pairs of levels whose loss is worse than the rest, with FDR control."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from audit.errors import AuditInputError
from audit.slices._counts import KEYS, check_loss, count_codes, plan_pairs
from audit.slices._losses import RowLoss
from audit.slices._plan import SlicePlan, encode, plan_slices
from audit.slices._stats import FDR_METHODS, fdr_adjust, welch

STATS = ["n", "support", "mean_in", "in_low", "in_high", "mean_out", "out_low", "out_high", "diff", "low", "high",
         "p_value", "q_value", "significant"]
BAD_SETTING = "{arg}={value!r} is invalid: {rule}"
NOT_A_FRAME = "frame must be a pandas DataFrame of the columns to slice on; got {kind}"
SINGLE_RULE = ("a significant single level is left out when a reported significant pair inside it explains its effect: "
               "the level's rows outside the pair are not worse than the rows outside the level (one-sided Welch "
               "p-value above alpha)")
PAIR_RULE = ("a significant pair is left out when one of its two levels alone carries the effect: that level is "
             "significant and the pair's rows are not worse than the level's other rows (one-sided Welch p-value, "
             "Bonferroni over the pairs so compared, above alpha)")


@dataclass
class SliceResult:
    """What :func:`find_weak_slices` found.

    ``slices``: the reported slices (at most ``top``, only those worse than the rest), significant ones first, each ranked by ``effect_score`` (difference
    times support), with ``conditions`` (``(column, op, value)`` triples, see :func:`slice_mask`) to
    reproduce its rows; ``candidates``: every slice tested, with its statistics (with ``holdout``: the slices
    confirmed, and the single levels' confirmation numbers); ``n_candidates``: slices tested (on the discovery
    half with ``holdout``); ``worst_gap``: the largest
    difference among reported significant slices (NaN if none); ``n_significant``: how many reported
    slices survive the false-discovery control.
    """

    slices: pd.DataFrame
    candidates: pd.DataFrame
    n_candidates: int
    worst_gap: float
    n_significant: int
    notes: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)


def _check_settings(s: dict) -> None:
    rules = [
        ("max_bins", s["max_bins"] >= 2, "at least 2 bins per numeric column"),
        ("min_support", 0 <= s["min_support"] < 1, "a share of rows in [0, 1)"),
        ("min_rows", s["min_rows"] >= 2, "at least 2 rows (a variance needs two)"),
        ("max_candidates", s["max_candidates"] >= 1, "at least 1"),
        ("alpha", 0 < s["alpha"] < 1, "a level in (0, 1), e.g. 0.05"),
        ("fdr", s["fdr"] in FDR_METHODS, f"one of {FDR_METHODS}"),
        ("confidence", 0 < s["confidence"] < 1, "a level in (0, 1), e.g. 0.95"),
        ("top", s["top"] >= 1, "at least 1"),
    ]
    for arg, ok, rule in rules:
        if not ok:
            raise AuditInputError(BAD_SETTING.format(arg=arg, value=s[arg], rule=rule))


def _describe(plan: SlicePlan, table: pd.DataFrame) -> pd.DataFrame:
    """``kind``, ``description``, ``columns`` and ``conditions`` of every slice in ``table`` (a loop over slices)."""
    rows = []
    for a, la, b, lb in table[KEYS].to_numpy(dtype=int):
        ca = plan.columns[a]
        if b < 0:
            rows.append(("single", ca.describe(la), (ca.name,), ca.conditions(la)))
        else:
            cb = plan.columns[b]
            rows.append(("pair", f"{ca.describe(la)} and {cb.describe(lb)}", (ca.name, cb.name),
                         ca.conditions(la) + cb.conditions(lb)))
    out = table.copy()
    names = ["kind", "description", "columns", "conditions"]
    out[names] = pd.DataFrame(rows, index=table.index, columns=names, dtype=object)
    return out


def _test(counts: pd.DataFrame, shift: float, min_rows: int, confidence: float) -> pd.DataFrame:
    """Welch statistics of every slice with at least ``min_rows`` rows in and out (no FDR yet)."""
    total = counts.iloc[0]
    body = counts.iloc[1:]
    body = body[(body.n >= min_rows) & (total.n - body.n >= min_rows)].copy()
    w = welch(body.n, body["sum"], body.sumsq, total.n, total["sum"], total.sumsq, shift=shift, confidence=confidence)
    for k in ("mean_in", "in_low", "in_high", "mean_out", "out_low", "out_high", "diff", "low", "high", "p_value"):
        body[k] = np.asarray(w[k], dtype=float)
    body["support"] = body.n / total.n
    body["effect_score"] = body["diff"] * body["support"]
    all_loss = total["sum"] + shift * total.n
    body["loss_share"] = (body["sum"] + shift * body.n) / all_loss if all_loss != 0 else np.nan
    return body.reset_index(drop=True)


def _flag(table: pd.DataFrame, alpha: float, fdr: str) -> pd.DataFrame:
    table = table.copy()
    table["q_value"] = fdr_adjust(table.p_value.to_numpy(), fdr)
    table["significant"] = table.q_value <= alpha
    return table


def _carried(table: pd.DataFrame, alpha: float) -> np.ndarray:
    """Significant pairs whose effect one of their single levels carries alone (:data:`PAIR_RULE`)."""
    singles = table[(table.column_b < 0) & table.significant].set_index(["column_a", "level_a"])
    pair = ((table.column_b >= 0) & table.significant).to_numpy()
    checks = []
    for side in ("a", "b"):
        key = pd.MultiIndex.from_arrays([table[f"column_{side}"], table[f"level_{side}"]])
        s = singles.reindex(key)[["n", "sum", "sumsq"]].to_numpy()
        # the pair's rows against the level's other rows: the pair adds something only if worse than them
        p = welch(table.n, table["sum"], table.sumsq, s[:, 0], s[:, 1], s[:, 2])["p_value"]
        checks.append((pair & ~np.isnan(s[:, 0]), np.asarray(p, dtype=float)))
    m = max(int(sum(c.sum() for c, _ in checks)), 1)  # Bonferroni over the comparisons made
    carried = np.zeros(len(table), dtype=bool)
    for checked, p in checks:
        carried |= checked & ~(p * m <= alpha)
    return carried


def _explained(table: pd.DataFrame, pairs_kept: np.ndarray, alpha: float, total) -> np.ndarray:
    """Significant singles whose effect a kept significant pair inside them explains (:data:`SINGLE_RULE`).

    ``total``: ``(n, sum, sumsq)`` of all rows the table was tested on.
    """
    singles = table[(table.column_b < 0) & table.significant]
    pairs = table[pairs_kept & (table.column_b >= 0) & table.significant.to_numpy()]
    explained = np.zeros(len(table), dtype=bool)
    if not len(singles) or not len(pairs):
        return explained
    s = singles.reset_index().rename(columns={"index": "row"})
    found = []
    for side in ("a", "b"):  # a pair lies inside both of its levels
        p = pairs.rename(columns={f"column_{side}": "column_a_", f"level_{side}": "level_a_"})
        m = s.merge(p[["column_a_", "level_a_", "n", "sum", "sumsq"]], left_on=["column_a", "level_a"],
                    right_on=["column_a_", "level_a_"], suffixes=("", "_p"))
        found.append(m)
    m = pd.concat(found, ignore_index=True)
    # the single's rows outside the pair against the rows outside the single
    w = welch(m.n - m.n_p, m["sum"] - m.sum_p, m.sumsq - m.sumsq_p, total[0] - m.n_p, total[1] - m.sum_p,
              total[2] - m.sumsq_p)
    explained[m.row[~(w["p_value"] <= alpha)].to_numpy()] = True
    return explained


def _report(table: pd.DataFrame, top: int, alpha: float, total) -> tuple[pd.DataFrame, float, int]:
    pairs_kept = ~_carried(table, alpha)
    kept = table[pairs_kept & ~_explained(table, pairs_kept, alpha, total) & (table["diff"] > 0)]
    kept = kept.sort_values(["significant", "effect_score"], ascending=[False, False], kind="stable")
    sig = kept[kept.significant]
    worst = float(sig["diff"].max()) if len(sig) else float("nan")
    return kept.head(top).reset_index(drop=True), worst, int(len(sig))


def holdout_split(n: int, seed: int = 0) -> np.ndarray:
    """Boolean mask of the discovery half of ``n`` rows (a seeded permutation's first ``n // 2``).

    Examples
    --------
    >>> int(holdout_split(10, seed=1).sum())
    5
    """
    mask = np.zeros(n, dtype=bool)
    mask[np.random.default_rng(seed).permutation(n)[: n // 2]] = True
    return mask


def slices_from_counts(counts: pd.DataFrame, plan: SlicePlan, *, min_rows: int = 30, alpha: float = 0.05,
                       fdr: str = "by", confidence: float = 0.95, top: int = 20) -> SliceResult:
    """Statistics, false-discovery control, merging and ranking from a counts table (:func:`slice_counts`).

    Every slice with at least ``min_rows`` rows in and out is a candidate: its one-sided Welch p-value
    (worse than the rest) enters a Benjamini-Yekutieli (``fdr="by"``, valid for overlapping slices) or
    Benjamini-Hochberg (``"bh"``) adjustment over all candidates; ``significant`` is ``q_value <= alpha``.

    Examples
    --------
    >>> from audit.slices import plan_slices, slice_counts
    >>> frame = pd.DataFrame({"g": ["a"] * 50 + ["b"] * 50})
    >>> loss = np.r_[np.zeros(50), np.ones(40), np.zeros(10)]
    >>> plan = plan_slices(frame)
    >>> r = slices_from_counts(slice_counts(frame, loss, plan), plan)
    >>> r.slices.loc[0, "description"], r.n_significant
    ('g == "b"', 1)
    """
    settings = dict(min_rows=min_rows, alpha=alpha, fdr=fdr, confidence=confidence, top=top, max_bins=2,
                    min_support=0.0, max_candidates=1)
    _check_settings(settings)
    table = _describe(plan, _flag(_test(counts, plan.shift, min_rows, confidence), alpha, fdr))
    slices, worst, n_sig = _report(table, top, alpha, _total(counts))
    return SliceResult(slices[_columns(slices)], table[_columns(table)], len(table), worst, n_sig,
                       notes=_notes(fdr, alpha, len(table)), settings={k: settings[k] for k in
                                                                       ("min_rows", "alpha", "fdr", "confidence", "top")})


def _columns(table: pd.DataFrame) -> list[str]:
    lead = ["description", "kind", "columns", "conditions"] + STATS + ["effect_score", "loss_share"]
    return lead + [c for c in table.columns if c.startswith(("discover_", "confirm_"))] + KEYS


def _notes(fdr: str, alpha: float, m: int) -> list[str]:
    name = {"by": "Benjamini-Yekutieli (valid for overlapping slices)", "bh": "Benjamini-Hochberg"}[fdr]
    return [f"{m} candidate slices tested (one-sided Welch t-test, slice worse than the rest); false discovery rate "
            f"controlled at {alpha:g} by {name} over all of them", PAIR_RULE, SINGLE_RULE,
            "ranked by effect score: difference in mean loss times the slice's share of rows"]


def find_weak_slices(frame: pd.DataFrame, loss, *, columns=None, max_bins: int = 5, min_support: float = 0.01,
                     min_rows: int = 30, max_candidates: int = 2000, pairs: bool = True, alpha: float = 0.05,
                     fdr: str = "by", holdout: bool = False, seed: int = 0, confidence: float = 0.95,
                     top: int = 20) -> SliceResult:
    """Slices of ``frame`` (single levels and pairs of levels) where ``loss`` is worse than on the rest.

    ``loss`` is one number per row, higher is worse (0/1 errors, absolute errors, log loss). Numeric
    columns are cut in up to ``max_bins`` quantile bins, other columns keep levels of at least
    ``min_support`` of the rows (rarer ones merged), missing values are a level. With ``pairs``, pairs
    of levels of two columns are candidates too (only among the strongest single levels when more than
    ``max_candidates`` slices would be tested; see :func:`plan_pairs`). ``find_weak_slices`` is
    :func:`plan_slices` + :func:`slice_counts` + :func:`slices_from_counts`. With ``holdout``, slices are
    discovered on a seeded half of the rows (significant there) and only those are tested on the other
    half, whose numbers are the main columns (the discovery half's are ``discover_*``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> frame = pd.DataFrame({"age": rng.uniform(18, 80, 4000), "color": rng.choice(["red", "blue"], 4000)})
    >>> loss = (rng.uniform(size=4000) < np.where(frame.age < 30, 0.4, 0.1)).astype(float)
    >>> r = find_weak_slices(frame, loss)
    >>> r.slices.loc[0, "description"], bool(r.slices.loc[0, "significant"])
    ('age < 30', True)
    """
    return search_losses(frame, [RowLoss("loss", loss)], columns=columns, max_bins=max_bins, min_support=min_support,
                         min_rows=min_rows, max_candidates=max_candidates, pairs=pairs, alpha=alpha, fdr=fdr,
                         holdout=holdout, seed=seed, confidence=confidence, top=top)["loss"]


def search_losses(frame: pd.DataFrame, losses, *, columns=None, max_bins: int = 5, min_support: float = 0.01,
                  min_rows: int = 30, max_candidates: int = 2000, pairs: bool = True, alpha: float = 0.05,
                  fdr: str = "by", holdout: bool = False, seed: int = 0, confidence: float = 0.95,
                  top: int = 20) -> dict[str, SliceResult]:
    """:func:`find_weak_slices` for several losses of the same rows, with one plan and the false discovery rate
    controlled over all of them: each loss's candidates at ``alpha / len(losses)`` (the expected share of false
    slices among all reported is then at most ``alpha``). ``losses``: :class:`RowLoss` objects (a loss defined on
    some rows only, such as a false positive rate, is searched on those rows, cut by the plan of all rows).

    Examples
    --------
    >>> from audit.slices import RowLoss
    >>> frame = pd.DataFrame({"g": ["a"] * 60 + ["b"] * 60})
    >>> err = RowLoss("error_rate", np.r_[np.zeros(60), np.ones(45), np.zeros(15)])
    >>> r = search_losses(frame, [err, RowLoss("log_loss", np.ones(120))])
    >>> r["error_rate"].slices.loc[0, "description"], r["error_rate"].settings["alpha"]
    ('g == "b"', 0.025)
    """
    if not isinstance(frame, pd.DataFrame):
        raise AuditInputError(NOT_A_FRAME.format(kind=type(frame).__name__))
    k = max(len(losses), 1)
    settings = dict(columns=None if columns is None else list(columns), max_bins=max_bins, min_support=min_support,
                    min_rows=min_rows, max_candidates=max_candidates, pairs=pairs, alpha=alpha / k, fdr=fdr,
                    holdout=holdout, seed=seed, confidence=confidence, top=top, n_rows=len(frame))
    _check_settings(settings)
    ys = [check_loss(loss.values, len(frame) if loss.rows is None else int(np.count_nonzero(loss.rows)))
          for loss in losses]  # every loss checked before the plan is made
    plan = plan_slices(frame, columns, max_bins=max_bins, min_support=min_support)
    codes = encode(frame, plan)
    out = {}
    for loss, y in zip(losses, ys):
        part = codes if loss.rows is None else [c[loss.rows] for c in codes]
        result = _search(part, y, plan, {**settings, "n_rows": len(y)})
        if k > 1:
            result.notes.insert(1, budget_note(alpha, k))
        out[loss.name] = result
    return out


def budget_note(alpha: float, k: int) -> str:
    """How ``k`` losses share the false discovery rate ``alpha`` (each searched at ``alpha / k``)."""
    return (f"{k} losses searched: each at alpha = {alpha:g} / {k} = {alpha / k:.4g}, which keeps the false discovery "
            f"rate over all of them at {alpha:g}")


def _search(codes: list[np.ndarray], y: np.ndarray, plan: SlicePlan, settings: dict) -> SliceResult:
    """Pairs, counts, tests, FDR, merging and ranking of already encoded rows (``settings`` as find_weak_slices)."""
    max_candidates, min_rows, alpha, fdr = (settings[k] for k in ("max_candidates", "min_rows", "alpha", "fdr"))
    holdout, seed, confidence, top = (settings[k] for k in ("holdout", "seed", "confidence", "top"))
    plan = SlicePlan(plan.columns, shift=float(y.mean()) if len(y) else 0.0)
    discover = holdout_split(len(y), seed) if holdout else np.ones(len(y), dtype=bool)
    d_codes = [c[discover] for c in codes] if holdout else codes
    notes = []
    if settings["pairs"]:
        plan, notes = with_pairs(plan, count_codes(d_codes, y[discover], plan), max_candidates=max_candidates,
                                 min_rows=min_rows, holdout=holdout)
    counts = count_codes(d_codes, y[discover], plan)
    table = _flag(_test(counts, plan.shift, min_rows, confidence), alpha, fdr)
    notes = _notes(fdr, alpha, len(table)) + notes
    n_candidates = len(table)
    if holdout:
        counts = count_codes([c[~discover] for c in codes], y[~discover], plan)
        table, confirmed = _confirm(table, counts, plan.shift, min_rows, alpha, fdr, confidence)
        notes.append(f"holdout: {int(discover.sum())} rows (seed {seed}) discovered {confirmed} significant slices; "
                     f"the other {int((~discover).sum())} rows tested only those, FDR over them; main columns are the "
                     "confirmation half's, discover_* the discovery half's")
    table = _describe(plan, table)
    slices, worst, n_sig = _report(table, top, alpha, _total(counts))
    return SliceResult(slices[_columns(slices)], table[_columns(table)], n_candidates, worst, n_sig, notes, settings)


def with_pairs(plan: SlicePlan, singles: pd.DataFrame, *, max_candidates: int, min_rows: int,
               holdout: bool = False) -> tuple[SlicePlan, list[str]]:
    """The plan with its pairs (:func:`plan_pairs`) and a note when ``max_candidates`` left some levels out of them.

    ``singles``: a counts table of the plan's single levels (and all rows); any pair rows in it are ignored.
    """
    singles = singles[singles.column_b < 0]
    plan = plan_pairs(plan, singles, max_candidates=max_candidates, min_rows=min_rows)
    notes = []
    if plan.pair_levels and any(len(lv) < int((singles.n[singles.column_a == i] >= min_rows).sum())
                                for i, lv in enumerate(plan.pair_levels)):
        notes.append(f"more than {max_candidates} candidates: pairs were formed only among the strongest single "
                     f"levels (largest one-sided Welch t), added while all candidates stayed within {max_candidates}"
                     + ("" if holdout else "; holdout=True removes the selection's optimism"))
    return plan, notes


def _total(counts: pd.DataFrame) -> tuple[float, float, float]:
    row = counts.iloc[0]
    return float(row.n), float(row["sum"]), float(row.sumsq)


def _confirm(found: pd.DataFrame, counts, shift, min_rows, alpha, fdr, confidence) -> tuple[pd.DataFrame, int]:
    """The slices significant on the discovery half, tested on the confirmation half's ``counts`` (FDR over them)."""
    selected = found[found.significant]
    confirm = _test(counts, shift, min_rows, confidence)
    keep = list(STATS)
    disc = selected[KEYS + keep].rename(columns={k: f"discover_{k}" for k in keep})
    both = disc.merge(confirm, on=KEYS, how="inner")
    both = _flag(both, alpha, fdr)
    # singles not selected keep their confirmation numbers (not significant) so the pair rule can read them
    rest = confirm.merge(disc[KEYS], on=KEYS, how="left", indicator=True)
    rest = rest[rest["_merge"] == "left_only"].drop(columns="_merge")
    rest = rest[rest.column_b < 0].assign(q_value=np.nan, significant=False)
    return pd.concat([both, rest], ignore_index=True), len(selected)
