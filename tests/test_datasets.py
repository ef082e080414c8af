"""The offline data sets: IDX parsing, splits, normalisation, calibration sets, batched evaluation."""
import gzip

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import given, settings, strategies as st
from onnx import TensorProto, helper, numpy_helper

from onnx_tee.passes import datasets
from onnx_tee.passes.datasets import (DATASETS, calibration_set, evaluate_accuracy, load_dataset, predict_logits,
                             with_batch)
from onnx_tee.passes.errors import UserError

SIZES = {("fashion-mnist", "train"): 55000, ("fashion-mnist", "validation"): 5000, ("fashion-mnist", "test"): 10000,
         ("digits", "train"): 1293, ("digits", "validation"): 144, ("digits", "test"): 360}


def linear_classifier(sample_shape, classes=10, seed=0, reshape_target=None):
    """Flatten (or a Reshape to `reshape_target`) then MatMul + bias: a model whose scores numpy can compute."""
    rng = np.random.default_rng(seed)
    features = int(np.prod(sample_shape))
    weight = rng.normal(size=(features, classes)).astype(np.float32)
    bias = rng.normal(size=classes).astype(np.float32)
    inits = [numpy_helper.from_array(weight, "W"), numpy_helper.from_array(bias, "B")]
    if reshape_target is None:
        flatten = helper.make_node("Flatten", ["input"], ["flat"])
    else:
        inits.append(numpy_helper.from_array(np.array(reshape_target, np.int64), "target"))
        flatten = helper.make_node("Reshape", ["input", "target"], ["flat"])
    graph = helper.make_graph(
        [flatten, helper.make_node("MatMul", ["flat", "W"], ["mm"]), helper.make_node("Add", ["mm", "B"], ["scores"])],
        "linear", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, *sample_shape])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, classes])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), weight, bias


def small_cnn(seed=0):
    """Conv + BN + Relu + MaxPool + Flatten + Gemm on 1x8x8 inputs, random weights."""
    rng = np.random.default_rng(seed)
    arrays = {"w": rng.normal(size=(4, 1, 3, 3)), "scale": rng.uniform(0.5, 1.5, 4), "shift": rng.normal(size=4),
              "mean": rng.normal(size=4), "var": rng.uniform(0.5, 1.5, 4), "fc": rng.normal(size=(10, 64)),
              "fcb": rng.normal(size=10)}
    nodes = [helper.make_node("Conv", ["input", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "scale", "shift", "mean", "var"], ["b"]),
             helper.make_node("Relu", ["b"], ["r"]),
             helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "fc", "fcb"], ["logits"], transB=1)]
    graph = helper.make_graph(nodes, "cnn", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 8, 8])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])],
                              [numpy_helper.from_array(a.astype(np.float32), k) for k, a in arrays.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return onnx.shape_inference.infer_shapes(model)   # value_info with batch 1, which with_batch must drop


@pytest.mark.parametrize("name,split", list(SIZES))
def test_splits_have_documented_shapes_dtypes_and_labels(name, split):
    x, y = load_dataset(name, split)
    assert x.shape == (SIZES[name, split],) + DATASETS[name].sample_shape
    assert x.dtype == np.float32 and y.dtype == np.int64
    assert set(np.unique(y)) == set(range(10))
    assert np.isfinite(x).all()


@pytest.mark.parametrize("name", list(DATASETS))
def test_train_split_is_standardised_by_the_documented_mean_and_std(name):
    x, _ = load_dataset(name, "train")
    assert abs(float(x.mean())) < 1e-3
    assert abs(float(x.std()) - 1.0) < 1e-3


def test_fashion_mnist_matches_an_independent_idx_reading():
    raw = gzip.decompress((datasets.FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").read_bytes())
    labels = gzip.decompress((datasets.FASHION_MNIST_DIR / "t10k-labels-idx1-ubyte.gz").read_bytes())
    x, y = load_dataset("fashion-mnist", "test")
    first = np.array(list(raw[16:16 + 784]), np.float32).reshape(1, 28, 28)
    np.testing.assert_allclose(x[0], (first / 255 - 0.2860) / 0.3530, rtol=1e-6, atol=1e-6)
    assert y[:20].tolist() == list(labels[8:28])


def test_digits_split_is_fixed_and_partitions_the_data():
    from sklearn.datasets import load_digits
    images, _ = load_digits(return_X_y=True)
    parts = [load_dataset("digits", split).x for split in ("train", "validation", "test")]
    info = DATASETS["digits"]
    raw = np.concatenate(parts).reshape(len(images), -1) * info.std + info.mean
    rows = {tuple(np.round(r * 16).astype(int)) for r in raw}
    assert rows == {tuple(r.astype(int)) for r in images}


def test_fashion_mnist_validation_is_held_out_of_the_official_train_split():
    """validation = the official training images at the first 5,000 places of the documented permutation
    (in file order), train = all the others: disjoint, together the official 60,000."""
    raw = gzip.decompress((datasets.FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").read_bytes())
    official = np.frombuffer(raw, np.uint8, offset=16).reshape(60000, 784)
    held_out = np.zeros(60000, bool)
    held_out[np.random.default_rng(0).permutation(60000)[:5000]] = True
    info = DATASETS["fashion-mnist"]
    for split, rows in (("validation", held_out), ("train", ~held_out)):
        pixels = (load_dataset("fashion-mnist", split).x.reshape(-1, 784) * info.std + info.mean) * 255
        np.testing.assert_array_equal(np.round(pixels).astype(np.uint8), official[rows])


def test_returned_arrays_are_fresh_copies():
    x, _ = load_dataset("digits", "test")
    x[:] = 0
    assert load_dataset("digits", "test").x.any()


def test_calibration_set_draws_distinct_train_samples_by_seed():
    train, _ = load_dataset("digits", "train")
    calib = calibration_set("digits", 50, seed=3)
    assert calib.shape == (50, 1, 8, 8) and calib.dtype == np.float32
    flat_train = {row.tobytes() for row in train}
    assert all(sample.tobytes() in flat_train for sample in calib)
    assert len({sample.tobytes() for sample in calib}) == 50
    np.testing.assert_array_equal(calib, calibration_set("digits", 50, seed=3))
    assert not np.array_equal(calib, calibration_set("digits", 50, seed=4))
    assert calibration_set("fashion-mnist", 8).shape == (8, 1, 28, 28)


@pytest.mark.parametrize("n", [0, -1, 1294])
def test_calibration_set_size_out_of_range(n):
    with pytest.raises(UserError, match="1293 training samples"):
        calibration_set("digits", n)


def test_unknown_dataset_lists_the_known_names():
    for call in (lambda: load_dataset("cifar10", "test"), lambda: calibration_set("cifar10", 4),
                 lambda: evaluate_accuracy(linear_classifier((1, 8, 8))[0], "cifar10")):
        with pytest.raises(UserError, match="unknown data set 'cifar10'.*fashion-mnist, digits"):
            call()
    with pytest.raises(UserError, match="unknown split 'val': choose one of train, validation, test"):
        load_dataset("digits", "val")


def test_missing_fashion_mnist_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(datasets, "FASHION_MNIST_DIR", tmp_path)
    datasets._raw_split.cache_clear()
    try:
        with pytest.raises(UserError, match="apt-get install dataset-fashion-mnist"):
            load_dataset("fashion-mnist", "test")
    finally:
        datasets._raw_split.cache_clear()


@pytest.mark.parametrize("content,message", [(b"\x00\x00\x0d\x03", "bad magic"),
                                             (b"\x00\x00\x08\x01\x00\x00\x00\x05abc", "header promises"),
                                             (None, "gzip")])
def test_corrupt_idx_files_are_reported(tmp_path, content, message):
    path = tmp_path / "broken-idx1-ubyte.gz"
    path.write_bytes(b"not gzip" if content is None else gzip.compress(content))
    with pytest.raises(UserError, match=message):
        datasets._read_idx(path)


def test_with_batch_equals_per_sample_runs():
    model = small_cnn()
    x, _ = load_dataset("digits", "test")
    single = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    expected = np.concatenate([single.run(None, {"input": x[i:i + 1]})[0] for i in range(16)])
    batched = with_batch(model, 16)
    onnx.checker.check_model(batched, full_check=True)
    session = ort.InferenceSession(batched.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"input": x[:16]})[0], expected, rtol=1e-5, atol=1e-5)
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 1   # the original is untouched


@settings(max_examples=15, deadline=None)
@given(batch=st.integers(1, 40), limit=st.integers(1, 120))
def test_evaluate_accuracy_matches_numpy_for_any_batching(batch, limit):
    model, weight, bias = linear_classifier((1, 8, 8), seed=1)
    x, y = load_dataset("digits", "test")
    expected = np.mean((x[:limit].reshape(limit, -1) @ weight + bias).argmax(axis=1) == y[:limit])
    assert evaluate_accuracy(model, "digits", limit=limit, batch=batch) == pytest.approx(expected)
    np.testing.assert_allclose(predict_logits(model, x[:limit], batch=batch),
                               x[:limit].reshape(limit, -1) @ weight + bias, rtol=1e-4, atol=1e-4)


def test_with_batch_rejects_a_reshape_that_fixes_batch_one():
    model, _, _ = linear_classifier((1, 8, 8), reshape_target=[1, 64])
    with pytest.raises(UserError, match="Reshape node .* fixed target shape \\[1, 64\\]"):
        with_batch(model, 4)
    assert 0 <= evaluate_accuracy(model, "digits", batch=1) <= 1   # batch 1 needs no rewrite


def test_evaluate_accuracy_rejects_a_model_of_the_wrong_shape():
    with pytest.raises(UserError, match="input 'input' has shape \\[1, 1, 28, 28\\].*'digits'"):
        evaluate_accuracy(linear_classifier((1, 28, 28))[0], "digits")
    with pytest.raises(UserError, match="needs 10 class scores"):
        evaluate_accuracy(linear_classifier((1, 8, 8), classes=7)[0], "digits")
    with pytest.raises(UserError, match="limit must be at least 1"):
        evaluate_accuracy(linear_classifier((1, 8, 8))[0], "digits", limit=0)
