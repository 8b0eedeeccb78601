"""The building blocks of the classic CNNs, with torchvision's class and module names.

Each is a :class:`~cnncli.nn.layers.flow.Block` (children by torchvision's names, plus its
data flow), so that a torchvision state_dict loads unchanged and ``print(model)`` shows
torchvision's text:

- :class:`Fire` (SqueezeNet): squeeze 1×1, then expand 1×1 ‖ expand 3×3, concatenated;
- :class:`BasicConv2d` and :class:`Inception` (GoogLeNet): four branches concatenated;
- :class:`DenseLayer`, :class:`DenseBlock`, :class:`Transition` (DenseNet, printed as
  ``_DenseLayer``, ``_DenseBlock``, ``_Transition``): each dense layer's new features are
  concatenated to its input;
- :class:`Conv2dNormActivation` and :class:`InvertedResidual` (MobileNetV2): conv-BN-ReLU6
  units, and the expand → depthwise → project block with its residual add.
"""

from __future__ import annotations

from cnncli.nn.layers.activation import ReLU
from cnncli.nn.layers.activation_modern import ReLU6
from cnncli.nn.layers.base import Layer
from cnncli.nn.layers.containers import Concat, Sequential
from cnncli.nn.layers.conv import Conv2d
from cnncli.nn.layers.flow import Block, Join, Node, Path
from cnncli.nn.layers.norm import BatchNorm2d
from cnncli.nn.layers.pool import AvgPool2d, MaxPool2d


class Fire(Block):
    """SqueezeNet's Fire module (torchvision.models.squeezenet.Fire).

    Shapes: (N, inplanes, H, W) → (N, expand1x1_planes + expand3x3_planes, H, W).
    ``s = relu(squeeze(x))`` (1×1 to squeeze_planes);
    ``out = cat(relu(expand1x1(s)), relu(expand3x3(s)), dim=1)`` (3×3 with padding 1).
    """

    def __init__(
        self, inplanes: int, squeeze_planes: int, expand1x1_planes: int, expand3x3_planes: int
    ) -> None:
        self.inplanes = inplanes
        super().__init__(
            [
                ("squeeze", Conv2d(inplanes, squeeze_planes, kernel_size=1)),
                ("squeeze_activation", ReLU(inplace=True)),
                ("expand1x1", Conv2d(squeeze_planes, expand1x1_planes, kernel_size=1)),
                ("expand1x1_activation", ReLU(inplace=True)),
                ("expand3x3", Conv2d(squeeze_planes, expand3x3_planes, kernel_size=3, padding=1)),
                ("expand3x3_activation", ReLU(inplace=True)),
            ]
        )

    def flow(self) -> Node:
        expand = Join(
            "cat",
            (
                Path("expand1x1", "expand1x1_activation"),
                Path("expand3x3", "expand3x3_activation"),
            ),
            ("expand1x1", "expand3x3"),
        )
        return Path("squeeze", "squeeze_activation", expand)


class BasicConv2d(Block):
    """GoogLeNet's conv unit: ``relu(bn(conv(x)))``, bias-free conv, BatchNorm eps 0.001.

    Shapes: as the Conv2d. The ReLU is ``F.relu`` in torchvision's forward, not a module:
    it is a functional child here (shown in cnncli's tables, not in ``print(model)``).
    """

    def __init__(self, in_channels: int, out_channels: int, **conv_args: object) -> None:
        relu = ReLU(inplace=True)
        relu.functional = True
        super().__init__(
            [
                ("conv", Conv2d(in_channels, out_channels, bias=False, **conv_args)),  # type: ignore[arg-type]
                ("bn", BatchNorm2d(out_channels, eps=0.001)),
                ("relu", relu),
            ]
        )


class Inception(Concat):
    """GoogLeNet's Inception module (torchvision.models.googlenet.Inception).

    Shapes: (N, in_channels, H, W) → (N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W).
    Four branches concatenated: 1×1; 1×1 → 3×3; 1×1 → 3×3 (torchvision's "5×5" branch
    uses a 3×3 kernel, a known quirk kept for its weights); max pool 3×3 (stride 1,
    padding 1, ceil_mode) → 1×1. Every conv is a :class:`BasicConv2d`.
    """

    def __init__(
        self,
        in_channels: int,
        ch1x1: int,
        ch3x3red: int,
        ch3x3: int,
        ch5x5red: int,
        ch5x5: int,
        pool_proj: int,
    ) -> None:
        self.in_channels = in_channels
        super().__init__(
            ("branch1", BasicConv2d(in_channels, ch1x1, kernel_size=1)),
            (
                "branch2",
                Sequential(
                    BasicConv2d(in_channels, ch3x3red, kernel_size=1),
                    BasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1),
                ),
            ),
            (
                "branch3",
                Sequential(
                    BasicConv2d(in_channels, ch5x5red, kernel_size=1),
                    BasicConv2d(ch5x5red, ch5x5, kernel_size=3, padding=1),
                ),
            ),
            (
                "branch4",
                Sequential(
                    MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
                    BasicConv2d(in_channels, pool_proj, kernel_size=1),
                ),
            ),
        )


class DenseLayer(Sequential):
    """DenseNet's dense layer (torchvision's ``_DenseLayer``): the new features of one step.

    Shapes: (N, C, H, W) → (N, growth_rate, H, W).
    ``conv2(relu2(norm2(conv1(relu1(norm1(x))))))``, conv1 1×1 to bn_size·growth_rate,
    conv2 3×3 padding 1. The :class:`DenseBlock` concatenates its input with this output.
    """

    torch_name = "_DenseLayer"

    def __init__(self, num_input_features: int, growth_rate: int, bn_size: int = 4) -> None:
        inner = bn_size * growth_rate
        super().__init__(
            ("norm1", BatchNorm2d(num_input_features)),
            ("relu1", ReLU(inplace=True)),
            ("conv1", Conv2d(num_input_features, inner, kernel_size=1, stride=1, bias=False)),
            ("norm2", BatchNorm2d(inner)),
            ("relu2", ReLU(inplace=True)),
            ("conv2", Conv2d(inner, growth_rate, kernel_size=3, stride=1, padding=1, bias=False)),
        )


class DenseBlock(Block):
    """DenseNet's dense block (torchvision's ``_DenseBlock``): every layer sees all before it.

    Shapes: (N, C, H, W) → (N, C + num_layers·growth_rate, H, W).
    ``x_0 = x``, ``x_i = cat(x_{i−1}, denselayer_i(x_{i−1}), dim=1)``, out = ``x_n`` (the
    same as torchvision's ``cat([x_0, f_1, …, f_n])`` with ``f_i`` computed from
    ``cat([x_0, f_1, …, f_{i−1}])``).
    """

    torch_name = "_DenseBlock"

    def __init__(
        self, num_layers: int, num_input_features: int, bn_size: int = 4, growth_rate: int = 32
    ) -> None:
        kids: list[tuple[str, Layer]] = [
            (
                f"denselayer{i + 1}",
                DenseLayer(num_input_features + i * growth_rate, growth_rate, bn_size),
            )
            for i in range(num_layers)
        ]
        super().__init__(kids)

    def flow(self) -> Node:
        return Path(
            *(Join("cat", (Path(), Path(name)), ("the input", name)) for name, _ in self._children)
        )


class Transition(Sequential):
    """DenseNet's transition (torchvision's ``_Transition``): halve the channels and the size.

    Shapes: (N, C, H, W) → (N, num_output_features, ⌊H/2⌋, ⌊W/2⌋).
    ``pool(conv(relu(norm(x))))`` with a 1×1 bias-free conv and a 2×2 average pool.
    """

    torch_name = "_Transition"

    def __init__(self, num_input_features: int, num_output_features: int) -> None:
        super().__init__(
            ("norm", BatchNorm2d(num_input_features)),
            ("relu", ReLU(inplace=True)),
            (
                "conv",
                Conv2d(
                    num_input_features, num_output_features, kernel_size=1, stride=1, bias=False
                ),
            ),
            ("pool", AvgPool2d(kernel_size=2, stride=2)),
        )


class Conv2dNormActivation(Sequential):
    """torchvision.ops.Conv2dNormActivation with BatchNorm2d and ReLU6 (MobileNetV2's unit).

    Shapes: (N, C_in, H, W) → (N, C_out, ⌊(H + 2p − k)/stride⌋ + 1, same for W) with
    ``p = (k − 1) // 2`` (the size kept at stride 1, halved at stride 2 for odd k).
    ``relu6(bn(conv(x)))``, a bias-free conv (a BN follows); children ``0``, ``1``, ``2``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        groups: int = 1,
    ) -> None:
        self.out_channels = out_channels
        padding = (kernel_size - 1) // 2
        super().__init__(
            Conv2d(
                in_channels,
                out_channels,
                kernel_size,
                stride=stride,
                padding=padding,
                groups=groups,
                bias=False,
            ),
            BatchNorm2d(out_channels),
            ReLU6(inplace=True),
        )


class InvertedResidual(Block):
    """MobileNetV2's inverted residual block (torchvision.models.mobilenetv2.InvertedResidual).

    Shapes: (N, inp, H, W) → (N, oup, ⌊(H − 1)/stride⌋ + 1, same for W).
    ``hidden = round(inp · expand_ratio)``; ``conv`` is a Sequential of: a 1×1
    :class:`Conv2dNormActivation` inp → hidden (left out when expand_ratio is 1), a 3×3
    depthwise one (groups = hidden) with the stride, a 1×1 bias-free conv hidden → oup
    and a BatchNorm2d (no activation: the "linear bottleneck").
    ``out = x + conv(x)`` when stride is 1 and inp == oup, else ``conv(x)``.
    """

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int) -> None:
        self.stride = stride
        hidden_dim = round(inp * expand_ratio)
        self.use_res_connect = stride == 1 and inp == oup
        layers: list[Layer] = []
        if expand_ratio != 1:
            layers.append(Conv2dNormActivation(inp, hidden_dim, kernel_size=1))
        layers += [
            Conv2dNormActivation(hidden_dim, hidden_dim, stride=stride, groups=hidden_dim),
            Conv2d(hidden_dim, oup, 1, 1, 0, bias=False),
            BatchNorm2d(oup),
        ]
        self.out_channels = oup
        super().__init__([("conv", Sequential(*layers))])

    def flow(self) -> Node:
        if self.use_res_connect:
            return Join("add", (Path(), Path("conv")), ("the input", "conv"))
        return Path("conv")
