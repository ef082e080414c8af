"""Built-in, framework-free recovery with labels: knowledge distillation from the unpruned model.

After the least-squares refit of a pruning step, the pruned network is trained for a fraction
of an epoch on the labelled train split (never the held-out validation split), by SGD in numpy
(`backprop.GraphProgram`), against a mix of the labels and the original model's logits
(Hinton et al., 2015)::

    loss = (1 - a) CE(softmax(z), y) + a T^2 KL(softmax(z_orig / T) || softmax(z / T))
    d loss / d z = ((1 - a) (softmax(z) - onehot(y)) + a T (softmax(z / T) - softmax(z_orig / T))) / batch

SGD with momentum 0.9 and weight decay (not on BN scales / biases); the learning rate follows
one cycle per call: linear warm-up over the first 15% of the batches, then a cosine down to 0.
BatchNormalization runs in inference form (running statistics fixed, scale and bias learnt).
The original logits are computed once, by onnxruntime.
"""
from __future__ import annotations

import math

import numpy as np
import onnx

from .backprop import GraphProgram

WARMUP = 0.15


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def distillation_gradient(z: np.ndarray, y: np.ndarray, teacher: np.ndarray, alpha: float,
                          temperature: float) -> tuple[float, np.ndarray]:
    """The loss of the module docstring (mean over the batch) and its gradient with respect to z."""
    n = len(z)
    p = _softmax(z)
    onehot = np.zeros_like(p)
    onehot[np.arange(n), y] = 1.0
    p_t, q_t = _softmax(teacher / temperature), _softmax(z / temperature)
    ce = -np.mean(np.log(np.maximum(p[np.arange(n), y], 1e-30)))
    kl = np.mean(np.sum(p_t * (np.log(np.maximum(p_t, 1e-30)) - np.log(np.maximum(q_t, 1e-30))), axis=1))
    loss = (1 - alpha) * ce + alpha * temperature ** 2 * kl
    grad = ((1 - alpha) * (p - onehot) + alpha * temperature * (q_t - p_t)) / n
    return float(loss), grad.astype(z.dtype)


def learning_rate(peak: float, k: int, total: int) -> float:
    """One cycle: linear warm-up over WARMUP of the batches, then a cosine from `peak` down to 0."""
    warm = max(1, int(WARMUP * total))
    if k < warm:
        return peak * (k + 1) / warm
    return 0.5 * peak * (1 + math.cos(math.pi * (k - warm) / max(1, total - warm)))


class Distillation:
    """`fine_tune(model, step) -> model`: distil the original model into the pruned one.

    x, y: labelled samples of the train split (not the validation split); `teacher`: the original
    model's logits for x.  `epochs` passes over (x, y) per call.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, teacher: np.ndarray, *, epochs: float = 0.5,
                 lr: float = 0.02, batch_size: int = 128, weight_decay: float = 5e-4, alpha: float = 0.5,
                 temperature: float = 4.0, seed: int = 0):
        self.x, self.y, self.teacher = x, y, teacher.astype(np.float32)
        self.epochs, self.lr, self.batch_size = epochs, lr, batch_size
        self.weight_decay, self.alpha, self.temperature = weight_decay, alpha, temperature
        self.seed = seed
        self.losses: list[float] = []

    def __call__(self, model: onnx.ModelProto, step) -> onnx.ModelProto:
        program = GraphProgram(model)
        decayed = {n for n in program.params if program.params[n].ndim > 1}        # weights, not biases / BN
        velocity = {n: np.zeros_like(v) for n, v in program.params.items()}
        rng = np.random.default_rng(self.seed + getattr(step, "index", 0))
        total = max(1, int(self.epochs * len(self.x) / self.batch_size))
        order = rng.permutation(len(self.x))
        position = 0
        for k in range(total):
            if position + self.batch_size > len(order):
                order, position = rng.permutation(len(self.x)), 0
            batch = order[position:position + self.batch_size]
            position += self.batch_size
            z = program.forward(self.x[batch])
            loss, dz = distillation_gradient(z, self.y[batch], self.teacher[batch], self.alpha, self.temperature)
            grads = program.backward(dz)
            rate = learning_rate(self.lr, k, total)
            for name, grad in grads.items():
                if name in decayed:
                    grad = grad + self.weight_decay * program.params[name]
                velocity[name] = 0.9 * velocity[name] + grad
                program.params[name] = program.params[name] - rate * velocity[name]
            self.losses.append(loss)
        return program.export()
