"""Benchmarks: what each step of the method buys, per model and TEE budget.

    python cli.py bench [--models ...] [--budgets 8MiB,16MiB,32MiB] [--repeats N] [--quick] [-o DIR]

Modules, one concern each:

- `configs`   the five configurations of DESIGN.md section 9 (ort, layerwise, partitioned,
              pruned-layerwise, ours);
- `timing`    warm-up + repeats, medians of every component;
- `inputs`    fixed, seeded inputs;
- `ort_runner` the onnxruntime anchor (one thread, normal world);
- `switches`  the world-switch cost model (count from the simulator's TA invocations x cost);
- `machine`   what machine and revision produced a result;
- `results`   measurements, totals, ratios, geometric means;
- `report`, `charts`  rich / Markdown / JSON tables and PNG charts.
"""
