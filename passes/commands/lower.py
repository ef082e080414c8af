"""`python cli.py lower [MODEL] [--budget 8MiB] [--input-shape ...] [--input-value ...] [-o out/]`: the main job.

Parses the options, runs `passes.build.lower_model` (fix shapes, optional pruning, compact,
analyse, check support, partition, lower, seal, simulate) and saves its outputs into the output
directory (README, "What lower writes"), then prints a summary.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from onnx_tee import models

from ..build import LoweredModel, lower_model
from ..build.lowered import KEY_FILE
from ..build.release import parse_model_id, release_of
from ..compact.freeze_inputs import parse_input_values
from ..lower.keys import key_in_output_dir, load_key
from ..errors import UserError
from ..sizes import format_size, parse_size
from ..partition.spatial_plan import describe
from .common import add_input_shape_option, check_output_dir, console, format_count, input_shapes, table
from .compact import records_table
from ..quant.static import QuantizeOptions
from .prune import add_prune_options, options_from_args, print_report
from .quantize import add_quantize_options
from .quantize import print_report as print_quantize_report

DEFAULT_BUDGET = "8MiB"


def summary_rows(lowered: LoweredModel) -> list[list]:
    """Rows for the summary table."""
    compaction, analysis = lowered.report["compaction"], lowered.report["analysis"]
    rows = [["budget", format_size(lowered.budget)],
            ["weight bytes", f"{format_size(compaction['weight_bytes_before'])} -> "
                             f"{format_size(compaction['weight_bytes_after'])}"],
            ["params", format_count(analysis["params"])],
            ["MACs", format_count(analysis["macs"])],
            ["peak activation bytes", format_size(analysis["peak_activation_bytes"])],
            ["nodes", analysis["nodes"]]]
    if "partitions" in lowered.report:
        rows.append(["partitions", lowered.report["partitions"]["count"]])
        rows.append(["region (planned peak)", format_size(lowered.report["partitions"]["region_bytes"])])
        rows.append(["spatial tiling", describe(lowered.report["partitions"]["spatial"])])
    sim = lowered.report.get("simulation")
    if sim:
        rows.append(["simulator heap high-water", format_size(sim["heap_high_water"])])
        rows.append(["max abs / rel error vs onnxruntime",
                     f"{max(sim['max_abs_error'].values()):.3g} / {max(sim['max_rel_error'].values()):.3g}"])
        worst = max(abs(p["measured"] - p["planned"]) / p["planned"] for p in sim["partitions"])
        rows.append(["measured vs planned memory", f"max deviation {worst:.2%}"])
    return rows


def print_summary(lowered: LoweredModel, out_dir: Path) -> None:
    out = console()
    if "pruning" in lowered.report:
        print_report(lowered.report["pruning"])
    if "quantization" in lowered.report:
        print_quantize_report(lowered.report["quantization"])
    out.print(records_table(lowered.records, lowered.rounds))
    out.print(table(f"lower {lowered.label}", ["", "value"], [*summary_rows(lowered), ["output", str(out_dir)]]))


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "lower", help="compact, analyse and lower a model for the TEE (the main job)",
        description="Lower MODEL (an .onnx path or a zoo name; default: the zoo's "
                    f"'{models.DEFAULT_MODEL}') for a TEE with BUDGET bytes of memory.")
    parser.add_argument("model", nargs="?", metavar="MODEL", help="path to an .onnx file or a zoo name")
    parser.add_argument("--budget", default=DEFAULT_BUDGET, help=f"TEE memory budget (default {DEFAULT_BUDGET})")
    add_input_shape_option(parser)
    parser.add_argument("--input-value", action="append", default=[], metavar="NAME=VALUE",
                        help="freeze a graph input to a constant (a scalar or a comma list, in the input's dtype "
                             "and shape), e.g. sample_rate=16000, so branches on it fold (repeat for several)")
    parser.add_argument("-o", "--output", default="out", metavar="DIR", help="output directory (default out/)")
    parser.add_argument("--key", metavar="FILE", help="encrypt the partitions for this model key (from `keygen`; "
                                                      "default: DIR/model.key, reused when it is a valid key "
                                                      "file, else created; never replaced)")
    parser.add_argument("--model-id", metavar="ID",
                        help="the model's identity across releases, for the device's rollback guard: 32 hex "
                             "digits or a name of at most 16 bytes (default: the id of the build already in DIR, "
                             "else a new random one)")
    parser.add_argument("--model-version", metavar="N", type=int,
                        help="release number (>= 1); a device refuses versions older than the newest it opened "
                             "for this model id (default: the version of the build in DIR + 1, else 1)")
    parser.add_argument("--state", action="append", metavar="IN=OUT",
                        help="keep a recurrent state in the TA between inferences: model input IN takes model "
                             "output OUT of the inference before (zero at session start); neither crosses to the "
                             "normal world (repeat for several; default: with --stream the unambiguous "
                             "LSTM/GRU/RNN state pairs, else none; 'none': keep no state)")
    parser.add_argument("--stream", action="store_true",
                        help="partition for stream sessions (`run --stream`): where the fewest partitions fill "
                             "the budget, cut the model smaller so that some bodies stay loaded between inferences "
                             "(faster steady state, slower single shot)")
    parser.add_argument("--prune", action="store_true", help="prune first (progressive, accuracy-guarded; "
                                                             "see the pruning options and `prune --help`)")
    add_prune_options(parser)
    parser.add_argument("--quantize", choices=["int8"], help="quantize after pruning (static, per-channel; "
                                                             "calibrated on --data, else on random inputs; "
                                                             "accuracy-guarded with --data)")
    add_quantize_options(parser, data=False)
    parser.set_defaults(func=run)


def parse_states(values: list[str] | None) -> list[tuple[str, str]] | None:
    """`--state IN=OUT ...` -> pairs; none given -> None (detect); `--state none` -> []."""
    if not values:
        return None
    if values == ["none"]:
        return []
    pairs = []
    for value in values:
        name_in, sep, name_out = value.partition("=")
        if not sep or not name_in or not name_out:
            raise UserError(f"--state {value}: expected IN=OUT (a model input and the model output that feeds it "
                            f"back), or 'none'")
        pairs.append((name_in, name_out))
    return pairs


def run(args: argparse.Namespace) -> int:
    budget = parse_size(args.budget)
    shapes = input_shapes(args)
    values = parse_input_values(args.input_value)
    label, model = models.resolve(args.model)
    prune = options_from_args(args) if args.prune else None
    quantize = None
    if args.quantize:
        quantize = QuantizeOptions(data=args.data, fmt=args.quant_format, calibration=args.calibration_samples,
                                   evaluation=args.evaluation_samples, excluded=list(args.keep_float),
                                   max_accuracy_drop=0.01 if args.max_accuracy_drop is None else args.max_accuracy_drop)
    out_dir = check_output_dir(args.output)             # paths, key and release checked before any work
    key = load_key(args.key) if args.key else key_in_output_dir(out_dir / KEY_FILE)
    model_id, model_version = release_of(out_dir, parse_model_id(args.model_id) if args.model_id is not None else None,
                                         args.model_version)
    lowered = lower_model(model, budget, label=label, input_shapes=shapes, input_values=values, key=key,
                          model_id=model_id, model_version=model_version, prune=prune, quantize=quantize,
                          states=parse_states(args.state), stream=args.stream)
    lowered.save(out_dir, key_path=args.key)
    print_summary(lowered, out_dir)
    return 0
