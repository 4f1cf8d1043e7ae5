"""Integrated Gradients on a text model's embedding layer (captum's ``LayerIntegratedGradients``): one attribution
per token, the sum over the embedding dimensions of the path integral from the padding token's embedding."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from audit.errors import AuditInputError


@dataclass
class TokenAttribution:
    """Integrated Gradients per token.

    Attributes
    ----------
    tokens : DataFrame
        One row per (``row``, ``position``) of a real token (padding left out): ``token_id``, ``token`` (the
        tokenizer's string when it can give one, else the id), ``value``.
    delta : ndarray
        Per row, captum's convergence delta: sum of attributions - (f(x) - f(baseline)) for the explained class.
    class_index : ndarray
    n_steps : int
    notes : list of str
    """

    tokens: pd.DataFrame
    delta: np.ndarray
    class_index: np.ndarray
    n_steps: int
    notes: list[str] = field(default_factory=list)


def embedding_layer(module: torch.nn.Module) -> torch.nn.Module:
    """The layer whose output Integrated Gradients integrates along: the model's input embeddings
    (``get_input_embeddings()`` of a Hugging Face model), else its first ``nn.Embedding``."""
    get = getattr(module, "get_input_embeddings", None)
    if callable(get) and isinstance(get(), torch.nn.Module):
        return get()
    for m in module.modules():
        if isinstance(m, (torch.nn.Embedding, torch.nn.EmbeddingBag)):
            return m
    raise AuditInputError("the model has no embedding layer (nn.Embedding): Integrated Gradients on embeddings needs one")


def embedding_integrated_gradients(module: torch.nn.Module, inputs: Any, class_index: Any, *, n_steps: int = 50,
                                   pad_id: int = 0, tokenizer: Any = None,
                                   internal_batch_size: int | None = None) -> TokenAttribution:
    """Integrated Gradients of ``class_index``'s logit on ``module``'s embedding layer, from the embedding of
    ``pad_id`` (the usual "no word" baseline) to each token's.

    ``inputs`` is a LongTensor of token ids ``(n, length)`` or a mapping with ``input_ids`` (other entries such as
    ``attention_mask`` are passed unchanged); positions holding ``pad_id`` are left out of the table.

    Examples
    --------
    >>> emb = torch.nn.Embedding(5, 3, padding_idx=0)
    >>> net = torch.nn.Sequential(emb, torch.nn.Flatten(), torch.nn.Linear(6, 2))
    >>> r = embedding_integrated_gradients(net, torch.tensor([[1, 2], [3, 0]]), [1, 0])
    >>> r.tokens["position"].tolist(), bool(abs(r.delta).max() < 1e-4)
    ([0, 1, 0], True)
    """
    from captum.attr import LayerIntegratedGradients

    named = dict(inputs) if isinstance(inputs, Mapping) else {"input_ids": inputs}
    if "input_ids" not in named:
        raise AuditInputError(f"a mapping of model inputs needs 'input_ids'; it has {list(named)}")
    ids = named.pop("input_ids")
    if not isinstance(ids, torch.Tensor) or ids.dtype not in (torch.int64, torch.int32) or ids.ndim != 2:
        raise AuditInputError("input_ids must be an integer tensor (rows x tokens)")
    keys = list(named)

    def forward(token_ids: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        extra = dict(zip(keys, rest))
        out = module(input_ids=token_ids, **extra) if isinstance(inputs, Mapping) else module(token_ids)
        logits = out.logits if not isinstance(out, torch.Tensor) and hasattr(out, "logits") else out
        return logits[0] if isinstance(logits, (tuple, list)) else logits

    target = torch.as_tensor(np.asarray(class_index).reshape(-1), dtype=torch.long)
    lig = LayerIntegratedGradients(forward, embedding_layer(module))
    baseline = torch.full_like(ids, pad_id)
    attr, delta = lig.attribute(ids, baselines=baseline, target=target, additional_forward_args=tuple(named.values()),
                                n_steps=n_steps, return_convergence_delta=True, internal_batch_size=internal_batch_size)
    values = attr.sum(dim=-1).detach().cpu().double().numpy()
    id_arr = ids.detach().cpu().numpy()
    rows, pos = np.nonzero(id_arr != pad_id)
    names = _token_names(tokenizer, id_arr[rows, pos])
    tokens = pd.DataFrame({"row": rows, "position": pos, "token_id": id_arr[rows, pos], "token": names,
                           "value": values[rows, pos]})
    notes = [f"Integrated Gradients (captum LayerIntegratedGradients, {n_steps} steps) on the embedding layer from the "
             f"padding token's embedding (id {pad_id}); the value of a token is the sum over embedding dimensions."]
    return TokenAttribution(tokens=tokens, delta=delta.detach().cpu().double().numpy(), class_index=target.numpy(),
                            n_steps=n_steps, notes=notes)


def _token_names(tokenizer: Any, ids: np.ndarray) -> list[str]:
    convert = getattr(tokenizer, "convert_ids_to_tokens", None)
    if callable(convert):
        return [str(t) for t in convert([int(i) for i in ids])]
    vocab = getattr(tokenizer, "vocabulary", None) or getattr(tokenizer, "vocab", None)
    if isinstance(vocab, Mapping):
        inverse = {int(v): str(k) for k, v in vocab.items() if isinstance(v, (int, np.integer))}
        return [inverse.get(int(i), str(int(i))) for i in ids]
    return [str(int(i)) for i in ids]
