"""Compaction of the reference architectures: outputs unchanged, weights really gone.

Default run: resnet50, densenet121, inception_v2, squeezenet (seeded weights and as shipped);
the rest (AlexNet, VGG-19, ZFNet take seconds each to build and run) under `-m slow`.
"""
from __future__ import annotations

import collections

import pytest

from onnx_tee import models
from onnx_tee.models.reference import load_reference
from onnx_tee.passes.compact import compaction_pipeline
from onnx_tee.passes.compact.graph_edit import producers, referenced_names
from onnx_tee.passes.core import validate_model
from conftest import assert_same_outputs

DEFAULT = ["resnet50", "densenet121", "inception_v2", "squeezenet"]
SLOW = [name for name in models.reference_names() if name not in DEFAULT]
CASES = [pytest.param(name, raw, id=f"{name}-{'raw' if raw else 'seeded'}")
         for name in DEFAULT for raw in (False, True)] + [
    pytest.param(name, raw, id=f"{name}-{'raw' if raw else 'seeded'}", marks=pytest.mark.slow)
    for name in SLOW for raw in (False, True)]
POOLS = {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"}


def op_counts(model):
    return collections.Counter(node.op_type for node in model.graph.node)


@pytest.mark.parametrize("name, raw", CASES)
def test_compaction_keeps_outputs_and_removes_what_is_not_needed(name, raw):
    original = load_reference(name, raw=raw)
    compacted = compaction_pipeline()(original).model
    assert_same_outputs(original, compacted, rtol=1e-5, atol=1e-6)
    if name not in ("vgg19",):  # full check re-serialises the model: skip the 548 MiB one
        validate_model(compacted)
    ops = op_counts(compacted)
    assert not ops.keys() & {"ConstantOfShape", "Constant", "Dropout", "Identity", "Unsqueeze", "Mul", "Add"}
    # every weight input is an initializer (ConstantOfShape weights were folded)
    inits = {t.name for t in compacted.graph.initializer}
    for node in compacted.graph.node:
        if node.op_type in ("Conv", "Gemm", "BatchNormalization"):
            assert all(i in inits for i in node.input[1:]), node.name
    # no initializer is unused, none is listed twice, and IR 3 still lists each as a graph input
    assert inits <= referenced_names(compacted.graph)
    assert len(inits) == len(compacted.graph.initializer)
    assert inits <= {i.name for i in compacted.graph.input}
    # no BatchNormalization is left right after a Conv/Gemm
    made_by = producers(compacted.graph)
    for node in compacted.graph.node:
        if node.op_type == "BatchNormalization":
            assert made_by[node.input[0]].op_type not in ("Conv", "ConvTranspose", "Gemm")


@pytest.mark.parametrize("name", ["resnet50", pytest.param("zfnet512", marks=pytest.mark.slow)])
def test_the_unused_initializer_is_gone(name):
    original = models.load(name)
    unused = {t.name for t in original.graph.initializer} - referenced_names(original.graph)
    assert len(unused) == 1 and next(iter(unused)).startswith("gpu_0/imagenet1k_blobs_queue")
    compacted = compaction_pipeline()(original).model
    assert not unused & ({t.name for t in compacted.graph.initializer} | {i.name for i in compacted.graph.input})


@pytest.mark.parametrize("name", ["resnet50", "inception_v2"])
def test_every_batchnorm_is_folded(name):
    original = models.load(name)
    assert op_counts(original)["BatchNormalization"] > 50
    assert op_counts(compaction_pipeline()(original).model)["BatchNormalization"] == 0


def test_densenet_keeps_only_the_batchnorms_after_concat_or_pool_each_merged_with_its_affine():
    original = models.load("densenet121")
    made_by = producers(original.graph)
    unfoldable = [n for n in original.graph.node if n.op_type == "BatchNormalization"
                  and made_by[n.input[0]].op_type in {"Concat"} | POOLS]
    assert len(unfoldable) == 62
    compacted = compaction_pipeline()(original).model
    ops = op_counts(compacted)
    assert ops["BatchNormalization"] == 62 and ops["Mul"] == ops["Add"] == 0
    made_by = producers(compacted.graph)
    readers = collections.defaultdict(list)
    for node in compacted.graph.node:
        for name in node.input:
            readers[name].append(node.op_type)
    for node in compacted.graph.node:
        if node.op_type == "BatchNormalization":
            assert made_by[node.input[0]].op_type in {"Concat"} | POOLS
            assert readers[node.output[0]] == ["Relu"]  # the Scale layer's Mul/Add were absorbed


def test_every_pass_leaves_a_valid_model():
    compaction_pipeline(validate=True)(load_reference("densenet121", raw=True))  # raises if a pass breaks it


def test_compaction_reaches_a_fixed_point_and_records_every_pass():
    original = models.load("densenet121")
    result = compaction_pipeline()(original)
    compacted, records = result.model, result.stats["records"]
    names = [record.name for record in records]
    order = ["NameNodesUniquely", "ConstantsToInitializers", "FoldConstants", "InlineConstantIf", "ClipBoundsToMinMax",
             "RemoveIdentityOps", "ExpressEinsum", "BoolCastToWhere", "FoldBatchNorm", "MergeAffineChains", "FuseLayerNorm", "FuseSwish",
             "RemoveDeadNodes", "RemoveUnusedInitializers",
             "DeduplicateInitializers"]
    assert names[:len(order)] == order
    assert not any(record.modified for record in records[-len(order):])
    assert records[0].bytes_before > records[-1].bytes_after
    assert compacted is not original and len(original.graph.node) > len(compacted.graph.node)  # functional
    again = compaction_pipeline()(compacted)
    assert not again.modified


@pytest.mark.parametrize("name", models.trained_names())
def test_compaction_of_the_trained_models_keeps_outputs(name):
    original = models.load(name)
    compacted = compaction_pipeline()(original).model
    assert_same_outputs(original, compacted, rtol=1e-5, atol=1e-5)
    validate_model(compacted)
    assert not op_counts(compacted).keys() & {"Constant", "Dropout", "Identity"}
