"""The model zoo: the seed's AlexNet and well-known networks, with PyTorch's module names.

Each entry builds a :class:`~cnncli.nn.layers.Network` whose state_dict keys and
``print(model)`` text equal those of the same network written in PyTorch
(torchvision's layouts for alexnet-torchvision, vgg11, vgg16, resnet18, and the
networks with branches in :mod:`cnncli.nn.zoo_classic`: squeezenet1_1, resnet50,
densenet121, googlenet and mobilenet_v2), and cnncli's own small U-Net (``unet``).
Building allocates nothing; call :func:`cnncli.nn.layers.initialize` or load weights.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cnncli.errors import SpecError
from cnncli.nn.layers import (
    AdaptiveAvgPool2d,
    AvgPool2d,
    BasicBlock,
    BatchNorm2d,
    Conv2d,
    Dropout,
    Flatten,
    Layer,
    Linear,
    MaxPool2d,
    Network,
    ReLU,
    Sequential,
    Tanh,
    View,
)
from cnncli.nn.zoo_classic import (
    densenet121,
    googlenet,
    mobilenet_v2,
    resnet50,
    squeezenet1_1,
    unet,
)


@dataclass(frozen=True)
class ZooEntry:
    """One built-in model: how to build it and what it expects."""

    name: str
    description: str
    input_shape: tuple[int, int, int]
    num_classes: int
    build: Callable[[int], Network]
    #: Trained weights shipped in ``cnncli/data`` (None: the model starts from random ones),
    #: and how they were made.
    weights: str | None = None
    trained_on: str | None = None
    #: "mnist-digit": an image input is prepared as MNIST's digits were (cnncli.io.digit).
    prepare: str | None = None


def alexnet_seed(num_classes: int = 1000) -> Network:
    """The seed's AlexNet, exactly as its code defines it (see the zoo description)."""
    features = Sequential(
        Conv2d(3, 96, kernel_size=11, stride=4, padding=2, bias=False),
        ReLU(inplace=True),
        MaxPool2d(kernel_size=3, stride=2, padding=0),
        Conv2d(96, 192, kernel_size=5, stride=1, padding=2, bias=False),
        ReLU(inplace=True),
        MaxPool2d(kernel_size=3, stride=2, padding=0),
        Conv2d(192, 384, kernel_size=3, stride=1, padding=1, bias=False),
        ReLU(inplace=True),
        Conv2d(384, 256, kernel_size=3, stride=1, padding=1, bias=False),
        ReLU(inplace=True),
        Conv2d(256, 256, kernel_size=3, stride=1, padding=1, bias=False),
        ReLU(inplace=True),
        MaxPool2d(kernel_size=3, stride=2, padding=0),
    )
    classifier = Sequential(
        Dropout(p=0.5),
        Linear(256 * 6 * 6, 4096),
        Dropout(p=0.5),
        Linear(4096, 4096),
        Linear(4096, num_classes),
    )
    return Network(
        "AlexNet",
        [
            ("feature_extraction", features),
            ("view", View(256 * 6 * 6, "256*6*6")),
            ("classifier", classifier),
        ],
    )


def alexnet_torchvision(num_classes: int = 1000) -> Network:
    """torchvision.models.AlexNet (the one-GPU variant of the paper)."""
    features = Sequential(
        Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
        ReLU(inplace=True),
        MaxPool2d(kernel_size=3, stride=2),
        Conv2d(64, 192, kernel_size=5, padding=2),
        ReLU(inplace=True),
        MaxPool2d(kernel_size=3, stride=2),
        Conv2d(192, 384, kernel_size=3, padding=1),
        ReLU(inplace=True),
        Conv2d(384, 256, kernel_size=3, padding=1),
        ReLU(inplace=True),
        Conv2d(256, 256, kernel_size=3, padding=1),
        ReLU(inplace=True),
        MaxPool2d(kernel_size=3, stride=2),
    )
    classifier = Sequential(
        Dropout(p=0.5),
        Linear(256 * 6 * 6, 4096),
        ReLU(inplace=True),
        Dropout(p=0.5),
        Linear(4096, 4096),
        ReLU(inplace=True),
        Linear(4096, num_classes),
    )
    return Network(
        "AlexNet",
        [
            ("features", features),
            ("avgpool", AdaptiveAvgPool2d((6, 6))),
            ("flatten", Flatten(1, functional=True)),
            ("classifier", classifier),
        ],
    )


def lenet5(num_classes: int = 10) -> Network:
    """LeNet-5 with tanh and average pooling, on 1×28×28 (padding 2 stands in for 32×32)."""
    features = Sequential(
        Conv2d(1, 6, kernel_size=5, padding=2),
        Tanh(),
        AvgPool2d(kernel_size=2),
        Conv2d(6, 16, kernel_size=5),
        Tanh(),
        AvgPool2d(kernel_size=2),
    )
    classifier = Sequential(
        Flatten(),
        Linear(16 * 5 * 5, 120),
        Tanh(),
        Linear(120, 84),
        Tanh(),
        Linear(84, num_classes),
    )
    return Network("LeNet5", [("features", features), ("classifier", classifier)])


def tinyvgg(num_classes: int = 10) -> Network:
    """The CNN Explainer network (TinyVGG): 3×64×64, 10-channel 3×3 convolutions."""

    def block(c_in: int) -> Sequential:
        return Sequential(
            Conv2d(c_in, 10, kernel_size=3, stride=1, padding=0),
            ReLU(),
            Conv2d(10, 10, kernel_size=3, stride=1, padding=0),
            ReLU(),
            MaxPool2d(kernel_size=2, stride=2),
        )

    classifier = Sequential(Flatten(), Linear(10 * 13 * 13, num_classes))
    return Network(
        "TinyVGG",
        [("conv_block_1", block(3)), ("conv_block_2", block(10)), ("classifier", classifier)],
    )


_VGG_CFGS: dict[str, list[int | str]] = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [
        64,
        64,
        "M",
        128,
        128,
        "M",
        256,
        256,
        256,
        "M",
        512,
        512,
        512,
        "M",
        512,
        512,
        512,
        "M",
    ],
}


def vgg(cfg: list[int | str], num_classes: int = 1000) -> Network:
    """torchvision.models.VGG without batch norm for the given configuration."""
    layers: list[Layer] = []
    c_in = 3
    for v in cfg:
        if v == "M":
            layers.append(MaxPool2d(kernel_size=2, stride=2))
        else:
            assert isinstance(v, int)
            layers += [Conv2d(c_in, v, kernel_size=3, padding=1), ReLU(inplace=True)]
            c_in = v
    classifier = Sequential(
        Linear(512 * 7 * 7, 4096),
        ReLU(True),
        Dropout(p=0.5),
        Linear(4096, 4096),
        ReLU(True),
        Dropout(p=0.5),
        Linear(4096, num_classes),
    )
    return Network(
        "VGG",
        [
            ("features", Sequential(*layers)),
            ("avgpool", AdaptiveAvgPool2d((7, 7))),
            ("flatten", Flatten(1, functional=True)),
            ("classifier", classifier),
        ],
    )


def resnet18(num_classes: int = 1000) -> Network:
    """torchvision.models.resnet18: BasicBlock × [2, 2, 2, 2]."""
    children: list[tuple[str, Layer]] = [
        ("conv1", Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)),
        ("bn1", BatchNorm2d(64)),
        ("relu", ReLU(inplace=True)),
        ("maxpool", MaxPool2d(kernel_size=3, stride=2, padding=1)),
    ]
    inplanes = 64
    for i, (planes, stride) in enumerate(((64, 1), (128, 2), (256, 2), (512, 2)), start=1):
        blocks = Sequential(BasicBlock(inplanes, planes, stride), BasicBlock(planes, planes, 1))
        children.append((f"layer{i}", blocks))
        inplanes = planes
    children += [
        ("avgpool", AdaptiveAvgPool2d((1, 1))),
        ("flatten", Flatten(1, functional=True)),
        ("fc", Linear(512, num_classes)),
    ]
    return Network("ResNet", children)


ZOO: dict[str, ZooEntry] = {
    e.name: e
    for e in (
        ZooEntry(
            "alexnet",
            "The seed's AlexNet as coded: 96-192-384-256-256 channels, bias-free convs, Dropout "
            "before Linear 1 and 2, no ReLU between Linears (unlike the paper and torchvision)",
            (3, 224, 224),
            1000,
            alexnet_seed,
        ),
        ZooEntry(
            "alexnet-torchvision",
            "torchvision's AlexNet: 64-192-384-256-256 channels with biases, adaptive average "
            "pool to 6x6, ReLU + Dropout in the classifier",
            (3, 224, 224),
            1000,
            alexnet_torchvision,
        ),
        ZooEntry(
            "lenet5",
            "LeNet-5: conv 6@5x5 (padding 2), tanh, avg pool, conv 16@5x5, tanh, avg pool, "
            "linear 120-84-10 with tanh",
            (1, 28, 28),
            10,
            lenet5,
        ),
        ZooEntry(
            "lenet5-mnist",
            "LeNet-5 trained by cnncli itself on mnist-5k (10 epochs, SGD lr 0.05 momentum 0.9, "
            "batch 64, seed 0): 97.6% on the 500 held-out digits. White digit on black, 28x28",
            (1, 28, 28),
            10,
            lenet5,
            weights="lenet5-mnist.npz",
            trained_on="mnist-5k: cnncli train lenet5 -o lenet5-mnist.npz",
            prepare="mnist-digit",
        ),
        ZooEntry(
            "tinyvgg",
            "TinyVGG from CNN Explainer: two blocks of two 10-channel 3x3 convs + ReLU and a "
            "2x2 max pool, then linear 10",
            (3, 64, 64),
            10,
            tinyvgg,
        ),
        ZooEntry(
            "vgg11",
            "torchvision's VGG-11 (configuration A, no batch norm): 8 convs 3x3, 3 linear layers",
            (3, 224, 224),
            1000,
            lambda n: vgg(_VGG_CFGS["vgg11"], n),
        ),
        ZooEntry(
            "vgg16",
            "torchvision's VGG-16 (configuration D, no batch norm): 13 convs 3x3, 3 linear layers",
            (3, 224, 224),
            1000,
            lambda n: vgg(_VGG_CFGS["vgg16"], n),
        ),
        ZooEntry(
            "resnet18",
            "torchvision's ResNet-18: 7x7 stem, 4 stages of 2 BasicBlocks with batch norm and "
            "residual adds, global average pool, linear",
            (3, 224, 224),
            1000,
            resnet18,
        ),
        ZooEntry(
            "resnet50",
            "torchvision's ResNet-50: 7x7 stem, 4 stages of [3, 4, 6, 3] Bottleneck blocks "
            "(1x1, 3x3 with the stride, 1x1 to 4x the width) with residual adds, linear",
            (3, 224, 224),
            1000,
            resnet50,
        ),
        ZooEntry(
            "squeezenet1_1",
            "torchvision's SqueezeNet 1.1: 3x3 stem, 8 Fire modules (1x1 squeeze, then 1x1 and "
            "3x3 expands concatenated), a 1x1 conv classifier and global average pool",
            (3, 224, 224),
            1000,
            squeezenet1_1,
        ),
        ZooEntry(
            "densenet121",
            "torchvision's DenseNet-121: 4 dense blocks of [6, 12, 24, 16] layers, each "
            "concatenating 32 new channels to its input, with halving transitions between",
            (3, 224, 224),
            1000,
            densenet121,
        ),
        ZooEntry(
            "googlenet",
            "torchvision's GoogLeNet (Inception v1) as in eval: 9 Inception modules of four "
            "concatenated branches, BN convs (eps 0.001), no auxiliary classifiers, "
            "transform_input=False",
            (3, 224, 224),
            1000,
            googlenet,
        ),
        ZooEntry(
            "mobilenet_v2",
            "torchvision's MobileNetV2 (width 1.0): 3x3 stem, 17 inverted residual blocks "
            "(1x1 expand, 3x3 depthwise, 1x1 linear projection, residual add when the shape "
            "is kept), ReLU6, 1x1 conv to 1280, global average pool, dropout 0.2, linear",
            (3, 224, 224),
            1000,
            mobilenet_v2,
        ),
        ZooEntry(
            "unet",
            "cnncli's small U-Net for segmentation: 3 levels of two 3x3 conv-BN-ReLU (16-32-64 "
            "channels), 2x2 max pool down, ConvTranspose2d 2x2 stride 2 up, encoder maps "
            "concatenated into the decoder, a 1x1 conv head: 2 class logits per pixel "
            "(H, W multiples of 4)",
            (1, 64, 64),
            2,
            unet,
        ),
    )
}


def model_names() -> list[str]:
    """Names of the built-in models, in the zoo's order."""
    return list(ZOO)


def get_entry(name: str) -> ZooEntry:
    """The zoo entry called ``name`` or a :class:`SpecError` that lists the names."""
    entry = ZOO.get(name.lower())
    if entry is None:
        close = difflib.get_close_matches(name.lower(), ZOO, n=3)
        maybe = f" (did you mean {', '.join(close)}?)" if close else ""
        raise SpecError(
            f"unknown model {name!r}{maybe}; built-in models: {', '.join(ZOO)}",
            hint="or give the path of a .toml/.json architecture spec",
        )
    return entry


def build(name: str, num_classes: int | None = None) -> Network:
    """Build the zoo model ``name`` (no parameters allocated yet)."""
    entry = get_entry(name)
    net = entry.build(entry.num_classes if num_classes is None else num_classes)
    net.title = entry.name
    net.description = entry.description
    net.input_shape = entry.input_shape
    net.num_classes = entry.num_classes if num_classes is None else num_classes
    return net


def packaged_weights(name: str) -> Path | None:
    """The file of the trained weights shipped for zoo model ``name``, or None."""
    entry = ZOO.get(name.lower())
    if entry is None or entry.weights is None:
        return None
    return Path(__file__).resolve().parent.parent / "data" / entry.weights
