"""Old opsets: ops the interpreter only runs in their newer form are upgraded by onnx's version converter."""
from __future__ import annotations

import onnx
from onnx import version_converter

from ..core import Pass, PassResult
from ..errors import UnsupportedModelError
from ..graph import opset_of

# op -> the first opset whose form the interpreter runs (Upsample became Resize in opset 10)
LEGACY_OPS = {"Upsample": 10}
# the oldest opset onnxruntime has kernels for (Add-6's `broadcast`, BatchNormalization-6's `is_test` ... are
# gone in 7): an older model is converted to it, so the parity check (and the user) can run it in onnxruntime
OLDEST_OPSET = 7


class UpgradeLegacyOps(Pass):
    """Convert a model that uses an op only older opsets have to the opset where it has its new form.

    Before:  opset 7..9:  u = Upsample(x, scales=[1,1,2,2], mode="nearest")
    After:   opset 10:    u = Resize(x, scales)          (onnx.version_converter; every other node
                                                          adapted to opset 10 the same way)

    A model older than OLDEST_OPSET (torch 0.x exports at opset 6: Add with `broadcast=1`, Gemm-6,
    BatchNormalization-6 with `is_test`) is converted to that opset the same way: onnxruntime has no
    kernels for those forms, and lower checks its result against onnxruntime.

    In place: the converter's model replaces the given one's contents (old models are small); a
    model that needs no upgrade is not touched.  Exact: the converter's adapters keep each op's
    semantics (Upsample's nearest and linear modes are Resize's with the same scales).  Softmax's pre-13 2-D coercion and
    BatchNormalization's old attributes (`spatial`, `is_test`) need no upgrade: the target and
    FoldBatchNorm read them per opset.
    """

    def call(self, model: onnx.ModelProto) -> PassResult:
        opset = opset_of(model)
        if not any(o.domain in ("", "ai.onnx") for o in model.opset_import):
            return PassResult(model, False, {"from_opset": None})   # no default-domain op (ai.onnx.ml only)
        needed = max((LEGACY_OPS[n.op_type] for n in model.graph.node
                      if n.op_type in LEGACY_OPS and n.domain in ("", "ai.onnx") and opset < LEGACY_OPS[n.op_type]),
                     default=OLDEST_OPSET if opset < OLDEST_OPSET else None)
        if needed is None:
            return PassResult(model, False, {"from_opset": opset})
        try:
            upgraded = version_converter.convert_version(model, needed)
        except Exception as exc:  # the converter raises RuntimeError/ValidationError from its C++ core
            ops = ", ".join(sorted({n.op_type for n in model.graph.node if n.op_type in LEGACY_OPS}))
            what = f"{ops} needs opset {needed}" if ops else f"onnxruntime runs opset {OLDEST_OPSET} and later"
            raise UnsupportedModelError(f"opset {opset}: {what}, and onnx's version converter "
                                        f"cannot convert this model: {str(exc).splitlines()[0]}") from exc
        model.CopyFrom(upgraded)
        return PassResult(model, True, {"from_opset": opset, "to_opset": needed})
