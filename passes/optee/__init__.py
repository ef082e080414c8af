"""The TA in a real OP-TEE secure world: an optee-kit's QEMU device, used by the real-TEE tests and the
measurements of `scripts/bench_optee.py` (`passes/bench/optee.py`).

- `kit`    find the kit (`$ONNX_TEE_OPTEE_KIT`), build the TA per budget, the client and guest tools;
- `guest`  one boot of the emulated device running a script of cases, and their parsed results;
- `figures` what a measurement's client output gives: round trips, LOAD_CHUNK rates, compute per partition
           (the measurement itself is the application's: `passes/bench/optee.py`).
"""
