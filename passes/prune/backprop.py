"""Forward and reverse-mode gradients of an ONNX graph in numpy, for the built-in distillation hook.

A small, framework-free executor for the op subset of the trained zoo's pruned graphs:
Conv (any group count, unit dilation), BatchNormalization, Relu, Clip, MaxPool,
GlobalAveragePool, Add, Flatten, Gemm (transA = 0), Dropout, Identity and Constant.  `forward` keeps
what each op's backward needs; `backward(d_output)` returns d loss / d parameter for every
trainable initializer:

    Conv          y = W * x + b       dW = sum dy (x) patches,  dx = col2im(W^T dy),  db = sum dy
    BN            y = g x_hat + beta,  x_hat = (x - m) / sqrt(v + eps)   (m, v: the batch's statistics while
                  training, the running ones otherwise; training moves the running ones by `momentum`)
                  dg = sum dy x_hat,  dbeta = sum dy,  dx = g / sqrt(v + eps) (dy - mean dy - x_hat mean(dy x_hat))
    Gemm          y = alpha x B + beta c                     dB = alpha x^T dy,  dx = alpha dy B^T
    Relu / Clip   dx = dy where the input is inside the open range
    MaxPool       dx gets dy at the (first) arg-max of each window
    GAP, Flatten, Add  (un)broadcast and reshape

Trainable: Conv weights and biases, Gemm B and C, BN scale and bias (float initializers).  The
running means and variances, shape literals and everything else stay constant.
"""
from __future__ import annotations

import numpy as np
import onnx
from numpy.lib.stride_tricks import sliding_window_view
from onnx import numpy_helper

from ..errors import UnsupportedModelError
from ..graph import attributes

TRAINABLE_INPUTS = {"Conv": (1, 2), "Gemm": (1, 2), "BatchNormalization": (1, 2)}


def _unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum `grad` over the axes that broadcasting expanded from `shape`."""
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(axis=axes, keepdims=True) if axes else grad


def _windows(x: np.ndarray, kernel, strides, pads, fill: float = 0.0) -> np.ndarray:
    """(N, C, OH, OW, KH, KW) view of the padded input's windows."""
    top, left, bottom, right = pads
    padded = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=fill)
    return sliding_window_view(padded, tuple(kernel), axis=(2, 3))[:, :, ::strides[0], ::strides[1]]


def _scatter_windows(d_windows: np.ndarray, x_shape, kernel, strides, pads) -> np.ndarray:
    """The adjoint of `_windows`: add each window's gradient back onto the input (col2im)."""
    top, left, bottom, right = pads
    n, c, h, w = x_shape
    grad = np.zeros((n, c, h + top + bottom, w + left + right), dtype=d_windows.dtype)
    oh, ow = d_windows.shape[2:4]
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            grad[:, :, i:i + strides[0] * oh:strides[0], j:j + strides[1] * ow:strides[1]] += d_windows[..., i, j]
    return grad[:, :, top:top + h, left:left + w]


class GraphProgram:
    """Run an ONNX model forward and backward in numpy; `params` holds the trainable values."""

    def __init__(self, model: onnx.ModelProto):
        self.model = model
        unsupported = sorted({n.op_type for n in model.graph.node} - set(self._FORWARD) - {"Constant"})
        if unsupported:
            raise UnsupportedModelError(f"the built-in distillation hook does not run: {', '.join(unsupported)} "
                                        f"(use --recovery least-squares)")
        self.constants = {t.name: numpy_helper.to_array(t).copy() for t in model.graph.initializer}
        self.constants.update({n.output[0]: numpy_helper.to_array(attributes(n)["value"]).copy()
                               for n in model.graph.node if n.op_type == "Constant"})
        for node in model.graph.node:
            attrs = attributes(node)
            if node.op_type == "Conv" and any(d != 1 for d in attrs.get("dilations", [1, 1])):
                raise UnsupportedModelError(f"Conv '{node.name}': the distillation hook needs dilation 1")
            if node.op_type == "Conv" and attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
                raise UnsupportedModelError(f"Conv '{node.name}': the distillation hook needs explicit pads")
            if node.op_type == "Gemm" and attrs.get("transA", 0):
                raise UnsupportedModelError(f"Gemm '{node.name}': the distillation hook needs transA = 0")
        self.trainable = sorted({node.input[i] for node in model.graph.node
                                 for i in TRAINABLE_INPUTS.get(node.op_type, ())
                                 if i < len(node.input) and node.input[i] in self.constants
                                 and self.constants[node.input[i]].dtype == np.float32})
        self.params = {name: self.constants.pop(name) for name in self.trainable}
        self.statistics = {n.input[i] for n in model.graph.node if n.op_type == "BatchNormalization" for i in (3, 4)}
        self.training = False
        inits = {t.name for t in model.graph.initializer}
        self.input_name = next(i.name for i in model.graph.input if i.name not in inits)
        self.output_name = model.graph.output[0].name
        self._tape: list = []

    def value(self, values: dict, name: str) -> np.ndarray:
        if name in self.params:
            return self.params[name]
        return self.constants[name] if name in self.constants else values[name]

    # -- forward ----------------------------------------------------------------------------------
    def forward(self, x: np.ndarray, *, train: bool = True) -> np.ndarray:
        """Logits for x; `train`: batch statistics in BatchNormalization (running ones updated) and a tape
        for `backward`, else the running statistics and no tape."""
        self.training = train
        values = {self.input_name: x}
        self._tape = []
        for node in self.model.graph.node:
            if node.op_type == "Constant":
                continue
            args = [self.value(values, n) if n else None for n in node.input]
            out, saved = self._FORWARD[node.op_type](self, node, attributes(node), args)
            values[node.output[0]] = out
            if train:
                self._tape.append((node, saved))
        return values[self.output_name]

    def _conv(self, node, a, args):
        """im2col per group: rows = output positions (n, oh, ow), columns = (c, kh, kw)."""
        x, w = args[0], args[1]
        groups = a.get("group", 1)
        kernel, strides, pads = w.shape[2:], a.get("strides", [1, 1]), a.get("pads", [0, 0, 0, 0])
        win = _windows(x, kernel, strides, pads)
        n, _, oh, ow = win.shape[:4]
        ci, co = x.shape[1] // groups, w.shape[0] // groups
        cols = [np.ascontiguousarray(win[:, g * ci:(g + 1) * ci].transpose(0, 2, 3, 1, 4, 5)).reshape(n * oh * ow, -1)
                for g in range(groups)]
        out = np.concatenate([c @ w[g * co:(g + 1) * co].reshape(co, -1).T for g, c in enumerate(cols)], axis=1)
        out = out.reshape(n, oh, ow, -1).transpose(0, 3, 1, 2)
        if len(args) > 2 and args[2] is not None:
            out = out + args[2].reshape(1, -1, 1, 1)
        return np.ascontiguousarray(out), (x.shape, cols, w, kernel, strides, pads)

    def _batchnorm(self, node, a, args):
        x, scale, bias, mean, var = args
        axes = tuple(i for i in range(x.ndim) if i != 1)
        shape = (1, -1) + (1,) * (x.ndim - 2)
        if self.training:                          # batch statistics; running ones follow with `momentum`
            mean, var = x.mean(axis=axes), x.var(axis=axes)
            momentum = a.get("momentum", 0.9)
            for index, batch in ((3, mean), (4, var * (x.size / len(mean)) / max(1, x.size / len(mean) - 1))):
                running = self.constants[node.input[index]]
                running *= momentum
                running += (1 - momentum) * batch.astype(running.dtype)
        inv = 1.0 / np.sqrt(var + a.get("epsilon", 1e-5))
        x_hat = (x - mean.reshape(shape)) * inv.reshape(shape)
        return x_hat * scale.reshape(shape) + bias.reshape(shape), (x_hat, scale * inv, shape)

    def _relu(self, node, a, args):
        return np.maximum(args[0], 0), args[0] > 0

    def _clip(self, node, a, args):
        low = args[1] if len(args) > 1 and args[1] is not None else a.get("min", -np.inf)
        high = args[2] if len(args) > 2 and args[2] is not None else a.get("max", np.inf)
        return np.clip(args[0], low, high), (args[0] > low) & (args[0] < high)

    def _maxpool(self, node, a, args):
        x = args[0]
        kernel, strides = a["kernel_shape"], a.get("strides", a["kernel_shape"])
        pads = a.get("pads", [0, 0, 0, 0])
        if a.get("ceil_mode", 0) or any(d != 1 for d in a.get("dilations", [1, 1])):
            raise UnsupportedModelError("the distillation hook's MaxPool needs ceil_mode 0 and dilation 1")
        win = _windows(x, kernel, strides, pads, fill=-np.inf)
        flat = win.reshape(win.shape[:4] + (-1,))
        arg = flat.argmax(axis=-1)
        out = np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]
        return out, (x.shape, arg, kernel, strides, pads)

    def _gap(self, node, a, args):
        return args[0].mean(axis=(2, 3), keepdims=True), args[0].shape

    def _add(self, node, a, args):
        return args[0] + args[1], (args[0].shape, args[1].shape)

    def _flatten(self, node, a, args):
        axis = a.get("axis", 1)
        x = args[0]
        return x.reshape(int(np.prod(x.shape[:axis])), -1), x.shape

    def _gemm(self, node, a, args):
        x, b = args[0], args[1]
        w = b.T if a.get("transB", 0) else b
        out = a.get("alpha", 1.0) * (x @ w)
        if len(args) > 2 and args[2] is not None:
            out = out + a.get("beta", 1.0) * args[2]
        return out, (x, w)

    def _identity(self, node, a, args):
        return args[0], None

    _FORWARD = {"Conv": _conv, "BatchNormalization": _batchnorm, "Relu": _relu, "Clip": _clip, "MaxPool": _maxpool,
                "GlobalAveragePool": _gap, "Add": _add, "Flatten": _flatten, "Gemm": _gemm, "Dropout": _identity,
                "Identity": _identity}

    # -- backward ---------------------------------------------------------------------------------
    def backward(self, d_output: np.ndarray) -> dict[str, np.ndarray]:
        """Gradients of the trainable parameters, given d loss / d output of the last `forward`."""
        grads = {self.output_name: d_output}
        params: dict[str, np.ndarray] = {}

        def give(name: str, value: np.ndarray) -> None:
            if not name:
                return
            store = params if name in self.params else grads
            if name in self.params or name not in self.constants:
                store[name] = store[name] + value if name in store else value

        for node, saved in reversed(self._tape):
            dy = grads.pop(node.output[0], None)
            if dy is None:
                continue
            a = attributes(node)
            op = node.op_type
            if op == "Conv":
                x_shape, cols, w, kernel, strides, pads = saved
                groups = len(cols)
                ci, co = x_shape[1] // groups, w.shape[0] // groups
                dy_rows = dy.transpose(0, 2, 3, 1).reshape(-1, w.shape[0])
                give(node.input[1], np.concatenate([(dy_rows[:, g * co:(g + 1) * co].T @ c).reshape(co, ci, *kernel)
                                                    for g, c in enumerate(cols)]))
                if len(node.input) > 2:
                    give(node.input[2], dy_rows.sum(axis=0))
                if node.input[0] not in self.constants and node.input[0] != self.input_name:
                    n, oh, ow = dy.shape[0], dy.shape[2], dy.shape[3]
                    d_cols = np.concatenate([(dy_rows[:, g * co:(g + 1) * co] @ w[g * co:(g + 1) * co].reshape(co, -1))
                                             .reshape(n, oh, ow, ci, *kernel) for g in range(groups)], axis=3)
                    give(node.input[0], _scatter_windows(d_cols.transpose(0, 3, 1, 2, 4, 5), x_shape, kernel,
                                                         strides, pads))
            elif op == "BatchNormalization":      # batch statistics: x_hat depends on the whole batch
                x_hat, gain, shape = saved
                axes = tuple(i for i in range(dy.ndim) if i != 1)
                give(node.input[1], (dy * x_hat).sum(axis=axes))
                give(node.input[2], dy.sum(axis=axes))
                d_hat = dy * gain.reshape(shape)
                give(node.input[0], d_hat - d_hat.mean(axis=axes, keepdims=True)
                     - x_hat * (d_hat * x_hat).mean(axis=axes, keepdims=True))
            elif op in ("Relu", "Clip"):
                give(node.input[0], dy * saved)
            elif op == "MaxPool":
                x_shape, arg, kernel, strides, pads = saved
                taps = np.arange(kernel[0] * kernel[1]).reshape(kernel[0], kernel[1])
                d_win = (arg[..., None, None] == taps) * dy[..., None, None]
                give(node.input[0], _scatter_windows(d_win, x_shape, kernel, strides, pads))
            elif op == "GlobalAveragePool":
                give(node.input[0], np.broadcast_to(dy / (saved[2] * saved[3]), saved).copy())
            elif op == "Add":
                give(node.input[0], _unbroadcast(dy, saved[0]))
                give(node.input[1], _unbroadcast(dy, saved[1]))
            elif op == "Flatten":
                give(node.input[0], dy.reshape(saved))
            elif op == "Gemm":
                x, w = saved
                alpha, beta = a.get("alpha", 1.0), a.get("beta", 1.0)
                dw = alpha * (x.T @ dy)
                give(node.input[1], dw.T if a.get("transB", 0) else dw)
                if len(node.input) > 2 and node.input[2] in self.params:
                    give(node.input[2], _unbroadcast(beta * dy, self.params[node.input[2]].shape))
                give(node.input[0], alpha * (dy @ w.T))
            else:                                                   # Dropout, Identity
                give(node.input[0], dy)
        return params

    def export(self) -> onnx.ModelProto:
        """A copy of the model with the current parameter values."""
        result = onnx.ModelProto()
        result.CopyFrom(self.model)
        for tensor in result.graph.initializer:
            if tensor.name in self.params or tensor.name in self.statistics:
                value = self.params.get(tensor.name, self.constants.get(tensor.name))
                tensor.CopyFrom(numpy_helper.from_array(value.astype(np.float32), tensor.name))
        return result
