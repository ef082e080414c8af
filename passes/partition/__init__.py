"""Partitioning under the TEE memory budget.

    from onnx_tee.passes.partition import partition_model, plan_memory, run_chain
    result = partition_model(model, budget=8 * 2**20)          # tiling + search + plan + extraction
    outputs = run_chain(result.models, feeds, output_names)     # the partitions, one after another, in ORT

Modules (one concern each): `memory` (the memory model and offset planner), `graph` (the model
as the partitioner sees it), `cost` (segment costs, incremental), `dp` (DP over a topological
order), `mincut` (min-cut boundary refinement), `ideals` (bounded exact search over
down-closed node sets), `batch` (segment costs of many segments at once, for that search),
`baselines` (layer-wise, greedy), `tiling` (split oversized Conv/Gemm/MatMul), `spatial_tiling`
(compute a region of spatially local ops in row tiles with exact halos), `spatial_plan` (which
regions and how many tiles, when activations exceed the budget), `extract`
(standalone partition models), `partitioner` (the above, end to end), `chain` (run in ORT),
`residency` (which bodies a stream session pins), `chart` (memory PNG).  What the interpreter's ops cost
(body sizes, scratch, in-place rules) comes from `passes.target`; saving a partitioning to a
directory is `passes.build`.
"""
from .chain import run_chain
from .memory import MemoryPlan, PartitionSpec, plan_memory
from .partitioner import PartitionResult, partition_model

__all__ = ["run_chain", "MemoryPlan", "PartitionSpec", "plan_memory", "PartitionResult", "partition_model"]
