"""The public face of cnncli.engine: torch.nn.functional's names, argument names and defaults.

A person who knows PyTorch should be able to guess every call.  For each forward op
that PyTorch has, the parameters both share must come in PyTorch's order with
PyTorch's defaults.  The differences are listed here, each with its reason, so that
a new one fails the test until it is documented:

* ``EXTRAS``: our parameters that PyTorch does not have;
* ``TORCH_ONLY``: PyTorch parameters we do not support;
* ``DEFAULT_DIFFERENCES``: a shared parameter whose default differs on purpose.

The backward functions are checked against the names the team brief fixes.
"""

from __future__ import annotations

import ast
import inspect
from typing import Any

import pytest

import cnncli.engine as engine

torch = pytest.importorskip("torch")
F = torch.nn.functional

REQUIRED = inspect.Parameter.empty

FORWARD_OPS = [
    "conv2d", "pad", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d",
    "relu", "leaky_relu", "sigmoid", "tanh", "softmax", "log_softmax", "linear", "dropout",
    "batch_norm", "cross_entropy", "flatten",
]  # fmt: skip

EXTRAS: dict[str, set[str]] = {
    "conv2d": {"padding_mode"},  # F.conv2d has no padding_mode (nn.Conv2d has); we take it directly
    "dropout": {
        "generator",
        "return_mask",
    },  # NumPy has no global torch RNG; backward needs the mask
}

TORCH_ONLY: dict[str, set[str]] = {
    "relu": {"inplace"},  # NumPy ops here never modify their input
    "leaky_relu": {"inplace"},
    "dropout": {"inplace"},
    "softmax": {"_stacklevel", "dtype"},  # private warning plumbing; cast before calling instead
    "log_softmax": {"_stacklevel", "dtype"},
    "cross_entropy": {"size_average", "reduce"},  # deprecated in PyTorch: use reduction
}

DEFAULT_DIFFERENCES: dict[tuple[str, str], tuple[Any, Any]] = {
    # (op, parameter): (PyTorch's default, ours)
    ("softmax", "dim"): (None, REQUIRED),  # torch's dim=None guesses an axis and is deprecated
    ("log_softmax", "dim"): (None, REQUIRED),
    ("pad", "value"): (None, 0.0),  # torch's None means 0 for mode='constant'
    ("flatten", "start_dim"): (0, 1),  # nn.Flatten's default, the one a CNN uses (keeps N)
}


def _from_docstring(fn: Any) -> list[tuple[str, Any]]:
    """Parameters from a builtin's first docstring line, e.g. 'linear(input, weight, bias=None) -> Tensor'."""
    first = fn.__doc__.strip().splitlines()[0]
    head = first.split("->")[0].strip()
    tree = ast.parse(f"def {head}: pass")
    args = tree.body[0].args  # type: ignore[attr-defined]
    names = [a.arg for a in args.args]
    defaults = [ast.literal_eval(d) for d in args.defaults]
    padded = [REQUIRED] * (len(names) - len(defaults)) + defaults
    return list(zip(names, padded, strict=True))


def torch_parameters(name: str) -> list[tuple[str, Any]]:
    """(name, default) of the torch op, in order; REQUIRED for no default."""
    fn = torch.flatten if name == "flatten" else getattr(F, name)
    if name in ("max_pool2d", "adaptive_max_pool2d"):
        # F.max_pool2d is a boolean dispatcher (*args, **kwargs); this is the function behind it.
        fn = getattr(F, f"{name}_with_indices")
    try:
        sig = inspect.signature(fn)
    except ValueError:  # builtins such as F.conv2d carry their signature in the docstring
        return _from_docstring(fn)
    return [(p.name, p.default) for p in sig.parameters.values()]


def our_parameters(name: str) -> list[tuple[str, Any]]:
    sig = inspect.signature(getattr(engine, name))
    return [(p.name, p.default) for p in sig.parameters.values()]


@pytest.mark.parametrize("name", FORWARD_OPS)
def test_forward_op_has_torch_names_order_and_defaults(name: str) -> None:
    assert hasattr(engine, name), f"cnncli.engine.{name} is missing"
    theirs = torch_parameters(name)
    ours = our_parameters(name)
    their_names = [n for n, _ in theirs]
    our_names = [n for n, _ in ours]
    assert set(our_names) - set(their_names) == EXTRAS.get(name, set())
    assert set(their_names) - set(our_names) == TORCH_ONLY.get(name, set())
    shared_theirs = [n for n in their_names if n in our_names]
    shared_ours = [n for n in our_names if n in their_names]
    assert shared_ours == shared_theirs, "shared parameters must come in PyTorch's order"
    # The first parameter is 'input' everywhere, as in PyTorch.
    assert our_names[0] == "input"
    their_defaults = dict(theirs)
    for n, default in ours:
        if n not in their_defaults:
            assert default is not REQUIRED, f"extra parameter {n} must have a default"
            continue
        expected = their_defaults[n]
        if (name, n) in DEFAULT_DIFFERENCES:
            assert (expected, default) == DEFAULT_DIFFERENCES[(name, n)]
        else:
            assert default == expected, f"{name}({n}=...): ours {default!r}, torch {expected!r}"
            assert type(default) is type(expected), f"{name}({n}): {default!r} vs {expected!r}"


@pytest.mark.parametrize("name", FORWARD_OPS)
def test_documented_differences_are_still_differences(name: str) -> None:
    """A listed exception that no longer applies must be removed from the lists above."""
    their_names = {n for n, _ in torch_parameters(name)}
    for n in EXTRAS.get(name, set()):
        assert n not in their_names
    for n in TORCH_ONLY.get(name, set()):
        assert n in their_names


# The brief's contract for everything PyTorch does not have as a forward op.
CONTRACT: dict[str, list[tuple[str, Any]]] = {
    "conv2d_backward": [("grad_output", REQUIRED), ("input", REQUIRED), ("weight", REQUIRED),
                        ("stride", 1), ("padding", 0), ("dilation", 1), ("groups", 1),
                        ("padding_mode", "zeros"), ("bias", True)],
    "pad_backward": [("grad_output", REQUIRED), ("pad", REQUIRED), ("mode", REQUIRED)],
    "global_avg_pool2d": [("input", REQUIRED)],
    "global_max_pool2d": [("input", REQUIRED)],
    "max_pool2d_backward": [("grad_output", REQUIRED), ("input", REQUIRED),
                            ("kernel_size", REQUIRED), ("stride", None), ("padding", 0),
                            ("dilation", 1), ("ceil_mode", False)],
    "avg_pool2d_backward": [("grad_output", REQUIRED), ("input", REQUIRED),
                            ("kernel_size", REQUIRED), ("stride", None), ("padding", 0),
                            ("ceil_mode", False), ("count_include_pad", True),
                            ("divisor_override", None)],
    "adaptive_avg_pool2d_backward": [("grad_output", REQUIRED), ("input", REQUIRED)],
    "adaptive_max_pool2d_backward": [("grad_output", REQUIRED), ("input", REQUIRED)],
    "global_avg_pool2d_backward": [("grad_output", REQUIRED), ("input", REQUIRED)],
    "global_max_pool2d_backward": [("grad_output", REQUIRED), ("input", REQUIRED)],
    "relu_backward": [("grad_output", REQUIRED), ("input", REQUIRED)],
    "leaky_relu_backward": [("grad_output", REQUIRED), ("input", REQUIRED),
                            ("negative_slope", 0.01)],
    "sigmoid_backward": [("grad_output", REQUIRED), ("output", REQUIRED)],
    "tanh_backward": [("grad_output", REQUIRED), ("output", REQUIRED)],
    "softmax_backward": [("grad_output", REQUIRED), ("output", REQUIRED), ("dim", REQUIRED)],
    "log_softmax_backward": [("grad_output", REQUIRED), ("output", REQUIRED), ("dim", REQUIRED)],
    "linear_backward": [("grad_output", REQUIRED), ("input", REQUIRED), ("weight", REQUIRED),
                        ("bias", True)],
    "dropout_backward": [("grad_output", REQUIRED), ("mask", REQUIRED), ("p", REQUIRED)],
    "batch_norm_backward": [("grad_output", REQUIRED), ("input", REQUIRED), ("weight", REQUIRED),
                            ("running_mean", REQUIRED), ("running_var", REQUIRED),
                            ("training", REQUIRED), ("eps", 1e-5)],
    "cross_entropy_backward": [("input", REQUIRED), ("target", REQUIRED), ("reduction", "mean")],
}  # fmt: skip

# Our documented keyword-only additions to the contract (the contract's part comes first).
CONTRACT_EXTRAS: dict[str, set[str]] = {
    "cross_entropy_backward": {"weight", "ignore_index", "label_smoothing", "grad_output"},
    "linear_backward": {"dw_out"},  # a training loop's last dW, written again
}


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_contract_functions_exist_with_the_briefs_parameters(name: str) -> None:
    assert hasattr(engine, name), f"cnncli.engine.{name} is missing"
    ours = our_parameters(name)
    want = CONTRACT[name]
    assert [n for n, _ in ours[: len(want)]] == [n for n, _ in want]
    for (n, default), (_, wanted) in zip(ours, want, strict=False):
        # Where the brief gives a default it must be that one; where it gives none, any is fine.
        if wanted is not REQUIRED:
            assert default == wanted, f"{name}({n}=...): ours {default!r}, brief {wanted!r}"
    extra = ours[len(want) :]
    assert {n for n, _ in extra} == CONTRACT_EXTRAS.get(name, set())
    params = inspect.signature(getattr(engine, name)).parameters
    for n, default in extra:
        assert default is not REQUIRED
        assert params[n].kind is inspect.Parameter.KEYWORD_ONLY


def test_batch_norm_backward_eps_default_and_ours_match_forward() -> None:
    fwd = inspect.signature(engine.batch_norm).parameters["eps"].default
    bwd = inspect.signature(engine.batch_norm_backward).parameters["eps"].default
    assert fwd == bwd == 1e-5
