"""Torch builders for the real-model corpus (see `__init__.py` for the list).

Each builder takes the entry's kwargs and returns `(module, output_names)`; the module is built with random
weights (torchvision `weights=None`, nothing downloaded).  `export.py` seeds torch before calling a builder,
calibrates BatchNorm statistics on random data and puts the module in eval mode.  Plain-torch models here
(MobileViT-like, YOLO-like, DBNet-like, CRNN, keyword spotters, text transformers, ...) follow the published
shapes of those families closely enough to exercise the same ONNX operators, not their exact layer counts.
"""
from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F


# ------------------------------------------------------------------------------------------ torchvision

def torchvision_classifier(arch: str, **kwargs):
    import torchvision

    model = getattr(torchvision.models, arch)(weights=None, **kwargs)
    return model, ["output"]


def torchvision_video(arch: str, **kwargs):
    import torchvision

    model = getattr(torchvision.models.video, arch)(weights=None, **kwargs)
    return model, ["output"]


class _FlowPredictions(nn.Module):
    """RAFT's list of per-iteration flows as a tuple (one ONNX output each)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, image1, image2):
        return tuple(self.model(image1, image2))


def raft_small():
    from torchvision.models.optical_flow import raft_small as build

    iterations = 12  # torchvision's default num_flow_updates
    return _FlowPredictions(build(weights=None)), [f"flow_{k}" for k in range(1, iterations + 1)]


def deit_tiny():
    from torchvision.models.vision_transformer import VisionTransformer

    model = VisionTransformer(image_size=224, patch_size=16, num_layers=12, num_heads=3, hidden_dim=192,
                              mlp_dim=768, num_classes=1000)
    return model, ["output"]


class _Features(nn.Module):
    """Run a torchvision classifier's feature extractor only (VGG on a CIFAR-sized input)."""

    def __init__(self, features: nn.Module, width: int, classes: int):
        super().__init__()
        self.features = features
        self.classifier = nn.Linear(width, classes)

    def forward(self, x):
        x = self.features(x)
        return self.classifier(torch.flatten(x, 1))


def vgg11_bn_cifar():
    import torchvision

    vgg = torchvision.models.vgg11_bn(weights=None)
    return _Features(vgg.features, 512, 10), ["output"]


class _SegmentationOut(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)["out"]


def lraspp():
    from torchvision.models.segmentation import lraspp_mobilenet_v3_large

    model = lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=21)
    return _SegmentationOut(model), ["out"]


def deeplabv3():
    from torchvision.models.segmentation import deeplabv3_mobilenet_v3_large

    model = deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=21, aux_loss=False)
    return _SegmentationOut(model), ["out"]


class _SSDBody(nn.Module):
    """SSDlite backbone + classification/regression heads; anchors, decoding and NMS stay outside."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.backbone, self.head = model.backbone, model.head

    def forward(self, x):
        features = list(self.backbone(x).values())
        out = self.head(features)
        return out["bbox_regression"], out["cls_logits"]


def ssdlite_body():
    from torchvision.models.detection import ssdlite320_mobilenet_v3_large

    model = ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=91)
    return _SSDBody(model), ["bbox_regression", "cls_logits"]


# ------------------------------------------------------------------------------------------ plain torch

def _conv_bn(cin, cout, k=3, s=1, groups=1, act: type[nn.Module] | None = nn.SiLU, p: int | None = None):
    layers = [nn.Conv2d(cin, cout, k, s, k // 2 if p is None else p, groups=groups, bias=False),
              nn.BatchNorm2d(cout)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class _InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand=4):
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        self.block = nn.Sequential(_conv_bn(cin, hidden, 1), _conv_bn(hidden, hidden, 3, stride, groups=hidden),
                                   _conv_bn(hidden, cout, 1, act=None))

    def forward(self, x):
        y = self.block(x)
        return x + y if self.use_res else y


class _MobileViTBlock(nn.Module):
    """Local conv -> unfold into 2x2 patches -> transformer over patches -> fold -> fuse with the input."""

    def __init__(self, channels, dim, depth, patch=2, heads=4):
        super().__init__()
        self.patch = patch
        self.local = nn.Sequential(_conv_bn(channels, channels, 3), nn.Conv2d(channels, dim, 1, bias=False))
        layer = nn.TransformerEncoderLayer(dim, heads, dim * 2, dropout=0.0, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.project = _conv_bn(dim, channels, 1)
        self.fuse = _conv_bn(2 * channels, channels, 3)

    def forward(self, x):
        y = self.local(x)
        b, d, h, w = y.shape
        p = self.patch
        # [B, D, H, W] -> [B*p*p, (H/p)*(W/p), D]: each pixel position inside a patch attends across patches
        y = y.reshape(b, d, h // p, p, w // p, p).permute(0, 3, 5, 2, 4, 1).reshape(b * p * p, (h // p) * (w // p), d)
        y = self.norm(self.transformer(y))
        y = y.reshape(b, p, p, h // p, w // p, d).permute(0, 5, 3, 1, 4, 2).reshape(b, d, h, w)
        y = self.project(y)
        return self.fuse(torch.cat([x, y], 1))


class MobileViTLike(nn.Module):
    def __init__(self, classes=1000):
        super().__init__()
        self.stem = _conv_bn(3, 16, 3, 2)
        self.stages = nn.Sequential(
            _InvertedResidual(16, 32, 1), _InvertedResidual(32, 48, 2), _InvertedResidual(48, 48, 1),
            _InvertedResidual(48, 64, 2), _MobileViTBlock(64, 96, 2),
            _InvertedResidual(64, 80, 2), _MobileViTBlock(80, 120, 4),
            _InvertedResidual(80, 96, 2), _MobileViTBlock(96, 144, 3),
        )
        self.head = _conv_bn(96, 384, 1)
        self.fc = nn.Linear(384, classes)

    def forward(self, x):
        x = self.head(self.stages(self.stem(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def mobilevit_like():
    return MobileViTLike(), ["output"]


class _CSP(nn.Module):
    """A YOLOv5-style C3 block: split into two 1x1 branches, bottlenecks on one, concatenate, fuse."""

    def __init__(self, cin, cout, n=1, shortcut=True):
        super().__init__()
        hidden = cout // 2
        self.a, self.b = _conv_bn(cin, hidden, 1), _conv_bn(cin, hidden, 1)
        self.m = nn.ModuleList(nn.Sequential(_conv_bn(hidden, hidden, 1), _conv_bn(hidden, hidden, 3))
                               for _ in range(n))
        self.shortcut = shortcut
        self.out = _conv_bn(2 * hidden, cout, 1)

    def forward(self, x):
        a = self.a(x)
        for m in self.m:
            a = a + m(a) if self.shortcut else m(a)
        return self.out(torch.cat([a, self.b(x)], 1))


class _SPPF(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.a = _conv_bn(cin, cin // 2, 1)
        self.pool = nn.MaxPool2d(5, 1, 2)
        self.out = _conv_bn(cin * 2, cout, 1)

    def forward(self, x):
        x = self.a(x)
        y1 = self.pool(x)
        y2 = self.pool(y1)
        return self.out(torch.cat([x, y1, y2, self.pool(y2)], 1))


class YoloLike(nn.Module):
    def __init__(self, classes=80, anchors=3, w=(16, 32, 64, 128, 256)):
        super().__init__()
        self.stem = _conv_bn(3, w[0], 6, 2, p=2)  # YOLOv5's 6x6/2 stem
        self.s2 = nn.Sequential(_conv_bn(w[0], w[1], 3, 2), _CSP(w[1], w[1], 1))
        self.s3 = nn.Sequential(_conv_bn(w[1], w[2], 3, 2), _CSP(w[2], w[2], 2))
        self.s4 = nn.Sequential(_conv_bn(w[2], w[3], 3, 2), _CSP(w[3], w[3], 3))
        self.s5 = nn.Sequential(_conv_bn(w[3], w[4], 3, 2), _CSP(w[4], w[4], 1), _SPPF(w[4], w[4]))
        self.lat5 = _conv_bn(w[4], w[3], 1)
        self.td4 = _CSP(2 * w[3], w[3], 1, shortcut=False)
        self.lat4 = _conv_bn(w[3], w[2], 1)
        self.td3 = _CSP(2 * w[2], w[2], 1, shortcut=False)
        self.down3 = _conv_bn(w[2], w[2], 3, 2)
        self.bu4 = _CSP(2 * w[2], w[3], 1, shortcut=False)
        self.down4 = _conv_bn(w[3], w[3], 3, 2)
        self.bu5 = _CSP(2 * w[3], w[4], 1, shortcut=False)
        out = anchors * (5 + classes)
        self.heads = nn.ModuleList(nn.Conv2d(c, out, 1) for c in (w[2], w[3], w[4]))

    def forward(self, x):
        c3 = self.s3(self.s2(self.stem(x)))
        c4 = self.s4(c3)
        c5 = self.s5(c4)
        p5 = self.lat5(c5)
        p4 = self.lat4(self.td4(torch.cat([F.interpolate(p5, scale_factor=2.0, mode="nearest"), c4], 1)))
        n3 = self.td3(torch.cat([F.interpolate(p4, scale_factor=2.0, mode="nearest"), c3], 1))
        n4 = self.bu4(torch.cat([self.down3(n3), p4], 1))
        n5 = self.bu5(torch.cat([self.down4(n4), p5], 1))
        return tuple(head(f) for head, f in zip(self.heads, (n3, n4, n5)))


def yolo_like():
    return YoloLike(), ["p3", "p4", "p5"]


def _db_head(inner):
    """DB's probability head: a 3x3 conv, two 2x2/2 ConvTransposes back to full resolution, Sigmoid."""
    return nn.Sequential(
        nn.Conv2d(inner, inner // 4, 3, padding=1, bias=False), nn.BatchNorm2d(inner // 4), nn.ReLU(),
        nn.ConvTranspose2d(inner // 4, inner // 4, 2, 2), nn.BatchNorm2d(inner // 4), nn.ReLU(),
        nn.ConvTranspose2d(inner // 4, 1, 2, 2), nn.Sigmoid())


class DBNetLike(nn.Module):
    """ResNet-18 backbone, FPN to 1/4 scale via Resize, a ConvTranspose probability head with Sigmoid."""

    def __init__(self, inner=64):
        super().__init__()
        import torchvision

        r = torchvision.models.resnet18(weights=None)
        self.stem = nn.Sequential(r.conv1, r.bn1, r.relu, r.maxpool)
        self.layers = nn.ModuleList([r.layer1, r.layer2, r.layer3, r.layer4])
        self.lateral = nn.ModuleList(nn.Conv2d(c, inner, 1, bias=False) for c in (64, 128, 256, 512))
        self.smooth = nn.ModuleList(nn.Conv2d(inner, inner // 4, 3, padding=1, bias=False) for _ in range(4))
        self.head = _db_head(inner)

    def forward(self, x):
        x = self.stem(x)
        feats = []
        for layer in self.layers:
            x = layer(x)
            feats.append(x)
        lat = [conv(f) for conv, f in zip(self.lateral, feats)]
        for i in range(3, 0, -1):  # top-down
            lat[i - 1] = lat[i - 1] + F.interpolate(lat[i], size=lat[i - 1].shape[2:], mode="nearest")
        size = lat[0].shape[2:]
        outs = [F.interpolate(s(l), size=size, mode="bilinear", align_corners=False) if i else s(l)
                for i, (s, l) in enumerate(zip(self.smooth, lat))]
        return self.head(torch.cat(outs, 1))


def dbnet():
    return DBNetLike(), ["probability"]


class DBMobile(nn.Module):
    """A DB text detector of the PP-OCR mobile kind: a MobileNetV2-style backbone (1/4 .. 1/32), an FPN with
    nearest-upsampling top-down path, 3x3 smoothing, nearest upsampling of every level to 1/4, and the DB
    probability head (3x3 conv, two 2x2/2 ConvTransposes, Sigmoid) back to full resolution."""

    def __init__(self, inner=64, widths=(16, 24, 40, 96, 160)):
        super().__init__()
        w = widths
        self.stem = _conv_bn(3, w[0], 3, 2, act=nn.ReLU)
        self.stages = nn.ModuleList([
            nn.Sequential(_InvertedResidual(w[0], w[1], 2, expand=3), _InvertedResidual(w[1], w[1], 1, expand=3)),
            nn.Sequential(_InvertedResidual(w[1], w[2], 2, expand=3), _InvertedResidual(w[2], w[2], 1, expand=3)),
            nn.Sequential(_InvertedResidual(w[2], w[3], 2, expand=3), _InvertedResidual(w[3], w[3], 1, expand=3)),
            nn.Sequential(_InvertedResidual(w[3], w[4], 2, expand=3), _InvertedResidual(w[4], w[4], 1, expand=3)),
        ])
        self.lateral = nn.ModuleList(nn.Conv2d(c, inner, 1, bias=False) for c in w[1:])
        self.smooth = nn.ModuleList(nn.Conv2d(inner, inner // 4, 3, padding=1, bias=False) for _ in range(4))
        self.head = _db_head(inner)

    def forward(self, x):
        x = self.stem(x)
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        lat = [conv(f) for conv, f in zip(self.lateral, feats)]
        for i in range(3, 0, -1):  # top-down
            lat[i - 1] = lat[i - 1] + F.interpolate(lat[i], scale_factor=2.0, mode="nearest")
        outs = [F.interpolate(s(l), scale_factor=float(2 ** i), mode="nearest") if i else s(l)
                for i, (s, l) in enumerate(zip(self.smooth, lat))]
        return self.head(torch.cat(outs, 1))


def db_mobile():
    return DBMobile(), ["probability"]


class CRNN(nn.Module):
    def __init__(self, classes=37, hidden=128):
        super().__init__()

        def block(cin, cout, pool):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(), pool)

        self.cnn = nn.Sequential(
            block(3, 32, nn.MaxPool2d(2, 2)),                 # 16 x 64
            block(32, 64, nn.MaxPool2d(2, 2)),                # 8 x 32
            block(64, 128, nn.MaxPool2d((2, 1), (2, 1))),     # 4 x 32
            block(128, 128, nn.MaxPool2d((2, 1), (2, 1))),    # 2 x 32
            block(128, 256, nn.MaxPool2d((2, 1), (2, 1))),    # 1 x 32
        )
        self.rnn = nn.LSTM(256, hidden, num_layers=2, bidirectional=True, batch_first=True)
        self.fc = nn.Linear(2 * hidden, classes)

    def forward(self, x):
        x = self.cnn(x).squeeze(2).permute(0, 2, 1)          # [B, T=32, 256]
        x, _ = self.rnn(x)
        return self.fc(x)                                    # [B, T, classes]: CTC logits


def crnn():
    return CRNN(), ["logits"]


class KWSRecurrent(nn.Module):
    def __init__(self, cell: str, features=40, hidden=128, classes=12):
        super().__init__()
        self.rnn = (nn.LSTM if cell == "lstm" else nn.GRU)(features, hidden, num_layers=2, batch_first=True)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.fc(y[:, -1])


def kws_lstm():
    return KWSRecurrent("lstm"), ["logits"]


def kws_gru():
    return KWSRecurrent("gru"), ["logits"]


class DSCNN(nn.Module):
    def __init__(self, classes=12, width=64):
        super().__init__()
        layers = [nn.Conv2d(1, width, (10, 4), (2, 2), (5, 1), bias=False), nn.BatchNorm2d(width), nn.ReLU()]
        for _ in range(4):
            layers += [nn.Conv2d(width, width, 3, 1, 1, groups=width, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                       nn.Conv2d(width, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(width, classes)

    def forward(self, x):
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.body(x), 1), 1))


def kws_dscnn():
    return DSCNN(), ["logits"]


class M5(nn.Module):
    def __init__(self, classes=35, width=32):
        super().__init__()

        def block(cin, cout, k, s=1):
            return [nn.Conv1d(cin, cout, k, s), nn.BatchNorm1d(cout), nn.ReLU(), nn.MaxPool1d(4)]

        self.body = nn.Sequential(*block(1, width, 80, 16), *block(width, width, 3),
                                  *block(width, 2 * width, 3), *block(2 * width, 2 * width, 3))
        self.fc = nn.Linear(2 * width, classes)

    def forward(self, x):
        x = self.body(x)
        return self.fc(x.mean(dim=-1))


def audio_conv1d():
    return M5(), ["logits"]


class TextTransformer(nn.Module):
    def __init__(self, vocab=8000, length=64, dim=128, heads=4, layers=4, classes=4):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.position = nn.Parameter(torch.randn(1, length, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.fc = nn.Linear(dim, classes)

    def forward(self, ids):
        x = self.encoder(self.embed(ids) * math.sqrt(self.embed.embedding_dim) + self.position)
        return self.fc(x.mean(dim=1))


def text_transformer():
    return TextTransformer(), ["logits"]


class GPTTiny(nn.Module):
    def __init__(self, vocab=4000, length=32, dim=128, heads=4, layers=2):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.position = nn.Embedding(length, dim)
        layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.0, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab, bias=False)
        self.register_buffer("mask", torch.triu(torch.full((length, length), float("-inf")), 1))
        self.register_buffer("positions", torch.arange(length).unsqueeze(0))

    def forward(self, ids):
        x = self.embed(ids) + self.position(self.positions)
        x = self.blocks(x, mask=self.mask, is_causal=True)
        return self.head(self.norm(x))


def gpt_tiny():
    return GPTTiny(), ["logits"]


class UNetSmall(nn.Module):
    def __init__(self, classes=2, w=(16, 32, 64, 128)):
        super().__init__()

        def double(cin, cout):
            return nn.Sequential(_conv_bn(cin, cout, 3, act=nn.ReLU), _conv_bn(cout, cout, 3, act=nn.ReLU))

        self.down = nn.ModuleList([double(3, w[0]), double(w[0], w[1]), double(w[1], w[2]), double(w[2], w[3])])
        self.up = nn.ModuleList(nn.ConvTranspose2d(w[i + 1], w[i], 2, 2) for i in range(3))
        self.dec = nn.ModuleList(double(2 * w[i], w[i]) for i in range(3))
        self.out = nn.Conv2d(w[0], classes, 1)

    def forward(self, x):
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        x = skips.pop()
        for i in (2, 1, 0):
            x = self.dec[i](torch.cat([self.up[i](x), skips[i]], 1))
        return self.out(x)


def unet_small():
    return UNetSmall(), ["logits"]


class ConvAutoencoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(3, 32, 3, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(),
            nn.Conv2d(64, 128, 3, 2, 1), nn.ReLU())
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(128, 64, 3, 2, 1, output_padding=1), nn.ReLU(),
            nn.ConvTranspose2d(64, 32, 3, 2, 1, output_padding=1), nn.ReLU(),
            nn.ConvTranspose2d(32, 3, 3, 2, 1, output_padding=1), nn.Sigmoid())

    def forward(self, x):
        return self.decoder(self.encoder(x))


def conv_autoencoder():
    return ConvAutoencoder(), ["reconstruction"]
