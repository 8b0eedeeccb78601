"""``conv2d_backward_weight``: dL/dW and dL/db alone, for an input that needs no gradient,
against PyTorch's autograd (the input without ``requires_grad``) over the option grid."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from cnncli.engine import conv2d_backward, conv2d_backward_weight

torch = pytest.importorskip("torch")

GRID = [
    case
    for case in itertools.product(
        [(2, 1, 9, 8, 3), (3, 4, 7, 6, 2), (2, 6, 10, 4, 4)],  # N, C, H, F, groups-compatible
        [1, 2],  # stride
        [0, 1, "same"],  # padding
        [1, 2],  # dilation
        ["zeros", "reflect", "circular"],  # padding mode
    )
    # PyTorch refuses padding="same" with a stride above 1; without padding no mode applies.
    if not (case[2] == "same" and case[1] != 1) and not (case[4] != "zeros" and case[2] == 0)
]


@pytest.mark.parametrize(("dims", "stride", "padding", "dilation", "mode"), GRID)
def test_weight_and_bias_grads_equal_autograd(
    dims: tuple[int, ...], stride: int, padding: object, dilation: int, mode: str
) -> None:
    N, C, H, F, groups = dims
    groups = groups if C % groups == 0 and F % groups == 0 else 1
    rng = np.random.default_rng(N * 100 + C * 10 + H)
    x = rng.standard_normal((N, C, H, H + 1), dtype=np.float32)
    w = rng.standard_normal((F, C // groups, 3, 3), dtype=np.float32)
    conv = torch.nn.Conv2d(C, F, 3, stride=stride, padding=padding, dilation=dilation,
                           groups=groups, padding_mode=mode)  # fmt: skip
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(w))
    y = conv(torch.from_numpy(x))  # the input needs no gradient
    gy = rng.standard_normal(tuple(y.shape), dtype=np.float32)
    y.backward(torch.from_numpy(gy))
    how = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups,
           "padding_mode": mode}  # fmt: skip
    dw, db = conv2d_backward_weight(gy, x, w, **how)
    assert conv.weight.grad is not None and conv.bias.grad is not None
    np.testing.assert_allclose(dw, conv.weight.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(db, conv.bias.grad.numpy(), rtol=1e-5, atol=1e-4)
    _, dw_full, db_full = conv2d_backward(gy, x, w, **how)
    np.testing.assert_allclose(dw, dw_full, rtol=1e-5, atol=1e-5)
    assert db_full is not None and np.array_equal(db, db_full)


def test_float64_stays_float64_and_no_bias_gives_none() -> None:
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((1, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3))
    gy = rng.standard_normal((1, 3, 3, 3))
    dw, db = conv2d_backward_weight(gy, x, w, bias=False)
    assert dw.dtype == np.float64 and db is None


def test_the_first_layer_of_a_network_in_training_skips_dx() -> None:
    """Sequential hands its needs_input_grad to its first child: the same weight gradients,
    and a read-only zero array where dL/dx would be."""
    from cnncli.nn.spec import load_model

    x = np.random.default_rng(0).random((4, 1, 28, 28), dtype=np.float32)
    grads = []
    for needed in (True, False):
        net, _ = load_model("lenet5")
        net.reset_parameters(np.random.default_rng(1))
        net.needs_input_grad = needed
        out = net(x)
        dx = net.backward(np.ones_like(out))
        grads.append({k: v.copy() for k, v in net.named_grads().items()})
        if not needed:
            assert not dx.flags.writeable and not dx.any() and dx.shape == x.shape
    assert grads[0].keys() == grads[1].keys()
    for key in grads[0]:
        np.testing.assert_allclose(grads[0][key], grads[1][key], rtol=1e-5, atol=1e-6)
