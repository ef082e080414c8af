"""onnx-tee: composable ONNX passes and analyses for running whole models inside an OP-TEE TA.

    from onnx_tee.passes import FoldBatchNorm, compaction_pipeline
    model = FoldBatchNorm()(model).model
    model = compaction_pipeline()(model).model
"""
from .compact import (ConstantsToInitializers, DeduplicateInitializers, FoldBatchNorm, FoldConstants,
                      MergeAffineChains, RemoveDeadNodes, RemoveIdentityOps, RemoveUnusedInitializers,
                      compaction_pipeline)
from .core import Pass, PassRecord, PassResult, Pipeline, validate_model
from .errors import UnsupportedModelError, UserError

__all__ = ["Pass", "PassRecord", "PassResult", "Pipeline", "validate_model", "UserError",
           "UnsupportedModelError", "ConstantsToInitializers", "DeduplicateInitializers", "FoldBatchNorm",
           "FoldConstants", "MergeAffineChains", "RemoveDeadNodes", "RemoveIdentityOps",
           "RemoveUnusedInitializers", "compaction_pipeline"]
