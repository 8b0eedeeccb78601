"""The spec format's schema: each layer type's keys with their value checkers, and names.

:data:`SCHEMA` maps a layer type (a PyTorch class name) to its keys and their checkers;
each checker returns the clean value or raises :class:`BadValueError` with the reason.
:data:`TORCH_UNSUPPORTED` names well-known torch.nn layers cnncli has no counterpart for;
:data:`INFERRED` the key (in_channels, ...) a layer's input shape fills in.
Used by :mod:`cnncli.nn.spec`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from cnncli.engine.shapes import PADDING_MODES


# ---- value checkers: each returns the clean value or raises BadValueError(reason) ------------------
class BadValueError(Exception):
    pass


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def pos_int(v: Any) -> int:
    if not _is_int(v):
        raise BadValueError(f"must be a positive integer, got {show(v)}")
    if v < 1:
        raise BadValueError(f"must be at least 1, got {v}")
    return int(v)


def _nonneg_int(v: Any) -> int:
    if not _is_int(v):
        raise BadValueError(f"must be an integer, got {show(v)}")
    if v < 0:
        raise BadValueError(f"must not be negative, got {v}")
    return int(v)


def _int(v: Any) -> int:
    if not _is_int(v):
        raise BadValueError(f"must be an integer, got {show(v)}")
    return int(v)


def _pair_of(check: Callable[[Any], int]) -> Callable[[Any], Any]:
    def inner(v: Any) -> Any:
        if isinstance(v, list):
            if len(v) != 2:
                raise BadValueError(f"must be an integer or a list of 2 integers, got {show(v)}")
            return (check(v[0]), check(v[1]))
        return check(v)

    return inner


def _padding(v: Any) -> Any:
    if isinstance(v, str):
        if v.lower() not in ("same", "valid"):
            raise BadValueError(
                f"must be an integer, [h, w], [left, right, top, bottom], 'same' or 'valid', got {show(v)}"
            )
        return v.lower()
    if isinstance(v, list):
        if len(v) not in (2, 4):
            raise BadValueError(
                f"must be an integer, [h, w] or [left, right, top, bottom], got {show(v)}"
            )
        return tuple(_nonneg_int(x) for x in v)
    return _nonneg_int(v)


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise BadValueError(f"must be true or false, got {show(v)}")
    return v


def _float(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise BadValueError(f"must be a finite number, got {show(v)}")
    return float(v)


def _prob(v: Any) -> float:
    x = _float(v)
    if not 0.0 <= x <= 1.0:
        raise BadValueError(f"must be between 0 and 1, got {v}")
    return x


def _positive_float(v: Any) -> float:
    x = _float(v)
    if x <= 0:
        raise BadValueError(f"must be positive, got {v}")
    return x


def _optional(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def inner(v: Any) -> Any:
        if v is None or v == "none":
            return None
        return check(v)

    return inner


def _choice(*options: str) -> Callable[[Any], str]:
    def inner(v: Any) -> str:
        if not isinstance(v, str) or v not in options:
            raise BadValueError(f"must be one of {', '.join(options)}, got {show(v)}")
        return v

    return inner


def _output_size(v: Any) -> Any:
    if isinstance(v, list):
        if len(v) != 2:
            raise BadValueError(f"must be an integer or a list of 2 integers, got {show(v)}")
        return tuple(None if x is None or x == "none" else pos_int(x) for x in v)
    return pos_int(v)


def _scale_factor(v: Any) -> Any:
    if isinstance(v, list):
        if len(v) != 2:
            raise BadValueError(f"must be a number or a list of 2 numbers, got {show(v)}")
        return (_positive_float(v[0]), _positive_float(v[1]))
    return _positive_float(v)


def _zero_pad(v: Any) -> Any:
    if isinstance(v, list):
        if len(v) != 4:
            raise BadValueError(f"must be an integer or [left, right, top, bottom], got {show(v)}")
        return tuple(_nonneg_int(x) for x in v)
    return _nonneg_int(v)


def show(v: Any) -> str:
    text = json.dumps(v) if isinstance(v, (str, list, dict, bool)) or v is None else repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _name(v: Any) -> str:
    if not isinstance(v, str):
        raise BadValueError(f'must be a layer type name such as "ReLU", got {show(v)}')
    return v


def _false_only(v: Any) -> bool:
    if _bool(v):
        raise BadValueError("true is not supported in a network (its output would be a pair)")
    return False


#: type -> {key: checker}; "required" keys are listed separately.
SCHEMA: dict[str, dict[str, Callable[[Any], Any]]] = {
    "Conv2d": {
        "in_channels": pos_int,
        "out_channels": pos_int,
        "kernel_size": _pair_of(pos_int),
        "stride": _pair_of(pos_int),
        "padding": _padding,
        "dilation": _pair_of(pos_int),
        "groups": pos_int,
        "bias": _bool,
        "padding_mode": _choice(*PADDING_MODES),
    },
    "MaxPool2d": {
        "kernel_size": _pair_of(pos_int),
        "stride": _optional(_pair_of(pos_int)),
        "padding": _pair_of(_nonneg_int),
        "dilation": _pair_of(pos_int),
        "return_indices": _false_only,
        "ceil_mode": _bool,
    },
    "AvgPool2d": {
        "kernel_size": _pair_of(pos_int),
        "stride": _optional(_pair_of(pos_int)),
        "padding": _pair_of(_nonneg_int),
        "ceil_mode": _bool,
        "count_include_pad": _bool,
        "divisor_override": _optional(pos_int),
    },
    "AdaptiveAvgPool2d": {"output_size": _output_size},
    "ReLU": {"inplace": _bool},
    "LeakyReLU": {"negative_slope": _float, "inplace": _bool},
    "Sigmoid": {},
    "Tanh": {},
    "Softmax": {"dim": _optional(_int)},
    "Flatten": {"start_dim": _int, "end_dim": _int},
    "Dropout": {"p": _prob, "inplace": _bool},
    "Linear": {"in_features": pos_int, "out_features": pos_int, "bias": _bool},
    "BatchNorm2d": {
        "num_features": pos_int,
        "eps": _positive_float,
        "momentum": _optional(_prob),
        "affine": _bool,
        "track_running_stats": _bool,
        "bias": _bool,
    },
    "BasicBlock": {
        "inplanes": pos_int,
        "planes": pos_int,
        "stride": pos_int,
        "downsample": _bool,
    },
    "Sequential": {},
    "Residual": {"relu": _bool},
    "Bottleneck": {
        "inplanes": pos_int,
        "planes": pos_int,
        "stride": pos_int,
        "downsample": _bool,
        "groups": pos_int,
        "base_width": pos_int,
        "dilation": pos_int,
    },
    "Concat": {},
    "Multiply": {},
    "SqueezeExcitation": {
        "input_channels": pos_int,
        "squeeze_channels": pos_int,
        "activation": _name,
        "scale_activation": _name,
    },
    "Fire": {
        "inplanes": pos_int,
        "squeeze_planes": pos_int,
        "expand1x1_planes": pos_int,
        "expand3x3_planes": pos_int,
    },
    "Inception": {
        "in_channels": pos_int,
        "ch1x1": pos_int,
        "ch3x3red": pos_int,
        "ch3x3": pos_int,
        "ch5x5red": pos_int,
        "ch5x5": pos_int,
        "pool_proj": pos_int,
    },
    "BasicConv2d": {
        "in_channels": pos_int,
        "out_channels": pos_int,
        "kernel_size": _pair_of(pos_int),
        "stride": _pair_of(pos_int),
        "padding": _pair_of(_nonneg_int),
    },
    # the layers of issue 16
    "ConvTranspose2d": {
        "in_channels": pos_int,
        "out_channels": pos_int,
        "kernel_size": _pair_of(pos_int),
        "stride": _pair_of(pos_int),
        "padding": _pair_of(_nonneg_int),
        "output_padding": _pair_of(_nonneg_int),
        "groups": pos_int,
        "bias": _bool,
        "dilation": _pair_of(pos_int),
        "padding_mode": _choice("zeros"),
    },
    "Upsample": {
        "size": _optional(_pair_of(pos_int)),
        "scale_factor": _optional(_scale_factor),
        "mode": _choice("nearest", "bilinear"),
        "align_corners": _optional(_bool),
        "recompute_scale_factor": _optional(_bool),
    },
    "ZeroPad2d": {"padding": _zero_pad},
    "AdaptiveMaxPool2d": {"output_size": _output_size, "return_indices": _false_only},
    "ReLU6": {"inplace": _bool},
    "Hardtanh": {"min_val": _float, "max_val": _float, "inplace": _bool},
    "SiLU": {"inplace": _bool},
    "GELU": {"approximate": _choice("none", "tanh")},
    "Hardswish": {"inplace": _bool},
    "Hardsigmoid": {"inplace": _bool},
    "ELU": {"alpha": _float, "inplace": _bool},
    "Mish": {"inplace": _bool},
    "Identity": {},
    "Dropout2d": {"p": _prob, "inplace": _bool},
    "BatchNorm1d": {
        "num_features": pos_int,
        "eps": _positive_float,
        "momentum": _optional(_prob),
        "affine": _bool,
        "track_running_stats": _bool,
        "bias": _bool,
    },
    "GroupNorm": {
        "num_groups": pos_int,
        "num_channels": pos_int,
        "eps": _positive_float,
        "affine": _bool,
        "bias": _bool,
    },
    # DenseNet's blocks (zoo densenet121), for `cnncli export --to spec.toml`
    "DenseBlock": {
        "num_layers": pos_int,
        "num_input_features": pos_int,
        "bn_size": pos_int,
        "growth_rate": pos_int,
    },
    "Transition": {"num_input_features": pos_int, "num_output_features": pos_int},
    "Conv2dNormActivation": {
        "in_channels": pos_int,
        "out_channels": pos_int,
        "kernel_size": pos_int,
        "stride": pos_int,
        "groups": pos_int,
    },
    "InvertedResidual": {
        "inp": pos_int,
        "oup": pos_int,
        "stride": pos_int,
        "expand_ratio": pos_int,
    },
}
#: Well-known torch.nn layers cnncli has no counterpart for: a spec naming one is told so,
#: not offered a near-miss name (ConvTranspose2d is no misspelt Conv2d).
TORCH_UNSUPPORTED = frozenset(
    {
        "AdaptiveAvgPool1d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d",
        "AdaptiveMaxPool3d", "AlphaDropout", "AvgPool1d", "AvgPool3d",
        "BatchNorm3d", "Bilinear", "CELU", "ChannelShuffle", "ConstantPad1d", "ConstantPad2d",
        "ConstantPad3d", "Conv1d", "Conv3d", "ConvTranspose1d",
        "ConvTranspose3d", "CosineSimilarity", "Dropout1d", "Dropout3d",
        "Embedding", "EmbeddingBag", "FeatureAlphaDropout", "Fold", "FractionalMaxPool2d",
        "GLU", "GRU", "GRUCell", "Hardshrink",
        "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d",
        "LPPool1d", "LPPool2d", "LSTM", "LSTMCell", "LayerNorm", "LazyConv2d", "LazyLinear",
        "LocalResponseNorm", "LogSigmoid", "LogSoftmax", "MaxPool1d", "MaxPool3d",
        "MaxUnpool2d", "ModuleDict", "ModuleList", "MultiheadAttention", "PReLU",
        "PixelShuffle", "PixelUnshuffle", "RMSNorm", "RNN", "RNNCell", "RReLU",
        "ReflectionPad1d", "ReflectionPad2d", "ReplicationPad1d", "ReplicationPad2d", "SELU",
        "Softmax2d", "Softmin", "Softplus", "Softshrink", "Softsign", "SyncBatchNorm",
        "Tanhshrink", "Threshold", "Transformer", "TransformerDecoder",
        "TransformerDecoderLayer", "TransformerEncoder", "TransformerEncoderLayer", "Unflatten",
        "Unfold", "UpsamplingBilinear2d", "UpsamplingNearest2d",
    }
)  # fmt: skip
REQUIRED: dict[str, tuple[str, ...]] = {
    "Conv2d": ("out_channels", "kernel_size"),
    "MaxPool2d": ("kernel_size",),
    "AvgPool2d": ("kernel_size",),
    "AdaptiveAvgPool2d": ("output_size",),
    "Linear": ("out_features",),
    "BasicBlock": ("planes",),
    "ConvTranspose2d": ("out_channels", "kernel_size"),
    "ZeroPad2d": ("padding",),
    "AdaptiveMaxPool2d": ("output_size",),
    "GroupNorm": ("num_groups",),
    "Bottleneck": ("planes",),
    "SqueezeExcitation": ("squeeze_channels",),
    "Fire": ("squeeze_planes", "expand1x1_planes", "expand3x3_planes"),
    "Inception": ("ch1x1", "ch3x3red", "ch3x3", "ch5x5red", "ch5x5", "pool_proj"),
    "BasicConv2d": ("out_channels", "kernel_size"),
    "DenseBlock": ("num_layers",),
    "Transition": ("num_output_features",),
    "Conv2dNormActivation": ("out_channels",),
    "InvertedResidual": ("oup", "stride", "expand_ratio"),
}
#: keys holding nested layer lists, per container type.
NESTED: dict[str, tuple[str, ...]] = {
    "Sequential": ("layers",),
    "Residual": ("layers", "shortcut"),
    "Concat": ("branches",),
    "Multiply": ("branches",),
}
#: The input-size key each type may leave out (inferred from the shape reaching the layer).
INFERRED: dict[str, str] = {
    "Conv2d": "in_channels",
    "Linear": "in_features",
    "BatchNorm2d": "num_features",
    "BasicBlock": "inplanes",
    "Bottleneck": "inplanes",
    "SqueezeExcitation": "input_channels",
    "Fire": "inplanes",
    "Inception": "in_channels",
    "BasicConv2d": "in_channels",
    "DenseBlock": "num_input_features",
    "Transition": "num_input_features",
    "Conv2dNormActivation": "in_channels",
    "InvertedResidual": "inp",
    "ConvTranspose2d": "in_channels",
    "BatchNorm1d": "num_features",
    "GroupNorm": "num_channels",
}
#: Keys that name an activation layer (built by the spec reader), per type.
ACTIVATION_KEYS: dict[str, tuple[str, ...]] = {
    "SqueezeExcitation": ("activation", "scale_activation"),
}
