"""The target's op registrations, one module per kernel family of runtime_ta/interp/kernels/."""
