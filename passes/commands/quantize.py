"""`python cli.py quantize MODEL [--data NAME] [--max-accuracy-drop 0.01] [--format qdq|qoperator] -o OUT.onnx`:
static post-training int8 quantization (onnxruntime.quantization, per-channel weights) with an accuracy
guard on the data set's test split, falling back to float layer by layer (most sensitive first) or
refusing (exit 2); writes the model and a JSON report (per-tensor scales, weight bytes and accuracy
before / after).  Without --data: random-input calibration and no accuracy check."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from onnx_tee import models

from ..analysis.shapes import fix_input_shapes
from ..modelio import save_model
from ..quant.static import FORMATS, QuantizeOptions, quantize_model
from ..sizes import format_size
from .common import add_input_shape_option, check_output_file, console, input_shapes, table


def add_quantize_options(parser: argparse.ArgumentParser, *, data: bool) -> None:
    """The options `quantize` and `lower --quantize int8` share (`data`: also add --data)."""
    group = parser.add_argument_group("quantization")
    if data:
        group.add_argument("--data", metavar="NAME", help="calibration (train split) and accuracy guard (test "
                                                          "split) data set: fashion-mnist, digits; default: random "
                                                          "calibration inputs, no accuracy check")
        group.add_argument("--max-accuracy-drop", type=float, default=0.01, metavar="FRACTION",
                           help="largest test top-1 drop allowed (0.01 = 1 point; default 0.01)")
    group.add_argument("--format", dest="quant_format", choices=FORMATS, default="qdq",
                       help="qdq (QuantizeLinear/DequantizeLinear around float ops, the default) or qoperator "
                            "(onnxruntime's QLinear* ops); the TA runs both as integer kernels")
    group.add_argument("--calibration-samples", type=int, default=256, metavar="N",
                       help="calibration samples (default 256; random inputs: at most 8)")
    group.add_argument("--evaluation-samples", type=int, metavar="N",
                       help="test samples for the accuracy guard (default: the whole test split)")
    group.add_argument("--keep-float", action="append", default=[], metavar="NODE",
                       help="leave this node in float (repeatable)")


def quantize_options(args: argparse.Namespace) -> QuantizeOptions:
    return QuantizeOptions(data=args.data, max_accuracy_drop=args.max_accuracy_drop, fmt=args.quant_format,
                           calibration=args.calibration_samples, evaluation=args.evaluation_samples,
                           excluded=list(args.keep_float))


def print_report(report: dict) -> None:
    acc = report["accuracy"]
    rows = [["weight bytes", format_size(report["weight_bytes_before"]), format_size(report["weight_bytes_after"]),
             f"{report['weight_ratio']:.3f}"]]
    if acc["before"] is not None:
        rows.append(["test top-1", f"{acc['before']:.4f}", f"{acc['after']:.4f}", f"{-acc['drop']:+.4f}"])
    out = console()
    out.print(table(f"quantize {report['model']} ({report['format']}, calibration: {report['data'] or 'random'})",
                    ["", "float", "int8", "ratio / change"], rows, right={1, 2, 3}))
    if report["float_layers"]:
        out.print(f"left in float: {', '.join(report['float_layers'])}")
    if acc["before"] is None:
        out.print("accuracy not checked (no --data)")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "quantize", help="static int8 quantization with an accuracy guard (onnxruntime.quantization)",
        description="Quantize MODEL (an .onnx path or a zoo name, float; pruned or not): uint8 activations, int8 "
                    "per-channel weights, calibrated on --data's train split; the test-split accuracy drop is "
                    "kept within --max-accuracy-drop by leaving the most sensitive layers in float.")
    parser.add_argument("model", metavar="MODEL", help="path to an .onnx file or a zoo name")
    add_input_shape_option(parser)
    add_quantize_options(parser, data=True)
    parser.add_argument("-o", "--output", required=True, metavar="OUT.onnx", help="where to write the quantized model")
    parser.add_argument("--report", metavar="FILE.json", help="the JSON report (default: OUT.quantize.json)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    options = quantize_options(args)
    output = check_output_file(args.output)
    label, model = models.resolve(args.model)
    model = fix_input_shapes(model, input_shapes(args))
    quantized, report = quantize_model(model, options, label=label)
    save_model(quantized, output)
    report_path = Path(args.report) if args.report else output.with_suffix(".quantize.json")
    report_path.write_text(json.dumps(report, indent=1))
    print_report(report)
    console().print(f"wrote {output}, {report_path}")
    return 0
