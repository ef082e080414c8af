"""Export a trained network to the zoo's ONNX form and check it against PyTorch.

The form: opset 17, one float32 NCHW input named ``input`` with batch dimension 1, one output
``logits``; BatchNormalization stays in the graph (the compaction passes fold it), weights are
initializers.  The exported graph is checked with the full ONNX checker, then run by
onnxruntime on random and real samples and compared with the PyTorch module's outputs.
"""
from __future__ import annotations

import io
import os
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from passes.modelio import save_model

OPSET = 17


def export_onnx(model: nn.Module, path: str | os.PathLike | None, sample_shape: tuple[int, ...], *,
                check_inputs: np.ndarray | None = None, doc: str = "") -> onnx.ModelProto:
    """Export `model` (put in eval mode) for one sample of `sample_shape` (C, H, W); save to `path` if given.

    Raises AssertionError if onnxruntime's outputs differ from PyTorch's (rtol 1e-4, atol 1e-4) on
    8 random inputs plus `check_inputs`.
    """
    model.eval()
    buffer = io.BytesIO()
    # PRESERVE keeps the module's own (eval) mode and, unlike EVAL, skips the exporter's
    # Conv+BatchNormalization fusion: folding BN is the compaction passes' job.
    with warnings.catch_warnings():   # the generic advice against folding in PRESERVE mode; the model is in eval
        warnings.filterwarnings("ignore", message="It is recommended that constant folding be turned off")
        torch.onnx.export(model, (torch.zeros((1, *sample_shape)),), buffer, dynamo=False, opset_version=OPSET,
                          input_names=["input"], output_names=["logits"], do_constant_folding=True,
                          training=torch.onnx.TrainingMode.PRESERVE)
    exported = onnx.load_from_string(buffer.getvalue())
    exported.doc_string = doc
    onnx.checker.check_model(exported, full_check=True)
    check_against_torch(model, exported, sample_shape, check_inputs)
    if path is not None:
        save_model(exported, path)
    return exported


def check_against_torch(model: nn.Module, exported: onnx.ModelProto, sample_shape: tuple[int, ...],
                        extra: np.ndarray | None = None) -> None:
    inputs = np.random.default_rng(0).normal(size=(8, 1, *sample_shape)).astype(np.float32)
    if extra is not None:
        inputs = np.concatenate([inputs, extra.reshape(-1, 1, *sample_shape)])
    session = ort.InferenceSession(exported.SerializeToString(), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        for sample in inputs:
            expected = model(torch.from_numpy(sample)).numpy()
            np.testing.assert_allclose(session.run(None, {"input": sample})[0], expected, rtol=1e-4, atol=1e-4)
