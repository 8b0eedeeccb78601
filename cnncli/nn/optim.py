"""Optimizers and learning-rate schedules, with torch.optim's names, arguments and defaults.

An optimizer is built from a model (``optim.SGD(model, lr=0.1, momentum=0.9)``), since
parameters here are addressed by their state_dict names.  After ``loss`` is computed
and the model's ``backward`` has filled every layer's gradients, ``step()`` updates
each parameter p from its gradient g; ``zero_grad()`` forgets the gradients.

SGD (torch.optim.SGD), with weight decay λ, momentum μ, dampening τ and buffer b::

    g ← g + λ·p
    b ← g (first step)   or   b ← μ·b + (1 − τ)·g
    g ← g + μ·b (nesterov)   or   g ← b
    p ← p − lr·g

Adam (torch.optim.Adam), step t, moments m and v::

    g ← g + λ·p                                    (Adam's weight decay)
    m ← β1·m + (1 − β1)·g        v ← β2·v + (1 − β2)·g²
    p ← p − lr/(1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + ε)

AdamW (torch.optim.AdamW) decays the weights apart from the gradient, ``p ← p·(1 − lr·λ)``
before the Adam step, with λ = 0.01 by default.  ``maximize`` climbs instead (g ← −g);
``amsgrad`` divides by the largest v seen so far.

Each step writes new arrays into the model (:meth:`Layer.set_parameters`), never into the
old ones, so nothing derived from the old weights outlives the update.  An old array that
nothing else holds any more (no layer, no cache, no caller) is kept and written by the
next step instead of a freshly allocated one: a large model's new pages would otherwise
cost as much as the update's arithmetic (benchmarks/README.md, decision table).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from cnncli.engine.fast.threads import num_threads, run_blocks
from cnncli.errors import ParameterError
from cnncli.nn.layers.base import Layer

__all__ = ["SGD", "Adam", "AdamW", "CosineAnnealingLR", "Optimizer", "StepLR"]


#: An update runs over a parameter a block of this many values at a time (its few passes
#: over a block stay in cache), the blocks shared among the engine's threads from
#: ``PARALLEL_VALUES`` values (benchmarks/README.md, decision table).
BLOCK_VALUES = 1 << 18
PARALLEL_VALUES = 1 << 20


def _by_blocks(size: int, block: Callable[[slice], None]) -> None:
    """``block(s)`` for consecutive flat slices ``s`` covering ``range(size)``.

    Each value's update reads and writes only that value's entries, so the blocks are
    independent: the same numbers in any order, on any thread.
    """

    if size <= BLOCK_VALUES:
        block(slice(0, size))
        return

    workers = 1
    if size >= PARALLEL_VALUES:
        workers = max(1, min(num_threads(), -(-size // BLOCK_VALUES)))
    run_blocks(size, BLOCK_VALUES, workers, lambda a, b: block(slice(a, b)))


def _check(name: str, value: float, low: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ParameterError(f"{name} must be a finite number, got {value!r}")
    if value < low:
        raise ParameterError(f"{name} must be at least {low:g}, got {value:g}")
    return float(value)


class Optimizer:
    """What every optimizer shares: the model, the learning rate, per-parameter state."""

    def __init__(self, model: Layer, lr: float) -> None:
        self.model = model
        self.lr = _check("lr", lr)
        self.initial_lr = self.lr  # the schedules' base learning rate
        self.state: dict[str, dict[str, Any]] = {}
        #: Old parameter arrays that nothing else holds, by name: the next step's output.
        self._spare: dict[str, np.ndarray] = {}

    def zero_grad(self) -> None:
        """Forget every layer's gradients (torch's ``set_to_none=True``)."""
        for _, layer in self.model.named_modules():
            layer.grads = {}

    def step(self) -> None:
        """Update every parameter that has a gradient from the last backward."""
        grads = self.model.named_grads()
        params = self.model.parameters()
        new: dict[str, np.ndarray] = {}
        p = out = None
        for name, g in grads.items():
            p = params[name]  # computed in the parameter's dtype, as torch does
            out = self._spare.pop(name, None)
            if out is None or out.shape != p.shape or out.dtype != p.dtype:
                out = np.empty(p.shape, dtype=p.dtype)
            state = self.state.setdefault(name, {})
            new[name] = self._update(p, np.asarray(g, dtype=p.dtype), state, out)
        old = [(name, params.pop(name)) for name in new]
        self.model.set_parameters(new, fresh=True)  # `out` is no parameter's old array
        del new, p, out
        while old:
            name, array = old.pop()
            # Held here and by getrefcount's argument only: no one can see it change.
            if array.base is None and array.flags.writeable and sys.getrefcount(array) == 2:
                self._spare[name] = array

    def _update(
        self, p: np.ndarray, g: np.ndarray, state: dict[str, Any], out: np.ndarray
    ) -> np.ndarray:
        """The new value of ``p`` from its gradient ``g``, written into ``out`` (p's shape and
        dtype, not ``p`` itself) and returned; ``state`` is updated in place."""
        raise NotImplementedError

    def hyperparameters(self) -> dict[str, Any]:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """The learning rate, the hyperparameters and every parameter's state (copies)."""
        return {
            "lr": self.lr,
            "initial_lr": self.initial_lr,
            "hyperparameters": self.hyperparameters(),
            "state": {
                k: {n: (v.copy() if isinstance(v, np.ndarray) else v) for n, v in s.items()}
                for k, s in self.state.items()
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict`'s output (the hyperparameters must agree)."""
        if state.get("hyperparameters") != self.hyperparameters():
            raise ParameterError(
                f"the saved optimizer had {state.get('hyperparameters')}, "
                f"this one has {self.hyperparameters()}"
            )
        self.lr = float(state["lr"])
        self.initial_lr = float(state["initial_lr"])
        self.state = {
            k: {n: (np.array(v) if isinstance(v, np.ndarray) else v) for n, v in s.items()}
            for k, s in state["state"].items()
        }


class SGD(Optimizer):
    """Stochastic gradient descent, as ``torch.optim.SGD`` (see the module docstring)."""

    def __init__(
        self,
        model: Layer,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(model, lr)
        self.momentum = _check("momentum", momentum)
        self.dampening = _check("dampening", dampening)
        self.weight_decay = _check("weight_decay", weight_decay)
        if nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ParameterError("nesterov momentum needs momentum > 0 and dampening 0")
        self.nesterov = bool(nesterov)
        self.maximize = bool(maximize)

    def hyperparameters(self) -> dict[str, Any]:
        return {"optimizer": "SGD", "momentum": self.momentum, "dampening": self.dampening,
                "weight_decay": self.weight_decay, "nesterov": self.nesterov,
                "maximize": self.maximize}  # fmt: skip

    def _update(
        self, p: np.ndarray, g: np.ndarray, state: dict[str, Any], out: np.ndarray
    ) -> np.ndarray:
        mu, wd, lr = self.momentum, self.weight_decay, self.lr
        buf = state.get("momentum_buffer") if mu else None
        first = bool(mu) and buf is None
        if mu:
            if buf is None:
                buf = np.empty(p.shape, dtype=p.dtype)
            state["momentum_buffer"] = buf
        # Flat views (a copy only of a gradient that is a transposed view).
        pf, gf, of = p.reshape(-1), g.reshape(-1), out.reshape(-1)
        bf = None if buf is None else buf.reshape(-1)

        def block(s: slice) -> None:
            gb = -gf[s] if self.maximize else gf[s]
            if wd:
                gb = gb + wd * pf[s]
            if bf is not None:
                bb = bf[s]
                if first:
                    bb[...] = gb
                else:  # b ← μ·b + (1 − τ)·g in place: the buffer is this optimizer's own
                    bb *= mu
                    bb += gb if self.dampening == 0 else (1 - self.dampening) * gb
                gb = gb + mu * bb if self.nesterov else bb
            step = np.multiply(gb, lr, out=of[s])  # lr·g, then p − lr·g in the same array
            np.subtract(pf[s], step, out=step)

        _by_blocks(p.size, block)
        return out


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam`` (see the module docstring)."""

    decoupled = False

    def __init__(
        self,
        model: Layer,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(model, lr)
        if len(betas) != 2 or not all(0.0 <= _check("betas", b) < 1.0 for b in betas):
            raise ParameterError(f"betas must be two numbers in [0, 1), got {betas!r}")
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = _check("eps", eps)
        self.weight_decay = _check("weight_decay", weight_decay)
        self.amsgrad = bool(amsgrad)
        self.maximize = bool(maximize)

    def hyperparameters(self) -> dict[str, Any]:
        return {"optimizer": type(self).__name__, "betas": list(self.betas), "eps": self.eps,
                "weight_decay": self.weight_decay, "amsgrad": self.amsgrad,
                "maximize": self.maximize}  # fmt: skip

    def _update(
        self, p: np.ndarray, g: np.ndarray, state: dict[str, Any], out: np.ndarray
    ) -> np.ndarray:
        b1, b2 = self.betas
        t = state.get("step", 0) + 1
        # The moments in place (they are this optimizer's own), in the formulas' order.
        m, v = state.get("exp_avg"), state.get("exp_avg_sq")
        m = np.zeros(p.shape, dtype=p.dtype) if m is None else m
        v = np.zeros(p.shape, dtype=p.dtype) if v is None else v
        state.update(step=t, exp_avg=m, exp_avg_sq=v)
        top = state.get("max_exp_avg_sq") if self.amsgrad else None
        first_top = self.amsgrad and top is None
        if self.amsgrad:
            top = np.empty(p.shape, dtype=p.dtype) if top is None else top
            state["max_exp_avg_sq"] = top
        step_size = self.lr / (1 - b1**t)
        root = math.sqrt(1 - b2**t)
        pf, gf, of = p.reshape(-1), g.reshape(-1), out.reshape(-1)  # as in SGD
        mf, vf = m.reshape(-1), v.reshape(-1)
        tf = None if top is None else top.reshape(-1)

        def block(s: slice) -> None:
            gb, pb = (-gf[s] if self.maximize else gf[s]), pf[s]
            if self.decoupled:
                pb = pb * (1 - self.lr * self.weight_decay)
            elif self.weight_decay:
                gb = gb + self.weight_decay * pb
            mb, vb = mf[s], vf[s]
            mb *= b1
            mb += (1 - b1) * gb
            vb *= b2
            vb += (1 - b2) * np.square(gb)
            if tf is not None:  # amsgrad: the largest v so far
                if first_top:
                    tf[s] = vb
                else:
                    np.maximum(tf[s], vb, out=tf[s])
                vb = tf[s]
            denom = np.sqrt(vb)
            denom /= root
            denom += self.eps
            step = np.multiply(mb, step_size, out=of[s])
            step /= denom
            np.subtract(pb, step, out=step)

        _by_blocks(p.size, block)
        return out


class AdamW(Adam):
    """Adam with decoupled weight decay, as ``torch.optim.AdamW`` (weight_decay 0.01)."""

    decoupled = True

    def __init__(
        self,
        model: Layer,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(model, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)


class StepLR:
    """``lr = initial_lr · gamma^⌊epoch / step_size⌋``, as ``torch.optim.lr_scheduler.StepLR``.

    Call :meth:`step` once at the end of each epoch.
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        if isinstance(step_size, bool) or not isinstance(step_size, int) or step_size < 1:
            raise ParameterError(f"step_size must be a positive integer, got {step_size!r}")
        self.optimizer, self.step_size, self.gamma = optimizer, step_size, _check("gamma", gamma)
        self.last_epoch = 0

    def step(self) -> None:
        self.last_epoch += 1
        if self.last_epoch % self.step_size == 0:  # torch's chainable form
            self.optimizer.lr *= self.gamma

    def state_dict(self) -> dict[str, Any]:
        return {"last_epoch": self.last_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.last_epoch = int(state["last_epoch"])


class CosineAnnealingLR:
    """Cosine annealing from ``initial_lr`` to ``eta_min`` over ``T_max`` epochs, as
    ``torch.optim.lr_scheduler.CosineAnnealingLR`` (its recursive, chainable form)::

        lr_t = eta_min + (lr_{t-1} − eta_min) · (1 + cos(π t / T_max)) / (1 + cos(π (t − 1) / T_max))
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        if isinstance(T_max, bool) or not isinstance(T_max, int) or T_max < 1:
            raise ParameterError(f"T_max must be a positive integer, got {T_max!r}")
        self.optimizer, self.T_max, self.eta_min = optimizer, T_max, _check("eta_min", eta_min)
        self.last_epoch = 0

    def step(self) -> None:
        self.last_epoch += 1
        t, T, lr, eta = self.last_epoch, self.T_max, self.optimizer.lr, self.eta_min
        base = self.optimizer.initial_lr
        if (t - 1 - T) % (2 * T) == 0:
            new = lr + (base - eta) * (1 - math.cos(math.pi / T)) / 2
        else:
            new = (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T)) * (
                lr - eta
            ) + eta
        self.optimizer.lr = new

    def state_dict(self) -> dict[str, Any]:
        return {"last_epoch": self.last_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.last_epoch = int(state["last_epoch"])
