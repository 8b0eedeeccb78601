"""Generated arguments for the tensor commands: only a result (0) or a clean error (2).

Bounded (max_examples) so that it runs in seconds; each example runs in-process.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cli.conftest import run_cli

SMALL = st.sampled_from(["0", "1", "2", "3", "-1", "1,2", "2,1", "0,0", "1,2,3", "x", "", "99999"])
PADS = st.sampled_from(["0", "1", "2", "1,2", "1,2,0,1", "same", "valid", "-1", "1,2,3", "a"])
KERNELS = st.sampled_from(
    [
        "sobel",
        "sobel-x",
        "box",
        "gaussian5",
        "sobl",
        "1,2;3,4",
        "[[1]]",
        "1,2;3",
        "[[[1]]]",
        "",
        ";",
    ]
)


def _input(tmp: Path, shape: tuple[int, ...]) -> str:
    path = tmp / f"x_{'_'.join(map(str, shape))}.npy"
    if not path.exists():
        np.save(path, np.random.default_rng(0).normal(size=shape).astype(np.float32))
    return str(path)


SHAPES = st.sampled_from([(3, 3), (1, 5, 4), (2, 2, 6, 6), (1, 1), (3, 1, 7)])
SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _check(r) -> None:
    assert r.code in (0, 2), (r.code, r.stderr)
    assert "Traceback" not in r.stdout + r.stderr
    if r.code == 2:
        assert r.stderr.startswith("error: ")


@SETTINGS
@given(
    shape=SHAPES, kernel=KERNELS, stride=SMALL, padding=PADS, dilation=SMALL,
    groups=st.sampled_from(["1", "2", "0"]), mode=st.sampled_from(["zeros", "reflect", "circular"]),
    extra=st.sampled_from([[], ["--magnitude"], ["--depthwise"], ["--explain", "0,0"],
                           ["--grad", "ones"], ["-a", "relu"], ["-b", "1"], ["--json"]]),
)  # fmt: skip
def test_conv_arguments(
    tmp_path: Path, shape, kernel, stride, padding, dilation, groups, mode, extra
) -> None:
    args = ["conv", _input(tmp_path, shape), "-k", kernel, "-s", stride, "-p", padding, "-d", dilation,
            "-g", groups, "--pad-mode", mode, "--show", "stats", *extra]  # fmt: skip
    _check(run_cli(*args))


@SETTINGS
@given(
    shape=SHAPES, size=SMALL, stride=SMALL, padding=SMALL, dilation=SMALL,
    mode=st.sampled_from(["max", "avg"]),
    extra=st.sampled_from([[], ["--ceil-mode"], ["--global"], ["--no-count-include-pad"],
                           ["--explain", "0,0"], ["--grad", "ones"], ["--divisor-override", "0"]]),
)  # fmt: skip
def test_pool_arguments(
    tmp_path: Path, shape, size, stride, padding, dilation, mode, extra
) -> None:
    args = ["pool", _input(tmp_path, shape), "-k", size, "-s", stride, "-p", padding,
            "--dilation", dilation, "--mode", mode, "--show", "stats", *extra]  # fmt: skip
    _check(run_cli(*args))


@SETTINGS
@given(
    shape=SHAPES, padding=PADS,
    mode=st.sampled_from(["zeros", "constant", "reflect", "symmetric", "replicate", "circular"]),
    command=st.sampled_from(["pad", "flatten", "act", "linear", "dropout"]),
)  # fmt: skip
def test_other_commands(tmp_path: Path, shape, padding, mode, command) -> None:
    path = _input(tmp_path, shape)
    args = {
        "pad": ["pad", path, "-p", padding, "--mode", mode],
        "flatten": ["flatten", path, "--order", "hwc"],
        "act": ["act", path, "-f", "log-softmax", "--dim", padding.split(",")[0] or "1"],
        "linear": ["linear", path, "--out", padding.split(",")[0] or "1"],
        "dropout": ["dropout", path, "--p", "0.3", "--seed", "1"],
    }[command]
    _check(run_cli(*args, "--show", "stats"))
