"""onnx-tee: composable ONNX passes and analyses for running whole models inside an OP-TEE TA.

    from onnx_tee.passes import FoldBatchNorm, compaction_pipeline, lower_model
    model = FoldBatchNorm()(model).model                 # one pass (in place)
    model = compaction_pipeline()(model).model           # all compaction passes (on a copy)
    lower_model(model, budget=8 * 2**20).save("out/")    # partition, lower, seal, check in the simulator
"""
from .build import LoweredModel, PartitionedModel, build_partitions, lower_model
from .compact import (ConstantsToInitializers, DeduplicateInitializers, FoldBatchNorm, FoldConstants,
                      MergeAffineChains, RemoveDeadNodes, RemoveIdentityOps, RemoveUnusedInitializers,
                      compaction_pipeline)
from .core import Pass, PassError, PassRecord, PassResult, Pipeline, functional, validate_model
from .errors import UnsupportedModelError, UserError

__all__ = ["LoweredModel", "PartitionedModel", "build_partitions", "lower_model", "Pass", "PassError", "PassRecord", "PassResult", "Pipeline", "functional", "validate_model", "UserError",
           "UnsupportedModelError", "ConstantsToInitializers", "DeduplicateInitializers", "FoldBatchNorm",
           "FoldConstants", "MergeAffineChains", "RemoveDeadNodes", "RemoveIdentityOps",
           "RemoveUnusedInitializers", "compaction_pipeline"]
