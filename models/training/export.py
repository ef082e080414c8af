"""Export a trained network to the zoo's ONNX form and check it against PyTorch.

The form: opset 17, one float32 NCHW input named ``input`` with batch dimension 1, one output
``logits``; BatchNormalization stays in the graph (the compaction passes fold it), and every
parameter is an initializer of its own.  The exported graph is checked with the full ONNX checker, then run by
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

from onnx_tee.passes.modelio import save_model

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
    # The TorchScript exporter (dynamo=False) writes opset 17 directly and needs no onnxscript. Its
    # notices are silenced: the generic advice against folding in PRESERVE mode (the model is in
    # eval mode) and the deprecation of the exporter itself.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="It is recommended that constant folding be turned off")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        torch.onnx.export(model, (torch.zeros((1, *sample_shape)),), buffer, dynamo=False, opset_version=OPSET,
                          input_names=["input"], output_names=["logits"], do_constant_folding=True,
                          training=torch.onnx.TrainingMode.PRESERVE)
    exported = unshare_weights(onnx.load_from_string(buffer.getvalue()))
    exported.doc_string = doc
    onnx.checker.check_model(exported, full_check=True)
    check_against_torch(model, exported, sample_shape, check_inputs)
    if path is not None:
        save_model(exported, path)
    return exported


def unshare_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    """Give every parameter its own initializer (in place; returns `model`).

    The exporter stores parameters with equal values once and feeds the other users through
    Identity nodes.  Equal values happen for real: the biases of the two BatchNormalizations
    summed by a residual Add receive the same gradient, so they stay equal through training.

        Before:  bias_a (initializer) -> Identity -> bias_b -> BatchNormalization
        After:   bias_b (initializer, a copy of bias_a) -> BatchNormalization
    """
    initializers = {t.name: t for t in model.graph.initializer}
    aliases = [n for n in model.graph.node if n.op_type == "Identity" and n.input[0] in initializers]
    for node in aliases:
        copy = model.graph.initializer.add()
        copy.CopyFrom(initializers[node.input[0]])
        copy.name = node.output[0]
        model.graph.node.remove(node)
    return model


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
