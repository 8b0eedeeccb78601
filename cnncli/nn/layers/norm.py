"""BatchNorm2d, BatchNorm1d and GroupNorm, with PyTorch's running statistics and state_dict names.

The forward is one call into :func:`cnncli.engine.norm.batch_norm` (after counting the
batch for the running statistics) or :func:`cnncli.engine.norm.group_norm`, the backward
one call into its ``_backward``.
"""

from __future__ import annotations

import numpy as np

from cnncli.engine import shapes as S  # noqa: N812
from cnncli.errors import ParameterError, ShapeError
from cnncli.nn.layers.base import Layer, Shape, _fmt_shape


class BatchNorm2d(Layer):
    """Batch normalisation over (N, H, W) per channel, as ``torch.nn.BatchNorm2d``.

    Shapes: (N, C, H, W) → same. ``y = (x − mean) / sqrt(var + eps) · weight + bias``;
    batch statistics in training (running statistics updated with ``momentum``),
    running statistics in eval.
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if isinstance(num_features, bool) or not isinstance(num_features, int) or num_features < 1:
            raise ParameterError(
                f"{self.type_name} num_features must be a positive integer, got {num_features!r}"
            )
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
            raise ParameterError(f"{self.type_name} eps must be positive, got {eps!r}")
        if momentum is not None and (
            isinstance(momentum, bool)
            or not isinstance(momentum, (int, float))
            or not 0 <= momentum <= 1
        ):
            raise ParameterError(
                f"{self.type_name} momentum must be between 0 and 1, got {momentum!r}"
            )
        self.num_features = num_features
        self.eps = float(eps)
        self.momentum = None if momentum is None else float(momentum)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        self.bias = self.affine and bool(bias)
        if self.affine:
            self._params = {"weight": None, **({"bias": None} if self.bias else {})}
        if self.track_running_stats:
            self._buffers = {"running_mean": None, "running_var": None, "num_batches_tracked": None}

    def param_shapes(self) -> dict[str, Shape]:
        C = self.num_features
        if not self.affine:
            return {}
        return {"weight": (C,), "bias": (C,)} if self.bias else {"weight": (C,)}

    def buffer_shapes(self) -> dict[str, Shape]:
        C = self.num_features
        if not self.track_running_stats:
            return {}
        return {"running_mean": (C,), "running_var": (C,), "num_batches_tracked": ()}

    def _reset_own(self, rng: np.random.Generator) -> None:
        C = self.num_features
        if self.affine:
            self._params["weight"] = np.ones(C, dtype=np.float32)
            if self.bias:
                self._params["bias"] = np.zeros(C, dtype=np.float32)
        if self.track_running_stats:
            self._buffers["running_mean"] = np.zeros(C, dtype=np.float32)
            self._buffers["running_var"] = np.ones(C, dtype=np.float32)
            self._buffers["num_batches_tracked"] = np.array(0, dtype=np.int64)

    def output_shape(self, input_shape: Shape) -> Shape:
        _, C, _, _ = S.check_nchw(tuple(input_shape))
        if self.num_features != C:
            raise ShapeError(
                f"BatchNorm2d expects {self.num_features} channels, but the input "
                f"{_fmt_shape(input_shape)} has {C}"
            )
        return tuple(input_shape)

    def _stats(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        """Running mean/var to use and whether batch statistics are used."""
        use_batch = self.training or not self.track_running_stats
        if self.track_running_stats:
            mean = self._buffers["running_mean"]
            var = self._buffers["running_var"]
            if mean is None or var is None:
                raise ParameterError(f"{self.type_name} has no running statistics yet")
            return mean, var, use_batch
        C = self.num_features
        return np.zeros(C, dtype=x.dtype), np.ones(C, dtype=x.dtype), True

    def forward(self, x: np.ndarray) -> np.ndarray:
        from cnncli.engine.norm import batch_norm

        self.output_shape(x.shape)
        mean, var, use_batch = self._stats(x)
        momentum = self.momentum
        if self.training and self.track_running_stats:
            count = self._buffers["num_batches_tracked"]
            count = np.array((0 if count is None else int(count)) + 1, dtype=np.int64)
            self._buffers["num_batches_tracked"] = count
            if momentum is None:  # cumulative moving average, as PyTorch
                momentum = 1.0 / float(count)
        self._x = x
        self._use_batch = use_batch
        return batch_norm(
            x,
            mean,
            var,
            self._params.get("weight"),
            self._params.get("bias"),
            training=use_batch,
            momentum=0.0 if momentum is None else momentum,
            eps=self.eps,
        )

    def backward(self, grad: np.ndarray) -> np.ndarray:
        from cnncli.engine.norm import batch_norm_backward

        mean, var, _ = self._stats(self._x)
        dx, dweight, dbias = batch_norm_backward(
            grad, self._x, self._params.get("weight"), mean, var, self._use_batch, self.eps
        )
        self.grads = {}
        if self.affine:
            self.grads = {"weight": dweight}
            if self.bias:
                self.grads["bias"] = dbias
        return dx

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.bias}, "
            f"track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(BatchNorm2d):
    """Batch normalisation of (N, C) or (N, C, L) per channel, as ``torch.nn.BatchNorm1d``.

    Shapes: (N, C) or (N, C, L) → same; the statistics are over (N,) or (N, L).
    Everything else as :class:`BatchNorm2d` (its arguments, state_dict and running statistics).
    """

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) not in (2, 3):
            raise ShapeError(
                f"BatchNorm1d expects a 2-D (N, C) or 3-D (N, C, L) input, got "
                f"{_fmt_shape(input_shape)}"
            )
        if input_shape[1] != self.num_features:
            raise ShapeError(
                f"BatchNorm1d expects {self.num_features} channels, but the input "
                f"{_fmt_shape(input_shape)} has {input_shape[1]}"
            )
        return tuple(input_shape)


class GroupNorm(Layer):
    """Group normalisation, as ``torch.nn.GroupNorm``: each image's channels in
    ``num_groups`` groups, each group normalised over its (C/G, H, W) values.

    Shapes: (N, C, ...) → same; weight, bias (C,).
    ``y = (x − mean) / sqrt(var + eps) · weight[c] + bias[c]``, mean and biased variance
    per (image, group); no running statistics, so training and eval compute the same.
    """

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        for name, value in (("num_groups", num_groups), ("num_channels", num_channels)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ParameterError(f"GroupNorm {name} must be a positive integer, got {value!r}")
        if num_channels % num_groups:
            raise ParameterError(
                f"GroupNorm num_channels ({num_channels}) must be divisible by "
                f"num_groups ({num_groups})"
            )
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
            raise ParameterError(f"GroupNorm eps must be positive, got {eps!r}")
        self.num_groups, self.num_channels = num_groups, num_channels
        self.eps = float(eps)
        self.affine = bool(affine)
        self.bias = self.affine and bool(bias)
        self._params = dict.fromkeys(self.param_shapes())

    def param_shapes(self) -> dict[str, Shape]:
        C = self.num_channels
        if not self.affine:
            return {}
        return {"weight": (C,), "bias": (C,)} if self.bias else {"weight": (C,)}

    def _reset_own(self, rng: np.random.Generator) -> None:
        C = self.num_channels
        if self.affine:
            self._params["weight"] = np.ones(C, dtype=np.float32)
            if self.bias:
                self._params["bias"] = np.zeros(C, dtype=np.float32)

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) < 2 or input_shape[1] != self.num_channels:
            raise ShapeError(
                f"GroupNorm expects (N, {self.num_channels}, ...), but the input is "
                f"{_fmt_shape(input_shape)}"
            )
        return tuple(input_shape)

    def forward(self, x: np.ndarray) -> np.ndarray:
        from cnncli.engine.norm import group_norm

        self.output_shape(x.shape)
        self._x = x
        w, b = self._params.get("weight"), self._params.get("bias")
        return group_norm(x, self.num_groups, w, b, self.eps)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        from cnncli.engine.norm import group_norm_backward

        w = self._params.get("weight")
        dx, dweight, dbias = group_norm_backward(grad, self._x, self.num_groups, w, self.eps)
        self.grads = {}
        if self.affine:
            self.grads = {"weight": dweight}
            if self.bias:
                self.grads["bias"] = dbias
        return dx

    def extra_repr(self) -> str:
        return (
            f"{self.num_groups}, {self.num_channels}, eps={self.eps}, "
            f"affine={self.affine}, bias={self.bias}"
        )
