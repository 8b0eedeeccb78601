"""The training cases: one side in cnncli, one in PyTorch, each built in its own process.

The parent (:func:`make_inputs`, which may import cnncli) writes everything both sides need
into one ``.npz``: the images, the labels, the initial weights under PyTorch's state_dict
names, the batch size and the optimizer's settings.  A worker then builds its side from that
file alone: :func:`cnncli_side` imports NumPy and cnncli, never torch; :func:`torch_side`
imports torch (and NumPy, to read the file), never cnncli.  Both return a zero-argument
callable that runs one unit of the case (one epoch, or one step) and returns its losses.

- ``train_lenet5_epoch``: one epoch of ``cnncli train lenet5``'s training part: mnist-5k's
  4,500 training images (``--val-split 0.1``, seed 0), batch 64 (71 steps, the last of 20),
  SGD lr 0.05 momentum 0.9 (the command's defaults), a fresh shuffle per epoch from a seeded
  generator. cnncli runs :func:`cnncli.nn.train.train_epoch`, the command's own loop, with
  the command's helper process (:mod:`cnncli.nn.data_parallel`) started once per worker.
- ``train_tinyvgg_step``: one training step of the zoo's TinyVGG at batch 32 (3x64x64), the
  same SGD: forward, cross-entropy, backward, the optimizer's update, ``zero_grad``; split
  with the helper process as ``cnncli train`` splits it on a dataset of 2,048 images or more.
- ``train_alexnet_step``: the same step of the seed's AlexNet at batch 8 (3x224x224), with
  its two Dropout layers at p = 0 on both sides, so that both compute the same numbers
  (their masks come from different generators); a mask costs little next to the
  4096-wide products.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

LR, MOMENTUM = 0.05, 0.9  # cnncli train's defaults (cnncli/cli/train.py)

#: case name -> (zoo model, batch size, unit): the unit is "epoch" or "step".
TRAIN_CASES: dict[str, tuple[str, int, str]] = {
    "train_lenet5_epoch": ("lenet5", 64, "epoch"),
    "train_tinyvgg_step": ("tinyvgg", 32, "step"),
    "train_alexnet_step": ("alexnet", 8, "step"),
}


def make_inputs(case: str, quick: bool) -> dict[str, Any]:
    """Images, labels, initial weights and settings of ``case`` (built with cnncli).

    Also the case's size text, samples per unit and FLOPs per unit (see :func:`train_flops`).
    """
    from cnncli.nn import zoo

    name, batch, unit = TRAIN_CASES[case]
    net = zoo.build(name)
    net.reset_parameters(np.random.default_rng(0))  # as cnncli train --seed 0
    if name == "lenet5":
        from cnncli.io.datasets import load_builtin, stratified_split

        data = load_builtin("mnist-5k")
        train_idx, _ = stratified_split(data.y, 0.1, 0)
        x, y = data.x[train_idx], data.y[train_idx]
        if quick:
            x, y = x[:160], y[:160]
        size = f"mnist-5k train split {len(y)}x1x28x28, batch {batch}, SGD"
    else:
        if quick:
            batch = 1 if name == "alexnet" else 2
        chw = zoo.ZOO[name].input_shape
        rng = np.random.default_rng(0)
        x = rng.random((batch, *chw), dtype=np.float32)
        y = rng.integers(0, 10, batch)
        size = f"{batch}x{'x'.join(map(str, chw))}, one step, SGD"
    samples = len(y) if unit == "epoch" else batch
    steps = -(-len(y) // batch) if unit == "epoch" else 1
    arrays = {f"w:{k}": np.array(v) for k, v in net.state_dict().items()}
    return {
        "arrays": {
            "x": np.ascontiguousarray(x, dtype=np.float32),
            "y": y.astype(np.int64),
            **arrays,
        },
        "settings": {"model": name, "batch": batch, "unit": unit, "lr": LR, "momentum": MOMENTUM},
        "size": size,
        "samples": samples,
        "steps": steps,
        "flops": train_flops(net, x.shape[1:], len(y) if unit == "epoch" else batch),
    }


def train_flops(net: Any, chw: tuple[int, ...], samples: int) -> float:
    """FLOPs (a multiply-add is 2) of training on ``samples`` images, the matrix products only.

    Forward 2·MACs of every Conv2d and Linear; backward the weight gradient (the same
    again) and the input gradient of every such layer but the first (its input needs
    none): the fewest products any implementation must compute.
    """
    from cnncli.nn.summary import summarize

    rows = [
        r
        for r in summarize(net, tuple(chw), batch=samples).leaves
        if r.type in ("Conv2d", "Linear")
    ]
    macs = [r.macs for r in rows]
    return 2.0 * (2 * sum(macs) + sum(macs[1:]))


_KEPT = contextlib.ExitStack()  # the cnncli side's helper process, closed at exit
atexit.register(_KEPT.close)


def _kept_helper(net: Any, x: np.ndarray, batch: int, one_batch: bool = False) -> Any:
    """cnncli train's helper process for this side (None where it would take none, or in a
    tree from before it), kept for the worker's life.  ``one_batch``: ``x`` is one batch of
    a run taken to hold at least ``MIN_SAMPLES`` images."""
    try:
        from cnncli.nn import data_parallel
    except ImportError:
        return None
    samples = data_parallel.MIN_SAMPLES if one_batch else None
    return _KEPT.enter_context(data_parallel.helper_for(net, x, batch, samples))


def _unpack(arrays: Any) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    weights = {k[2:]: np.array(arrays[k]) for k in arrays.files if k.startswith("w:")}
    return np.array(arrays["x"]), np.array(arrays["y"]), weights


def cnncli_side(arrays: Any, settings: dict[str, Any]) -> Callable[[], list[float]]:
    """cnncli's unit of the case: :func:`train_epoch`, or one step written out as it does."""
    from benchmarks.cnncli_side import set_up_engine
    from cnncli.engine.loss import cross_entropy, cross_entropy_backward
    from cnncli.nn import optim, zoo
    from cnncli.nn.layers import Dropout
    from cnncli.nn.train import train_epoch

    set_up_engine()  # as the command line does
    x, y, weights = _unpack(arrays)
    net = zoo.build(settings["model"])
    net.load_state_dict(weights)
    for _, layer in net.named_modules():
        if isinstance(layer, Dropout):
            layer.p = 0.0  # the same numbers on both sides (see the module docstring)
    opt = optim.SGD(net, lr=settings["lr"], momentum=settings["momentum"])
    net.train()
    batch = int(settings["batch"])
    if settings["unit"] == "epoch":
        rng = np.random.default_rng(0)
        # As cnncli train: a helper process for half of each step where it gains, started
        # once and kept for the worker's life (a run's epochs share it).
        helper = _kept_helper(net, x, batch)
        extra = {} if helper is None else {"helper": helper}

        def epoch() -> list[float]:
            losses: list[float] = []
            train_epoch(
                net, opt, x, y, batch, rng, on_step=lambda info: losses.append(info.loss), **extra
            )
            return losses

        return epoch

    # As train_epoch: a small network's steps run OpenBLAS on one thread (where it can), the
    # images need no gradient, and where cnncli train would split a step with its helper
    # process (a run of at least MIN_SAMPLES images), the step is split so.
    train = importlib.import_module("cnncli.nn.train")
    single = hasattr(train, "one_blas_thread") and train.one_blas_thread(net, x.shape[1:])
    threads = importlib.import_module("cnncli.engine.fast.blas").one_thread if single else None
    net.needs_input_grad = False
    helper = _kept_helper(net, x, batch, one_batch=True)

    def step() -> list[float]:
        with threads() if threads is not None else contextlib.nullcontext():
            if helper is not None:
                loss, _ = helper.step(net, x, y)
            else:
                logits = net(x)
                loss = float(cross_entropy(logits, y))
                net.backward(cross_entropy_backward(logits, y))
            opt.step()
            opt.zero_grad()
        return [loss]

    return step


def torch_side(arrays: Any, settings: dict[str, Any], threads: int) -> Callable[[], list[float]]:
    """PyTorch's unit of the case: the same model twin, torch.optim.SGD, ``threads`` threads."""
    import torch

    from tests.nn.torch_models import build

    torch.set_num_threads(threads)
    x, y, weights = _unpack(arrays)
    model = build(settings["model"])
    model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=settings["lr"], momentum=settings["momentum"])
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    batch = int(settings["batch"])
    cross_entropy = torch.nn.functional.cross_entropy

    def one_step(bx: Any, by: Any) -> tuple[float, int]:
        opt.zero_grad()
        logits = model(bx)
        loss = cross_entropy(logits, by)
        loss.backward()
        opt.step()
        return float(loss.item()), int((logits.argmax(1) == by).sum())

    if settings["unit"] == "epoch":
        rng = np.random.default_rng(0)

        def epoch() -> list[float]:
            """As train_epoch: a fresh shuffle, every batch, its loss and correct count."""
            order = torch.from_numpy(rng.permutation(len(y)))  # as cnncli.nn.train.batches
            losses, correct = [], 0
            for idx in torch.split(order, batch):
                loss, right = one_step(tx[idx], ty[idx])
                losses.append(loss)
                correct += right
            return losses

        return epoch

    return lambda: [one_step(tx, ty)[0]]
