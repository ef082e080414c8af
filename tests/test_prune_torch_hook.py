"""The example PyTorch fine-tune hook: it runs the pruned ONNX graph itself and writes weights back."""
from __future__ import annotations

import numpy as np
import onnx
import pytest

from onnx_tee import models
from conftest import random_inputs, run_ort

torch = pytest.importorskip("torch")

from onnx_tee.passes.prune.schedule import ScheduleConfig, prune_progressively  # noqa: E402
from onnx_tee.passes.prune.torch_hook import OnnxModule, TorchFineTune  # noqa: E402

TRAINED = [n for n in ("resnet_fmnist", "mobilenetv2_fmnist", "vgg_fmnist") if n in models.trained_names()]


@pytest.mark.skipif(not TRAINED, reason="no trained zoo model yet")
@pytest.mark.parametrize("name", TRAINED)
def test_onnx_module_matches_onnxruntime_and_round_trips(name):
    model = models.load(name)
    feeds = random_inputs(model, seed=0)
    with torch.no_grad():
        net = OnnxModule(model).eval()
        ours = net(torch.from_numpy(next(iter(feeds.values())))).numpy()
    np.testing.assert_allclose(ours, next(iter(run_ort(model, feeds).values())), rtol=1e-4, atol=1e-4)
    exported = net.export_weights()
    onnx.checker.check_model(exported, full_check=True)
    assert all(np.array_equal(onnx.numpy_helper.to_array(a), onnx.numpy_helper.to_array(b))
               for a, b in zip(model.graph.initializer, exported.graph.initializer))


@pytest.mark.slow
@pytest.mark.skipif("resnet_fmnist" not in models.trained_names(), reason="trained ResNet not in the zoo")
def test_torch_fine_tune_recovers_accuracy_after_pruning():
    from onnx_tee.passes.datasets import load_dataset, predict_logits

    model = models.load("resnet_fmnist")
    x, y = load_dataset("fashion-mnist", "train")
    x_val, y_val = x[-2000:], y[-2000:]
    accuracy = lambda m: float(np.mean(predict_logits(m, x_val).argmax(axis=1) == y_val))  # noqa: E731
    config = ScheduleConfig(fraction=0.4, max_steps=1)
    pruned = prune_progressively(model, config, progress=False).model
    tuned = prune_progressively(model, config, fine_tune=TorchFineTune(x[:20000], y[:20000], epochs=0.5),
                                progress=False).model
    assert accuracy(tuned) > accuracy(pruned) + 0.02
    assert [tuple(t.dims) for t in tuned.graph.initializer] == [tuple(t.dims) for t in pruned.graph.initializer]
