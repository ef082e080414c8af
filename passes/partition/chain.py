"""Run partition models one after another in onnxruntime, as the TA runs their blobs.

    outputs = run_chain(partition_models, {"data_0": x}, output_names)

Each partition reads its graph inputs from the tensors seen so far (model inputs and earlier
partitions' outputs) and adds its outputs to them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import onnx
import onnxruntime as ort


def session(model: onnx.ModelProto | str | Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    source = str(model) if isinstance(model, (str, Path)) else model.SerializeToString()
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def run_chain(partitions: Iterable[onnx.ModelProto | str | Path], feeds: Mapping[str, np.ndarray],
              outputs: Sequence[str]) -> dict[str, np.ndarray]:
    """Run the partitions in order from `feeds`; return the tensors named in `outputs`."""
    tensors = dict(feeds)
    for part in partitions:
        sess = session(part)
        names = [o.name for o in sess.get_outputs()]
        values = sess.run(names, {i.name: tensors[i.name] for i in sess.get_inputs()})
        tensors.update(zip(names, values))
    return {name: tensors[name] for name in outputs}


def run_whole(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The unpartitioned model's outputs, for comparison."""
    sess = session(model)
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, dict(feeds))))
