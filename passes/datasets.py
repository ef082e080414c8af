"""Offline labelled data sets (`--data NAME`): evaluation and calibration sets, batching, accuracy.

    from onnx_tee.passes.datasets import load_dataset, calibration_set, evaluate_accuracy
    x, y = load_dataset("fashion-mnist", "test")        # x: float32 (10000, 1, 28, 28), y: int64
    calib = calibration_set("fashion-mnist", 256, seed=0)  # unlabelled, from the train split
    x_val, y_val = load_dataset("fashion-mnist", "validation")  # held out of training, for decisions
    acc = evaluate_accuracy(model, "fashion-mnist", limit=1000)

Data sets (`DATASETS`):

- ``fashion-mnist`` — 28x28 grey images in 10 classes, read from the IDX files of the Debian package
  ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist/``, or the directory named by the
  environment variable ``FASHION_MNIST_DIR``): 55,000 train / 5,000 validation / 10,000 test.
- ``digits`` — scikit-learn's bundled 1,797 8x8 hand-written digits (pixel values 0..16), split once
  into 1,293 train / 144 validation / 360 test samples.

Splits (`SPLITS`): "test" is the data set's own test split (for Fashion-MNIST the official 10,000;
for digits 360 samples chosen by ``numpy.random.default_rng(0)``).  The rest is cut once more by a
fixed permutation (``default_rng(VALIDATION_SEED)``) into "validation" (`VALIDATION_SIZES`) and
"train".  The zoo trains on "train" only, so the validation split is held out of training: pruning
decides on it (when to stop, how long to recover) and reads TEST only to report.

Every sample is float32 NCHW (one channel) normalised as ``x = (pixel / scale - mean) / std``, with
``mean``/``std`` the statistics of the whole training data before the validation cut (see
`DatasetInfo`); labels are int64 in 0..9.
"""
from __future__ import annotations

import functools
import gzip
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import onnx
import onnxruntime as ort

from .errors import UserError
from .graph import Constants, graph_inputs, node_label

FASHION_MNIST_DIR = Path(os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
SPLITS = ("train", "validation", "test")
DIGITS_TEST_SIZE = 360
DIGITS_SPLIT_SEED = 0
VALIDATION_SIZES = {"fashion-mnist": 5000, "digits": 144}
VALIDATION_SEED = 0


@dataclass(frozen=True)
class DatasetInfo:
    """What a model fed by this data set sees: one sample's shape, the classes, the normalisation."""
    name: str
    sample_shape: tuple[int, int, int]   # C, H, W
    num_classes: int
    scale: float                         # raw pixel value of full intensity
    mean: float                          # of pixel / scale over train + validation
    std: float


DATASETS = {
    "fashion-mnist": DatasetInfo("fashion-mnist", (1, 28, 28), 10, scale=255.0, mean=0.2860, std=0.3530),
    "digits": DatasetInfo("digits", (1, 8, 8), 10, scale=16.0, mean=0.3049, std=0.3759),
}


class LabelledSet(NamedTuple):
    x: np.ndarray   # float32, (N, C, H, W)
    y: np.ndarray   # int64, (N,)


def dataset_info(name: str) -> DatasetInfo:
    """The description of data set `name`; UserError listing the known names otherwise."""
    try:
        return DATASETS[name.lower()]
    except KeyError:
        raise UserError(f"unknown data set '{name}': choose one of {', '.join(DATASETS)}") from None


def load_dataset(name: str, split: str = "test") -> LabelledSet:
    """The labelled `split` ("train", "validation" or "test") of data set `name`, normalised (a fresh array)."""
    info = dataset_info(name)
    images, labels = _raw_split(info.name, _check_split(split))
    return LabelledSet(_normalise(info, images), labels.astype(np.int64))


def calibration_set(name: str, n: int, seed: int = 0) -> np.ndarray:
    """`n` distinct unlabelled samples drawn at random (by `seed`) from the train split of `name`."""
    info = dataset_info(name)
    images, _ = _raw_split(info.name, "train")
    if not 0 < n <= len(images):
        raise UserError(f"calibration set size {n} is out of range: data set '{info.name}' has "
                        f"{len(images)} training samples")
    chosen = np.random.default_rng(seed).choice(len(images), size=n, replace=False)
    return _normalise(info, images[np.sort(chosen)])


def with_batch(model: onnx.ModelProto, n: int) -> onnx.ModelProto:
    """A copy of the batch-1 `model` whose graph inputs and outputs have batch dimension `n`.

    Valid for graphs whose ops carry the leading dimension through (Conv, pools, Flatten, Gemm,
    element-wise ops), which is how the trained zoo is exported.  A Reshape to a constant shape
    starting with 1 would silently merge samples, so it is rejected.  Intermediate shape
    annotations (value_info) are dropped, since they record batch 1.
    """
    if n < 1:
        raise UserError(f"batch size must be at least 1, got {n}")
    batched = onnx.ModelProto()
    batched.CopyFrom(model)
    graph = batched.graph
    constants = Constants(batched, overridable=True)
    for node in graph.node:
        if node.op_type == "Reshape" and node.input[1] in constants:
            target = constants[node.input[1]].reshape(-1)
            if target.size and target[0] == 1:
                raise UserError(f"cannot batch the model: Reshape node '{node_label(node)}' has the "
                                f"fixed target shape {target.tolist()}; export with Flatten or a 0/-1 leading "
                                f"dimension, or evaluate with batch=1")
    for value in graph_inputs(batched) + list(graph.output):
        dims = value.type.tensor_type.shape.dim
        if not dims:
            continue
        if dims[0].HasField("dim_value") and dims[0].dim_value not in (1, n):
            raise UserError(f"cannot batch the model: '{value.name}' has leading dimension "
                            f"{dims[0].dim_value}, expected 1")
        dims[0].dim_value = n
    del graph.value_info[:]
    return batched


def predict_logits(model: onnx.ModelProto, x: np.ndarray, *, batch: int = 256,
                   threads: int = 1) -> np.ndarray:
    """The first output of `model` for every sample of `x`, run by onnxruntime `batch` samples at a time.

    The last, partial batch is zero-padded to `batch` and the padding rows dropped.
    """
    batch = max(1, min(batch, len(x)))
    input_name = _data_input_name(model)
    session = _session(with_batch(model, batch) if batch > 1 else model, threads)
    outputs = []
    for start in range(0, len(x), batch):
        chunk = x[start:start + batch]
        if len(chunk) < batch:
            chunk = np.concatenate([chunk, np.zeros((batch - len(chunk),) + chunk.shape[1:], chunk.dtype)])
        outputs.append(session.run(None, {input_name: chunk})[0][:len(x) - start])
    return np.concatenate(outputs)


def evaluate_accuracy(model: onnx.ModelProto, name: str, split: str = "test", limit: int | None = None, *,
                      batch: int = 256, threads: int = 1) -> float:
    """Top-1 accuracy (0..1) of `model` on the first `limit` samples (all if None) of a labelled split.

    `model` takes one NCHW float32 input of batch 1 and returns class scores as its first output;
    onnxruntime runs it with `threads` intra-op threads.
    """
    info = dataset_info(name)
    images, labels = _raw_split(info.name, _check_split(split))
    if limit is not None:
        if limit < 1:
            raise UserError(f"evaluation limit must be at least 1, got {limit}")
        images, labels = images[:limit], labels[:limit]
    _check_model_fits(model, info)
    scores = predict_logits(model, _normalise(info, images), batch=batch, threads=threads)
    if scores.ndim != 2 or scores.shape[1] != info.num_classes:
        raise UserError(f"the model's first output has shape {list(scores.shape[1:])} per sample; "
                        f"data set '{info.name}' needs {info.num_classes} class scores")
    return float(np.mean(scores.argmax(axis=1) == labels))


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise UserError(f"unknown split '{split}': choose one of {', '.join(SPLITS)}")
    return split


def _normalise(info: DatasetInfo, images: np.ndarray) -> np.ndarray:
    x = (images.astype(np.float32) / np.float32(info.scale) - np.float32(info.mean)) / np.float32(info.std)
    return x.reshape((len(images),) + info.sample_shape)


@functools.lru_cache(maxsize=None)
def _raw_split(name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Raw (images, labels) of a split, cached read-only: uint8 pixels for Fashion-MNIST, 0..16 for digits."""
    source = _fashion_mnist if name == "fashion-mnist" else _digits
    if split == "test":
        images, labels = source("test")
    else:
        images, labels = source("train")
        order = np.random.default_rng(VALIDATION_SEED).permutation(len(images))
        held_out = VALIDATION_SIZES[name]
        chosen = np.sort(order[:held_out] if split == "validation" else order[held_out:])
        images, labels = images[chosen], labels[chosen]
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def _fashion_mnist(split: str) -> tuple[np.ndarray, np.ndarray]:
    """The official "train" (60,000) or "test" (10,000) IDX files."""
    prefix = "train" if split == "train" else "t10k"
    images = _read_idx(FASHION_MNIST_DIR / f"{prefix}-images-idx3-ubyte.gz")
    labels = _read_idx(FASHION_MNIST_DIR / f"{prefix}-labels-idx1-ubyte.gz")
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise UserError(f"{FASHION_MNIST_DIR}: the {split} images {images.shape} and labels {labels.shape} "
                        f"do not match; reinstall with `apt-get install --reinstall dataset-fashion-mnist`")
    return images, labels


def _read_idx(path: Path) -> np.ndarray:
    """Parse an IDX file (gzip): 2 zero bytes, a type code (0x08 = uint8), the rank, big-endian u32 dims, data."""
    if not path.exists():
        raise UserError(f"Fashion-MNIST is not installed ({path} is missing): install it with "
                        f"`apt-get install dataset-fashion-mnist`, or point FASHION_MNIST_DIR at the IDX files")
    try:
        data = gzip.decompress(path.read_bytes())
    except (OSError, EOFError) as exc:
        raise UserError(f"{path}: not a readable gzip file ({exc})") from exc
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise UserError(f"{path}: not an IDX file of unsigned bytes (bad magic number)")
    rank = data[3]
    dims = tuple(int(d) for d in np.frombuffer(data, ">u4", count=rank, offset=4))
    offset = 4 + 4 * rank
    if len(data) - offset != int(np.prod(dims)):
        raise UserError(f"{path}: holds {len(data) - offset} data bytes, its header promises {dims}")
    return np.frombuffer(data, np.uint8, offset=offset).reshape(dims)


def _digits(split: str) -> tuple[np.ndarray, np.ndarray]:
    """360 test samples, the other 1,437 as training data (before the validation cut)."""
    from sklearn.datasets import load_digits
    images, labels = load_digits(return_X_y=True)
    order = np.random.default_rng(DIGITS_SPLIT_SEED).permutation(len(images))
    chosen = order[:DIGITS_TEST_SIZE] if split == "test" else order[DIGITS_TEST_SIZE:]
    return images[chosen].reshape(-1, 8, 8), labels[chosen]


def _data_input_name(model: onnx.ModelProto) -> str:
    inputs = [v.name for v in graph_inputs(model)]
    if len(inputs) != 1:
        raise UserError(f"the model has {len(inputs)} data inputs ({', '.join(inputs)}); accuracy evaluation "
                        f"needs exactly one image input")
    return inputs[0]


def _check_model_fits(model: onnx.ModelProto, info: DatasetInfo) -> None:
    name = _data_input_name(model)
    value = next(v for v in model.graph.input if v.name == name)
    dims = [d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim]
    if dims[1:] != list(info.sample_shape) and None not in dims[1:]:
        raise UserError(f"the model's input '{name}' has shape {dims}; data set '{info.name}' gives samples of "
                        f"shape [1, {', '.join(map(str, info.sample_shape))}]")


def _session(model: onnx.ModelProto, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
