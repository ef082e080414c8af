#!/usr/bin/env python3
"""Parity of the TA's integer kernels with onnxruntime on the trained zoo, quantized by onnxruntime itself.

    python scripts/quant_parity.py [--models cnn_digits ...] [--formats qdq qoperator dynamic] [--samples N]
                                   [--json F]

Per trained model and format: the model is quantized -- qdq, qoperator: `passes.quant.static.quantize_model`
(onnxruntime's quantize_static, calibrated on the data set's train split); dynamic: onnxruntime's
quantize_dynamic (int8 weights, DynamicQuantizeLinear + ConvInteger / MatMulInteger) of the compacted
float model -- expressed in the integer ops the TA runs, lowered at 8 MiB and run in the host build of
the interpreter on the test split (its first `--samples` images; default all of them), one at a time;
onnxruntime runs the same quantized model (its default session: QDQ groups fused by onnxruntime itself).
Reported: the share of output elements within one quantization step of onnxruntime's (the issue's
criterion: >= 99.9 %; `passes.quant.steps`: a dynamic model's step is read from onnxruntime's run of
each image), the share equal, the share of images whose top-1 class agrees (>= 99.5 %), and both
models' top-1 accuracy on those images.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnx

BUDGET = 8 << 20
FORMATS = ("qdq", "qoperator", "dynamic")


def quantize(name: str, fmt: str) -> onnx.ModelProto:
    """Trained model `name` quantized in format `fmt` (FORMATS), by onnxruntime."""
    from onnx_tee import models
    from onnx_tee.passes.compact import compaction_pipeline
    from onnx_tee.passes.quant.static import QuantizeOptions, quantize_model
    if fmt != "dynamic":
        options = QuantizeOptions(data=models.trained_dataset(name), fmt=fmt, max_accuracy_drop=0.5)
        return quantize_model(models.load(name), options, label=name)[0]
    import tempfile
    from onnxruntime.quantization import QuantType, quantize_dynamic
    with tempfile.TemporaryDirectory() as work:
        source, target = Path(work, "float.onnx"), Path(work, "dynamic.onnx")
        onnx.save(compaction_pipeline()(models.load(name)).model, source)
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
        return onnx.load(str(target))


def measure(name: str, fmt: str, samples: int | None) -> dict:
    import onnxruntime as ort

    from onnx_tee import models
    from onnx_tee.passes.analysis.shapes import infer_static_shapes
    from onnx_tee.passes.compact import compaction_pipeline
    from onnx_tee.passes.datasets import load_dataset
    from onnx_tee.passes.graph import graph_inputs
    from onnx_tee.passes.lower.bodies import lower_plan
    from onnx_tee.passes.lower.hostlib import InterpLibrary, run_partitions
    from onnx_tee.passes.partition.partitioner import partition_model
    from onnx_tee.passes.quant import express_quantized
    from onnx_tee.passes.quant.steps import dynamic_step_tensors, output_steps

    dataset = models.trained_dataset(name)
    quantized = quantize(name, fmt)
    input_name, output_name = quantized.graph.input[0].name, quantized.graph.output[0].name
    step_tensor = dynamic_step_tensors(quantized).get(output_name)
    reference = onnx.ModelProto()
    reference.CopyFrom(quantized)
    if step_tensor is not None:   # onnxruntime's run also gives the step of each image
        reference.graph.output.add(name=step_tensor)
    session = ort.InferenceSession(reference.SerializeToString(), providers=["CPUExecutionProvider"])
    fixed_step = output_steps(quantized).get(output_name)
    if fixed_step is None and step_tensor is None:
        raise SystemExit(f"{name} ({fmt}): output '{output_name}' has no quantization step")
    lowered = compaction_pipeline()(express_quantized(quantized)).model
    result = partition_model(lowered, BUDGET)
    infos = infer_static_shapes(lowered)
    bodies = lower_plan(result.model, result.infos, result.specs, result.plan,
                        [i.name for i in graph_inputs(lowered)], [o.name for o in lowered.graph.output])
    library = InterpLibrary.build()
    test = load_dataset(dataset, "test")
    x, labels = test.x[:samples].astype(np.float32), test.y[:samples]
    within, equal, total, agree, ours_right, ort_right = 0, 0, 0, 0, 0, 0
    for image, label in zip(x, labels):
        feeds = {input_name: image[None]}
        want, *scale = session.run([output_name] + ([step_tensor] if step_tensor else []), feeds)
        step = fixed_step if fixed_step is not None else float(np.max(np.abs(scale[0])))
        got, runs = run_partitions(library, bodies, result.plan, infos, feeds, [output_name])
        assert all(r.status == "RT_OK" for r in runs), [r.status for r in runs]
        diff = np.abs(got[output_name].astype(np.float64) - want.astype(np.float64))
        within += int(np.sum(diff <= step * (1 + 1e-6)))
        equal += int(np.sum(diff == 0))
        total += diff.size
        agree += int(got[output_name].argmax() == want.argmax())
        ours_right += int(got[output_name].argmax() == label)
        ort_right += int(want.argmax() == label)
    n = len(labels)
    return {"model": name, "format": fmt, "samples": n, "partitions": len(bodies), "within_one_step": within / total,
            "equal": equal / total, "top1_agreement": agree / n, "top1_ta": ours_right / n, "top1_onnxruntime": ort_right / n}


def main(argv: list[str] | None = None) -> int:
    from onnx_tee import models
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=models.trained_names())
    parser.add_argument("--formats", nargs="+", default=list(FORMATS), choices=FORMATS)
    parser.add_argument("--samples", type=int, default=None, help="the first N test images (default: all)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    rows = []
    print("| model | format | images | within one step | equal | top-1 agreement | top-1 TA / onnxruntime |")
    print("|---|---|---|---|---|---|---|")
    for name in args.models:
        for fmt in args.formats:
            row = measure(name, fmt, args.samples)
            rows.append(row)
            print(f"| {name} | {fmt} | {row['samples']} | {row['within_one_step']:.4%} | {row['equal']:.4%} "
                  f"| {row['top1_agreement']:.2%} "
                  f"| {row['top1_ta']:.4f} / {row['top1_onnxruntime']:.4f} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
