"""The explanation check's text branch: a Shapley value per word (exact up to 10 distinct words, else antithetic
permutations within a stated budget), LIME for text on the chosen rows, the words that move each class most, and the
chosen texts highlighted by both methods (:func:`audit.explain.text_shap`, :func:`audit.explain.text_lime`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from audit.context import AuditContext
from audit.explain import TEXT_MAX_EVALS, TextAttribution, text_lime, text_shap, top_words
from audit.plots.text import text_highlights
from audit.saliency import embedding_integrated_gradients
from audit.section import DeferredFigures, Figure, Metric, Section

PATTERNS = ("explain.text.shap_lime_rank_agreement",)
DOCS = {
    "explain.text.shap_lime_rank_agreement": "text models: mean Spearman rank correlation of |SHAP| and |LIME| word "
    "weights over the chosen texts (words LIME kept)",
}


def skip_reason(ctx: AuditContext) -> str | None:
    """Why a text model's explanation is skipped (a regressor), else None."""
    if ctx.data.modality == "text" and ctx.is_regression:
        return "word attributions explain class probabilities; a text regressor's are not built yet"
    return None


def _agreement(shap: TextAttribution, lime: TextAttribution, pairs: list[tuple[int, int]]) -> float:
    """Mean Spearman correlation of |SHAP| and |LIME| over each chosen text's words LIME selected; ``pairs`` are
    (row in ``shap``, row in ``lime``) of the same text. Texts with fewer than 3 such words are left out."""
    out = []
    for r, q in pairs:
        s = shap.words[shap.words["row"] == r].drop_duplicates("feature").set_index("feature")["value"].abs()
        l_words = lime.words[(lime.words["row"] == q) & lime.words["selected"]]
        lv = l_words.drop_duplicates("feature").set_index("feature")["value"].abs()
        common = lv.index.intersection(s.index)
        if len(common) >= 3 and s[common].nunique() > 1 and lv[common].nunique() > 1:
            out.append(float(spearmanr(s[common], lv[common]).statistic))
    return float(np.mean(out)) if out else float("nan")


def text_explain_section(ctx: AuditContext, chosen: list[tuple[int, str]], n_rows: int, lime_samples: int,
                         top: int) -> Section:
    """The explanation section of a text classifier: ``chosen`` (row, why) are highlighted by both methods; SHAP also
    runs on a seeded sample of ``n_rows`` texts for the global word ranking."""
    column = ctx.data.X.columns[0]
    texts = ctx.data.X[column].astype(str).tolist()

    def predict(batch: list[str]) -> np.ndarray:
        return ctx.model.predict_proba(pd.DataFrame({column: list(batch)}), what="texts with words removed")

    seed = ctx.torch_seed("explain")
    n = ctx.n_rows
    sample = np.arange(n) if n <= n_rows else np.sort(ctx.rng("explain.text").choice(n, n_rows, replace=False))
    rows = [i for i, _ in chosen]
    rows_all = sorted(set(sample.tolist()) | set(rows))
    shap = text_shap(predict, [texts[i] for i in rows_all], seed=seed)
    lime = text_lime(predict, [texts[i] for i in rows], num_samples=lime_samples, seed=seed)
    pos = {r: k for k, r in enumerate(rows_all)}
    agreement = _agreement(shap, lime, [(pos[r], k) for k, r in enumerate(rows)])
    classes = [str(c) for c in ctx.classes]
    words = top_words(shap, k=top, by_class=True, lowercase=True)
    words.insert(0, "class", [classes[int(c)] for c in words["class_index"]])
    metrics = [Metric("explain.text.shap_lime_rank_agreement", agreement, description=DOCS[PATTERNS[0]])]
    if shap.rows["additivity_error"].notna().any():
        metrics.append(Metric("explain.additivity_error", float(shap.rows["additivity_error"].max()),
                              higher_is_better=False, description="largest |sum of word SHAP values + base - "
                              "output| over explained texts (the empty text is the base)"))
    titles = [f"row {i} · {why} · predicted {classes[int(ctx.pred[i])]}" for i, why in chosen]
    chosen_texts = [texts[i] for i in rows]
    shap_words = shap.words[shap.words["row"].isin([pos[r] for r in rows])].copy()
    shap_words["row"] = shap_words["row"].map({pos[r]: k for k, r in enumerate(rows)})
    lime_words = lime.words[lime.words["selected"]]

    def draw() -> list[Figure]:
        return (text_highlights(chosen_texts, shap_words, titles, caption="SHAP: red raises the predicted class's "
                                "probability, blue lowers it")
                + text_highlights(chosen_texts, lime_words, titles, caption="LIME (same texts): its surrogate's "
                                  "word weights"))

    exact = int((shap.rows["estimator"] == "exact").sum())
    leaders = "; ".join(f"{c}: {', '.join(g['word'].head(3).astype(str))}" for c, g in words.groupby("class", sort=False))
    summary = (f"Words that move the predicted class most ({leaders}; word SHAP on {len(rows_all):,} texts, {exact:,} "
               f"exact). SHAP and LIME rank the chosen texts' words with a mean Spearman correlation of {agreement:.2f}.")
    notes = [f"Words are lime's tokens (split on non-word characters); removing a word is the masking. SHAP: exact "
             f"Shapley values up to 10 distinct words, else antithetic permutations within {TEXT_MAX_EVALS:,} model "
             f"evaluations per text with a standard error per value; base value: the empty text. LIME: "
             f"{lime_samples:,} samples per text, lime's kernel and ridge surrogate (equal to LimeTextExplainer). "
             f"Model calls: {shap.n_model_calls + lime.n_model_calls:,} batches of texts.", *shap.notes, *lime.notes,
             f"Row budget: word SHAP on {len(rows_all):,} of {n:,} texts (a seeded sample of n_rows={n_rows:,} and the "
             f"chosen texts), LIME on the {len(rows)} chosen texts."]
    tables = {"Top words per class (mean |SHAP|)": words,
              "Chosen texts": pd.DataFrame({"row": rows, "why": [w for _, w in chosen], "text": chosen_texts}),
              "Word SHAP (chosen texts)": shap_words.assign(row=lambda d: [rows[int(k)] for k in d["row"]]),
              "LIME weights (chosen texts)": lime.words[lime.words["selected"]].assign(
                  row=lambda d: [rows[int(k)] for k in d["row"]])}
    if ctx.model.differentiable and ctx.model.tokenizer is not None:
        ig = _integrated_gradients(ctx, column, rows)
        tables["Integrated Gradients on the embeddings (chosen texts)"] = ig.tokens
        notes += [*ig.notes, f"Largest |convergence delta| (sum of a text's token attributions minus its logit's change "
                  f"from the baseline): {float(np.abs(ig.delta).max()):.2g}."]
    return Section(check="explain", title="Explanations (SHAP and LIME)", summary=summary, metrics=metrics,
                   tables=tables, figures=DeferredFigures(draw), notes=notes)


def _integrated_gradients(ctx: AuditContext, column: str, rows: list[int]):
    """Token attributions of a differentiable text model on the chosen rows (their predicted class)."""
    inputs = ctx.model.model_input(ctx.data.X.iloc[rows].reset_index(drop=True))
    pad = getattr(ctx.model.tokenizer, "pad_token_id", None)
    result = embedding_integrated_gradients(ctx.model.module, inputs, ctx.pred[rows], tokenizer=ctx.model.tokenizer,
                                            pad_id=int(pad) if isinstance(pad, (int, np.integer)) else 0)
    result.tokens["row"] = [rows[int(k)] for k in result.tokens["row"]]
    return result
