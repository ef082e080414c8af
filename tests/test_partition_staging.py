"""The staging buffer is one tile the TA copies every chunk through, whatever the chunk.

- every strategy plans with `STAGING_BYTES`; a size the caller gives is kept;
- a chunk of any length (shorter than the staging buffer, not a multiple of it, the client's
  default, the whole blob in one command) loads the same body: the same outputs bit for bit, and
  the memory measured while loading and running is the plan's, the staging buffer included;
- the simulated client sends chunks of `LOAD_CHUNK_BYTES`, the device client's default, and the
  TA counts exactly one command per chunk;
- the staging buffer takes no more region bytes for larger chunks: AlexNet at 8 MiB needs fewer
  partitions with it than with a 4 MiB staging buffer (what loading in 4 MiB chunks once reserved).
"""
from __future__ import annotations

import math
import re

import numpy as np
import pytest

from onnx_tee import models
from onnx_tee.passes.compact import compaction_pipeline
from onnx_tee.passes.lower.runtime_tree import RUNTIME_DIR
from onnx_tee.passes.partition.partitioner import STRATEGIES, partition_model
from onnx_tee.passes.target import LOAD_CHUNK_BYTES, STAGING_BYTES

MIB = 2**20


def compacted(name):
    return compaction_pipeline()(models.load(name)).model


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_plans_with_the_one_staging_buffer(strategy):
    result = partition_model(compacted("inception_v1"), 8 * MIB, strategy=strategy)
    assert result.plan.staging_bytes == STAGING_BYTES
    assert all(p.staging == STAGING_BYTES for p in result.plan.partitions)


def test_a_given_staging_size_is_kept():
    result = partition_model(compacted("squeezenet"), 8 * MIB, staging_bytes=128 * 1024)
    assert result.plan.staging_bytes == 128 * 1024
    assert all(p.staging == 128 * 1024 for p in result.plan.partitions)


def test_a_narrow_staging_buffer_leaves_the_weights_more_room():
    wide = partition_model(compacted("alexnet"), 8 * MIB, staging_bytes=4 * MIB)
    narrow = partition_model(compacted("alexnet"), 8 * MIB)
    assert len(narrow.parts) < len(wide.parts)


def test_the_device_client_sends_chunks_of_the_simulated_size():
    source = (RUNTIME_DIR / "host" / "main.c").read_text()
    match = re.search(r"#define DEFAULT_MAX_CHUNK \((\d+)u \* (\d+)u \* (\d+)u\)", source)
    assert match and int(match[1]) * int(match[2]) * int(match[3]) == LOAD_CHUNK_BYTES


@pytest.fixture(scope="module")
def inception(tmp_path_factory):
    from ta_bundles import lower_zoo

    return lower_zoo("inception_v1", 8 * MIB, tmp_path_factory.mktemp("inception"))


def _run(lowered, storage, chunk_of):
    """One inference with partition k's blob sent in chunks of chunk_of(blob): (outputs, touched, blob sizes)."""
    from onnx_tee.passes.lower.envelope import MANIFEST_FILE, blob_file_name, parse_manifest
    from onnx_tee.passes.lower.pipeline import model_io, sample_feeds
    from onnx_tee.passes.lower.sim import Simulator

    manifest_bytes = (lowered.device / MANIFEST_FILE).read_bytes()
    manifest = parse_manifest(manifest_bytes)
    blobs = [(lowered.device / blob_file_name(k)).read_bytes() for k in range(len(manifest.partitions))]
    feeds = sample_feeds(lowered.model, lowered.result.infos)
    inputs, _ = model_io(lowered.model)
    with Simulator(storage, budget=8 * MIB) as sim:
        sim.provision_key(lowered.key)
        sim.open_model(manifest_bytes)
        for index, name in enumerate(inputs):
            sim.write_input(index, feeds[name])
        touched = []
        for k, blob in enumerate(blobs):
            sim.load_partition(k, blob, chunk_of(blob))
            touched.append(sim.run_partition(k))
        outputs = [sim.read_output(i, slot.nbytes) for i, slot in enumerate(manifest.outputs)]
    return outputs, touched, [len(b) for b in blobs]


@pytest.mark.parametrize("chunk", ["1000", "staging+1", "default", "whole"])
def test_any_chunk_length_loads_the_same_body_in_the_planned_memory(inception, tmp_path, chunk):
    sizes = {"1000": lambda blob: 1000, "staging+1": lambda blob: STAGING_BYTES + 1,
             "default": lambda blob: LOAD_CHUNK_BYTES, "whole": len}
    reference, _, _ = _run(inception, tmp_path / "reference", lambda blob: STAGING_BYTES)
    outputs, touched, _ = _run(inception, tmp_path / "run", sizes[chunk])
    assert outputs == reference
    assert touched == [p.total for p in inception.result.plan.partitions]


def test_the_simulated_client_sends_one_command_per_default_chunk(inception, tmp_path):
    from onnx_tee.passes.lower.pipeline import model_io, sample_feeds
    from onnx_tee.passes.lower.sim import Simulator

    feeds = sample_feeds(inception.model, inception.result.infos)
    inputs, outputs = model_io(inception.model)
    with Simulator(tmp_path / "storage", budget=8 * MIB) as sim:
        sim.provision_key(inception.key)
        _, stats = sim.run_bundle(inception.device, [feeds[n] for n in inputs])
    blobs = [p.blob_bytes for p in stats.partitions]
    assert max(blobs) > LOAD_CHUNK_BYTES
    loads = sum(math.ceil(b / LOAD_CHUNK_BYTES) for b in blobs)
    assert stats.invocations == 1 + len(inputs) + loads + len(blobs) + len(outputs)
    assert [p.touched_bytes for p in stats.partitions] == [p.total for p in inception.result.plan.partitions]
