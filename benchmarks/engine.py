"""Benchmarks (not tests). Run as ``python benchmarks/engine.py <name> [out_path]``.

``engine``: 10,000 REML random-effects analyses of k = 10 studies with
:func:`evsynth.stats.rma_many` (one vectorized pass), and, where ``Rscript`` with metafor is
available, the same datasets through ``metafor::rma()`` in one R loop (timed inside R around
the loop only, plus the total wall time of the Rscript call), with the largest absolute
differences in estimate / se / tau2 between the two.

``engine`` also runs ``engine_reference`` (key ``reference`` of its output).

``engine_reference``: the same kind of batches (10,000 x 10 and 20,000 x 8, REML) through this
checkout's engine and through the engine of a reference commit (default: the last one before
the issue-14 hardening), each run in a fresh Python process, the two interleaved round by
round so that both see the same load of a shared machine; medians over the rounds and their
ratio, with the load average before and after. Both wall time and CPU time (process_time, BLAS
and OpenMP held to one thread) are reported: on a loaded machine the CPU time is the steadier
measure of the engines' own work. Needs git (the reference engine is exported
with ``git archive``).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

_R_LOOP = r"""
suppressPackageStartupMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
G <- max(d$g) + 1
k <- nrow(d) / G
y <- matrix(d$yi, nrow = G, byrow = TRUE)
v <- matrix(d$vi, nrow = G, byrow = TRUE)
est <- se <- tau2 <- rep(NA_real_, G)
conv <- rep(FALSE, G)
t0 <- proc.time()
for (g in seq_len(G)) {
  r <- tryCatch(rma(y[g, ], v[g, ], method = "REML"), error = function(e) NULL)
  if (!is.null(r)) {
    est[g] <- r$beta[1]; se[g] <- r$se; tau2[g] <- r$tau2; conv[g] <- TRUE
  }
}
el <- (proc.time() - t0)[["elapsed"]]
# untimed second pass with tight control, for the numerical comparison (metafor's default
# threshold 1e-5 stops Fisher scoring up to ~1e-5 away from the REML estimate)
est2 <- se2 <- tau22 <- rep(NA_real_, G)
t1 <- proc.time()
for (g in which(conv)) {
  r <- tryCatch(rma(y[g, ], v[g, ], method = "REML",
                    control = list(threshold = 1e-11, maxiter = 5000)), error = function(e) NULL)
  if (!is.null(r)) { est2[g] <- r$beta[1]; se2[g] <- r$se; tau22[g] <- r$tau2 }
}
el2 <- (proc.time() - t1)[["elapsed"]]
write.csv(data.frame(g = seq_len(G) - 1, estimate = est, se = se, tau2 = tau2, converged = conv,
                     estimate_tight = est2, se_tight = se2, tau2_tight = tau22),
          args[2], row.names = FALSE)
cat(sprintf("%.17g\n%s\n%.17g\n", el, as.character(packageVersion("metafor")), el2), file = args[3])
"""


def _simulate(n: int, k: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    v = rng.uniform(0.01, 0.5, size=(n, k))
    tau2 = rng.choice([0.0, 0.05, 0.2, 0.5], size=(n, 1))
    y = rng.normal(0.3, np.sqrt(tau2), size=(n, 1)) + rng.normal(0, np.sqrt(v))
    return pd.DataFrame({"g": np.repeat(np.arange(n), k), "yi": y.ravel(), "vi": v.ravel()})


def _metafor_available() -> bool:
    if shutil.which("Rscript") is None:
        return False
    try:
        res = subprocess.run(
            ["Rscript", "-e", "suppressPackageStartupMessages(library(metafor))"],
            capture_output=True,
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return res.returncode == 0


def bench_engine(
    out_path: str | os.PathLike = "results/benchmarks/engine.json",
    n: int = 10000,
    k: int = 10,
    seed: int = 20261122,
    repeat: int = 3,
    with_r: bool = True,
    with_reference: bool = True,
) -> dict[str, Any]:
    """Time ``rma_many`` (REML, z) on n simulated datasets of k studies; compare with metafor."""
    from evsynth.stats import rma_many

    frame = _simulate(n, k, seed)
    rma_many(frame.iloc[: 20 * k], "g")  # warm-up (imports, caches)
    times = []
    res = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        res = rma_many(frame, "g", method="REML")
        times.append(time.perf_counter() - t0)
    assert res is not None
    py_time = min(times)
    out: dict[str, Any] = {
        "benchmark": "engine",
        "n_analyses": n,
        "k": k,
        "seed": seed,
        "method": "REML",
        "python": {
            "function": "evsynth.stats.rma_many (includes Q-profile CIs, PI, I2/H2 CIs)",
            "seconds_best_of": repeat,
            "seconds": py_time,
            "seconds_all": times,
            "analyses_per_second": n / py_time,
            "converged": int(res["converged"].sum()),
            "not_converged": int((~res["converged"]).sum()),
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "platform": platform.platform(),
            "python_version": sys.version.split()[0],
        },
    }
    if with_r and _metafor_available():
        with tempfile.TemporaryDirectory() as tmp:
            tmp_p = Path(tmp)
            data_csv, out_csv, meta_txt, script = (
                tmp_p / "data.csv", tmp_p / "out.csv", tmp_p / "meta.txt", tmp_p / "loop.R"
            )  # fmt: skip
            frame.to_csv(data_csv, index=False, float_format="%.17g")
            script.write_text(_R_LOOP)
            t0 = time.perf_counter()
            subprocess.run(
                ["Rscript", str(script), str(data_csv), str(out_csv), str(meta_txt)], check=True
            )
            r_total = time.perf_counter() - t0
            el, ver, el2 = meta_txt.read_text().split()
            r_loop, r_tight = float(el), float(el2)
            rr = pd.read_csv(out_csv)
        both = res["converged"].to_numpy() & rr["converged"].to_numpy(dtype=bool)
        tight = both & rr["tau2_tight"].notna().to_numpy()

        def _maxdiff(ours: str, theirs: str, mask: np.ndarray) -> float:
            a = res[ours].to_numpy()[mask]
            b = rr[theirs].to_numpy()[mask]
            return float(np.max(np.abs(a - b))) if mask.any() else float("nan")

        cols = ("estimate", "se", "tau2")
        diffs = {f"max_abs_diff_{c}": _maxdiff(c, f"{c}_tight", tight) for c in cols}
        diffs_default = {f"max_abs_diff_{c}_vs_default_control": _maxdiff(c, c, both) for c in cols}
        out["metafor"] = {
            "version": ver,
            "seconds_loop": r_loop,
            "seconds_total": r_total,
            "seconds_tight_pass_untimed_in_speedup": r_tight,
            "analyses_per_second": n / r_loop,
            "converged": int(rr["converged"].sum()),
            "not_converged": int((~rr["converged"].astype(bool)).sum()),
            "note": (
                "timed loop: metafor default control; the differences are against an untimed "
                "second pass with control=list(threshold=1e-11, maxiter=5000) because the "
                "default threshold 1e-5 stops Fisher scoring short of the REML estimate"
            ),
        }
        out["comparison"] = {
            "speedup_vs_metafor_loop": r_loop / py_time,
            "speedup_vs_metafor_total": (r_total - r_tight) / py_time,
            "compared_analyses": int(both.sum()),
            "convergence_status_agrees": bool(
                (res["converged"].to_numpy() == rr["converged"].to_numpy(dtype=bool)).all()
            ),
            "compared_analyses_tight": int(tight.sum()),
            **diffs,
            **diffs_default,
            "target": ">= 100x metafor throughput with max diff < 1e-6",
        }
    else:
        out["metafor"] = None
    if with_reference:
        # the same batches through the engine before the issue-14 hardening, interleaved with this one
        try:
            out["reference"] = bench_engine_reference(None, repeat=repeat, seed=seed)
        except (OSError, subprocess.CalledProcessError) as exc:  # no git or no such commit: say so
            out["reference"] = {"error": f"reference engine not timed: {exc}"}
    path = Path(out_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
    return out


# the last engine before the issue-14 hardening (2da4d12 added finiteness and precision checks)
REFERENCE_COMMIT = "d8f62bc"

_CHILD = r"""
import json, sys, time
import numpy as np, pandas as pd
sys.path.insert(0, sys.argv[1])
from evsynth.stats import rma_many
d = np.load(sys.argv[2])
fr = pd.DataFrame({"g": d["g"], "yi": d["yi"], "vi": d["vi"]})
k = int((d["g"] == 0).sum())
rma_many(fr.iloc[: 20 * k], "g", method="REML")  # warm-up (imports, caches)
ts, cpu = [], []
for _ in range(int(sys.argv[3])):
    t0, c0 = time.perf_counter(), time.process_time()
    res = rma_many(fr, "g", method="REML")
    ts.append(time.perf_counter() - t0)
    cpu.append(time.process_time() - c0)
print(json.dumps({"seconds": min(ts), "cpu_seconds": min(cpu), "converged": int(res["converged"].sum()),
                  "estimate_sum": float(np.nansum(res["estimate"]))}))
"""


def bench_engine_reference(
    out_path: str | os.PathLike | None = "results/benchmarks/engine_reference.json",
    reference: str = REFERENCE_COMMIT,
    shapes: tuple[tuple[int, int], ...] = ((10000, 10), (20000, 8)),
    rounds: int = 5,
    repeat: int = 3,
    seed: int = 20261122,
) -> dict[str, Any]:
    """Time ``rma_many`` (REML) of this checkout against the engine at ``reference``."""
    root = Path(__file__).resolve().parents[1]
    current = root / "workflow"
    with tempfile.TemporaryDirectory() as tmp:
        tmp_p = Path(tmp)
        ref_dir = tmp_p / "reference"
        ref_dir.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(root), "archive", reference, "workflow/evsynth"],
            capture_output=True, check=True,
        )  # fmt: skip
        subprocess.run(["tar", "-x", "-C", str(ref_dir)], input=archive.stdout, check=True)
        ref_full = subprocess.run(
            ["git", "-C", str(root), "rev-parse", reference], capture_output=True, text=True, check=True
        ).stdout.strip()
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "-C", str(root), "status", "--porcelain", "--", "workflow/evsynth/stats"],
                capture_output=True, text=True,
            ).stdout.strip()
        )  # fmt: skip
        engines = {"reference": ref_dir / "workflow", "current": current}
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        load_before = os.getloadavg()
        cases = []
        for n, k in shapes:
            data = tmp_p / f"data_{n}x{k}.npz"
            frame = _simulate(n, k, seed)
            np.savez(data, g=frame["g"].to_numpy(), yi=frame["yi"].to_numpy(), vi=frame["vi"].to_numpy())
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in engines}
            for _ in range(rounds):
                for name, path in engines.items():
                    res = subprocess.run(
                        [sys.executable, "-c", _CHILD, str(path), str(data), str(repeat)],
                        capture_output=True, text=True, check=True, env=env,
                    )  # fmt: skip
                    runs[name].append(json.loads(res.stdout))
            case: dict[str, Any] = {"n_analyses": n, "k": k}
            for key in ("seconds", "cpu_seconds"):
                med = {name: float(np.median([r[key] for r in rs])) for name, rs in runs.items()}
                paired = [c[key] / r[key] for c, r in zip(runs["current"], runs["reference"])]
                case[key] = {
                    "median_reference": med["reference"],
                    "median_current": med["current"],
                    "ratio_current_over_reference": med["current"] / med["reference"],
                    "ratio_paired_median": float(np.median(paired)),
                    "per_round": {name: [r[key] for r in rs] for name, rs in runs.items()},
                }
            case["analyses_per_second_current_wall"] = n / case["seconds"]["median_current"]
            case["converged"] = {name: rs[0]["converged"] for name, rs in runs.items()}
            case["same_estimates"] = runs["current"][0]["estimate_sum"] == runs["reference"][0]["estimate_sum"]
            cases.append(case)
    out: dict[str, Any] = {
        "benchmark": "engine_reference",
        "method": "REML",
        "seed": seed,
        "reference_commit": ref_full,
        "current_commit": head,
        "current_has_uncommitted_engine_changes": dirty,
        "rounds": rounds,
        "timing": f"best of {repeat} fits per process, median over rounds (ratio_paired_median: median of per-round ratios)",
        "load_average_before": list(load_before),
        "load_average_after": list(os.getloadavg()),
        "cases": cases,
        "note": "ratio < 1: the current engine is faster than the reference on the same machine and load",
        "platform": platform.platform(),
    }
    if out_path is not None:
        path = Path(out_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
    return out


def _engine_reference_cli(argv: list[str]) -> None:
    out = argv[0] if argv else "results/benchmarks/engine_reference.json"
    ref = argv[1] if len(argv) > 1 else REFERENCE_COMMIT
    res = bench_engine_reference(out, ref)
    print(json.dumps(res, indent=2, sort_keys=True))


def _engine_cli(argv: list[str]) -> None:
    out = argv[0] if argv else "results/benchmarks/engine.json"
    res = bench_engine(out)
    print(json.dumps(res, indent=2, sort_keys=True))


BENCHMARKS: dict[str, Callable[[list[str]], None]] = {
    "engine": _engine_cli,
    "engine_reference": _engine_reference_cli,
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in BENCHMARKS:
        print(f"usage: python benchmarks/engine.py {{{','.join(BENCHMARKS)}}} [out_path]")
        return 2
    BENCHMARKS[argv[0]](argv[1:])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
