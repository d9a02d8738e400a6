"""Benchmark: harmonize 1,000,000 synthetic outcome rows and compare with the time pandas needs to read
the same rows from CSV. Target: harmonizing takes no more than 3 times the read.

``python -m evsynth.bench_harmonize [out]`` writes ``results/benchmarks/harmonize.json`` (or ``out``).
The synthetic rows draw measures, units, stats, metrics and timepoints from the real vocabulary, with
values inside each instrument's range, so that the run exercises every conversion path without errors.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from evsynth.harmonize.tables import harmonize_outcomes
from evsynth.harmonize.units import load_units

ROOT = Path(__file__).resolve().parents[1]
VOCAB = ROOT / "resources" / "vocabulary"


def synthetic_outcomes(n: int, measures: dict, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    combos = []
    for m, spec in measures.items():
        for u, info in (spec.get("units") or {}).items():
            lo, hi = (info or {}).get("range", [0, 100])
            for st in (["mean", "sd", "median", "value", "n"] if spec.get("kind") != "binary" else ["events", "n"]):
                combos.append((m, u, st, float(lo), float(hi)))
    idx = rng.integers(0, len(combos), n)
    c = pd.DataFrame(combos, columns=["measure", "unit", "stat", "lo", "hi"]).iloc[idx].reset_index(drop=True)
    u01 = rng.random(n)
    value = np.round(c["lo"].to_numpy() + u01 * (c["hi"].to_numpy() - c["lo"].to_numpy()), 2)
    value = np.where(c["stat"].isin(["n", "events"]), np.floor(u01 * 50), value)
    tps = np.array(["baseline", "8 weeks", "3 months", "6 months", "12 months", "2 years", "0-1 weeks", "post", "30 days"])
    return pd.DataFrame(
        {
            "study": np.char.add("study", (idx % 50).astype(str)),
            "file": "resources/studies/x/outcomes.csv",
            "line": np.arange(2, n + 2),
            "group": np.where(idx % 2 == 0, "msc", "placebo"),
            "measure": c["measure"],
            "timepoint": tps[rng.integers(0, len(tps), n)],
            "metric": "level",
            "stat": c["stat"],
            "value": value,
            "unit": c["unit"],
            "comparator": "",
            "source": "table",
            "quote": "a verbatim quote with the number in it",
            "note": "",
        }
    )


def run(out_path: str | Path = "results/benchmarks/harmonize.json", n: int = 1_000_000, repeats: int = 3) -> dict:
    measures = yaml.safe_load((VOCAB / "measures.yaml").read_text(encoding="utf-8"))
    units = load_units(VOCAB / "units.yaml")
    df = synthetic_outcomes(n, measures)
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "outcomes.csv"
        df.to_csv(csv, index=False)
        size = os.path.getsize(csv)
        read_t, harm_t = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            frame = pd.read_csv(csv, keep_default_na=True)
            read_t.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            out = harmonize_outcomes(frame, measures, units)
            harm_t.append(time.perf_counter() - t0)
    result = {
        "rows": n,
        "csv_bytes": size,
        "read_csv_seconds": min(read_t),
        "harmonize_seconds": min(harm_t),
        "ratio_harmonize_to_read": min(harm_t) / min(read_t),
        "target_ratio": 3.0,
        "meets_target": min(harm_t) <= 3.0 * min(read_t),
        "repeats": repeats,
        "all_read_seconds": read_t,
        "all_harmonize_seconds": harm_t,
        "output_rows": int(len(out)),
        "not_converted_rows": int((out["flag"] == "not_converted").sum()),
        "python": sys.version.split()[0],
        "pandas": pd.__version__,
        "numpy": np.__version__,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    r = run(*(sys.argv[1:2] or ["results/benchmarks/harmonize.json"]))
    print(json.dumps({k: r[k] for k in ("rows", "read_csv_seconds", "harmonize_seconds", "ratio_harmonize_to_read", "meets_target")}, indent=2))
