"""Half of each training step in a second process: data parallelism for small networks.

A small network's step (LeNet-5's at batch 64: about 9 ms on one core) is hundreds of
short NumPy calls.  Two threads of one process running half a batch each wait on each
other's GIL between those calls and gain little, where two processes run at full speed
side by side (benchmarks/README.md, decision table).  A :class:`Helper` is a second process
holding a replica of the model, kept for a whole training run.  Each step splits the
batch of B images into the parent's part x₁ (⌊B/2⌋ images) and the helper's x₂::

    L = 1/B · Σ_b loss_b                     the whole batch's mean loss
    dL/dlogits = (softmax − onehot) / B      on each part, divided by the whole B
    parent:  model(x₁), backward → g₁        helper: model(x₂), backward → g₂  (at once)
    dL/dθ = g₁ + g₂                          then the optimizer steps, in the parent only

The weights go to the helper, and its part of the batch, and its gradients come back,
through one block of shared memory; a pipe carries the part's size and its loss.

It is used only where it computes the same mathematics as one process: every image's loss
depends on that image alone, so no BatchNorm (batch statistics) and no Dropout with p > 0
(its masks come from the parent's generator).  The sum g₁ + g₂ rounds differently from one
product over the whole batch, in float32, so the numbers are those of the split, the same
on every run with the same batches.  Should the helper fail (killed, out of memory), the
parent computes x₂'s part itself, with the same bits, and goes on alone.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import numpy as np

from cnncli.engine.fast import blas, threads
from cnncli.engine.fast.threads import num_threads
from cnncli.engine.loss import cross_entropy_with_grad
from cnncli.nn.layers.base import Layer
from cnncli.nn.layers.linear import Dropout
from cnncli.nn.layers.norm import BatchNorm2d

#: Batches from this size are split: LeNet-5's epoch gains about 16% at batch 32 and 35% at
#: 64, nothing clear at 16 (benchmarks/README.md, decision table).
MIN_BATCH = 32
#: A run with fewer training images keeps one process: starting the helper (a fresh
#: interpreter importing NumPy and cnncli, about 0.2 s) would cost more than it saves.
MIN_SAMPLES = 2048
#: How often, in seconds, a parent waiting for the helper's part checks that it still runs.
POLL_SECONDS = 0.5


def suits(model: Layer, sample: tuple[int, ...], batch_size: int, samples: int) -> bool:
    """Whether ``model`` trains on images of shape ``sample`` faster split over a helper.

    Yes when the engine has two threads or more, the batches hold at least ``MIN_BATCH``
    images and the run ``MIN_SAMPLES``, the network is one whose steps run OpenBLAS on one
    thread (:func:`cnncli.nn.train.one_blas_thread`: a larger one keeps both cores busy in
    its products), its parameters are float32, and no layer couples the images of a batch
    (BatchNorm) or draws from a generator in training (Dropout with p > 0).
    """
    from cnncli.nn.train import one_blas_thread

    if os.name != "posix" or num_threads() < 2:
        return False  # (the helper's block is handed over as an inherited descriptor)
    if batch_size < MIN_BATCH or samples < MIN_SAMPLES:
        return False
    for _, layer in model.named_modules():
        if isinstance(layer, BatchNorm2d) or (isinstance(layer, Dropout) and layer.p > 0):
            return False
    if not one_blas_thread(model, sample):
        return False
    return all(p.dtype == np.float32 for p in model.parameters().values())


def part_step(
    model: Layer, x: np.ndarray, y: np.ndarray, batch: int, label_smoothing: float
) -> tuple[float, int]:
    """Forward and backward of one part of a batch of ``batch`` images: the part's
    gradients, as its share of the whole batch's mean loss, go to the layers' ``grads``.

    Returns the part's summed loss and how many of its images the model got right.
    Each row of dL/dlogits is the one the whole batch's mean would give, bit for bit.
    """
    logits = model(x)
    loss, grad = cross_entropy_with_grad(
        logits, y, "sum", label_smoothing=label_smoothing, grad_output=1.0 / batch
    )
    model.backward(grad)
    return float(loss), int((logits.argmax(axis=1) == y).sum())


class _Layout:
    """Where the weights, the helper's gradients and its part of the batch lie in the
    shared block: the parameters in state_dict order, float32, then the images and the
    labels (int64) of a part of at most ``capacity`` images."""

    def __init__(self, params: dict[str, np.ndarray], sample: tuple[int, ...], capacity: int):
        self.names = list(params)
        self.shapes = [params[k].shape for k in self.names]
        sizes = [int(np.prod(s)) for s in self.shapes]
        self.offsets = [0, *np.cumsum(sizes).tolist()]
        self.values = self.offsets[-1]
        self.sample, self.capacity = tuple(sample), capacity
        self.image_values = int(np.prod(sample))
        self.nbytes = 4 * (2 * self.values + capacity * self.image_values) + 8 * capacity

    def views(self, block: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(weights, gradients, images, labels) as arrays on the shared ``block``."""
        raw = np.frombuffer(block, dtype=np.uint8)
        v, cap = self.values, self.capacity
        end_g = 8 * v
        end_x = end_g + 4 * cap * self.image_values
        weights = raw[: 4 * v].view(np.float32)
        grads = raw[4 * v : end_g].view(np.float32)
        images = raw[end_g:end_x].view(np.float32).reshape(cap, *self.sample)
        labels = raw[end_x : end_x + 8 * cap].view(np.int64)
        return weights, grads, images, labels

    def split(self, flat: np.ndarray) -> dict[str, np.ndarray]:
        """The flat values as arrays by parameter name (views)."""
        return {
            name: flat[a:z].reshape(shape)
            for name, shape, a, z in zip(
                self.names, self.shapes, self.offsets[:-1], self.offsets[1:], strict=True
            )
        }


class Helper:
    """A second process that computes part of each training step (see the module docstring).

    Shapes: ``sample`` is one image's (C, H, W); parts hold at most ``capacity`` images.
    Use :func:`helper_for`, which closes it; :meth:`step` runs one split step.

    The helper is ``python -m cnncli.nn.data_parallel``, a fresh interpreter that imports
    nothing of the caller's own script.  The model reaches it pickled on its standard
    input, from this process alone; the shared block is an unlinked file that both map.
    """

    def __init__(self, model: Layer, sample: tuple[int, ...], capacity: int) -> None:
        from cnncli.engine.switch import get_engine

        self.failure: str | None = None  #: why the helper stopped helping (None while it works)
        self._layout = _Layout(model.parameters(), sample, capacity)
        self._process: subprocess.Popen[bytes] | None = None
        try:
            self._block, self._process = self._start()
        except OSError as exc:  # no room for the shared file, no interpreter: alone, then
            self.failure = f"the helper process could not be started ({exc})"
            return
        self._weights, self._grads, self._images, self._labels = self._layout.views(self._block)
        try:
            setup = pickle.dumps((model, self._layout, get_engine()), pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:  # a layer of one's own
            self._stop(f"the model could not be handed to the helper ({exc})")
            return
        if not self._write(_LENGTH.pack(len(setup)) + setup):
            self._stop("the helper process could not be started")

    def _start(self) -> tuple[mmap.mmap, subprocess.Popen[bytes]]:
        """The shared block (an unlinked file, its room taken at once: a full /dev/shm fails
        here, not with a bus error at the first write) and the helper process mapping it."""
        shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
        with tempfile.TemporaryFile(dir=shm) as file:  # unlinked: nothing left behind
            fd = file.fileno()
            if hasattr(os, "posix_fallocate"):
                os.posix_fallocate(fd, 0, self._layout.nbytes)
            else:
                file.truncate(self._layout.nbytes)
            block = mmap.mmap(fd, self._layout.nbytes)
            root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
            path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
            process = subprocess.Popen(
                [sys.executable, "-m", "cnncli.nn.data_parallel", str(fd)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                pass_fds=(fd,),
                start_new_session=True,  # the terminal's Ctrl-C goes to the parent alone
                env={**os.environ, "PYTHONPATH": path},
            )
        return block, process

    @property
    def alive(self) -> bool:
        """Whether the helper still takes parts of the steps."""
        return self._process is not None

    def step(
        self, model: Layer, x: np.ndarray, y: np.ndarray, label_smoothing: float = 0.0
    ) -> tuple[float, int]:
        """One split step's forward and backward: every layer's ``grads`` then holds the
        whole batch's gradient g₁ + g₂.  Returns the batch's mean loss and its number of
        right predictions.  (The optimizer's step is the caller's.)"""
        n = len(y)
        n1 = n // 2
        # One thread in each process, as in the helper: the two processes hold both cores,
        # and the same thread counts compute the same bits.
        with blas.one_thread(), threads.limited(1):
            sent = self._send(model, x[n1:], y[n1:], n, label_smoothing)
            loss1, right1 = part_step(model, x[:n1], y[:n1], n, label_smoothing)
            reply = self._receive() if sent else None
            if reply is not None:
                loss2, right2 = reply
                second = self._layout.split(self._grads)
            else:  # the helper failed: its part here, the same bits
                first = {k: g.copy() for k, g in model.named_grads().items()}
                loss2, right2 = part_step(model, x[n1:], y[n1:], n, label_smoothing)
                second = model.named_grads()
                _set_grads(model, first)
        _set_grads(model, {k: g + second[k] for k, g in model.named_grads().items()})
        return (loss1 + loss2) / n, right1 + right2

    def _send(
        self, model: Layer, x: np.ndarray, y: np.ndarray, n: int, label_smoothing: float
    ) -> bool:
        """The weights and the helper's part into the shared block, then its orders."""
        if self._process is None or len(y) > self._layout.capacity:
            return False
        params = model.parameters()
        for name, view in self._layout.split(self._weights).items():
            view[...] = params[name]
        self._images[: len(y)] = x
        self._labels[: len(y)] = y
        return self._write(_ORDER.pack(len(y), n, float(label_smoothing)))

    def _write(self, data: bytes) -> bool:
        assert self._process is not None and self._process.stdin is not None
        try:
            self._process.stdin.write(data)
            self._process.stdin.flush()
        except (OSError, ValueError):
            self._stop("the helper process could not be reached")
            return False
        return True

    def _receive(self) -> tuple[float, int] | None:
        """The helper's loss sum and right count, its gradients then in the block; None
        (and the helper stopped) when it failed or ended."""
        assert self._process is not None and self._process.stdout is not None
        out = self._process.stdout
        try:
            while not select.select([out], [], [], POLL_SECONDS)[0]:
                if self._process.poll() is not None:
                    raise EOFError
            reply = _read(out, _REPLY.size)
        except (EOFError, OSError, ValueError):
            self._stop("the helper process ended")
            return None
        status, loss, right = _REPLY.unpack(reply)
        if status != 0:
            self._stop("the helper process failed")
            return None
        return loss, right

    def _stop(self, why: str) -> None:
        self.failure = why
        self.close()

    def close(self) -> None:
        """Tell the helper to end, and wait for it (or end it) a moment later."""
        if self._process is None:
            return
        process, self._process = self._process, None
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError, ValueError):
                    stream.close()  # the helper reads the end of its input and returns
        try:
            process.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _set_grads(model: Layer, grads: dict[str, np.ndarray]) -> None:
    """Put gradients back into the layers' ``grads`` by state_dict name."""
    for path, layer in model.named_modules():
        for name in list(layer.grads):
            layer.grads[name] = grads[f"{path}.{name}" if path else name]


@contextmanager
def helper_for(
    model: Layer, x: np.ndarray, batch_size: int, samples: int | None = None
) -> Iterator[Helper | None]:
    """A :class:`Helper` for training ``model`` on images like ``x`` (N, C, H, W) in
    batches of ``batch_size``, or None where one process is as fast (:func:`suits`);
    closed on leaving."""
    count = len(x) if samples is None else samples
    if not suits(model, tuple(x.shape[1:]), batch_size, count):
        yield None
        return
    helper = Helper(model, tuple(x.shape[1:]), batch_size - batch_size // 2)
    try:
        yield helper
    finally:
        helper.close()


#: Orders (images in the part, images in the batch, label smoothing); replies (status,
#: the part's summed loss, its right predictions); the length of the pickled setup.
_ORDER = struct.Struct("<qqd")
_REPLY = struct.Struct("<qdq")
_LENGTH = struct.Struct("<q")


def _read(stream: IO[bytes], size: int) -> bytes:
    """Exactly ``size`` bytes from ``stream``; EOFError when it ends first."""
    data = stream.read(size)
    if data is None or len(data) != size:
        raise EOFError
    return data


def _serve(fd: int, orders: IO[bytes], replies: IO[bytes]) -> None:
    """The helper's loop: a part of the batch in, forward and backward, gradients out."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    from cnncli.engine import fast
    from cnncli.engine.switch import set_engine

    try:
        (length,) = _LENGTH.unpack(_read(orders, _LENGTH.size))
        model, layout, engine = pickle.loads(_read(orders, length))  # from the parent alone
    except EOFError:
        return  # the parent gave up before the setup (its model did not pickle)
    fast.setup()
    set_engine(engine)
    block = mmap.mmap(fd, layout.nbytes)
    weights, grads, images, labels = layout.views(block)
    model.train()
    model.needs_input_grad = False  # the images need no gradient
    with blas.one_thread(), threads.limited(1):
        while True:
            try:
                count, batch, label_smoothing = _ORDER.unpack(_read(orders, _ORDER.size))
            except EOFError:
                return  # the parent closed its end, or is gone
            try:
                model.set_parameters(layout.split(weights))
                loss, right = part_step(
                    model, images[:count], labels[:count], batch, label_smoothing
                )
                got = model.named_grads()
                for name, view in layout.split(grads).items():
                    view[...] = got[name]
                failed, reply = False, _REPLY.pack(0, loss, right)
            except Exception:  # the parent goes on alone
                failed, reply = True, _REPLY.pack(1, 0.0, 0)
            replies.write(reply)
            replies.flush()
            if failed:
                return


__all__ = ["MIN_BATCH", "MIN_SAMPLES", "Helper", "helper_for", "part_step", "suits"]


if __name__ == "__main__":  # the helper process (Helper starts it)
    _serve(int(sys.argv[1]), sys.stdin.buffer, sys.stdout.buffer)
