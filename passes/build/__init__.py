"""End to end, as a library: what `cli.py partition` and `cli.py lower` do, returning the artifacts.

    from onnx_tee.passes import build_partitions, lower_model
    build_partitions(model, budget).save("parts/")     # partition_NNN.onnx, manifest.json, memory.png
    lower_model(model, budget).save("out/")            # + device/ (sealed blobs), key, report.json

Modules: `partitioned` (compact + partition), `lowered` (the lowering steps, the simulator check),
`manifest` (the one writer of manifest.json).
"""
from .lowered import LoweredModel, lower_model
from .partitioned import PartitionedModel, build_partitions

__all__ = ["LoweredModel", "lower_model", "PartitionedModel", "build_partitions"]
