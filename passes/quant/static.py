"""Static post-training int8 quantization with an accuracy guard, built on onnxruntime.quantization.

    float model --compact--> quantize_static (calibration: a data set's train split, or random inputs)
                --guard-->   accuracy before / after on the data set's test split (onnxruntime); while the
                             drop exceeds the limit, the most sensitive layer falls back to float
                             (nodes_to_exclude) and the model is quantized again; refused when no fallback
                             brings it within the limit.

Activations uint8 (asymmetric), weights int8 per output channel (symmetric), MinMax calibration: what
the interpreter's integer kernels run (QDQ groups fuse into them, passes/quant/qdq.py).  A layer's
sensitivity is the signal-to-quantization-noise ratio of its output in the QDQ model against the float
model on the calibration samples (onnxruntime.quantization.qdq_loss_debug), lowest first.

`quantize_model(model, options)` returns the quantized model and a report: per-tensor scales and zero
points, weight bytes before / after, accuracy before / after, the layers left in float.
"""
from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnx.version_converter
from onnx import numpy_helper

from ..analysis.weights import weight_bytes
from ..compact import compaction_pipeline
from ..compact.graph_edit import producers
from ..datasets import calibration_set, evaluate_accuracy
from ..errors import UserError
from ..graph import graph_inputs, opset_of
from .zero_points import DropZeroZeroPoints

FORMATS = ("qdq", "qoperator")
INT8_OPSET = 13   # MaxPool takes uint8 / int8 from opset 12
QUANTIZED_LAYERS = ("Conv", "Gemm", "MatMul")   # the layers a fallback leaves in float
FUSED_ACTIVATIONS = ("Relu", "Clip")            # quantized with the layer before them (one output)
RANDOM_SAMPLES = 8   # random-input calibration: the ranges of standard-normal inputs settle within a few
                    # samples (and onnxruntime holds every sample's activations: ResNet-50's ~0.2 GB each)


@dataclass
class QuantizeOptions:
    """`data` None: random standard-normal calibration and no accuracy guard."""

    data: str | None = None
    max_accuracy_drop: float = 0.01
    fmt: str = "qdq"
    calibration: int = 256
    evaluation: int | None = None   # test samples for the guard (None: the whole test split)
    max_fallbacks: int = 8
    seed: int = 0
    excluded: list[str] = field(default_factory=list)   # layers the user keeps in float


def _input_spec(model: onnx.ModelProto) -> tuple[str, list[int]]:
    inputs = graph_inputs(model)
    if len(inputs) != 1:
        raise UserError(f"quantize takes a model with one graph input, this one has {len(inputs)}")
    dims = inputs[0].type.tensor_type.shape.dim
    shape = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 0 for d in dims]
    if 0 in shape:
        raise UserError(f"input '{inputs[0].name}' has a dynamic shape: fix it first (--input-shape)")
    return inputs[0].name, shape


def _with_int8_opset(model: onnx.ModelProto) -> onnx.ModelProto:
    """`model` converted to INT8_OPSET when older (onnx's version converter), so that the int8 / uint8
    forms of MaxPool, Flatten ... are valid; as it is when the converter cannot convert it."""
    if opset_of(model) >= INT8_OPSET:
        return model
    try:
        return onnx.version_converter.convert_version(model, INT8_OPSET)
    except Exception:   # the converter raises assorted errors on ops it has no adapter for
        return model


def calibration_samples(model: onnx.ModelProto, options: QuantizeOptions) -> list[dict[str, np.ndarray]]:
    """The calibration feeds, batch 1 each: the data set's train samples, or seeded random inputs."""
    name, shape = _input_spec(model)
    if options.data is not None:
        x = calibration_set(options.data, options.calibration, options.seed).astype(np.float32)
        if list(x.shape[1:]) != shape[1:]:
            raise UserError(f"data set '{options.data}' has samples of shape {list(x.shape[1:])}, the model's input "
                            f"'{name}' takes {shape[1:]}")
        return [{name: sample[None]} for sample in x]
    rng = np.random.default_rng(options.seed)
    count = min(options.calibration, RANDOM_SAMPLES)
    return [{name: rng.standard_normal(shape).astype(np.float32)} for _ in range(count)]


def _reader(samples: list[dict[str, np.ndarray]]):
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(samples)

        def get_next(self):
            return next(self.batches, None)

    return Reader()


def _quantize(source: Path, target: Path, samples, fmt: str, excluded: list[str]) -> onnx.ModelProto:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)   # its advice to pre-process (shape inference, fusions): compaction did that
    try:
        quantize_static(str(source), str(target), _reader(samples),
                        quant_format=QuantFormat.QDQ if fmt == "qdq" else QuantFormat.QOperator, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        nodes_to_exclude=list(excluded))
    finally:
        root.setLevel(level)
    return DropZeroZeroPoints()(onnx.load(str(target))).model


def layer_sensitivity(float_path: Path, qdq_path: Path, samples, work: Path) -> list[str]:
    """The quantized layers (QUANTIZED_LAYERS nodes of the float model), most sensitive first: lowest
    SQNR of their output (or of the Relu / Clip fused with them) in the QDQ model against the float
    model on `samples`."""
    from onnxruntime.quantization.qdq_loss_debug import (collect_activations, compute_activation_error,
                                                         create_activation_matching,
                                                         modify_model_output_intermediate_tensors)
    augmented = {}
    for key, path in (("float", float_path), ("qdq", qdq_path)):
        augmented[key] = work / f"{key}_augmented.onnx"
        modify_model_output_intermediate_tensors(str(path), str(augmented[key]))
    float_acts = collect_activations(str(augmented["float"]), _reader(samples))
    qdq_acts = collect_activations(str(augmented["qdq"]), _reader(samples))
    errors = compute_activation_error(create_activation_matching(qdq_acts, float_acts))
    model = onnx.load(str(float_path), load_external_data=False)
    producer = producers(model.graph)
    worst: dict[str, float] = {}
    for tensor, err in errors.items():
        node = producer.get(tensor)
        while node is not None and node.op_type in FUSED_ACTIVATIONS:   # the layer's output is its activation's
            node = producer.get(node.input[0])
        sqnr = err.get("xmodel_err")
        if node is not None and node.op_type in QUANTIZED_LAYERS and node.name and sqnr is not None:
            worst[node.name] = min(worst.get(node.name, np.inf), float(sqnr))
    return sorted(worst, key=lambda name: worst[name])


def quantization_params(model: onnx.ModelProto) -> list[dict]:
    """Every quantized tensor's scale and zero point (onnxruntime names them `<tensor>_scale` /
    `<tensor>_zero_point`): one value, or min / max over the channels of a per-channel weight."""
    inits = {t.name: t for t in model.graph.initializer}
    rows = []
    for name, tensor in inits.items():
        if not name.endswith("_scale"):
            continue
        base = name[:-len("_scale")]
        scale = numpy_helper.to_array(tensor).astype(np.float64).reshape(-1)
        zp = inits.get(base + "_zero_point")
        if zp is not None:
            zero = numpy_helper.to_array(zp).reshape(-1)
        else:   # a weight's all-zero zero point, dropped (DropZeroZeroPoints): 0 of the weight's type
            weight = inits.get(base + "_quantized")
            zero = np.zeros(1, numpy_helper.to_array(weight).dtype if weight is not None else np.int32)
        rows.append({"tensor": base, "channels": int(scale.size), "scale_min": float(scale.min()),
                     "scale_max": float(scale.max()), "zero_point": int(zero[0]) if zero.size == 1 else None,
                     "type": str(zero.dtype)})
    return sorted(rows, key=lambda r: r["tensor"])


def quantize_model(model: onnx.ModelProto, options: QuantizeOptions, *, label: str = "model"
                   ) -> tuple[onnx.ModelProto, dict]:
    """`model` (float, batch-1, static input shape) compacted and quantized as the module docstring says;
    raises UserError when the accuracy guard cannot be met."""
    if options.fmt not in FORMATS:
        raise UserError(f"--format {options.fmt}: choose one of {', '.join(FORMATS)}")
    if not 0 <= options.max_accuracy_drop < 1:
        raise UserError(f"--max-accuracy-drop {options.max_accuracy_drop}: give a fraction in [0, 1) (0.01 = 1 point)")
    compacted = compaction_pipeline()(_with_int8_opset(model)).model
    samples = calibration_samples(compacted, options)
    report: dict = {"model": label, "format": options.fmt, "data": options.data, "calibration": len(samples),
                    "max_accuracy_drop": options.max_accuracy_drop if options.data else None,
                    "weight_bytes_before": weight_bytes(compacted)}

    def accuracy(m: onnx.ModelProto) -> float | None:
        return evaluate_accuracy(m, options.data, "test", options.evaluation) if options.data else None

    before = accuracy(compacted)
    excluded = list(options.excluded)
    with tempfile.TemporaryDirectory(prefix="onnx-tee-quantize-") as tmp:
        work = Path(tmp)
        source = work / "float.onnx"
        onnx.save(compacted, str(source))
        quantized = _quantize(source, work / "quantized.onnx", samples, options.fmt, excluded)
        after = accuracy(quantized)
        attempts = [{"excluded": list(excluded), "accuracy": after}]
        ranked: list[str] | None = None
        while before is not None and before - after > options.max_accuracy_drop:
            if ranked is None:
                qdq = quantized if options.fmt == "qdq" else _quantize(source, work / "qdq.onnx", samples, "qdq",
                                                                       excluded)
                onnx.save(qdq, str(work / "qdq.onnx"))
                ranked = [n for n in layer_sensitivity(source, work / "qdq.onnx", samples[:16], work)
                          if n not in excluded]
            if not ranked or len(attempts) > options.max_fallbacks:
                raise UserError(f"quantized {label} loses {before - after:.4f} test accuracy ({before:.4f} -> "
                                f"{after:.4f}) even with {len(excluded)} layer(s) left in float "
                                f"({', '.join(excluded) or 'none'}); allowed: --max-accuracy-drop "
                                f"{options.max_accuracy_drop}")
            excluded.append(ranked.pop(0))
            quantized = _quantize(source, work / "quantized.onnx", samples, options.fmt, excluded)
            after = accuracy(quantized)
            attempts.append({"excluded": list(excluded), "accuracy": after})
    report.update({"weight_bytes_after": weight_bytes(quantized),
                   "accuracy": {"split": "test", "samples": options.evaluation, "before": before, "after": after,
                                "drop": None if before is None else before - after},
                   "float_layers": excluded, "attempts": attempts, "tensors": quantization_params(quantized)})
    report["weight_ratio"] = report["weight_bytes_after"] / max(report["weight_bytes_before"], 1)
    return quantized, report
