"""nn.Conv3d (the shared N-d layer with three spatial axes) against torch.nn.Conv3d in float64: forward, the
gradients of input, weight and bias, repr, for every padding mode and a grouped/strided/dilated geometry."""
from __future__ import annotations

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import nn
from oracle.helpers import ATOL, RTOL

GEOMETRIES = [dict(kernel_size=3, padding=1), dict(kernel_size=3, padding="same"),
              dict(kernel_size=(2, 3, 1), stride=(1, 2, 1), padding=(1, 0, 0), dilation=(2, 1, 1), groups=2),
              dict(kernel_size=2, stride=2, bias=False)]


@pytest.mark.parametrize("padding_mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=range(len(GEOMETRIES)))
def test_conv3d_module_matches_torch(torch, padding_mode, geometry):
    sc.manual_seed(0)
    ours = nn.Conv3d(4, 6, dtype=np.float64, padding_mode=padding_mode, **geometry)
    ref = torch.nn.Conv3d(4, 6, padding_mode=padding_mode, dtype=torch.float64, **geometry)
    ref.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    assert repr(ours) == repr(ref)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4, 5, 6, 4))
    xs, xt = sc.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, yt = ours(xs), ref(xt)
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=RTOL, atol=ATOL)
    g = rng.standard_normal(tuple(yt.shape))
    y.backward(g)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(xs.grad, xt.grad.numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(ours.weight.grad, ref.weight.grad.numpy(), rtol=RTOL, atol=ATOL)
    if ours.bias is not None:
        np.testing.assert_allclose(ours.bias.grad, ref.bias.grad.numpy(), rtol=RTOL, atol=ATOL)


def test_conv3d_rejects_a_2d_input():
    with pytest.raises(ValueError, match=r"expected input \(N, 2, D, H, W\)"):
        nn.Conv3d(2, 3, 3)(sc.Tensor(np.zeros((1, 2, 5, 5), np.float32)))
