"""Memory-compaction passes: every one keeps the model numerically equivalent.

- NameNodesUniquely        empty, repeated or control-character node names -> unique clean names
- ConstantsToInitializers  Constant nodes -> initializers
- FoldConstants            constant-only subgraphs (ConstantOfShape weights, Shape chains of static
                           shapes, Reshape/Unsqueeze/... of constants) -> initializers
- InlineConstantIf         If on a constant condition -> the branch it takes (its nodes, inlined)
- ClipBoundsToMinMax       Clip with a bound computed at run time -> Max / Min of that bound
- BoolCastToWhere          Cast of a run-time bool to a number -> Where(mask, 1, 0)
- RemoveIdentityOps        Identity and inference-mode Dropout -> rewired away
- ExpressEinsum            Einsum with static float operands -> ReduceSum / Transpose / Reshape / MatMul
- FoldBatchNorm            Conv/ConvTranspose/Gemm -> BatchNormalization -> per-channel Mul/Add
                           -> one Conv/ConvTranspose/Gemm
- MergeAffineChains        BatchNormalization (after a Concat or a pool) -> per-channel Mul/Add
                           -> one BatchNormalization
- FuseLayerNorm            ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div(/Mul/Add) over the last axis
                           -> one LayerNormalization
- FuseSwish                Mul(x, Sigmoid(x)) (SiLU) -> one QuickGelu (com.microsoft, alpha 1)
- RemoveDeadNodes          nodes that do not reach an output
- RemoveUnusedInitializers initializers nothing reads (and their IR < 4 graph-input entries)
- DeduplicateInitializers  byte-identical initializers -> one

Not in the pipeline (lower runs it first, with the input shapes): UpgradeLegacyOps, an op only old
opsets have (Upsample, opset < 10) -> its new form, by onnx's version converter.  After the pipeline,
lower runs UnrollDepth on a model with 3-D windows: Conv / MaxPool / AveragePool on 5-D tensors -> 2-D
ones on depth slices (the interpreter's kernels are 1-D and 2-D).

    from onnx_tee.passes.compact import compaction_pipeline
    result = compaction_pipeline()(model)      # PassResult; result.stats["records"] per pass

Every pass here is in place (it edits the model it is given); the pipeline is functional.
"""
from ..core import Pipeline
from .bool_casts import BoolCastToWhere
from .constants_to_initializers import ConstantsToInitializers
from .deduplicate_initializers import DeduplicateInitializers
from .express_einsum import ExpressEinsum
from .fold_batchnorm import FoldBatchNorm
from .fold_constants import FoldConstants
from .fuse_layer_norm import FuseLayerNorm
from .fuse_swish import FuseSwish
from .inline_if import InlineConstantIf
from .legacy_ops import UpgradeLegacyOps
from .runtime_clip import ClipBoundsToMinMax
from .unroll_depth import UnrollDepth
from .merge_affine import MergeAffineChains
from .node_names import NameNodesUniquely
from .remove_dead_nodes import RemoveDeadNodes
from .remove_identity import RemoveIdentityOps
from .remove_unused_initializers import RemoveUnusedInitializers


def compaction_passes() -> list:
    """The compaction passes in the order the pipeline runs them."""
    return [NameNodesUniquely(), ConstantsToInitializers(), FoldConstants(), InlineConstantIf(), ClipBoundsToMinMax(),
            RemoveIdentityOps(), ExpressEinsum(), BoolCastToWhere(), FoldBatchNorm(), MergeAffineChains(),
            FuseLayerNorm(), FuseSwish(), RemoveDeadNodes(), RemoveUnusedInitializers(), DeduplicateInitializers()]


def compaction_pipeline(*, validate: bool = False, in_place: bool = False) -> Pipeline:
    """All compaction passes, repeated until none changes the model (`in_place`: edit the given
    model rather than a copy)."""
    return Pipeline(compaction_passes(), validate=validate, fixed_point=True, in_place=in_place)


__all__ = ["BoolCastToWhere", "ClipBoundsToMinMax", "ConstantsToInitializers", "DeduplicateInitializers",
           "ExpressEinsum", "FoldBatchNorm", "FoldConstants", "FuseLayerNorm", "FuseSwish", "InlineConstantIf",
           "MergeAffineChains", "NameNodesUniquely", "RemoveDeadNodes", "RemoveIdentityOps",
           "RemoveUnusedInitializers", "UnrollDepth", "UpgradeLegacyOps", "compaction_passes", "compaction_pipeline"]
