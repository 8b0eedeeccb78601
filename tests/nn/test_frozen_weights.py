"""A Conv2d layer keeps its weight immutable, so that conv2d reuses its Winograd transform."""

from __future__ import annotations

import numpy as np
import pytest

from cnncli.engine.fast.frozen import is_frozen
from cnncli.nn import layers as L  # noqa: N812


def test_conv2d_weights_are_frozen_when_made_and_when_loaded() -> None:
    conv = L.Conv2d(3, 4, 3)
    conv.reset_parameters(np.random.default_rng(0))
    assert is_frozen(conv.parameters()["weight"])
    assert not is_frozen(conv.parameters()["bias"])
    mine = np.ones((4, 3, 3, 3), dtype=np.float32)
    conv.load_state_dict({"weight": mine, "bias": np.zeros(4, dtype=np.float32)})
    weight = conv.parameters()["weight"]
    assert is_frozen(weight)
    np.testing.assert_array_equal(weight, mine)
    with pytest.raises(ValueError, match="read-only"):
        weight[0, 0, 0, 0] = 2.0
    mine[0, 0, 0, 0] = 5.0  # the caller's array stays theirs, writeable and separate
    assert weight[0, 0, 0, 0] == 1.0


def test_linear_weights_are_not_copied_to_be_frozen() -> None:
    """A Linear weight can be 100M values: it is kept as loaded, without a copy."""
    fc = L.Linear(3, 2)
    mine = np.ones((2, 3), dtype=np.float32)
    fc.load_state_dict({"weight": mine, "bias": np.zeros(2, dtype=np.float32)})
    assert fc.parameters()["weight"] is mine and not is_frozen(mine)
