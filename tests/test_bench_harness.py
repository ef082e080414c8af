"""The benchmark harness: timing medians, world-switch model, ratios, geometric means, reports, charts."""
from __future__ import annotations

import json
import math
import statistics

import numpy as np
import onnx
import pytest
from hypothesis import given, settings, strategies as st
from onnx import helper, numpy_helper

from conftest import make_model, run_ort
from onnx_tee.passes.bench.configs import BASELINE, CONFIGURATIONS, select_configurations
from onnx_tee.passes.bench.inputs import benchmark_feeds
from onnx_tee.passes.bench.machine import machine_info
from onnx_tee.passes.bench.ort_runner import single_thread_session, time_onnxruntime
from onnx_tee.passes.bench.report import markdown_report, summary_rows
from onnx_tee.passes.bench.charts import write_charts
from onnx_tee.passes.bench.results import BenchRun, Measurement, geometric_mean, ratio, summarise
from onnx_tee.passes.bench.switches import DEFAULT_SWITCH_COST_MS, WorldSwitchModel
from onnx_tee.passes.bench.timing import repeat_components, repeat_interleaved
from onnx_tee.passes.errors import UserError


def test_configuration_matrix_matches_the_design():
    assert [c.name for c in CONFIGURATIONS] == ["ort", "layerwise", "partitioned", "pruned-layerwise", "ours", "ours-int8"]
    by = {c.name: c for c in CONFIGURATIONS}
    assert not by["ort"].secure and all(c.secure for c in CONFIGURATIONS[1:])
    assert by["ours"].pruned and by["pruned-layerwise"].pruned and not by[BASELINE].pruned
    assert by["ours"].strategy == by["partitioned"].strategy != by["layerwise"].strategy
    assert [c.name for c in select_configurations(["ours", "ort"])] == ["ort", "ours"]
    with pytest.raises(UserError, match="unknown configuration"):
        select_configurations(["fast"])


def test_repeat_components_keeps_every_sample_and_takes_medians():
    values = iter([99.0, 3.0, 1.0, 2.0])   # the first call is the warm-up and must be dropped
    samples = repeat_components(lambda: {"compute": next(values)}, repeats=3, warmup=1)
    assert samples["compute"].values == (3.0, 1.0, 2.0)
    assert samples["compute"].median == 2.0 and samples["compute"].min == 1.0 and samples["compute"].max == 3.0
    assert len(samples["wall"].values) == 3 and all(v >= 0 for v in samples["wall"].values)
    with pytest.raises(ValueError):
        repeat_components(dict, repeats=0)


def test_interleaved_repeats_rotate_the_order_and_drop_the_warmup():
    calls = []

    def run(name):
        def one():
            calls.append(name)
            return {"n": len(calls)}
        return one

    samples = repeat_interleaved({"a": run("a"), "b": run("b"), "c": run("c")}, repeats=2, warmup=1)
    assert calls == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert samples["a"]["n"].values == (6.0, 8.0) and samples["b"]["n"].values == (4.0, 9.0)
    assert samples["c"]["n"].values == (5.0, 7.0)


def test_world_switch_model_charges_per_invocation():
    assert WorldSwitchModel().cost_ms == DEFAULT_SWITCH_COST_MS == 0.3
    assert WorldSwitchModel(0.25).seconds(40) == pytest.approx(0.010)
    assert WorldSwitchModel(0).seconds(1000) == 0
    assert "QEMU" in WorldSwitchModel().to_json()["source"]
    with pytest.raises(UserError, match="switch-cost-ms"):
        WorldSwitchModel(-1)


@given(st.lists(st.floats(min_value=1e-3, max_value=1e3), min_size=1, max_size=20))
@settings(max_examples=50, deadline=None)
def test_geometric_mean_is_the_nth_root_of_the_product(values):
    expected = float(np.prod(np.array(values, dtype=np.float64)) ** (1 / len(values)))
    assert geometric_mean(values) == pytest.approx(expected, rel=1e-9)
    assert geometric_mean(values + [None]) == pytest.approx(expected, rel=1e-9)


def test_geometric_mean_of_nothing_is_none():
    assert geometric_mean([]) is None and geometric_mean([None]) is None


def _m(model, budget, config, compute, load=0.0, switches=0, cost_ms=0.3, **extra):
    return Measurement(model, budget, config, compute_s=compute, load_s=load, switches=switches,
                       switch_s=switches * cost_ms / 1000, **extra)


def _toy_run() -> BenchRun:
    mib = 2**20
    ms = [
        _m("a", 8 * mib, "ort", 0.010),
        _m("a", 8 * mib, "layerwise", 0.020, 0.060, 100, partitions=20, peak_secure_bytes=3 * mib),
        _m("a", 8 * mib, "ours", 0.010, 0.005, 10, partitions=1, peak_secure_bytes=5 * mib,
           accuracy=0.9, macs=1000),
        _m("b", 8 * mib, "layerwise", 0.040, 0.030, 50),
        Measurement("b", 8 * mib, "ours", status="infeasible: needs 9.00 MiB"),
        _m("a", 16 * mib, "layerwise", 0.020, 0.030, 40),
        _m("a", 16 * mib, "ours", 0.010, 0.004, 5),
        _m("a", 16 * mib, "ort", 0.010, accuracy=0.91, macs=4000),
    ]
    return BenchRun("python cli.py bench --quick", machine_info(), {"repeats": 3, "warmup": 1,
                    "switch_model": WorldSwitchModel().to_json()}, ms)


def test_totals_ratios_and_summary_by_hand():
    run = _toy_run()
    a8 = {m.config: m for m in run.measurements if m.model == "a" and m.budget == 8 * 2**20}
    assert a8["layerwise"].total_s == pytest.approx(0.020 + 0.060 + 0.030)
    assert a8["ours"].total_s == pytest.approx(0.010 + 0.005 + 0.003)
    assert ratio(a8, "layerwise", "ours") == pytest.approx(0.110 / 0.018)
    summary = summarise(run.measurements)["ours vs layerwise"]
    a16 = (0.020 + 0.030 + 0.012) / (0.010 + 0.004 + 0.0015)
    assert summary["cells"] == 2   # model b at 8 MiB did not run `ours`
    assert summary["geomean"] == pytest.approx(math.sqrt(0.110 / 0.018 * a16))
    assert summary["geomean_per_budget"][str(16 * 2**20)] == pytest.approx(a16)
    assert summary["component_geomeans"]["compute_s"] == pytest.approx(2.0)
    assert summary["component_geomeans"]["load_s"] == pytest.approx(math.sqrt(12 * 7.5))
    assert summary["component_geomeans"]["compute_load_s"] == pytest.approx(math.sqrt(0.080 / 0.015 * 0.050 / 0.014))


def test_reports_json_roundtrip_markdown_and_charts(tmp_path):
    run = _toy_run()
    data = json.loads(json.dumps(run.to_json()))
    again = BenchRun.from_json(data)
    assert [m.total_s for m in again.measurements] == [m.total_s for m in run.measurements]
    header, rows = summary_rows(run)
    assert header[-3:] == ["ours vs layerwise", "ours vs layerwise at 0.05 ms", "ours vs ort"]
    row_a8 = rows[0]
    assert row_a8[:2] == ["a", "8.00 MiB"] and row_a8[-3] == f"{0.110 / 0.018:.2f}x"
    assert "infeasible" in rows[1]
    charts = write_charts(run, tmp_path)
    assert {p.name for p in charts} == {"time_8MiB.png", "time_16MiB.png", "speedup_vs_budget.png",
                                        "accuracy_vs_flops.png"}
    for chart in charts:
        assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 5000
    text = markdown_report(run, [str(c) for c in charts])
    assert "`python cli.py bench --quick`" in text and "ours vs layerwise" in text
    assert "![speedup_vs_budget](speedup_vs_budget.png)" in text


def _tiny_conv_model():
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((4, 1, 3, 3)).astype(np.float32), "w")
    return make_model([helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
                       helper.make_node("Relu", ["c"], ["y"])],
                      [("x", [1, 1, 28, 28])], [("y", [1, 4, 28, 28])], [w])


def test_onnxruntime_configuration_is_single_threaded_and_times_the_model():
    model = _tiny_conv_model()
    session = single_thread_session(model)
    assert session.get_session_options().intra_op_num_threads == 1
    assert session.get_session_options().inter_op_num_threads == 1
    feeds = benchmark_feeds(model, seed=3)
    np.testing.assert_allclose(session.run(None, feeds)[0], run_ort(model, feeds)["y"], rtol=1e-5, atol=1e-6)
    samples = time_onnxruntime(model, feeds, repeats=5)
    compute = samples["compute"]
    assert len(compute.values) == 5 and compute.min <= compute.median <= compute.max
    assert compute.median == statistics.median(compute.values) > 0
    assert all(c <= w for c, w in zip(compute.values, samples["wall"].values))


def test_benchmark_feeds_are_seeded_and_use_test_images():
    model = _tiny_conv_model()
    a, b, c = (benchmark_feeds(model, seed=s)["x"] for s in (1, 1, 2))
    assert a.shape == (1, 1, 28, 28) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    from onnx_tee.passes.datasets import load_dataset
    image = benchmark_feeds(model, seed=7, dataset="fashion-mnist")["x"]
    np.testing.assert_array_equal(image[0], load_dataset("fashion-mnist", "test").x[7])


def test_dynamic_input_is_refused():
    model = _tiny_conv_model()
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "N"
    with pytest.raises(UserError, match="dynamic shape"):
        benchmark_feeds(model)


def test_machine_info_records_what_a_reader_needs():
    info = machine_info()
    assert info["logical_cpus"] >= 1 and info["python"].count(".") == 2
    assert info["packages"]["onnxruntime"] and info["packages"]["onnx"] == onnx.__version__
    assert info["git_commit"] is None or len(info["git_commit"]) == 40


def _four_config_run(cost_ms: float = 0.3) -> BenchRun:
    """One cell with the four secure configurations (and ort): compute, load, switches chosen by hand."""
    mib = 2**20
    ms = [_m("m", 8 * mib, "ort", 0.004),
          _m("m", 8 * mib, "layerwise", 0.020, 0.030, 200, cost_ms, partitions=50),
          _m("m", 8 * mib, "partitioned", 0.019, 0.029, 20, cost_ms, partitions=5),
          _m("m", 8 * mib, "pruned-layerwise", 0.010, 0.015, 190, cost_ms, partitions=50),
          _m("m", 8 * mib, "ours", 0.009, 0.014, 15, cost_ms, partitions=3)]
    return BenchRun("python cli.py bench --models m", machine_info(),
                    {"repeats": 3, "warmup": 1, "switch_model": WorldSwitchModel(cost_ms).to_json()}, ms)


def _total(compute, load, switches, cost_ms):
    return compute + load + switches * cost_ms / 1000


def test_a_run_is_priced_at_another_switch_cost_from_its_counts():
    from onnx_tee.passes.bench.results import at_switch_cost

    run = _four_config_run(0.3)
    cheap = {m.config: m for m in at_switch_cost(run.measurements, 0.05)}
    assert cheap["layerwise"].switch_s == pytest.approx(200 * 0.05e-3)
    assert cheap["layerwise"].total_s == pytest.approx(_total(0.020, 0.030, 200, 0.05))
    assert cheap["ours"].compute_s == 0.009 and cheap["ours"].switches == 15
    assert run.measurements[1].switch_s == pytest.approx(200 * 0.3e-3)     # the run itself is unchanged
    assert ratio(cheap, "layerwise", "ours") == pytest.approx(_total(0.020, 0.030, 200, 0.05) /
                                                              _total(0.009, 0.014, 15, 0.05))


def test_attribution_splits_the_speedup_into_partitions_times_pruning_and_components():
    from onnx_tee.passes.bench.attribution import attributions

    (cell,) = attributions(_four_config_run(0.3).measurements)
    lw, pa, pl, o = (_total(0.020, 0.030, 200, 0.3), _total(0.019, 0.029, 20, 0.3),
                     _total(0.010, 0.015, 190, 0.3), _total(0.009, 0.014, 15, 0.3))
    assert cell.speedup == pytest.approx(lw / o)
    assert cell.partitions_factor == pytest.approx(math.sqrt(lw / pa * pl / o))
    assert cell.pruning_factor == pytest.approx(math.sqrt(lw / pl * pa / o))
    assert cell.partitions_factor * cell.pruning_factor == pytest.approx(cell.speedup)
    assert cell.shares["compute"] == pytest.approx((0.020 - 0.009) / (lw - o))
    assert cell.shares["switches"] == pytest.approx((200 - 15) * 0.3e-3 / (lw - o))
    assert sum(cell.shares.values()) == pytest.approx(1.0)
    # a cell without one of the four ablation configurations is not split
    assert attributions([m for m in _four_config_run().measurements if m.config != "partitioned"]) == []


def test_report_shows_every_headline_at_two_switch_costs_side_by_side(tmp_path):
    from onnx_tee.passes.bench import headline
    from onnx_tee.passes.bench.report import attribution_rows, headline_rows, write_json

    run = _four_config_run(0.3)
    at = {c: _total(0.020, 0.030, 200, c) / _total(0.009, 0.014, 15, c) for c in (0.0, 0.05, 0.3)}
    header, rows = headline_rows(run)
    assert header == ["comparison", "cells", "no switch cost", "0.05 ms/switch", "0.3 ms/switch"]
    ours = next(r for r in rows if r[0] == "ours vs layerwise")
    assert [cell.split()[0] for cell in ours[2:]] == [f"**{at[c]:.2f}x**" for c in (0.0, 0.05, 0.3)]
    header, rows = summary_rows(run)
    assert "ours vs layerwise at 0.05 ms" in header
    assert rows[0][header.index("ours vs layerwise at 0.05 ms")] == f"{at[0.05]:.2f}x"
    assert rows[0][header.index("ours vs layerwise")] == f"{at[0.3]:.2f}x"
    _, split = attribution_rows(run)
    assert [r[0] for r in split] == ["no switch cost", "0.05 ms/switch", "0.3 ms/switch"]
    # a run made at another cost still shows 0.05 and 0.3 ms, and its own
    assert list(headline.at_costs(_four_config_run(0.1))) == [0.0, 0.05, 0.1, 0.3]
    text = markdown_report(run)
    assert "0.05 ms/switch" in text and "from fewer partitions" in text
    write_json(run, tmp_path / "results.json")
    data = json.loads((tmp_path / "results.json").read_text())
    assert set(data["at_switch_costs"]) == {"0", "0.05", "0.3"}
    assert data["at_switch_costs"]["0.05"]["comparisons"]["ours vs layerwise"]["geomean"] == pytest.approx(at[0.05])
