"""The production settings plus the benchmark's ceiling view (bench/gate_load.py)."""

from clearance.settings import *  # noqa: F403

ROOT_URLCONF = "bench.bench_urls"
