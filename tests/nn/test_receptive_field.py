"""Receptive fields and jumps in ``shapes`` against a brute-force measurement.

A network with all-positive weights (so no path cancels another and every max pool passes
a large enough value) is run on a constant input with one whole input row (or column)
raised by 1000 at a time: an output changes exactly when that row is in its receptive
field. The receptive field along H is the largest ``last − first + 1`` of the changing
rows over the outputs whose field does not touch the border (there padding cuts it).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from cnncli.nn import layers as L  # noqa: N812
from cnncli.nn import zoo_classic
from cnncli.nn.receptive import START, RfAxis, Span, advance, jump_text
from cnncli.nn.summary import summarize


def _positive(net: L.Layer) -> L.Layer:
    L.initialize(net, seed=0)
    state = {k: np.abs(v).astype(np.float64) + 0.01 for k, v in net.state_dict().items()}
    for key in state:
        if key.endswith("running_mean"):
            state[key] = np.zeros_like(state[key])
        if key.endswith("num_batches_tracked"):
            state[key] = np.zeros((), dtype=np.int64)
    net.load_state_dict(state, dtype=np.float64)
    return net.eval()


def _measured(net: L.Layer, c: int, h: int, w: int) -> tuple[int, int]:
    """(RF along H, RF along W) by raising one input row / column at a time."""
    base = np.ones((1, c, h, w))
    rows = np.repeat(base, h, axis=0)
    cols = np.repeat(base, w, axis=0)
    for i in range(h):
        rows[i, :, i, :] += 1000.0
    for i in range(w):
        cols[i, :, :, i] += 1000.0
    y0 = net(base)
    fields = []
    for batch, n, axis in ((rows, h, 2), (cols, w, 3)):
        changed = (net(batch) != y0).any(axis=1)  # (n, OH, OW): raising line i changes it
        per_line = changed.any(axis=4 - axis)  # (n, OH) or (n, OW): per output row / column
        best = 0
        for line in per_line.T:
            idx = np.flatnonzero(line)
            if idx.size and idx[0] > 0 and idx[-1] < n - 1:  # not cut by the border
                best = max(best, int(idx[-1] - idx[0] + 1))
        fields.append(best)
    return fields[0], fields[1]


def _tconv(c_in: int, c_out: int, k: int, **kw: int) -> L.ConvTranspose2d:
    return L.ConvTranspose2d(c_in, c_out, k, **kw)  # type: ignore[arg-type]


CASES = {
    # a 2×2 stride-2 transposed conv copies each input to 2×2 outputs: each sees one input
    "tconv2s2": (lambda: L.Sequential(_tconv(1, 2, 2, stride=2)), (1, 9, 9), 1, Fraction(1, 2)),
    "tconv2s2_conv3": (
        lambda: L.Sequential(_tconv(1, 2, 2, stride=2), L.Conv2d(2, 1, 3, padding=1)),
        (1, 9, 9),
        2,
        Fraction(1, 2),
    ),
    # the textbook r_in + (k − 1)·j_out would say 1 + 1 + 1/2; the phases allow 2
    "tconv3s2p1_conv2": (
        lambda: L.Sequential(_tconv(1, 2, 3, stride=2, padding=1), L.Conv2d(2, 1, 2)),
        (1, 9, 9),
        2,
        Fraction(1, 2),
    ),
    # conv: [2a, 2a + 2]; tconv: two neighbours a at every phase, 5 pixels; the 3×3 conv
    # then covers three outputs reached by three a's: 2·2 + 3 = 7 (textbook: 3 + 3 + 2 = 8)
    "conv3s2_tconv4s2p1_conv3": (
        lambda: L.Sequential(
            L.Conv2d(1, 2, 3, stride=2),
            _tconv(2, 2, 4, stride=2, padding=1),
            L.Conv2d(2, 1, 3, padding=1),
        ),
        (1, 21, 21),
        7,
        Fraction(1),
    ),
    "tconv3s3d2_conv3": (
        lambda: L.Sequential(_tconv(1, 1, 3, stride=3, dilation=2), L.Conv2d(1, 1, 3)),
        (1, 9, 9),
        3,
        Fraction(1, 3),
    ),
    "nearest2_conv3": (
        lambda: L.Sequential(L.Upsample(scale_factor=2), L.Conv2d(1, 1, 3, padding=1)),
        (1, 9, 9),
        2,
        Fraction(1, 2),
    ),
    # bilinear reads two neighbours: 3 + 1 = 4 at jump 1/2; three outputs read three: 5
    "bilinear2_conv3": (
        lambda: L.Sequential(
            L.Conv2d(1, 1, 3), L.Upsample(scale_factor=2, mode="bilinear"), L.Conv2d(1, 1, 3)
        ),
        (1, 13, 13),
        5,
        Fraction(1, 2),
    ),
    "upsample_size_nearest_maxpool": (
        lambda: L.Sequential(L.Upsample(size=(27, 27)), L.MaxPool2d(2)),
        (1, 9, 9),
        2,
        Fraction(2, 3),
    ),
    # a skip and an upsampled path joined: the union of what each sees, lined up
    "unet_widths_1": (lambda: zoo_classic.UNet(1, 1, widths=(1, 1, 1)), (1, 56, 56), 44, 1),
}


@pytest.mark.parametrize("case", list(CASES))
def test_receptive_field_equals_the_brute_force_measurement(case: str) -> None:
    build, chw, expected_rf, expected_jump = CASES[case]
    net = _positive(build())
    s = summarize(net, chw)
    assert s.failure is None
    last = s.layers[-1] if s.layers[0].is_leaf else s.layers[0]
    measured = _measured(net, *chw)
    assert measured == (expected_rf, expected_rf)
    assert last.receptive_field == measured
    assert last.jump == (expected_jump, expected_jump)


def test_the_unet_in_the_zoo_sees_44_pixels_at_jump_1() -> None:
    s = summarize(zoo_classic.unet(), (1, 64, 64))
    assert s.layers[0].receptive_field == (44, 44) and s.layers[0].jump == (1, 1)
    up2 = next(r for r in s.layers if r.name == "up2")
    assert up2.jump == (2, 2)  # the bottleneck's 4, divided by the stride 2


def test_integer_jumps_follow_the_textbook_recurrence() -> None:
    span, r, j = START, 1, 1
    for k, s, d, p in ((11, 4, 1, 2), (3, 2, 1, 0), (5, 1, 2, 2), (3, 2, 1, 1), (2, 1, 3, 0)):
        span = advance(span, RfAxis("conv", k, s, d, p))
        r, j = r + d * (k - 1) * j, j * s
        assert (span.size, span.jump) == (r, j)


def test_a_fractional_jump_is_shown_as_a_fraction() -> None:
    span = advance(Span(1, 4, (0,), (9,)), RfAxis("transposed", 2, 8))
    assert span.jump == Fraction(1, 2) and jump_text(span.jump) == "1/2"
    assert jump_text(Fraction(6, 3)) == "2"
