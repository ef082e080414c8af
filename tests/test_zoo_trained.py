"""The trained zoo: committed ONNX files are valid, in the documented form, and as accurate as recorded."""
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from onnx_tee import models
from onnx_tee.models import trained_dataset
from onnx_tee.passes.datasets import dataset_info, evaluate_accuracy, load_dataset, with_batch
from onnx_tee.passes.errors import UserError

TRAINED_DIR = Path(models.__file__).parent / "trained"
METRICS = json.loads((TRAINED_DIR / "metrics.json").read_text())
FASHION = ["lenet5_fmnist", "vgg_fmnist", "resnet_fmnist", "mobilenetv2_fmnist"]
SUBSET = 1000
# 2.5 points: about 2.5 standard deviations of a 1,000-sample estimate of a ~90% accuracy.
SUBSET_TOLERANCE = 0.025


def op_types(model):
    return {node.op_type for node in model.graph.node}


def shapes_of(model):
    return {t.name: list(t.dims) for t in model.graph.initializer}


def test_the_four_fashion_mnist_architectures_are_committed_with_metrics():
    assert set(FASHION) <= set(models.trained_names())
    assert set(METRICS) == set(models.trained_names())
    for name in FASHION:
        assert METRICS[name]["dataset"] == "fashion-mnist" and METRICS[name]["test_samples"] == 10000


def test_trained_dataset_names_each_models_data():
    assert trained_dataset("resnet_fmnist") == "fashion-mnist"
    assert trained_dataset("cnn_digits") == "digits"
    with pytest.raises(UserError, match="not a trained zoo model: choose one of cnn_digits, lenet5_fmnist"):
        trained_dataset("resnet50")


@pytest.mark.parametrize("name", sorted(METRICS))
def test_trained_model_is_valid_and_in_the_documented_form(name):
    model = models.load(name)
    onnx.checker.check_model(model, full_check=True)
    info = dataset_info(METRICS[name]["dataset"])
    assert [i.name for i in model.graph.input] == ["input"]
    tensor_type = model.graph.input[0].type.tensor_type
    assert tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert [d.dim_value for d in tensor_type.shape.dim] == [1, *info.sample_shape]
    assert [d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim] == [1, info.num_classes]
    assert {o.domain: o.version for o in model.opset_import}[""] == 17
    assert "Reshape" not in op_types(model) and "Flatten" in op_types(model)
    assert "Identity" not in op_types(model)   # every parameter is an initializer of its own
    assert (TRAINED_DIR / f"{name}.onnx").stat().st_size < 2 * 2**20


def test_architectures_have_their_defining_ops():
    resnet, mobilenet, vgg = (models.load(n) for n in ("resnet_fmnist", "mobilenetv2_fmnist", "vgg_fmnist"))
    assert {"Add", "BatchNormalization"} <= op_types(resnet)
    assert {"BatchNormalization", "MaxPool"} <= op_types(vgg)
    assert {"Add", "Clip", "BatchNormalization"} <= op_types(mobilenet)
    shapes = shapes_of(mobilenet)
    depthwise = [n for n in mobilenet.graph.node if n.op_type == "Conv"
                 and onnx.helper.get_node_attr_value(n, "group") > 1]
    assert len(depthwise) == 5
    for node in depthwise:   # one input channel per group: weight (C, 1, 3, 3) with group C
        assert shapes[node.input[1]][1:] == [1, 3, 3]
        assert shapes[node.input[1]][0] == onnx.helper.get_node_attr_value(node, "group")
    resnet_shapes = shapes_of(resnet)
    shortcuts = [n for n in resnet.graph.node if n.op_type == "Conv" and resnet_shapes[n.input[1]][2:] == [1, 1]]
    assert len(shortcuts) == 2


@pytest.mark.parametrize("name", sorted(METRICS))
def test_accuracy_on_a_test_subset_matches_the_record(name):
    recorded = METRICS[name]
    measured = evaluate_accuracy(models.load(name), recorded["dataset"], "test", limit=SUBSET)
    whole_split = recorded["test_samples"] <= SUBSET    # digits: 360 test samples
    assert measured == pytest.approx(recorded["test_accuracy"], abs=1e-4 if whole_split else SUBSET_TOLERANCE)
    assert measured > 0.85


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(METRICS))
def test_accuracy_on_the_whole_test_split_reproduces_the_record(name):
    recorded = METRICS[name]
    measured = evaluate_accuracy(models.load(name), recorded["dataset"], "test")
    assert measured == pytest.approx(recorded["test_accuracy"], abs=1e-4)


def test_model_card_shows_the_recorded_accuracies():
    card = (TRAINED_DIR.parent / "MODEL_CARD.md").read_text()
    for name, recorded in METRICS.items():
        row = next(line for line in card.splitlines() if line.startswith(f"| `{name}` |"))
        assert f"{100 * recorded['test_accuracy']:.2f}%" in row


@pytest.mark.parametrize("name", ["resnet_fmnist", "mobilenetv2_fmnist"])
def test_batched_trained_model_equals_per_sample_runs(name):
    model = models.load(name)
    x, _ = load_dataset("fashion-mnist", "test")
    single = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    expected = np.concatenate([single.run(None, {"input": x[i:i + 1]})[0] for i in range(12)])
    batched = ort.InferenceSession(with_batch(model, 12).SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(batched.run(None, {"input": x[:12]})[0], expected, rtol=1e-4, atol=1e-4)


def structure(model):
    """Each node's op, attributes and weight shapes, in order."""
    shapes = shapes_of(model)
    return [(n.op_type, sorted(onnx.helper.printable_attribute(a) for a in n.attribute),
             [shapes.get(i) for i in n.input]) for n in model.graph.node]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(METRICS))
def test_training_definitions_export_the_committed_graph(name):
    """The architectures in models/training still describe the committed models."""
    pytest.importorskip("torch")
    from onnx_tee.models.training import build_model, export_onnx
    fresh = export_onnx(build_model(name), None, dataset_info(METRICS[name]["dataset"]).sample_shape)
    assert structure(fresh) == structure(models.load(name))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(METRICS))
def test_committed_weights_load_back_into_pytorch(name):
    pytest.importorskip("torch")
    from onnx_tee.models.training import load_trained, predict
    from onnx_tee.passes.datasets import predict_logits
    x, _ = load_dataset(METRICS[name]["dataset"], "test")
    np.testing.assert_allclose(predict(load_trained(name), x[:64]), predict_logits(models.load(name), x[:64]),
                               rtol=1e-4, atol=1e-4)
