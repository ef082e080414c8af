"""onnx-tee: composable ONNX passes and analyses for running whole models inside an OP-TEE TA.

    from passes import Pipeline, PassResult
"""
from .core import Pass, PassRecord, PassResult, Pipeline, validate_model
from .errors import UnsupportedModelError, UserError

__all__ = ["Pass", "PassRecord", "PassResult", "Pipeline", "validate_model", "UserError",
           "UnsupportedModelError"]
