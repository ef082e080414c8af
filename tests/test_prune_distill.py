"""The built-in distillation recovery: numpy forward against onnxruntime, gradients against finite
differences, and accuracy recovered on a pruned trained model."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import helper, numpy_helper

from onnx_tee import models
from conftest import make_model, run_ort
from onnx_tee.passes.errors import UnsupportedModelError
from onnx_tee.passes.prune.backprop import GraphProgram
from onnx_tee.passes.prune.distill import Distillation, distillation_gradient, learning_rate


def small_net(c: int, stride: int, groups: int, pool: bool, clip: bool, seed: int) -> onnx.ModelProto:
    """x(2,3,8,8) -> Conv(c) -> BN -> Relu|Clip -> [MaxPool] -> Conv(c, groups) -> Add(skip) -> GAP -> Gemm(4)."""
    rng = np.random.default_rng(seed)

    def tensor(name, shape, low=None):
        value = rng.uniform(low, 1.5, shape) if low is not None else rng.standard_normal(shape) * 0.5
        return numpy_helper.from_array(value.astype(np.float32), name)

    inits = [tensor("w1", (c, 3, 3, 3)), tensor("b1", (c,)), tensor("g", (c,), 0.5), tensor("be", (c,)),
             tensor("m", (c,)), tensor("v", (c,), 0.5), tensor("w2", (c, c // groups, 3, 3)),
             tensor("fc", (4, c)), tensor("fcb", (4,))]
    inits += [numpy_helper.from_array(np.array(v, np.float32), n) for n, v in (("lo", -1.0), ("hi", 1.5))]
    act = (helper.make_node("Clip", ["n", "lo", "hi"], ["a"]) if clip
           else helper.make_node("Relu", ["n"], ["a"]))
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["h"], pads=[1, 1, 1, 1], strides=[stride, stride]),
             helper.make_node("BatchNormalization", ["h", "g", "be", "m", "v"], ["n"], epsilon=1e-3), act]
    last = "a"
    if pool:
        nodes.append(helper.make_node("MaxPool", ["a"], ["p"], kernel_shape=[2, 2], strides=[2, 2]))
        last = "p"
    nodes += [helper.make_node("Conv", [last, "w2"], ["h2"], pads=[1, 1, 1, 1], group=groups),
              helper.make_node("Add", ["h2", last], ["s"]),
              helper.make_node("GlobalAveragePool", ["s"], ["gap"]),
              helper.make_node("Flatten", ["gap"], ["f"]),
              helper.make_node("Gemm", ["f", "fc", "fcb"], ["y"], transB=1)]
    return make_model(nodes, [("x", [2, 3, 8, 8])], [("y", [2, 4])], inits)


def as_float64(program: GraphProgram) -> GraphProgram:
    program.params = {k: v.astype(np.float64) for k, v in program.params.items()}
    program.constants = {k: v.astype(np.float64) if v.dtype == np.float32 else v for k, v in program.constants.items()}
    return program


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(c=st.sampled_from([2, 4, 6]), stride=st.sampled_from([1, 2]), depthwise=st.booleans(), pool=st.booleans(),
       clip=st.booleans(), seed=st.integers(0, 1000))
def test_forward_matches_onnxruntime_and_gradients_match_finite_differences(c, stride, depthwise, pool, clip, seed):
    model = small_net(c, stride, c if depthwise else 1, pool, clip, seed)
    x = np.random.default_rng(seed).standard_normal((2, 3, 8, 8)).astype(np.float32)
    program = GraphProgram(model)
    np.testing.assert_allclose(program.forward(x, train=False), run_ort(model, {"x": x})["y"], rtol=1e-4, atol=1e-5)

    program = as_float64(GraphProgram(model))
    x64 = x.astype(np.float64)
    direction = np.random.default_rng(seed + 1).standard_normal((2, 4))
    program.forward(x64, train=True)
    grads = program.backward(direction)
    assert set(grads) == set(program.params)
    rng = np.random.default_rng(seed + 2)
    for name, value in program.params.items():
        index = tuple(int(rng.integers(0, n)) for n in value.shape)
        old, eps = value[index], 1e-6
        value[index] = old + eps
        plus = np.sum(program.forward(x64, train=True) * direction)
        value[index] = old - eps
        minus = np.sum(program.forward(x64, train=True) * direction)
        value[index] = old
        assert grads[name][index] == pytest.approx((plus - minus) / (2 * eps), rel=1e-4, abs=1e-6), name


@pytest.mark.parametrize("name", ["resnet_fmnist", "mobilenetv2_fmnist"])
def test_forward_matches_onnxruntime_on_trained_models(name):
    from onnx_tee.passes.datasets import load_dataset, predict_logits

    model = models.load(name)
    x = load_dataset("fashion-mnist", "test").x[:16]
    np.testing.assert_allclose(GraphProgram(model).forward(x, train=False), predict_logits(model, x),
                               rtol=1e-4, atol=1e-4)


def test_distillation_loss_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    z, teacher, y = rng.standard_normal((5, 4)), rng.standard_normal((5, 4)), rng.integers(0, 4, 5)
    _, grad = distillation_gradient(z, y, teacher, alpha=0.3, temperature=2.5)
    for index in np.ndindex(z.shape):
        step = np.zeros_like(z)
        step[index] = 1e-6
        numeric = (distillation_gradient(z + step, y, teacher, 0.3, 2.5)[0]
                   - distillation_gradient(z - step, y, teacher, 0.3, 2.5)[0]) / 2e-6
        assert grad[index] == pytest.approx(numeric, rel=1e-5, abs=1e-8)


def test_learning_rate_warms_up_then_decays_to_zero():
    rates = [learning_rate(0.1, k, 100) for k in range(100)]
    assert rates[0] < rates[14] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(rates[14:], rates[15:]))
    assert rates[-1] < 1e-3


def test_unsupported_op_is_named():
    model = make_model([helper.make_node("Softmax", ["x"], ["y"])], [("x", [1, 4])], [("y", [1, 4])], [])
    with pytest.raises(UnsupportedModelError, match="Softmax"):
        GraphProgram(model)


def test_distillation_recovers_a_pruned_model():
    """cnn_digits with half of its channels removed (no refit): distillation brings the accuracy back."""
    from onnx_tee.passes.datasets import evaluate_accuracy, load_dataset, predict_logits
    from onnx_tee.passes.prune.apply import prune_units
    from onnx_tee.passes.prune.groups import analyze

    model = models.load("cnn_digits")
    graph = analyze(model)
    removed = np.concatenate([g.units[: g.channels // 2] for g in graph.prunable_groups()])
    pruned, _ = prune_units(model, graph, removed)
    x, y = load_dataset("digits", "train")
    before = evaluate_accuracy(pruned, "digits")
    hook = Distillation(x, y, predict_logits(model, x), epochs=8, lr=0.05)
    recovered = hook(pruned, None)
    after = evaluate_accuracy(recovered, "digits")
    assert np.mean(hook.losses[-10:]) < np.mean(hook.losses[:10])
    assert after > before + 0.1 and after > evaluate_accuracy(model, "digits") - 0.02
    onnx.checker.check_model(recovered, full_check=True)


def test_prune_job_distils_after_each_step_and_once_more_at_the_end():
    """`prune cnn_digits --data digits --recovery distill --final-epochs 2`: the final distillation is the
    report's last step, at the last accepted step's FLOPs, and it does not lose validation accuracy."""
    from onnx_tee.passes.prune.job import PruneOptions, run_prune

    options = PruneOptions(data="digits", target_flops=0.6, max_accuracy_drop=0.2, recovery="distill",
                           finetune_epochs=1, final_epochs=2, calibration=200)
    outcome, report = run_prune(models.load("cnn_digits"), options, progress=False)
    *_, last_step, final = report["steps"]
    assert final["final_distillation_epochs"] == 2 and final["accepted"]
    assert final["flops"] == last_step["flops"] == report["final"]["flops"] <= 0.6 * report["baseline"]["flops"]
    assert final["accuracy"] >= last_step["accuracy"] - 0.01
    assert report["test_accuracy"]["drop"] < 0.05
    onnx.checker.check_model(outcome.model, full_check=True)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet_fmnist", "vgg_fmnist"])
def test_half_the_flops_within_one_point_on_the_test_split(name):
    """`prune NAME --data fashion-mnist --target-flops 0.5 --max-accuracy-drop 0.01 --recovery distill
    --finetune-epochs 0.5 --final-epochs 2` (about 10-25 minutes each on one core): every decision on data the
    model was not tested on (the held-out validation split decides when to stop; calibration and distillation
    read the train split), TEST read once at the end."""
    from onnx_tee.passes.prune.job import PruneOptions, run_prune

    options = PruneOptions(data="fashion-mnist", max_accuracy_drop=0.01, target_flops=0.5, recovery="distill",
                           finetune_epochs=0.5, final_epochs=2)
    _, report = run_prune(models.load(name), options, label=name, progress=False)
    assert report["ratios"]["flops"] <= 0.5
    assert report["test_accuracy"]["drop"] <= 0.01
