"""Finding cnncli's side of each case: engine functions and the zoo's AlexNet.

The engine and the zoo are written in parallel with this harness, so every lookup here
raises :class:`UnavailableError` (a case then reports "not available") instead of crashing.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.alexnet_torch import CLASSIFIER, FEATURES


class UnavailableError(Exception):
    """cnncli's side of a case cannot be imported or built (yet)."""


@functools.cache
def set_up_engine() -> None:
    """Set the engine up as ``cnncli`` does on its fast path: ``cnncli.engine.fast.setup()``.

    Importing the engine changes nothing in the process; the command line (and any program
    that wants it) calls ``setup()`` once.  Without it the big temporaries of Winograd and
    im2col are returned to the system after every call (see benchmarks/README.md).
    """
    try:
        switch = importlib.import_module("cnncli.engine.switch")
        fast = importlib.import_module("cnncli.engine.fast")
    except ImportError:
        return  # an engine from before the switch tuned malloc when it was imported
    if switch.fast_enabled():
        fast.setup()


def engine_function(name: str, module: str) -> Callable[..., Any]:
    """Return ``cnncli.engine.<name>``, else ``cnncli.engine.<module>.<name>``."""
    set_up_engine()
    errors = []
    for where in ("cnncli.engine", f"cnncli.engine.{module}"):
        try:
            mod = importlib.import_module(where)
        except ImportError as exc:
            errors.append(f"{where}: {exc}")
            continue
        fn = getattr(mod, name, None)
        if callable(fn):
            return fn  # type: ignore[no-any-return]
    raise UnavailableError(
        f"cnncli.engine.{name} not found ({'; '.join(errors) or 'not exported'})"
    )


def seed_state_dict(torch_model: Any) -> dict[str, np.ndarray]:
    """The torch model's parameters as float32 NumPy arrays under their state_dict names."""
    return {
        k: v.detach().cpu().numpy().astype(np.float32, copy=True)
        for k, v in torch_model.state_dict().items()
    }


def zoo_alexnet(state: dict[str, np.ndarray]) -> tuple[Callable[[np.ndarray], Any], str]:
    """cnncli.nn.zoo's seed AlexNet loaded with ``state``, as ``(forward, description)``."""
    try:
        zoo = importlib.import_module("cnncli.nn.zoo")
    except ImportError as exc:
        raise UnavailableError(f"cnncli.nn.zoo: {exc}") from None
    model = _zoo_build(zoo, "alexnet")
    _load_weights(model, state)
    for mode in ("eval",):
        fn = getattr(model, mode, None)
        if callable(fn):
            fn()
    if hasattr(model, "training") and not callable(model.training):
        model.training = False
    forward = model if callable(model) else getattr(model, "forward", None)
    if forward is None:
        raise UnavailableError(f"the zoo's alexnet ({type(model).__name__}) has no forward")
    return forward, "cnncli.nn.zoo"


def _zoo_build(zoo: Any, name: str) -> Any:
    for fname in ("build_model", "get_model", "create_model", "build", "create", "get", "model"):
        fn = getattr(zoo, fname, None)
        if callable(fn):
            try:
                return _maybe_build(fn(name))
            except TypeError:
                continue
    for table in ("MODELS", "ZOO", "REGISTRY", "models"):
        entries = getattr(zoo, table, None)
        if isinstance(entries, dict) and name in entries:
            return _maybe_build(entries[name])
    fn = getattr(zoo, name, None)
    if callable(fn):
        return _maybe_build(fn())
    raise UnavailableError("cnncli.nn.zoo has no way to build 'alexnet' that this harness knows")


def _maybe_build(entry: Any) -> Any:
    """A zoo entry may be the model, a factory, or a record with a ``build`` method."""
    for attr in ("build", "factory", "make", "create"):
        fn = getattr(entry, attr, None)
        if callable(fn):
            return fn()
    if isinstance(entry, type) or (callable(entry) and not hasattr(entry, "forward")):
        return entry()
    return entry


def _load_weights(model: Any, state: dict[str, np.ndarray]) -> None:
    load = getattr(model, "load_state_dict", None)
    if callable(load):
        load(state)
        return
    get = getattr(model, "state_dict", None)
    if callable(get):
        own = get()
        missing = sorted(set(state) - set(own))
        if missing:
            raise UnavailableError(f"the zoo's alexnet lacks parameters {missing[:3]}")
        for key, value in state.items():
            own[key][...] = value
        return
    raise UnavailableError("the zoo's alexnet has neither load_state_dict nor state_dict")


def composed_alexnet(state: dict[str, np.ndarray]) -> tuple[Callable[[np.ndarray], Any], str]:
    """The seed's AlexNet composed from cnncli.engine functions (used until the zoo lands)."""
    conv2d = engine_function("conv2d", "conv")
    relu = engine_function("relu", "activations")
    max_pool2d = engine_function("max_pool2d", "pool")
    linear = engine_function("linear", "linear")
    features: list[Callable[[np.ndarray], np.ndarray]] = []
    for index, (kind, args) in enumerate(FEATURES):
        if kind == "conv":
            features.append(
                functools.partial(
                    conv2d,
                    weight=state[f"feature_extraction.{index}.weight"],
                    stride=args[3],
                    padding=args[4],
                )
            )
        elif kind == "relu":
            features.append(relu)
        else:
            features.append(
                functools.partial(max_pool2d, kernel_size=args[0], stride=args[1], padding=args[2])
            )
    dense = [
        (state[f"classifier.{i}.weight"], state[f"classifier.{i}.bias"]) for i, _, _ in CLASSIFIER
    ]

    def forward(x: np.ndarray) -> np.ndarray:
        for layer in features:
            x = layer(x)
        x = x.reshape(x.shape[0], -1)
        for weight, bias in dense:  # eval mode: the Dropouts are identities
            x = linear(x, weight, bias)
        return x

    return forward, "cnncli.engine ops composed in benchmarks/ (zoo not available)"


def alexnet_forward(state: dict[str, np.ndarray]) -> tuple[Callable[[np.ndarray], Any], str]:
    """The zoo's AlexNet when it can be built, else the engine-composed one."""
    set_up_engine()
    try:
        return zoo_alexnet(state)
    except UnavailableError as zoo_error:
        try:
            return composed_alexnet(state)
        except UnavailableError as engine_error:
            raise UnavailableError(f"{zoo_error}; {engine_error}") from None
