"""Containers: Sequential, Network (a named model), ResNet's BasicBlock and a spec's Residual.

A container's forward calls its children in order and its backward calls them in
reverse; the residual blocks add the shortcut's gradient to the main path's.
"""

from __future__ import annotations

import numpy as np

from cnncli.errors import ShapeError
from cnncli.nn.layers.activation import ReLU
from cnncli.nn.layers.base import _TRACER, Layer, Shape, _fmt_shape
from cnncli.nn.layers.conv import Conv2d
from cnncli.nn.layers.norm import BatchNorm2d


class Sequential(Layer):
    """Layers applied in order, named ``0, 1, ...`` or by the names given, as ``nn.Sequential``.

    Shapes: each child's output shape is the next child's input shape.
    ``y = f_n(… f_2(f_1(x)))``; the backward runs the children in reverse.
    """

    def __init__(self, *layers: Layer | tuple[str, Layer]) -> None:
        super().__init__()
        self._children: list[tuple[str, Layer]] = []
        for i, item in enumerate(layers):
            if isinstance(item, tuple):
                self._children.append(item)
            else:
                self._children.append((str(i), item))

    def children(self) -> list[tuple[str, Layer]]:
        return self._children

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


class BasicBlock(Layer):
    """ResNet's basic residual block, torchvision's layout and state_dict names.

    Shapes: (N, C, H, W) → (N, planes, ⌈H/stride⌉, ⌈W/stride⌉).
    ``out = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))`` where the shortcut
    is ``downsample`` (1×1 conv with stride + BatchNorm2d) or the identity.
    """

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: Sequential | bool | None = None,
    ) -> None:
        super().__init__()
        self.inplanes = inplanes
        self.planes = planes
        self.stride = stride
        self.conv1 = Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = BatchNorm2d(planes)
        self.relu = ReLU(inplace=True)
        self.conv2 = Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = BatchNorm2d(planes)
        if downsample is None:
            downsample = stride != 1 or inplanes != planes
        if downsample is True:
            downsample = Sequential(
                Conv2d(inplanes, planes, 1, stride=stride, bias=False), BatchNorm2d(planes)
            )
        self.downsample: Sequential | None = (
            downsample if isinstance(downsample, Sequential) else None
        )

    def children(self) -> list[tuple[str, Layer]]:
        kids: list[tuple[str, Layer]] = [
            ("conv1", self.conv1),
            ("bn1", self.bn1),
            ("relu", self.relu),
            ("conv2", self.conv2),
            ("bn2", self.bn2),
        ]
        if self.downsample is not None:
            kids.append(("downsample", self.downsample))
        return kids

    def output_shape(self, input_shape: Shape) -> Shape:
        main = self.bn2.output_shape(
            self.conv2.output_shape(self.bn1.output_shape(self.conv1.output_shape(input_shape)))
        )
        short = (
            tuple(input_shape)
            if self.downsample is None
            else self.downsample.output_shape(input_shape)
        )
        if main != short:
            raise ShapeError(
                f"residual add: the main path gives {_fmt_shape(main)} but the shortcut gives "
                f"{_fmt_shape(short)}",
                hint="use a downsample (1x1 conv with the block's stride) when channels or size change",
            )
        return main

    def forward(self, x: np.ndarray) -> np.ndarray:
        from cnncli.engine.activations import relu

        out = self.bn1(self.conv1(x))
        self._pre1 = out
        out = self.relu(out)
        out = self.bn2(self.conv2(out))
        identity = self.downsample(x) if self.downsample is not None else x
        total = out + identity
        self._pre2 = total
        if _TRACER:  # show the second use of relu in traces, as PyTorch's hooks would
            return self.relu(total)
        return relu(total)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        from cnncli.engine.activations import relu_backward

        grad = relu_backward(grad, self._pre2)
        g = self.conv2.backward(self.bn2.backward(grad))
        g = relu_backward(g, self._pre1)
        dx = self.conv1.backward(self.bn1.backward(g))
        dshort = self.downsample.backward(grad) if self.downsample is not None else grad
        return dx + dshort  # type: ignore[no-any-return]


class Residual(Layer):
    """A general residual block from a spec: ``out = act(main(x) + shortcut(x))``.

    ``main`` and ``shortcut`` are Sequentials (an empty shortcut is the identity);
    ``act`` is ReLU or nothing. Shapes: both paths must give the same shape.
    """

    def __init__(
        self, main: Sequential, shortcut: Sequential | None = None, relu: bool = True
    ) -> None:
        super().__init__()
        self.main = main
        self.shortcut = shortcut if shortcut is not None and len(shortcut) else None
        self.relu = ReLU() if relu else None

    def children(self) -> list[tuple[str, Layer]]:
        kids: list[tuple[str, Layer]] = [("main", self.main)]
        if self.shortcut is not None:
            kids.append(("shortcut", self.shortcut))
        if self.relu is not None:
            kids.append(("relu", self.relu))
        return kids

    def output_shape(self, input_shape: Shape) -> Shape:
        main = self.main.output_shape(input_shape)
        short = (
            tuple(input_shape) if self.shortcut is None else self.shortcut.output_shape(input_shape)
        )
        if main != short:
            raise ShapeError(
                f"residual add: the main path gives {_fmt_shape(main)} but the shortcut gives "
                f"{_fmt_shape(short)}",
                hint="add a shortcut (e.g. a 1x1 Conv2d with the same stride) that matches",
            )
        return main

    def forward(self, x: np.ndarray) -> np.ndarray:
        out = self.main(x)
        identity = self.shortcut(x) if self.shortcut is not None else x
        total = out + identity
        return self.relu(total) if self.relu is not None else total

    def backward(self, grad: np.ndarray) -> np.ndarray:
        if self.relu is not None:
            grad = self.relu.backward(grad)
        dx = self.main.backward(grad)
        dshort = self.shortcut.backward(grad) if self.shortcut is not None else grad
        return dx + dshort  # type: ignore[no-any-return]
