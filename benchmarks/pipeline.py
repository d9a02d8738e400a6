"""Benchmarks of the whole pipeline (not tests): how long a reviewer waits, and how the cost grows with the corpus.

``python benchmarks/pipeline.py [--parts interactive,multiverse,scale,tests] [--scales 1,4,16,60]
[--timeout SECONDS] [--budget SECONDS] [--out results/benchmarks]`` writes, under ``--out``:

- ``pipeline.json`` (parts ``interactive`` and ``multiverse``), on a copy of this project (shipped corpus and
  config, quote checks on) in a temporary folder: Snakemake's no-op run, the cold pipeline, the rerun after
  changing one analysis' estimator (one the multiverse includes, one it does not), the forced multiverse
  (``--forcerun run_multiverse``; the cold run, the no-op and the forced multiverse are each the best of three
  runs, the cold ones in fresh copies, the others taken in turns, all recorded), and the multiverse computed in
  one process (every multiverse analysis, the config's grid) beside ``rma_many`` alone on the very datasets it
  fitted; each as a ratio to its reference;
- ``scale.json`` (part ``scale``): synthetic corpora of 1x, 4x, 16x, 60x the studies (each study copied under
  new ids ``xa_<id>``, ``xb_<id>``, ...; quote checks off, as for sources without text) run cold, with wall and
  CPU time, peak memory of the process tree and of the largest job, and per rule: jobs, summed wall time, peak
  memory; ratios to the 1x run;
- ``tests.json`` (part ``tests``): the wall time of the full test suite.

Wall time on a shared machine depends on its load: every measurement records the load average before and after
it and the CPU time of all processes it started (user + system), which load changes much less. Nothing is
written under ``resources/`` or ``results/`` of this project except the JSON files.

Limits, so that the benchmark never hangs: every Snakemake run is stopped after ``--timeout`` seconds
(``EVSYNTH_BENCH_TIMEOUT``, default 1800) and marked ``timed_out``; once ``--budget`` seconds
(``EVSYNTH_BENCH_BUDGET``, default 7200) have passed the remaining measurements are skipped and marked so.
``EVSYNTH_BENCH_SCALES`` / ``EVSYNTH_BENCH_PARTS`` set the defaults of ``--scales`` / ``--parts``
(``make bench BENCH_SCALES=1,4``).
"""

from __future__ import annotations

import argparse
import base64
import functools
import json
import os
import platform
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT  # the project tree copied and measured (--source: e.g. another commit, unpacked with git archive)
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
ID_LINE = re.compile(r"^(id|study): (\S+)\s*$")
LIST_LINE = re.compile(r"^(\s*)- (\S+)\s*$")
MULTIVERSE_ANALYSIS = "sle_sledai_change"  # in the shipped multiverse
OTHER_ANALYSIS = "rct_remission"  # not in it
#: The memory of a run's processes is sampled every SAMPLE_SECONDS (resident size, from /proc/<pid>/statm: 12 us for
#: a Python with pandas and matplotlib) and their proportional size (PSS, from smaps_rollup: 1.7 ms) every
#: PSS_EVERY-th sample. Reading PSS at every sample took the monitor 1.0 CPU-s during a 4.9 s forced multiverse on
#: two cores (0.2 during a no-op), CPU taken from the run it measures; now 0.24-0.35 (0.08-0.10).
SAMPLE_SECONDS = 0.05
PSS_EVERY = 5


# --------------------------------------------------------------------------------------------------------------
# projects


def copy_id(original: str, copy: int) -> str:
    """The id of copy ``copy`` (1, 2, ...) of study ``original``: ``xa_<id>``, ``xb_<id>``, ..., ``xaa_<id>``
    (letters only before the id, so the id keeps the schema's pattern surname + year)."""
    letters = ""
    n = copy
    while n > 0:
        n, rest = divmod(n - 1, 26)
        letters = chr(ord("a") + rest) + letters
    return f"x{letters}_{original}"


def _rename(text: str, ids: set[str], copy: int) -> str:
    """``id:``, ``study:`` and id list items (``includes:``) of a copied study's YAML, renamed to the copy's ids."""
    out = []
    for line in text.splitlines(keepends=True):
        m = ID_LINE.match(line.rstrip("\n"))
        if m and m.group(2) in ids:
            line = f"{m.group(1)}: {copy_id(m.group(2), copy)}\n"
        else:
            m = LIST_LINE.match(line.rstrip("\n"))
            if m and m.group(2) in ids:
                line = f"{m.group(1)}- {copy_id(m.group(2), copy)}\n"
        out.append(line)
    return "".join(out)


def make_corpus(dest: Path, factor: int, studies: Path | None = None) -> int:
    """``factor`` copies of every study folder under ``dest`` (the first keeps the original ids); returns the
    number of studies written."""
    studies = studies or SOURCE / "resources" / "studies"
    folders = sorted(p for p in studies.iterdir() if p.is_dir() and (p / "study.yaml").exists())
    ids = {p.name for p in folders}
    dest.mkdir(parents=True, exist_ok=True)
    for folder in folders:
        shutil.copytree(folder, dest / folder.name)
        for copy in range(1, factor):
            target = dest / copy_id(folder.name, copy)
            target.mkdir()
            for path in sorted(folder.iterdir()):
                if path.suffix == ".yaml":
                    (target / path.name).write_text(_rename(path.read_text(encoding="utf-8"), ids, copy),
                                                    encoding="utf-8")
                elif path.is_file():
                    shutil.copyfile(path, target / path.name)
    return len(folders) * factor


def make_project(dest: Path, factor: int = 1, check_quotes: bool = True) -> Path:
    """A copy of the project (workflow, config, resources) in ``dest`` with ``factor`` x the studies; its jobs
    import the package from the copy (``PYTHONPATH``), so the code measured is the copied tree's."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for item in ("workflow", "config"):
        shutil.copytree(SOURCE / item, dest / item, ignore=ignore)
    (dest / "resources").mkdir()
    for path in sorted((SOURCE / "resources").iterdir()):
        if path.name == "studies":
            continue
        if path.is_dir():
            shutil.copytree(path, dest / "resources" / path.name)
        else:
            shutil.copyfile(path, dest / "resources" / path.name)
    make_corpus(dest / "resources" / "studies", factor)
    if not check_quotes:
        path = dest / "config" / "config.yaml"
        text = path.read_text(encoding="utf-8")
        new = text.replace("check_quotes_in_sources: true", "check_quotes_in_sources: false")
        if new == text:
            raise SystemExit("benchmark: config/config.yaml has no 'check_quotes_in_sources: true' line to turn off")
        path.write_text(new, encoding="utf-8")
    return dest


def set_estimator(project: Path, analysis: str, method: str) -> None:
    """Give ``analysis`` its own ``method`` in the project's config (a line after its ``title``)."""
    path = project / "config" / "config.yaml"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.rstrip() == f"  {analysis}:":
            indent = "    "
            j = i + 1
            while lines[j].strip().startswith("#"):
                j += 1
            lines.insert(j, f"{indent}method: {method}\n")
            path.write_text("".join(lines), encoding="utf-8")
            return
    raise SystemExit(f"benchmark: analysis {analysis} not found in {path}")


# --------------------------------------------------------------------------------------------------------------
# running Snakemake and watching its processes


@functools.lru_cache(maxsize=1)
def _rule_of_script() -> dict[str, str]:
    """Script file name (``pool_analysis.py``) -> rule name, from the rule files."""
    found = {}
    for smk in sorted((SOURCE / "workflow" / "rules").glob("*.smk")):
        rule = None
        for line in smk.read_text(encoding="utf-8").splitlines():
            m = re.match(r"^(?:rule|checkpoint) (\w+):", line)
            if m:
                rule = m.group(1)
            m = re.match(r'^\s+"\.\./scripts/(\w+\.py)"', line)
            if m and rule:
                found[m.group(1)] = rule
    return found


def _stage_of_rule() -> dict[str, str]:
    """Rule name -> stage (the rule file it is declared in)."""
    found = {}
    for smk in sorted((SOURCE / "workflow" / "rules").glob("*.smk")):
        for line in smk.read_text(encoding="utf-8").splitlines():
            m = re.match(r"^(?:rule|checkpoint) (\w+):", line)
            if m:
                found[m.group(1)] = smk.stem
    return found


def _script_of(cmdline: list[str], process_name: str = "") -> str | None:
    """The job script a process runs: a Python started by Snakemake (its cmdline names the script), or a fork
    of the warm worker (evsynth.common.warm names it after the script's first 15 characters)."""
    if "evsynth.common.warm" in cmdline and process_name:
        return next((script for script in _rule_of_script()
                     if script.removesuffix(".py")[:15] == process_name), None)
    for arg in cmdline:
        name = os.path.basename(arg)
        if arg.endswith(".py") and ".snakemake" in arg:
            # .snakemake/scripts/tmpXXXX.pool_analysis.py
            return name.split(".", 1)[1] if "." in name[:-3] else name
    return None


def run_snakemake(project: Path, args: list[str], timeout: float, log_name: str) -> dict[str, Any]:
    """Run Snakemake in ``project``; wall and CPU time, peak memory (process tree and per job script)."""
    import psutil

    cmd = [SNAKEMAKE, "--cores", "2", *args]
    log = project / f"bench-{log_name}.log"
    load_before = os.getloadavg()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with open(log, "w", encoding="utf-8") as fh:
        env = {**os.environ, "PYTHONPATH": str(project / "workflow")}
        proc = subprocess.Popen(cmd, cwd=project, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
                                env=env)
    top = psutil.Process(proc.pid)
    tree_peak = tree_pss_peak = samples = 0
    jobs: dict[int, dict[str, Any]] = {}
    timed_out = False
    while proc.poll() is None:
        if time.perf_counter() - t0 > timeout:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            timed_out = True
            break
        total = total_pss = 0
        with_pss = samples % PSS_EVERY == 0
        samples += 1
        try:
            procs = [top, *top.children(recursive=True)]
        except psutil.Error:
            procs = []
        for p in procs:
            try:
                with p.oneshot():
                    memory = p.memory_full_info() if with_pss else p.memory_info()
                    rss = memory.rss
                    total += rss
                    total_pss += getattr(memory, "pss", rss)
                    if p.pid not in jobs:
                        jobs[p.pid] = {"script": _script_of(p.cmdline(), p.name()), "rss": 0}
                    jobs[p.pid]["rss"] = max(jobs[p.pid]["rss"], rss)
            except psutil.Error:
                continue
        tree_peak = max(tree_peak, total)
        if with_pss:
            tree_pss_peak = max(tree_pss_peak, total_pss)
        time.sleep(SAMPLE_SECONDS)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    per_script: dict[str, dict[str, Any]] = {}
    for job in jobs.values():
        if job["script"]:
            entry = per_script.setdefault(job["script"], {"processes": 0, "peak_rss_mb": 0.0})
            entry["processes"] += 1
            entry["peak_rss_mb"] = max(entry["peak_rss_mb"], job["rss"] / 2**20)
    out = {
        "command": " ".join(["snakemake", *cmd[1:]]),
        "wall_seconds": round(wall, 3),
        "cpu_seconds": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 3),
        "peak_tree_rss_mb": round(tree_peak / 2**20, 1),
        # the warm worker's forks share its imported pages: the sum of RSS counts them once per fork, PSS once
        "peak_tree_pss_mb": round(tree_pss_peak / 2**20, 1),
        "peak_job_rss_mb": round(max((j["rss"] for j in jobs.values() if j["script"]), default=0) / 2**20, 1),
        "returncode": proc.returncode,
        "timed_out": timed_out,
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "_per_script": per_script,
    }
    if proc.returncode != 0 and not timed_out:
        out["log_tail"] = log.read_text(encoding="utf-8", errors="replace")[-3000:]
    return out


def job_times(project: Path, since: float) -> dict[str, dict[str, Any]]:
    """Per rule, from Snakemake's metadata of the jobs that ended after ``since`` (epoch seconds): number of jobs
    and summed wall time."""
    folder = project / ".snakemake" / "metadata"
    seen: dict[tuple, tuple[float, float]] = {}
    for path in folder.iterdir() if folder.exists() else []:
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not meta.get("endtime") or meta["endtime"] < since:
            continue
        key = (meta.get("rule"), meta.get("job_hash"))
        seen[key] = (meta["starttime"], meta["endtime"])
    rules: dict[str, dict[str, Any]] = {}
    for (rule, _), (start, end) in seen.items():
        entry = rules.setdefault(rule, {"jobs": 0, "wall_seconds": 0.0})
        entry["jobs"] += 1
        entry["wall_seconds"] += end - start
    for entry in rules.values():
        entry["wall_seconds"] = round(entry["wall_seconds"], 3)
    return dict(sorted(rules.items()))


def timed_run(project: Path, args: list[str], timeout: float, name: str, per_rule: bool = False) -> dict[str, Any]:
    since = time.time()
    res = run_snakemake(project, args, timeout, name)
    per_script = res.pop("_per_script")
    if per_rule:
        rules = job_times(project, since)
        script_rule = _rule_of_script()
        stage = _stage_of_rule()
        for script, entry in per_script.items():
            rule = script_rule.get(script)
            if rule:
                rules.setdefault(rule, {"jobs": 0, "wall_seconds": 0.0})["peak_rss_mb"] = round(entry["peak_rss_mb"], 1)
        for rule, entry in rules.items():
            entry["stage"] = stage.get(rule, "")
        res["rules"] = rules
        stages: dict[str, dict[str, Any]] = {}
        for entry in rules.values():
            s = stages.setdefault(entry["stage"], {"jobs": 0, "wall_seconds": 0.0, "peak_rss_mb": 0.0})
            s["jobs"] += entry["jobs"]
            s["wall_seconds"] = round(s["wall_seconds"] + entry["wall_seconds"], 3)
            s["peak_rss_mb"] = max(s["peak_rss_mb"], entry.get("peak_rss_mb", 0.0))
        res["stages"] = dict(sorted(stages.items()))
    return res


def _best_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest of ``runs`` that finished (return code 0), with every run's wall time in ``all_wall_seconds``;
    the first run when none finished (its error, time-out or skip is then what the ratios report)."""
    done = [r for r in runs if r.get("returncode") == 0 and "wall_seconds" in r]
    best = dict(min(done, key=lambda r: r["wall_seconds"], default=runs[0]))
    best["all_wall_seconds"] = [r.get("wall_seconds") for r in runs]
    return best


def _ratio(a: dict | None, b: dict | None, key: str = "wall_seconds") -> float | None:
    if not a or not b or a.get("skipped") or b.get("skipped") or a.get("timed_out") or b.get("timed_out"):
        return None
    if a.get("returncode") or b.get("returncode") or not b.get(key):
        return None
    return round(a[key] / b[key], 2)


class Budget:
    def __init__(self, seconds: float) -> None:
        self.end = time.perf_counter() + seconds

    def left(self) -> float:
        return self.end - time.perf_counter()


# --------------------------------------------------------------------------------------------------------------
# parts


def bench_interactive(work: Path, timeout: float, budget: Budget) -> dict[str, Any]:
    """No-op, cold, estimator edits and forced multiverse on a copy of this project."""
    project = make_project(work / "interactive")
    out: dict[str, Any] = {"project": "shipped corpus and config, quote checks on"}

    def run(name: str, args: list[str], per_rule: bool = False, where: Path = project) -> dict[str, Any]:
        if budget.left() <= 0:
            return {"skipped": "time budget spent"}
        return timed_run(where, args, min(timeout, budget.left()), name, per_rule)

    # The cold run, like the no-op it is divided by, is the best of three: this one, one after the no-op and
    # forced runs and one at the end, each in a fresh copy (a single run in a slow minute of the machine gave
    # 10.8x where the others gave 6.7-8.7x).
    colds = [run("cold", ["-q"], per_rule=True)]
    if colds[0].get("returncode") != 0:
        out["cold"] = colds[0]
        return out

    def another_cold(i: int) -> None:
        colds.append(run(f"cold{i}", ["-q"], per_rule=True, where=make_project(work / f"interactive-cold{i}")))

    # The no-op and the forced multiverse, three times each, taken in turns so that a change of the machine's
    # speed (it varies by tens of percent over minutes) reaches both; each is the best of its three runs.
    noop, forced = [], []
    for i in range(3):
        noop.append(run(f"noop{i}", ["-q"]))
        forced.append(run(f"forced_multiverse{i}", ["-q", "--forcerun", "run_multiverse"], per_rule=True))
    out["noop"], out["forced_multiverse"] = _best_of(noop), _best_of(forced)
    another_cold(1)
    for key, analysis in (("estimator_multiverse_analysis", MULTIVERSE_ANALYSIS),
                          ("estimator_other_analysis", OTHER_ANALYSIS)):
        config = project / "config" / "config.yaml"
        saved = config.read_text(encoding="utf-8")
        set_estimator(project, analysis, "DL")
        out[key] = run(key, ["-q"], per_rule=True)
        out[key]["edit"] = f"analyses.{analysis}.method: DL"
        config.write_text(saved, encoding="utf-8")
        run(f"{key}-restore", ["-q"])
    another_cold(2)
    out["cold"] = _best_of(colds)
    out["ratios"] = {
        "cold_to_noop": _ratio(out["cold"], out["noop"]),
        "estimator_multiverse_analysis_to_noop": _ratio(out["estimator_multiverse_analysis"], out["noop"]),
        "estimator_other_analysis_to_noop": _ratio(out["estimator_other_analysis"], out["noop"]),
        "forced_multiverse_to_noop": _ratio(out["forced_multiverse"], out["noop"]),
        "targets": {"cold_to_noop": 10, "estimator_multiverse_analysis_to_noop": 4,
                    "estimator_other_analysis_to_noop": 4, "forced_multiverse_to_noop": 2.5},
    }
    return out


def bench_multiverse(project: Path, repeat: int = 3) -> dict[str, Any]:
    """The multiverse of every listed analysis in one process, beside ``rma_many`` alone on its datasets.

    Reads the intermediates of a finished run in ``project`` (records, studies, outcomes, bias). The rma_many
    calls the multiverse makes are recorded (their inputs), then replayed alone.
    """
    import yaml

    sys.path.insert(0, str(project / "workflow"))  # the copy's package, as its jobs import it
    try:  # the multiverse's module (evsynth.pool.analysis in checkouts before the split)
        import evsynth.pool.multiverse as analysis_module
    except ImportError:
        import evsynth.pool.analysis as analysis_module
    from evsynth.common.config import analysis_spec
    from evsynth.stats import rma_many

    config = yaml.safe_load((project / "config" / "config.yaml").read_text(encoding="utf-8"))
    grid = config["multiverse"]
    analyses = {name: analysis_spec(config, name) for name in grid["analyses"]}
    inputs = _multiverse_inputs(project)
    calls: list[tuple] = []

    def recording(frame, by, **kwargs):
        calls.append((frame.copy(), by, kwargs))
        return rma_many(frame, by, **kwargs)

    end_to_end, fits_alone = [], []
    table = None
    for i in range(repeat):
        t0 = time.perf_counter()
        corpus = _load_corpus(inputs)
        table = analysis_module.multiverse(corpus, analyses, grid)
        end_to_end.append(time.perf_counter() - t0)
    analysis_module.rma_many = recording
    try:
        analysis_module.multiverse(_load_corpus(inputs), analyses, grid)
    finally:
        analysis_module.rma_many = rma_many
    for _ in range(repeat):
        t0 = time.perf_counter()
        for frame, by, kwargs in calls:
            rma_many(frame, by, **kwargs)
        fits_alone.append(time.perf_counter() - t0)
    assert table is not None
    return {
        "specifications": int(len(table)),
        "rma_many_calls": len(calls),
        "rows_fitted_per_call": [int(len(c[0])) for c in calls][:1],
        "end_to_end_seconds": round(min(end_to_end), 4),
        "end_to_end_includes": "reading the intermediates, building every dataset, all fits, the table (no plots)",
        "rma_many_alone_seconds": round(min(fits_alone), 4),
        "ratio_end_to_end_to_rma_many": round(min(end_to_end) / min(fits_alone), 2),
        "target_ratio": 5,
        "specifications_per_second": round(len(table) / min(end_to_end), 1),
        "all_end_to_end_seconds": [round(x, 4) for x in end_to_end],
        "all_rma_many_seconds": [round(x, 4) for x in fits_alone],
    }


def _multiverse_inputs(project: Path) -> dict[str, Any]:
    """The intermediates rule run_multiverse reads, in a finished run (see workflow/rules/pool.smk)."""
    results = project / "results"
    tables = ["participants", "interventions", "outcomes", "adverse_events", "cointerventions"]
    return {"records": [str(results / "selected" / f"{t}.parquet") for t in tables],
            "studies": str(results / "selected" / "studies.json"),
            "outcomes": str(results / "harmonized" / "outcomes.parquet"),
            "bias": str(results / "tables" / "bias_overall.csv")}


def _load_corpus(inputs: dict[str, Any]):
    """The corpus the multiverse reads, loaded by the function rule run_multiverse uses."""
    from types import SimpleNamespace

    try:
        from evsynth.pool.run import load_corpus
    except ImportError:  # a tree from before issue 10
        from evsynth.steps import load_corpus  # type: ignore[no-redef]
    return load_corpus(SimpleNamespace(**inputs))


def bench_scale(work: Path, scales: list[int], timeout: float, budget: Budget) -> dict[str, Any]:
    out: dict[str, Any] = {"corpus": "each study copied under new ids; quote checks off", "runs": {}}
    for factor in scales:
        key = f"{factor}x"
        if budget.left() <= 0:
            out["runs"][key] = {"skipped": "time budget spent"}
            continue
        project = work / f"scale{factor}"
        t0 = time.perf_counter()
        make_project(project, factor, check_quotes=False)
        setup = time.perf_counter() - t0
        res = timed_run(project, ["-q"], min(timeout, budget.left()), f"scale{factor}", per_rule=True)
        res["studies"] = len([p for p in (project / "resources" / "studies").iterdir() if p.is_dir()])
        res["setup_seconds"] = round(setup, 2)
        out["runs"][key] = res
        shutil.rmtree(project, ignore_errors=True)
        print(f"scale {key}: {res.get('wall_seconds')} s wall, {res.get('cpu_seconds')} s cpu, "
              f"{res.get('peak_tree_rss_mb')} MB peak, rc={res.get('returncode')}", flush=True)
    base = out["runs"].get("1x")
    out["ratios_to_1x"] = {
        key: {"wall": _ratio(run, base), "cpu": _ratio(run, base, "cpu_seconds")}
        for key, run in out["runs"].items() if key != "1x"
    }
    out["targets_wall_ratio"] = {"4x": 2, "16x": 8, "60x": 30}
    return out


def bench_tests(timeout: float) -> dict[str, Any]:
    # the suite as make test runs it (the Makefile's flags: pytest-xdist on every core, modules kept together)
    flags = ["-n", "auto", "--dist", "loadgroup", "--no-loadscope-reorder"]
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *flags]
    load_before = os.getloadavg()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    try:
        env = {**os.environ, "PYTHONPATH": str(SOURCE / "workflow")}
        proc = subprocess.run(cmd, cwd=SOURCE, capture_output=True, text=True, timeout=timeout, env=env)
        wall = time.perf_counter() - t0
        tail = proc.stdout.strip().splitlines()[-1:] if proc.stdout else []
        return {"command": " ".join(["python", *cmd[1:]]), "wall_seconds": round(wall, 2),
                "cpu_seconds": round(_cpu_since(usage), 1),
                "returncode": proc.returncode, "summary": tail[0] if tail else "", "load_before": load_before,
                "load_after": os.getloadavg(), "target_seconds": 60}
    except subprocess.TimeoutExpired:
        return {"timed_out": True, "timeout_seconds": timeout}


def _cpu_since(usage) -> float:
    """User + system CPU seconds of the finished child processes since ``usage`` was taken."""
    now = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (now.ru_utime - usage.ru_utime) + (now.ru_stime - usage.ru_stime)


def environment() -> dict[str, Any]:
    import numpy
    import pandas

    return {"python": sys.version.split()[0], "numpy": numpy.__version__, "pandas": pandas.__version__,
            "platform": platform.platform(), "cpus": os.cpu_count(),
            "source": str(SOURCE),
            "commit": subprocess.run(["git", "rev-parse", "HEAD"], cwd=SOURCE, capture_output=True,
                                     text=True).stdout.strip()}


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default=os.environ.get("EVSYNTH_BENCH_PARTS", "interactive,multiverse,scale,tests"))
    parser.add_argument("--scales", default=os.environ.get("EVSYNTH_BENCH_SCALES", "1,4,16,60"))
    parser.add_argument("--timeout", type=float, default=float(os.environ.get("EVSYNTH_BENCH_TIMEOUT", 1800)))
    parser.add_argument("--budget", type=float, default=float(os.environ.get("EVSYNTH_BENCH_BUDGET", 7200)))
    parser.add_argument("--out", default=str(ROOT / "results" / "benchmarks"))
    parser.add_argument("--workdir", help="keep the projects here instead of a temporary folder")
    parser.add_argument("--source", default=str(ROOT), help="the project tree to measure (default: this one)")
    args = parser.parse_args(argv)
    global SOURCE
    SOURCE = Path(args.source).resolve()
    parts = [p for p in args.parts.split(",") if p]
    scales = [int(s) for s in args.scales.split(",") if s]
    out = Path(args.out)
    budget = Budget(args.budget)
    env = environment()
    work_ctx = tempfile.TemporaryDirectory(prefix="evsynth-bench-") if not args.workdir else None
    work = Path(work_ctx.name if work_ctx else args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    try:
        if "interactive" in parts or "multiverse" in parts:
            result: dict[str, Any] = {"benchmark": "pipeline", "environment": env}
            if "interactive" in parts:
                result["interactive"] = bench_interactive(work, args.timeout, budget)
                print(json.dumps(result["interactive"].get("ratios"), indent=2), flush=True)
            if "multiverse" in parts:
                project = work / "interactive"
                if not (project / "results" / "tables" / "pooled.csv").exists():
                    if not project.exists():
                        make_project(project)
                    timed_run(project, ["-q"], args.timeout, "multiverse-setup")
                result["multiverse"] = bench_multiverse(project)
                print(json.dumps(result["multiverse"], indent=2), flush=True)
            _write(out / "pipeline.json", result)
        if "scale" in parts:
            result = {"benchmark": "scale", "environment": env, **bench_scale(work, scales, args.timeout, budget)}
            _write(out / "scale.json", result)
            print(json.dumps(result["ratios_to_1x"], indent=2), flush=True)
        if "tests" in parts:
            if budget.left() > 0:
                result = {"benchmark": "tests", "environment": env, **bench_tests(min(args.timeout, budget.left()))}
            else:
                result = {"benchmark": "tests", "skipped": "time budget spent"}
            _write(out / "tests.json", result)
            print(json.dumps(result, indent=2), flush=True)
    finally:
        if work_ctx:
            work_ctx.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
