"""Example `fine_tune` hook with PyTorch (optional extra: `pip install torch==2.13.0`).

The user's own training loop runs on the *pruned ONNX model itself*: `OnnxModule` executes the
graph with `torch.nn.functional`, every float initializer becomes a trainable parameter (BN
running statistics become buffers updated in train mode), and `export_weights` writes the trained
values back into the ONNX initializers, so the graph, its names and its pruned shapes stay as
they are.  Supported ops: the trained zoo's (Conv, BatchNormalization, Relu, Clip, Sigmoid,
MaxPool, AveragePool, GlobalAveragePool, Add, Mul, Flatten, Gemm, Dropout, Identity, Constant).

    from onnx_tee.passes.prune.torch_hook import TorchFineTune
    hook = TorchFineTune(x_train, y_train, epochs=0.5, lr=0.01)
    outcome = prune_progressively(model, config, evaluate=..., fine_tune=hook)

Nothing in the core package imports this module.
"""
from __future__ import annotations

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import helper, numpy_helper
from torch import nn

from ..errors import UnsupportedModelError
from ..graph import attributes

BN_STATS = (3, 4)     # input indices of BatchNormalization's running mean / variance


def _pads(attrs: dict, rank: int) -> tuple:
    pads = attrs.get("pads", [0] * 2 * rank)
    if any(pads[i] != pads[i + rank] for i in range(rank)):
        raise UnsupportedModelError("asymmetric pads are not supported by the PyTorch example hook")
    return tuple(pads[:rank])


class OnnxModule(nn.Module):
    """Run an ONNX graph (the supported op subset) with torch; initializers are parameters."""

    def __init__(self, model: onnx.ModelProto):
        super().__init__()
        self.model = model
        self.names: dict[str, str] = {}                        # initializer name -> attribute name
        stats = {n.input[i] for n in model.graph.node if n.op_type == "BatchNormalization" for i in BN_STATS}
        for index, tensor in enumerate(model.graph.initializer):
            value = torch.from_numpy(numpy_helper.to_array(tensor).copy())
            key = f"w{index}"
            self.names[tensor.name] = key
            if value.is_floating_point() and tensor.name not in stats:
                self.register_parameter(key, nn.Parameter(value))
            else:
                self.register_buffer(key, value)
        unsupported = sorted({n.op_type for n in model.graph.node} - set(self.OPS))
        if unsupported:
            raise UnsupportedModelError(f"the PyTorch example hook does not run: {', '.join(unsupported)}")
        inits = {t.name for t in model.graph.initializer}
        self.input_name = next(i.name for i in model.graph.input if i.name not in inits)

    def tensor(self, values: dict, name: str) -> torch.Tensor:
        return getattr(self, self.names[name]) if name in self.names else values[name]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = {self.input_name: x}
        for node in self.model.graph.node:
            args = [self.tensor(values, n) if n else None for n in node.input]
            values[node.output[0]] = self.OPS[node.op_type](self, node, attributes(node), args)
        return values[self.model.graph.output[0].name]

    def _conv(self, node, a, args):
        rank = args[1].dim() - 2
        conv = F.conv2d if rank == 2 else F.conv1d
        return conv(args[0], args[1], args[2] if len(args) > 2 else None, tuple(a.get("strides", [1] * rank)),
                    _pads(a, rank), tuple(a.get("dilations", [1] * rank)), a.get("group", 1))

    def _batchnorm(self, node, a, args):
        return F.batch_norm(args[0], args[3], args[4], args[1], args[2], self.training, 1 - a.get("momentum", 0.9),
                            a.get("epsilon", 1e-5))

    def _pool(self, node, a, args):
        kernel = tuple(a["kernel_shape"])
        pool = F.max_pool2d if node.op_type == "MaxPool" else F.avg_pool2d
        extra = {} if node.op_type == "MaxPool" else {"count_include_pad": bool(a.get("count_include_pad", 0))}
        return pool(args[0], kernel, tuple(a.get("strides", kernel)), _pads(a, len(kernel)),
                    ceil_mode=bool(a.get("ceil_mode", 0)), **extra)

    def _gemm(self, node, a, args):
        x = args[0].t() if a.get("transA", 0) else args[0]
        w = args[1].t() if a.get("transB", 0) else args[1]
        out = a.get("alpha", 1.0) * (x @ w)
        return out + a.get("beta", 1.0) * args[2] if len(args) > 2 and args[2] is not None else out

    def _clip(self, node, a, args):
        low = args[1] if len(args) > 1 and args[1] is not None else a.get("min", None)
        high = args[2] if len(args) > 2 and args[2] is not None else a.get("max", None)
        return torch.clamp(args[0], low, high)

    OPS = {
        "Conv": _conv, "BatchNormalization": _batchnorm, "MaxPool": _pool, "AveragePool": _pool, "Gemm": _gemm,
        "Clip": _clip,
        "Relu": lambda self, n, a, args: F.relu(args[0]),
        "Sigmoid": lambda self, n, a, args: torch.sigmoid(args[0]),
        "GlobalAveragePool": lambda self, n, a, args: args[0].mean(dim=tuple(range(2, args[0].dim())), keepdim=True),
        "Add": lambda self, n, a, args: args[0] + args[1],
        "Mul": lambda self, n, a, args: args[0] * args[1],
        "Flatten": lambda self, n, a, args: torch.flatten(args[0], a.get("axis", 1)),
        "Dropout": lambda self, n, a, args: F.dropout(args[0], 0.0, False),
        "Identity": lambda self, n, a, args: args[0],
        "Constant": lambda self, n, a, args: torch.from_numpy(numpy_helper.to_array(a["value"]).copy()),
    }

    def export_weights(self) -> onnx.ModelProto:
        """A copy of the ONNX model with the module's current parameter and buffer values."""
        result = onnx.ModelProto()
        result.CopyFrom(self.model)
        for tensor in result.graph.initializer:
            value = getattr(self, self.names[tensor.name]).detach().cpu().numpy()
            tensor.CopyFrom(numpy_helper.from_array(value.astype(helper.tensor_dtype_to_np_dtype(tensor.data_type)),
                                                    tensor.name))
        return result


def fit(net: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: float, lr: float = 0.01, batch_size: int = 128,
        weight_decay: float = 5e-4, seed: int = 0, threads: int = 1) -> None:
    """Plain SGD (momentum 0.9) with cross-entropy for `epochs` passes over (x, y); leaves `net` in eval mode.

    Runs on `threads` intra-op threads (one by default, like the zoo's training: reproducible, and
    small convolutions gain little from more)."""
    torch.set_num_threads(threads)
    net.train()
    optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(x), generator=generator)
    for k in range(max(1, int(epochs * len(x) / batch_size))):
        start = (k * batch_size) % len(order)
        if start + batch_size > len(order):
            order = torch.randperm(len(x), generator=generator)
            start = 0
        batch = order[start:start + batch_size]
        optimizer.zero_grad()
        F.cross_entropy(net(x[batch]), y[batch]).backward()
        optimizer.step()
    net.eval()


class TorchFineTune:
    """`fine_tune(model, step) -> model`: `fit` on (x, y) for `epochs` per pruning step."""

    def __init__(self, x: np.ndarray, y: np.ndarray, *, epochs: float = 0.25, lr: float = 0.01,
                 batch_size: int = 128, weight_decay: float = 5e-4, seed: int = 0):
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)
        self.settings = {"epochs": epochs, "lr": lr, "batch_size": batch_size, "weight_decay": weight_decay}
        self.seed = seed

    def __call__(self, model: onnx.ModelProto, step) -> onnx.ModelProto:
        net = OnnxModule(model)
        fit(net, self.x, self.y, seed=self.seed + getattr(step, "index", 0), **self.settings)
        return net.export_weights()
