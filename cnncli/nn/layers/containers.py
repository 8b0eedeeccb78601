"""Containers: Sequential, Network (a named model), ResNet's BasicBlock and Bottleneck, a
spec's Residual, Concat and Multiply, and torchvision's SqueezeExcitation.

Sequential's forward calls its children in order and its backward calls them in reverse;
every other container is a :class:`~cnncli.nn.layers.flow.Block` that declares its data
flow (paths joined by a residual add, a concatenation or a product) and is run by the
one interpreter there.
"""

from __future__ import annotations

import numpy as np

from cnncli.nn.layers.activation import ReLU, Sigmoid
from cnncli.nn.layers.base import Layer, Shape
from cnncli.nn.layers.conv import Conv2d
from cnncli.nn.layers.flow import Block, Join, Node, Path
from cnncli.nn.layers.norm import BatchNorm2d
from cnncli.nn.layers.pool import AdaptiveAvgPool2d


class Sequential(Block):
    """Layers applied in order, named ``0, 1, ...`` or by the names given, as ``nn.Sequential``.

    Shapes: each child's output shape is the next child's input shape.
    ``y = f_n(… f_2(f_1(x)))``; the backward runs the children in reverse.
    """

    def __init__(self, *layers: Layer | tuple[str, Layer]) -> None:
        super().__init__(
            [item if isinstance(item, tuple) else (str(i), item) for i, item in enumerate(layers)]
        )

    def __getitem__(self, key: int | str) -> Layer:
        if isinstance(key, int):
            return self._children[key][1]
        return dict(self._children)[key]

    def __len__(self) -> int:
        return len(self._children)

    def output_shape(self, input_shape: Shape) -> Shape:
        shape = tuple(input_shape)
        for _, child in self._children:
            shape = child.output_shape(shape)
        return shape

    def forward(self, x: np.ndarray) -> np.ndarray:
        for _, child in self._children:
            x = child(x)
        return x

    def backward(self, grad: np.ndarray) -> np.ndarray:
        for i in reversed(range(len(self._children))):
            child = self._children[i][1]
            if i == 0:  # the first child's input is this container's
                child.needs_input_grad = self.needs_input_grad
            grad = child.backward(grad)
        return grad


class Network(Sequential):
    """A named model (``AlexNet``, ``ResNet`` ...): children applied in order, printed
    under the model's class name, with a description, a default input and class count.

    Shapes: as :class:`Sequential`; typically (N, 3, H, W) → (N, num_classes).
    """

    def __init__(
        self,
        class_name: str,
        children: list[tuple[str, Layer]],
        description: str = "",
        input_shape: tuple[int, int, int] | None = None,
        num_classes: int | None = None,
    ) -> None:
        super().__init__(*children)
        self.class_name = class_name
        self.description = description
        self.input_shape = input_shape
        self.num_classes = num_classes
        #: What the user called it: the zoo name or the spec's name.
        self.title = class_name

    @property
    def type_name(self) -> str:
        return self.class_name


class BasicBlock(Block):
    """ResNet's basic residual block, torchvision's layout and state_dict names.

    Shapes: (N, C, H, W) → (N, planes, ⌈H/stride⌉, ⌈W/stride⌉).
    ``out = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))`` where the shortcut
    is ``downsample`` (1×1 conv with stride + BatchNorm2d) or the identity.
    """

    expansion = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: Sequential | bool | None = None,
    ) -> None:
        self.inplanes = inplanes
        self.planes = planes
        self.stride = stride
        self.conv1 = Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = BatchNorm2d(planes)
        self.relu = ReLU(inplace=True)
        self.conv2 = Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = BatchNorm2d(planes)
        self.downsample = _downsample(downsample, inplanes, planes * self.expansion, stride)
        kids: list[tuple[str, Layer]] = [
            ("conv1", self.conv1),
            ("bn1", self.bn1),
            ("relu", self.relu),
            ("conv2", self.conv2),
            ("bn2", self.bn2),
        ]
        super().__init__(
            kids + ([("downsample", self.downsample)] if self.downsample is not None else [])
        )

    def flow(self) -> Node:
        main = Path("conv1", "bn1", "relu", "conv2", "bn2")
        return _residual(main, self.downsample is not None, "downsample", relu=True)


class Bottleneck(Block):
    """ResNet's bottleneck block (ResNet-50/101/152), torchvision's layout and names.

    Shapes: (N, inplanes, H, W) → (N, 4·planes, ⌊(H − 1)/stride⌋ + 1, same for W).
    ``out = relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x)))))))) + shortcut(x))``:
    conv1 1×1 to ``width = planes·base_width/64·groups``, conv2 3×3 with the stride (the
    "ResNet v1.5" placement, as torchvision), conv3 1×1 to ``4·planes``; the shortcut is
    ``downsample`` (1×1 conv with the stride + BatchNorm2d) or the identity.
    """

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: Sequential | bool | None = None,
        groups: int = 1,
        base_width: int = 64,
        dilation: int = 1,
    ) -> None:
        self.inplanes = inplanes
        self.planes = planes
        self.stride = stride
        width = int(planes * (base_width / 64.0)) * groups
        out = planes * self.expansion
        self.downsample = _downsample(downsample, inplanes, out, stride)
        kids: list[tuple[str, Layer]] = [
            ("conv1", Conv2d(inplanes, width, 1, bias=False)),
            ("bn1", BatchNorm2d(width)),
            (
                "conv2",
                Conv2d(
                    width,
                    width,
                    3,
                    stride=stride,
                    padding=dilation,
                    dilation=dilation,
                    groups=groups,
                    bias=False,
                ),
            ),
            ("bn2", BatchNorm2d(width)),
            ("conv3", Conv2d(width, out, 1, bias=False)),
            ("bn3", BatchNorm2d(out)),
            ("relu", ReLU(inplace=True)),
        ]
        super().__init__(
            kids + ([("downsample", self.downsample)] if self.downsample is not None else [])
        )

    def flow(self) -> Node:
        main = Path("conv1", "bn1", "relu", "conv2", "bn2", "relu", "conv3", "bn3")
        return _residual(main, self.downsample is not None, "downsample", relu=True)


def _downsample(
    downsample: Sequential | bool | None, inplanes: int, out: int, stride: int
) -> Sequential | None:
    """torchvision's shortcut: a 1×1 conv with the stride + BatchNorm2d when the size or
    the channel count changes (``downsample=None``), always (True) or never (False)."""
    if downsample is None:
        downsample = stride != 1 or inplanes != out
    if downsample is True:
        return Sequential(Conv2d(inplanes, out, 1, stride=stride, bias=False), BatchNorm2d(out))
    return downsample if isinstance(downsample, Sequential) else None


def _residual(main: Path, has_shortcut: bool, shortcut: str, relu: bool) -> Node:
    """``relu(main(x) + shortcut(x))`` as a flow (the identity when there is no shortcut)."""
    add = Join(
        "add", (main, Path(shortcut) if has_shortcut else Path()), ("the main path", "the shortcut")
    )
    return Path(add, "relu") if relu else add


class Residual(Block):
    """A general residual block from a spec: ``out = act(main(x) + shortcut(x))``.

    ``main`` and ``shortcut`` are Sequentials (an empty shortcut is the identity);
    ``act`` is ReLU or nothing. Shapes: both paths must give the same shape.
    """

    def __init__(
        self, main: Sequential, shortcut: Sequential | None = None, relu: bool = True
    ) -> None:
        self.main = main
        self.shortcut = shortcut if shortcut is not None and len(shortcut) else None
        self.relu = ReLU() if relu else None
        kids: list[tuple[str, Layer]] = [("main", main)]
        if self.shortcut is not None:
            kids.append(("shortcut", self.shortcut))
        if self.relu is not None:
            kids.append(("relu", self.relu))
        super().__init__(kids)

    def flow(self) -> Node:
        return _residual(
            Path("main"), self.shortcut is not None, "shortcut", relu=self.relu is not None
        )


class Concat(Block):
    """Parallel branches on the same input, concatenated on the channels (``torch.cat(·, 1)``).

    Shapes: branches giving (N, C_i, H, W) → (N, ΣC_i, H, W); every branch must keep the
    same N, H and W. A branch is any layer; an empty Sequential is the identity (a
    DenseNet layer is ``Concat(identity, new features)``; a U-Net level is
    ``Concat(identity, down → inner level → up)``). Backward: each branch gets its own
    channels of the gradient, and ``dx`` is the sum of the branches' ``dx``.
    """

    op = "cat"

    def __init__(self, *branches: Layer | tuple[str, Layer]) -> None:
        super().__init__(
            [b if isinstance(b, tuple) else (str(i), b) for i, b in enumerate(branches)]
        )

    def flow(self) -> Node:
        names = [name for name, _ in self._children]
        return Join(self.op, tuple(Path(n) for n in names), tuple(f"branch {n}" for n in names))


class Multiply(Concat):
    """Parallel branches on the same input, multiplied element-wise (a gate).

    Shapes: the branches' shapes broadcast (sizes equal or 1): with a gate branch giving
    (N, C, 1, 1) and an identity branch (N, C, H, W) → (N, C, H, W), as
    squeeze-and-excitation's ``scale * input``. Backward: branch ``i`` gets
    ``grad · Π_{j≠i} out_j`` summed over its broadcast axes.
    """

    op = "mul"


class SqueezeExcitation(Block):
    """torchvision.ops.SqueezeExcitation: channels re-weighted by a gate computed from them.

    Shapes: (N, C, H, W) → (N, C, H, W).
    ``scale = scale_activation(fc2(activation(fc1(avgpool(x)))))`` with avgpool to 1×1 and
    fc1 / fc2 1×1 convolutions C → squeeze_channels → C; ``out = scale · x`` (scale is
    (N, C, 1, 1), broadcast over H and W).
    """

    def __init__(
        self,
        input_channels: int,
        squeeze_channels: int,
        activation: Layer | None = None,
        scale_activation: Layer | None = None,
    ) -> None:
        self.input_channels = input_channels
        self.squeeze_channels = squeeze_channels
        super().__init__(
            [
                ("avgpool", AdaptiveAvgPool2d(1)),
                ("fc1", Conv2d(input_channels, squeeze_channels, 1)),
                ("fc2", Conv2d(squeeze_channels, input_channels, 1)),
                ("activation", activation or ReLU()),
                ("scale_activation", scale_activation or Sigmoid()),
            ]
        )

    def flow(self) -> Node:
        scale = Path("avgpool", "fc1", "activation", "fc2", "scale_activation")
        return Join("mul", (scale, Path()), ("the scale", "the input"))
