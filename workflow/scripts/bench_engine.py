"""Entry script: time the meta-analysis engine (see evsynth.bench.bench_engine).

Usage: python workflow/scripts/bench_engine.py [results/benchmarks/engine.json]
"""

import sys

from evsynth.bench import main

if __name__ == "__main__":
    raise SystemExit(main(["engine", *sys.argv[1:]]))
