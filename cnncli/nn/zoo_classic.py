"""The classic CNNs with branches: SqueezeNet 1.1, ResNet-50, DenseNet-121, GoogLeNet,
MobileNetV2, and cnncli's small U-Net.

Each builder follows torchvision's model code module for module (its class names, module
names and registration order), so that a state_dict exported from torchvision loads
unchanged and ``print(model)`` shows torchvision's text. Steps that torchvision writes in
``forward()`` (``torch.flatten``, DenseNet's final ``F.relu`` and ``F.adaptive_avg_pool2d``)
are functional children: in cnncli's tables, not in ``print(model)`` or the state_dict.
The U-Net is cnncli's own design (:class:`UNet`); its PyTorch twin is in the tests.
"""

from __future__ import annotations

from cnncli.nn.layers import (
    AdaptiveAvgPool2d,
    BasicConv2d,
    BatchNorm2d,
    Block,
    Bottleneck,
    Conv2d,
    Conv2dNormActivation,
    ConvTranspose2d,
    DenseBlock,
    Dropout,
    Fire,
    Flatten,
    Inception,
    InvertedResidual,
    Join,
    Layer,
    Linear,
    MaxPool2d,
    Network,
    Path,
    ReLU,
    Sequential,
    Transition,
)
from cnncli.nn.layers.flow import Node


def _functional(layer: Layer) -> Layer:
    """``layer`` as a step of ``forward()`` (F.relu, F.adaptive_avg_pool2d), not a module."""
    layer.functional = True
    return layer


def squeezenet1_1(num_classes: int = 1000) -> Network:
    """torchvision.models.squeezenet1_1: a 3×3 stem, eight Fire modules, a 1×1 conv classifier.

    (N, 3, 224, 224) → features (N, 512, 13, 13) → classifier (N, num_classes, 1, 1) →
    flatten (N, num_classes). 1,235,496 parameters with 1000 classes.
    """
    features = Sequential(
        Conv2d(3, 64, kernel_size=3, stride=2),
        ReLU(inplace=True),
        MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        Fire(64, 16, 64, 64),
        Fire(128, 16, 64, 64),
        MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        Fire(128, 32, 128, 128),
        Fire(256, 32, 128, 128),
        MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        Fire(256, 48, 192, 192),
        Fire(384, 48, 192, 192),
        Fire(384, 64, 256, 256),
        Fire(512, 64, 256, 256),
    )
    classifier = Sequential(
        Dropout(p=0.5),
        Conv2d(512, num_classes, kernel_size=1),
        ReLU(inplace=True),
        AdaptiveAvgPool2d((1, 1)),
    )
    return Network(
        "SqueezeNet",
        [
            ("features", features),
            ("classifier", classifier),
            ("flatten", Flatten(1, functional=True)),
        ],
    )


def resnet50(num_classes: int = 1000, layers: tuple[int, int, int, int] = (3, 4, 6, 3)) -> Network:
    """torchvision.models.resnet50: Bottleneck × ``layers`` = [3, 4, 6, 3], widths
    64-128-256-512 (×4 out); other ``layers`` give ResNet-101 (3, 4, 23, 3), -152 or shorter.

    (N, 3, 224, 224) → stem (N, 64, 56, 56) → layer4 (N, 2048, 7, 7) → fc (N, num_classes).
    The first block of each stage has a downsample (1×1 conv with the stage's stride + BN).
    """
    children: list[tuple[str, Layer]] = [
        ("conv1", Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)),
        ("bn1", BatchNorm2d(64)),
        ("relu", ReLU(inplace=True)),
        ("maxpool", MaxPool2d(kernel_size=3, stride=2, padding=1)),
    ]
    inplanes = 64
    stages = zip((64, 128, 256, 512), layers, (1, 2, 2, 2), strict=True)
    for i, (planes, blocks, stride) in enumerate(stages, start=1):
        layer = [Bottleneck(inplanes, planes, stride)]
        inplanes = planes * Bottleneck.expansion
        layer += [Bottleneck(inplanes, planes) for _ in range(blocks - 1)]
        children.append((f"layer{i}", Sequential(*layer)))
    children += [
        ("avgpool", AdaptiveAvgPool2d((1, 1))),
        ("flatten", Flatten(1, functional=True)),
        ("fc", Linear(512 * Bottleneck.expansion, num_classes)),
    ]
    return Network("ResNet", children)


def densenet121(
    num_classes: int = 1000, block_config: tuple[int, ...] = (6, 12, 24, 16)
) -> Network:
    """torchvision.models.densenet121: growth 32, ``block_config`` = [6, 12, 24, 16] dense layers.

    (N, 3, 224, 224) → stem (N, 64, 56, 56) → denseblock1 (N, 256, 56, 56) → transition1
    (N, 128, 28, 28) → … → denseblock4 (N, 1024, 7, 7) → norm5, relu, average → classifier.
    Channels after a dense block: C + num_layers·32; a transition halves them and the size.
    """
    growth_rate, bn_size, num_features = 32, 4, 64
    features: list[tuple[str, Layer]] = [
        ("conv0", Conv2d(3, num_features, kernel_size=7, stride=2, padding=3, bias=False)),
        ("norm0", BatchNorm2d(num_features)),
        ("relu0", ReLU(inplace=True)),
        ("pool0", MaxPool2d(kernel_size=3, stride=2, padding=1)),
    ]
    for i, num_layers in enumerate(block_config):
        block = DenseBlock(num_layers, num_features, bn_size, growth_rate)
        features.append((f"denseblock{i + 1}", block))
        num_features += num_layers * growth_rate
        if i != len(block_config) - 1:
            features.append((f"transition{i + 1}", Transition(num_features, num_features // 2)))
            num_features //= 2
    features.append(("norm5", BatchNorm2d(num_features)))
    return Network(
        "DenseNet",
        [
            ("features", Sequential(*features)),
            ("relu", _functional(ReLU(inplace=True))),
            ("avgpool", _functional(AdaptiveAvgPool2d((1, 1)))),
            ("flatten", Flatten(1, functional=True)),
            ("classifier", Linear(num_features, num_classes)),
        ],
    )


def googlenet(num_classes: int = 1000) -> Network:
    """torchvision.models.googlenet as in eval: no auxiliary classifiers, transform_input=False.

    (N, 3, 224, 224) → conv1..maxpool2 (N, 192, 28, 28) → inception3a/3b (N, 480, 28, 28)
    → 4a–4e (N, 832, 14, 14) → 5a/5b (N, 1024, 7, 7) → avgpool, dropout 0.2, fc.
    Every conv is a BasicConv2d (bias-free conv, BatchNorm eps 0.001, ReLU).

    torchvision builds its pretrained GoogLeNet with ``transform_input=True``: it turns an
    ImageNet-normalised input back into ``(x − 0.5) / 0.5`` per channel before conv1. This
    model does not: with those weights, give it ``(x − 0.5) / 0.5`` of the 0–1 image.
    """
    inception = {
        "3a": (192, 64, 96, 128, 16, 32, 32),
        "3b": (256, 128, 128, 192, 32, 96, 64),
        "4a": (480, 192, 96, 208, 16, 48, 64),
        "4b": (512, 160, 112, 224, 24, 64, 64),
        "4c": (512, 128, 128, 256, 24, 64, 64),
        "4d": (512, 112, 144, 288, 32, 64, 64),
        "4e": (528, 256, 160, 320, 32, 128, 128),
        "5a": (832, 256, 160, 320, 32, 128, 128),
        "5b": (832, 384, 192, 384, 48, 128, 128),
    }

    def block(key: str) -> tuple[str, Layer]:
        return (f"inception{key}", Inception(*inception[key]))

    children: list[tuple[str, Layer]] = [
        ("conv1", BasicConv2d(3, 64, kernel_size=7, stride=2, padding=3)),
        ("maxpool1", MaxPool2d(3, stride=2, ceil_mode=True)),
        ("conv2", BasicConv2d(64, 64, kernel_size=1)),
        ("conv3", BasicConv2d(64, 192, kernel_size=3, padding=1)),
        ("maxpool2", MaxPool2d(3, stride=2, ceil_mode=True)),
        block("3a"),
        block("3b"),
        ("maxpool3", MaxPool2d(3, stride=2, ceil_mode=True)),
        *(block(k) for k in ("4a", "4b", "4c", "4d", "4e")),
        ("maxpool4", MaxPool2d(2, stride=2, ceil_mode=True)),
        block("5a"),
        block("5b"),
        ("avgpool", AdaptiveAvgPool2d((1, 1))),
        ("flatten", Flatten(1, functional=True)),
        ("dropout", Dropout(p=0.2)),
        ("fc", Linear(1024, num_classes)),
    ]
    return Network("GoogLeNet", children)


def mobilenet_v2(num_classes: int = 1000) -> Network:
    """torchvision.models.mobilenet_v2 (width_mult 1.0, dropout 0.2): a stride-2 3×3 stem,
    17 inverted residual blocks, a 1×1 conv to 1280 channels, global average, linear.

    (N, 3, 224, 224) → features.0 (N, 32, 112, 112) → features.17 (N, 320, 7, 7) →
    features.18 (N, 1280, 7, 7) → average, flatten (N, 1280) → classifier (N, num_classes).
    The blocks follow torchvision's table of (t expansion, c channels, n repeats, s stride)
    rows; the first block of a row has the row's stride. 3,504,872 parameters with 1000
    classes. Every activation is ReLU6, ``min(max(x, 0), 6)``.
    """
    setting = [  # t, c, n, s
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ]
    input_channel, last_channel = 32, 1280
    features: list[Layer] = [Conv2dNormActivation(3, input_channel, stride=2)]
    for t, c, n, s in setting:
        for i in range(n):
            features.append(InvertedResidual(input_channel, c, s if i == 0 else 1, t))
            input_channel = c
    features.append(Conv2dNormActivation(input_channel, last_channel, kernel_size=1))
    return Network(
        "MobileNetV2",
        [
            ("features", Sequential(*features)),
            ("avgpool", _functional(AdaptiveAvgPool2d((1, 1)))),
            ("flatten", Flatten(1, functional=True)),
            ("classifier", Sequential(Dropout(p=0.2), Linear(last_channel, num_classes))),
        ],
    )


def _double_conv(in_channels: int, out_channels: int) -> Sequential:
    """Two (3×3 conv, padding 1, no bias → BatchNorm2d → ReLU): (N, C_in, H, W) → (N, C_out, H, W)."""
    return Sequential(
        Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        BatchNorm2d(out_channels),
        ReLU(inplace=True),
        Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        BatchNorm2d(out_channels),
        ReLU(inplace=True),
    )


class UNet(Network):
    """cnncli's small U-Net (Ronneberger et al. 2015, three levels): a class per pixel.

    Shapes, with widths (16, 32, 64) and the default (N, 1, 64, 64) input (H and W must
    be multiples of 4)::

        enc1        (N, 16, 64, 64)   two 3×3 conv-BN-ReLU
        pool1, enc2 (N, 32, 32, 32)   2×2 max pool, two conv-BN-ReLU
        pool2, bottleneck (N, 64, 16, 16)
        up2         (N, 32, 32, 32)   ConvTranspose2d 2×2 stride 2: H_out = (H − 1)·2 + 2
        dec2        (N, 32, 32, 32)   on torch.cat([enc2, up2], 1): 64 channels in
        up1         (N, 16, 64, 64)
        dec1        (N, 16, 64, 64)   on torch.cat([enc1, up1], 1): 32 channels in
        head        (N, num_classes, 64, 64)  1×1 conv: the per-pixel class logits

    Children in that order (the state_dict's and ``print(model)``'s); the data flow
    (:meth:`flow`) nests each skip as a join of the identity and the deeper path.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 2,
        widths: tuple[int, int, int] = (16, 32, 64),
    ) -> None:
        c1, c2, c3 = widths
        super().__init__(
            "UNet",
            [
                ("enc1", _double_conv(in_channels, c1)),
                ("pool1", MaxPool2d(2)),
                ("enc2", _double_conv(c1, c2)),
                ("pool2", MaxPool2d(2)),
                ("bottleneck", _double_conv(c2, c3)),
                ("up2", ConvTranspose2d(c3, c2, 2, stride=2)),
                ("dec2", _double_conv(2 * c2, c2)),
                ("up1", ConvTranspose2d(c2, c1, 2, stride=2)),
                ("dec1", _double_conv(2 * c1, c1)),
                ("head", Conv2d(c1, num_classes, 1)),
            ],
        )

    def flow(self) -> Node:
        """``x1 = enc1(x)``, ``x2 = enc2(pool1(x1))``, ``b = bottleneck(pool2(x2))``,
        ``d2 = dec2(cat([x2, up2(b)]))``, ``d1 = dec1(cat([x1, up1(d2)]))``, ``head(d1)``."""
        level2 = Join("cat", (Path(), Path("pool2", "bottleneck", "up2")), ("enc2", "up2"))
        level1 = Join(
            "cat", (Path(), Path("pool1", "enc2", level2, "dec2", "up1")), ("enc1", "up1")
        )
        return Path("enc1", level1, "dec1", "head")

    # the flow above, not Sequential's children in order
    output_shape = Block.output_shape
    forward = Block.forward
    backward = Block.backward


def unet(num_classes: int = 2) -> Network:
    """cnncli's small U-Net: (N, 1, 64, 64) → (N, num_classes, 64, 64), see :class:`UNet`."""
    return UNet(1, num_classes)
