"""Benchmarks: what each step of the method buys, per model and TEE budget.

    python cli.py bench [--models ...] [--budgets 8MiB,16MiB,32MiB] [--repeats N] [--quick] [-o DIR]

Modules, one concern each:

- `configs`        the five configurations of benchmarks/README.md (ort, layerwise, partitioned,
                   pruned-layerwise, ours);
- `settings`       what decides a run's numbers (`BenchSettings`, `PruningSettings`);
- `suite`          the matrix: every model x budget x configuration, results after each model;
- `pruned`         the pruned variant of a model (data-free L1 or the progressive schedule), cached;
- `secure_runner`  partition + lower + seal, then time the secure configurations in the simulator;
- `ort_runner`     the onnxruntime anchor (one thread, normal world);
- `timing`         warm-up, repeats, medians, interleaving;
- `inputs`         fixed, seeded inputs;
- `switches`       the world-switch cost model (TA invocations x cost per round trip);
- `machine`        what machine, software and revision produced a result;
- `results`        measurements, totals, ratios, geometric means;
- `headline`       every headline priced at several costs per world switch, from the counted invocations;
- `attribution`    ours' speed-up split into fewer partitions x pruning, and by component;
- `report`, `charts`  Markdown / JSON tables and PNG charts;
- `optee`, `optee_report`  the world switch, LOAD_CHUNK throughput and per-partition compute measured in a
                   real OP-TEE secure world (`scripts/bench_optee.py`; emulated, not hardware).
"""
