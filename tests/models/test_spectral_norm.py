"""Spectral normalisation in the authors' (classic) iteration order."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from layout2im.config import load_config
from layout2im.models import ImageDiscriminator, ObjectDiscriminator
from layout2im.models.spectral_norm import ClassicSpectralNorm, spectral_norm


def _given(seed=0):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(6, 4, 3, 3, generator=g, dtype=torch.float64)
    u = F.normalize(torch.randn(6, generator=g, dtype=torch.float64), dim=0)
    v = F.normalize(torch.randn(36, generator=g, dtype=torch.float64), dim=0)
    return w, u, v


def test_one_power_iteration_takes_v_from_u_then_u_from_v():
    w, u, v = _given()
    conv = spectral_norm(nn.Conv2d(4, 6, 3).double(), "classic")
    sn = conv.parametrizations.weight[0]
    with torch.no_grad():
        conv.parametrizations.weight.original.copy_(w)
        sn._u.copy_(u)
        sn._v.copy_(v)
    normalised = conv.weight  # training mode: one iteration
    mat = w.flatten(1)
    v1 = F.normalize(mat.t() @ u, dim=0)  # v from the stored u first
    u1 = F.normalize(mat @ v1, dim=0)  # then u from the new v
    torch.testing.assert_close(sn._v, v1, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(sn._u, u1, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(normalised, w / torch.dot(u1, mat @ v1), rtol=1e-12, atol=1e-14)
    # the modern order (u first) gives another sigma from the same W, u, v
    u_modern = F.normalize(mat @ v, dim=0)
    v_modern = F.normalize(mat.t() @ u_modern, dim=0)
    assert not torch.allclose(torch.dot(u_modern, mat @ v_modern), torch.dot(u1, mat @ v1))
    # eval mode only reads u, v
    conv.eval()
    torch.testing.assert_close(conv.weight, w / torch.dot(u1, mat @ v1))
    torch.testing.assert_close(sn._u, u1)


def test_matches_the_legacy_torch_api_call_by_call():
    w, u, v = _given(1)
    ours = spectral_norm(nn.Conv2d(4, 6, 3).double(), "classic")
    legacy = nn.utils.spectral_norm(nn.Conv2d(4, 6, 3).double())
    with torch.no_grad():
        ours.parametrizations.weight.original.copy_(w)
        ours.parametrizations.weight[0]._u.copy_(u)
        ours.parametrizations.weight[0]._v.copy_(v)
        legacy.weight_orig.copy_(w)
        legacy.weight_u.copy_(u)
        legacy.weight_v.copy_(v)
        legacy.bias.copy_(ours.bias)
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64)
    for _ in range(3):
        torch.testing.assert_close(ours(x), legacy(x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours.parametrizations.weight[0]._u, legacy.weight_u)


def test_no_warm_up_at_construction_and_random_unit_vectors():
    torch.manual_seed(3)
    a = ClassicSpectralNorm(torch.randn(5, 7))
    torch.manual_seed(3)
    torch.randn(5, 7)  # the weight
    u = F.normalize(torch.randn(5), dim=0)  # u is drawn first, then v: no iteration
    v = F.normalize(torch.randn(7), dim=0)
    torch.testing.assert_close(a._u, u)
    torch.testing.assert_close(a._v, v)


def test_paper_presets_use_the_classic_order_with_the_same_state_keys():
    m = load_config("paper-coco64").model
    assert m.spectral_norm == "classic"
    assert load_config("shapes32").model.spectral_norm == "modern"
    classic = ImageDiscriminator([4, 8], "classic")
    modern = ImageDiscriminator([4, 8], "modern")
    assert isinstance(classic.head.parametrizations.weight[0], ClassicSpectralNorm)
    assert list(classic.state_dict()) == list(modern.state_dict())
    ObjectDiscriminator([4, 8], 3, "classic")
    with pytest.raises(ValueError, match="classic, modern"):
        spectral_norm(nn.Linear(2, 2), "other")
