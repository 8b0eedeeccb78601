"""Parameter text shared by the commands: pairs, padding, channels, --explain indices."""

from __future__ import annotations

import pytest

from cnncli.cli import argtypes
from cnncli.errors import ParameterError


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1", 1), ("2,3", (2, 3)), (" 4 , 5 ", (4, 5)), ("1,2,3,4", (1, 2, 3, 4)), ("same", "same"),
     ("VALID", "valid")],
)  # fmt: skip
def test_parse_padding(text: str, expected: object) -> None:
    assert argtypes.parse_padding(text) == expected


@pytest.mark.parametrize("text", ["1,2,3", "a", "", "1,,2", "1.5"])
def test_parse_padding_refuses(text: str) -> None:
    with pytest.raises(ParameterError):
        argtypes.parse_padding(text)


def test_parse_padding_words_only_for_conv() -> None:
    with pytest.raises(ParameterError, match="conv only"):
        argtypes.parse_padding("same", words=False)


def test_lrtb_is_f_pad_order() -> None:
    assert argtypes.lrtb(2) == (2, 2, 2, 2)
    assert argtypes.lrtb((1, 3)) == (3, 3, 1, 1)  # (H, W) → left/right = W, top/bottom = H
    assert argtypes.lrtb((1, 2, 3, 4)) == (1, 2, 3, 4)


def test_parse_pair() -> None:
    assert argtypes.parse_pair("2", "stride") == 2
    assert argtypes.parse_pair("2,1", "stride") == (2, 1)
    with pytest.raises(ParameterError, match="stride"):
        argtypes.parse_pair("1,2,3", "stride")


def test_parse_channels() -> None:
    assert argtypes.parse_channels(None, 1, 4) is None
    assert argtypes.parse_channels("0,3", 1, 4) == [(None, 0), (None, 3)]
    assert argtypes.parse_channels("1-3", 1, 4) == [(None, 1), (None, 2), (None, 3)]
    assert argtypes.parse_channels("1:2", 2, 4) == [(1, 2)]
    for bad in ("4", "2:0", "x", ","):
        with pytest.raises(ParameterError):
            argtypes.parse_channels(bad, 2, 4)


def test_parse_index() -> None:
    assert argtypes.parse_index("1,2", (1, 3, 4, 5)) == (0, 0, 1, 2)
    assert argtypes.parse_index("2,1,2", (1, 3, 4, 5)) == (0, 2, 1, 2)
    assert argtypes.parse_index("1,2,1,2", (2, 3, 4, 5)) == (1, 2, 1, 2)
    with pytest.raises(ParameterError, match=r"row I=4 is out of range 0\.\.3"):
        argtypes.parse_index("4,0", (1, 3, 4, 5))
    with pytest.raises(ParameterError):
        argtypes.parse_index("1", (1, 3, 4, 5))


def test_parse_floats() -> None:
    assert argtypes.parse_floats("1,-0.5", "--bias") == [1.0, -0.5]
    for bad in ("nan", "inf", "x", ""):
        with pytest.raises(ParameterError):
            argtypes.parse_floats(bad, "--bias")


def test_as_pair() -> None:
    assert argtypes.as_pair(3) == (3, 3)
    assert argtypes.as_pair((2, 1)) == (2, 1)


def test_looks_numeric() -> None:
    assert argtypes.looks_numeric("0.5,-1")
    assert not argtypes.looks_numeric("bias.npy")
