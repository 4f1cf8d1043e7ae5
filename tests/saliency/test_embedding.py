"""Integrated Gradients on a text model's embedding layer (issue 27 item 2): a closed form on a model linear in its
embeddings, completeness on a nonlinear model with two named inputs, and captum's own LayerIntegratedGradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audit.saliency import embedding_integrated_gradients


class SumBag(torch.nn.Module):
    """logits = W (sum of the token embeddings): linear in the embeddings, so IG is exact in closed form."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.emb = torch.nn.Embedding(12, 4)
        self.out = torch.nn.Linear(4, 3, bias=True)

    def forward(self, ids):
        return self.out(self.emb(ids).sum(1))


class Masked(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.emb = torch.nn.Embedding(12, 6, padding_idx=0)
        self.mid = torch.nn.Linear(6, 8)
        self.out = torch.nn.Linear(8, 2)

    def forward(self, input_ids, attention_mask):
        h = torch.tanh(self.mid(self.emb(input_ids)))
        m = attention_mask.float()[..., None]
        return self.out((h * m).sum(1) / m.sum(1))


IDS = torch.tensor([[3, 5, 7, 0], [1, 2, 0, 0], [11, 4, 4, 9]])


def test_a_model_linear_in_its_embeddings_gets_the_closed_form():
    net = SumBag()
    target = [0, 2, 1]
    r = embedding_integrated_gradients(net, IDS, target, n_steps=20)
    w, e = net.out.weight.detach(), net.emb.weight.detach()
    for _, t in r.tokens.iterrows():
        expected = float(w[target[t["row"]]] @ (e[t["token_id"]] - e[0]))
        assert t["value"] == pytest.approx(expected, abs=1e-5)
    assert (r.tokens["token_id"] != 0).all() and len(r.tokens) == int((IDS != 0).sum())


def test_completeness_with_named_inputs_and_equality_with_captum():
    from captum.attr import LayerIntegratedGradients

    net = Masked()
    mask = (IDS != 0).long()
    r = embedding_integrated_gradients(net, {"input_ids": IDS, "attention_mask": mask}, [1, 0, 1], n_steps=200)
    with torch.no_grad():
        full = net(IDS, mask)
        base = net(torch.zeros_like(IDS), mask)
    for row in range(3):
        c = int(r.class_index[row])
        total = r.tokens[r.tokens["row"] == row]["value"].sum()
        # padding positions hold the baseline's own id: they contribute nothing, so the real tokens carry it all
        assert total == pytest.approx(float(full[row, c] - base[row, c]), abs=2e-3)
    lig = LayerIntegratedGradients(lambda ids, m: net(ids, m), net.emb)
    ref = lig.attribute(IDS, baselines=torch.zeros_like(IDS), target=torch.tensor([1, 0, 1]),
                        additional_forward_args=(mask,), n_steps=200).sum(-1).detach().numpy()
    got = np.zeros_like(ref)
    got[r.tokens["row"], r.tokens["position"]] = r.tokens["value"]
    np.testing.assert_allclose(got[IDS.numpy() != 0], ref[IDS.numpy() != 0], atol=1e-9)


def test_a_model_without_embeddings_is_named():
    with pytest.raises(ValueError, match="no embedding layer"):
        embedding_integrated_gradients(torch.nn.Linear(4, 2), IDS, [0, 0, 0])
