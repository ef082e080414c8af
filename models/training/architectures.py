"""The trained zoo's architectures, as PyTorch modules.

Each is small enough to train on two CPU cores in minutes and exports to a plain ONNX graph
(Conv, BatchNormalization, Relu/Clip, MaxPool, GlobalAveragePool, Add, Flatten, Gemm):

- ``lenet5_fmnist``   LeNet-5: conv5x5(6) pool conv5x5(16) pool, FC 120-84-10, ReLU.
- ``vgg_fmnist``      VGG-style: [conv3x3-BN-ReLU x2, maxpool] with 16 and 32 channels, then
                      conv3x3(64)-BN-ReLU, maxpool, FC 128-10 (dropout while training).
- ``resnet_fmnist``   ResNet-style, 8 weighted layers on the main path: a stride-2 conv3x3(16) stem, then
                      three basic blocks (two conv3x3 + BN each, residual Add) of 16, 32, 64 channels;
                      the last two halve the resolution and take a 1x1 conv + BN shortcut; global
                      average pool, FC 10.
- ``mobilenetv2_fmnist``  MobileNetV2-style: a stride-2 conv3x3(16) stem, five inverted residuals (1x1 expand
                      x4, 3x3 depthwise, 1x1 linear projection; residual Add when the shape is kept;
                      ReLU6, exported as Clip), a 1x1 conv to 128, global average pool, FC 10.

- ``cnn_digits``      for sklearn's 8x8 digits: conv3x3(16)-BN-ReLU, conv3x3(32)-BN-ReLU, maxpool,
                      FC 10 — trains in seconds.

Every model ends in class scores (logits) and flattens with `torch.flatten(x, 1)` (ONNX Flatten),
so the exported batch-1 graph also runs at any batch size.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from onnx_tee.passes.errors import UserError


def conv_bn(c_in: int, c_out: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(c_out)]


class LeNet5(nn.Module):
    def __init__(self, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


class VGGNet(nn.Module):
    def __init__(self, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            *conv_bn(1, 16), nn.ReLU(), *conv_bn(16, 16), nn.ReLU(), nn.MaxPool2d(2),     # 14x14
            *conv_bn(16, 32), nn.ReLU(), *conv_bn(32, 32), nn.ReLU(), nn.MaxPool2d(2),    # 7x7
            *conv_bn(32, 64), nn.ReLU(), nn.MaxPool2d(2))                                # 3x3
        self.classifier = nn.Sequential(
            nn.Linear(64 * 3 * 3, 128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


class BasicBlock(nn.Module):
    """out = relu(bn(conv(relu(bn(conv(x))))) + shortcut(x)); the shortcut is a 1x1 conv + BN when the shape changes."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(*conv_bn(c_in, c_out, 3, stride), nn.ReLU(), *conv_bn(c_out, c_out))
        self.shortcut = (nn.Sequential(*conv_bn(c_in, c_out, 1, stride))
                         if stride != 1 or c_in != c_out else nn.Identity())
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(*conv_bn(1, 16, 3, 2), nn.ReLU())                           # 14x14
        self.blocks = nn.Sequential(BasicBlock(16, 16, 1), BasicBlock(16, 32, 2), BasicBlock(32, 64, 2))  # 7, 4
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.blocks(self.stem(x))), 1))


class InvertedResidual(nn.Module):
    """1x1 expand (ReLU6) -> 3x3 depthwise (ReLU6) -> 1x1 linear projection, plus x when shapes match."""

    def __init__(self, c_in: int, c_out: int, stride: int, expand: int):
        super().__init__()
        hidden = c_in * expand
        self.body = nn.Sequential(
            *conv_bn(c_in, hidden, 1), nn.ReLU6(),
            *conv_bn(hidden, hidden, 3, stride, groups=hidden), nn.ReLU6(),
            *conv_bn(hidden, c_out, 1))
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.residual else self.body(x)


class MobileNetV2(nn.Module):
    def __init__(self, classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(*conv_bn(1, 16, 3, 2), nn.ReLU6())                        # 14x14
        self.blocks = nn.Sequential(
            InvertedResidual(16, 16, 1, 4), InvertedResidual(16, 24, 2, 4), InvertedResidual(24, 24, 1, 4),
            InvertedResidual(24, 32, 2, 4), InvertedResidual(32, 32, 1, 4))
        self.head = nn.Sequential(*conv_bn(32, 128, 1), nn.ReLU6())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(128, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.head(self.blocks(self.stem(x)))), 1))


class DigitsCNN(nn.Module):
    def __init__(self, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(*conv_bn(1, 16), nn.ReLU(), *conv_bn(16, 32), nn.ReLU(), nn.MaxPool2d(2))
        self.fc = nn.Linear(32 * 4 * 4, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.features(x), 1))


@dataclass(frozen=True)
class Architecture:
    """A zoo entry: how to build the network, which data set it is trained on, how long."""
    build: Callable[[], nn.Module]
    dataset: str
    epochs: int
    lr: float
    summary: str


ARCHITECTURES = {
    "lenet5_fmnist": Architecture(LeNet5, "fashion-mnist", 10, 0.05, "LeNet-5: 2 conv5x5 + 3 FC, ReLU, max pools"),
    "vgg_fmnist": Architecture(VGGNet, "fashion-mnist", 10, 0.05,
                               "VGG-style: 5 conv3x3+BN+ReLU in 3 pooled blocks (16-16, 32-32, 64), FC 128-10"),
    "resnet_fmnist": Architecture(ResNet, "fashion-mnist", 10, 0.05,
                                  "ResNet-style: stem + 3 basic blocks (16, 32, 64 ch; residual Add, 1x1 "
                                  "downsampling shortcuts), GAP, FC"),
    "mobilenetv2_fmnist": Architecture(MobileNetV2, "fashion-mnist", 10, 0.05,
                                       "MobileNetV2-style: stem + 5 inverted residuals (expand x4, depthwise "
                                       "3x3, linear 1x1; ReLU6), 1x1 head, GAP, FC"),
    "cnn_digits": Architecture(DigitsCNN, "digits", 30, 0.05, "small CNN: 2 conv3x3+BN+ReLU (16, 32), max pool, FC"),
}


def build_model(name: str, seed: int = 0) -> nn.Module:
    """A freshly initialised network of zoo entry `name` (weights drawn with torch seed `seed`)."""
    if name not in ARCHITECTURES:
        raise UserError(f"unknown architecture '{name}': choose one of {', '.join(ARCHITECTURES)}")
    torch.manual_seed(seed)
    return ARCHITECTURES[name].build()
