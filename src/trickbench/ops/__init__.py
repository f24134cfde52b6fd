"""Operations tooling, beside the core path (config -> runs -> tables -> report) and never on it:
benchmarks (bench, bench_models, bench_engine), the GPU check a lent device runs (gpucheck,
gpuslot), the canary that replays runs to the bit (canary), and how verdicts moved between
commits (changes)."""
