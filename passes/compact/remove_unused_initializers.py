"""Remove initializers nothing reads."""
from __future__ import annotations

import onnx

from ..analysis.weights import tensor_nbytes
from ..core import Pass, PassResult
from .graph_edit import referenced_names, remove_initializers


class RemoveUnusedInitializers(Pass):
    """Delete initializers that no node (or subgraph) reads and that are not graph outputs,
    together with their graph-input entries (IR < 4 lists every initializer as an input).

    Before:  initializers {W, W_unused};  inputs {x, W, W_unused};  y = Conv(x, W)
    After:   initializers {W};            inputs {x, W};            y = Conv(x, W)

    Exact.
    """

    def call(self, model: onnx.ModelProto) -> PassResult:
        used = referenced_names(model.graph)
        unused = [t for t in model.graph.initializer if t.name not in used]
        freed = sum(tensor_nbytes(t) for t in unused)
        removed = remove_initializers(model, {t.name for t in unused})
        return PassResult(model, removed > 0, {"removed": removed, "bytes_freed": freed})
