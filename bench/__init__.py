"""Benchmarks: landing throughput, full and incremental warehouse builds, and a pandas reference.

`python -m bench.run` (make bench) measures at the default scale; `--quick` is the CI smoke run.
Every heavy step runs in its own child process so its peak resident memory can be read exactly
(os.wait4 returns the rusage of that one child).
"""
