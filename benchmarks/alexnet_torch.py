"""The seed's AlexNet in plain ``torch.nn``, as the seed's code defines it.

96, 192, 384, 256, 256 channels, convolutions without bias, ``feature_extraction`` and
``classifier`` as the module names, dropout before the first and second Linear, no ReLU
between the Linear layers.  torchvision is not used (it does not work on this machine).
The layer table below also makes the seeded weights of
:func:`benchmarks.cases.seed_alexnet_state`, which every side of the AlexNet cases loads.
"""

from __future__ import annotations

from typing import Any

#: (kind, arguments) per layer of ``feature_extraction``; conv: (in, out, kernel, stride, padding).
FEATURES: list[tuple[str, tuple[int, ...]]] = [
    ("conv", (3, 96, 11, 4, 2)),
    ("relu", ()),
    ("maxpool", (3, 2, 0)),
    ("conv", (96, 192, 5, 1, 2)),
    ("relu", ()),
    ("maxpool", (3, 2, 0)),
    ("conv", (192, 384, 3, 1, 1)),
    ("relu", ()),
    ("conv", (384, 256, 3, 1, 1)),
    ("relu", ()),
    ("conv", (256, 256, 3, 1, 1)),
    ("relu", ()),
    ("maxpool", (3, 2, 0)),
]
#: (index in ``classifier``, in_features, out_features); indices 0 and 2 are Dropout.
CLASSIFIER: list[tuple[int, int, int]] = [(1, 256 * 6 * 6, 4096), (3, 4096, 4096), (4, 4096, 1000)]


def build_seed_alexnet(num_classes: int = 1000) -> Any:
    """Return the seed's AlexNet as a ``torch.nn.Module`` in eval mode (torch imported here)."""
    import torch
    from torch import nn

    class AlexNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers: list[nn.Module] = []
            for kind, args in FEATURES:
                if kind == "conv":
                    cin, cout, k, s, p = args
                    layers.append(nn.Conv2d(cin, cout, k, stride=s, padding=p, bias=False))
                elif kind == "relu":
                    layers.append(nn.ReLU(inplace=True))
                else:
                    k, s, p = args
                    layers.append(nn.MaxPool2d(kernel_size=k, stride=s, padding=p))
            self.feature_extraction = nn.Sequential(*layers)
            self.classifier = nn.Sequential(
                nn.Dropout(p=0.5),
                nn.Linear(256 * 6 * 6, 4096),
                nn.Dropout(p=0.5),
                nn.Linear(4096, 4096),
                nn.Linear(4096, num_classes),
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.feature_extraction(x)
            x = x.view(x.size(0), 256 * 6 * 6)
            return self.classifier(x)

    return AlexNet().eval()
