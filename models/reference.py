"""The nine reference architectures shipped in the onnx wheel, with seeded random weights.

The graphs in `onnx/backend/test/data/light/` keep the real structure of AlexNet, VGG-19,
ResNet-50, SqueezeNet, ShuffleNet, DenseNet-121, Inception v1/v2 and ZFNet-512 but produce
every weight with a `ConstantOfShape` (all weights equal).  `load_reference(name)` replaces
each such weight by deterministic random values chosen by the tensor's role, so that
activations stay finite and informative through the whole net:

- Conv / Gemm weights: He-normal, std = sqrt(2 / fan_in) (fan_in = C/group * kh * kw, or
  the Gemm's reduction size);
- biases and shifts (Conv/Gemm bias, BN bias, Add after BN): N(0, 0.01);
- BN scale U(0.5, 1.0), BN mean N(0, 0.1), BN var U(0.5, 1.5);
- per-channel Mul after BN (Caffe "Scale" layers): U(0.8, 1.2).

Deep residual nets still grow their activations block after block, which would saturate the
final Softmax into a one-hot vector.  The classifier layer feeding the Softmax (through
positively homogeneous ops: Relu, pools, Reshape, Flatten, Dropout) is therefore rescaled so
that the logits of a standard-normal input have standard deviation `LOGIT_STD`: the
network's function is unchanged up to that factor, and its outputs stay informative.

`raw=True` returns the graph exactly as shipped (ConstantOfShape weights included).
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

LIGHT_DIR = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"

REFERENCE_FILES = {
    "alexnet": "light_bvlc_alexnet.onnx",
    "vgg19": "light_vgg19.onnx",
    "resnet50": "light_resnet50.onnx",
    "squeezenet": "light_squeezenet.onnx",
    "shufflenet": "light_shufflenet.onnx",
    "densenet121": "light_densenet121.onnx",
    "inception_v1": "light_inception_v1.onnx",
    "inception_v2": "light_inception_v2.onnx",
    "zfnet512": "light_zfnet512.onnx",
}
REFERENCE_ALIASES = {"zfnet": "zfnet512", "bvlc_alexnet": "alexnet", "vgg-19": "vgg19", "resnet-50": "resnet50",
                     "densenet-121": "densenet121", "googlenet": "inception_v1"}


def _consumers(graph: onnx.GraphProto) -> dict[str, list[tuple[onnx.NodeProto, int]]]:
    uses: dict[str, list[tuple[onnx.NodeProto, int]]] = {}
    for node in graph.node:
        for index, name in enumerate(node.input):
            uses.setdefault(name, []).append((node, index))
    return uses


def _attr(node: onnx.NodeProto, name: str, default):
    for attr in node.attribute:
        if attr.name == name:
            return onnx.helper.get_attribute_value(attr)
    return default


def _role_values(shape: tuple[int, ...], node: onnx.NodeProto, index: int,
                 uses: dict[str, list[tuple[onnx.NodeProto, int]]], rng: np.random.Generator) -> np.ndarray:
    """Random values for a weight of `shape` consumed as input `index` of `node`."""
    op = node.op_type
    if op == "Unsqueeze":  # per-channel constant reshaped for broadcasting: look at its user
        user, user_index = uses[node.output[0]][0]
        return _role_values(shape, user, user_index, uses, rng)
    if op == "Conv" and index == 1:
        fan_in = int(np.prod(shape[1:]))
        return rng.standard_normal(shape, dtype=np.float32) * np.float32(np.sqrt(2.0 / fan_in))
    if op == "Gemm" and index == 1:
        fan_in = shape[1] if _attr(node, "transB", 0) else shape[0]
        return rng.standard_normal(shape, dtype=np.float32) * np.float32(np.sqrt(2.0 / fan_in))
    if op == "BatchNormalization":
        return {1: lambda: rng.uniform(0.5, 1.0, shape), 2: lambda: rng.normal(0.0, 0.01, shape),
                3: lambda: rng.normal(0.0, 0.1, shape), 4: lambda: rng.uniform(0.5, 1.5, shape)}[index]()
    if op == "Mul":
        return rng.uniform(0.8, 1.2, shape)
    return rng.normal(0.0, 0.01, shape)


LOGIT_STD = 3.0
_HOMOGENEOUS = {"Relu", "GlobalAveragePool", "AveragePool", "MaxPool", "Reshape", "Flatten", "Dropout"}


def _rescale_classifier(model: onnx.ModelProto, seed: int) -> None:
    """Scale the weight and bias of the layer feeding the Softmax so logits have std LOGIT_STD."""
    import onnxruntime as ort

    graph = model.graph
    producers = {out: node for node in graph.node for out in node.output}
    softmax = next((n for n in graph.node if n.op_type == "Softmax"), None)
    if softmax is None:
        return
    layer = producers.get(softmax.input[0])
    while layer is not None and layer.op_type in _HOMOGENEOUS:
        layer = producers.get(layer.input[0])
    if layer is None or layer.op_type not in ("Conv", "Gemm"):
        return
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    probe.graph.output.append(onnx.helper.make_empty_tensor_value_info(softmax.input[0]))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    feed = {}
    for arg in session.get_inputs():
        shape = [d if isinstance(d, int) else 1 for d in arg.shape]
        feed[arg.name] = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    logits = session.run([softmax.input[0]], feed)[0]
    scale = LOGIT_STD / max(float(np.std(logits)), 1e-30)
    inits = {t.name: t for t in graph.initializer}
    for name in layer.input[1:3]:
        if name in inits:
            inits[name].CopyFrom(numpy_helper.from_array(numpy_helper.to_array(inits[name]) * np.float32(scale), name))


def reference_path(name: str) -> Path:
    return LIGHT_DIR / REFERENCE_FILES[name]


def load_reference(name: str, *, seed: int = 0, raw: bool = False) -> onnx.ModelProto:
    """Load reference architecture `name` (see REFERENCE_FILES) with seeded random weights.

    With `raw=True` the shipped graph is returned untouched.  Models are built once per
    process and copied on every call (VGG-19 has 143 M weights).
    """
    model = onnx.ModelProto()
    model.CopyFrom(_build_reference(name, seed, raw))
    return model


@functools.lru_cache(maxsize=4)
def _build_reference(name: str, seed: int, raw: bool) -> onnx.ModelProto:
    model = onnx.load(str(reference_path(name)))
    if raw:
        return model
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    uses = _consumers(graph)
    rng = np.random.default_rng(seed)
    kept_nodes, new_inits, dropped = [], [], set()
    for node in graph.node:
        if node.op_type == "ConstantOfShape" and node.input[0] in inits:
            shape = tuple(int(d) for d in numpy_helper.to_array(inits[node.input[0]]))
            consumer, index = uses[node.output[0]][0]
            values = _role_values(shape, consumer, index, uses, rng).astype(np.float32)
            new_inits.append(numpy_helper.from_array(values, node.output[0]))
            dropped.add(node.input[0])
        else:
            kept_nodes.append(node)
    del graph.node[:]
    graph.node.extend(kept_nodes)
    remaining = [t for t in graph.initializer if t.name not in dropped]
    del graph.initializer[:]
    graph.initializer.extend(remaining + new_inits)
    # IR 3 lists initializers among the graph inputs: keep that convention consistent.
    init_names = {t.name for t in graph.initializer}
    kept_inputs = [i for i in graph.input if i.name not in dropped]
    del graph.input[:]
    graph.input.extend(kept_inputs)
    for tensor in new_inits:
        graph.input.append(onnx.helper.make_tensor_value_info(tensor.name, tensor.data_type, list(tensor.dims)))
    assert all(i.name in init_names or i.type.tensor_type.elem_type for i in graph.input)
    _rescale_classifier(model, seed)
    model.doc_string = f"{name} reference architecture with seeded random weights (seed={seed})"
    return model
