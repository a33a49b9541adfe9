"""``make reproduce``: run the numbered notebooks in order with papermill into ``runs/<timestamp>/``.

    python -m eglib.run.reproduce [--profile mini] [--device cpu] [--seed 0 | --seeds 0,1,2] [--only 00 02]

Each run folder holds ``notebooks/`` (executed copies), ``figures/``, ``metrics/`` (one JSON per
notebook) and the merged ``metrics.json``; ``runs/latest`` points at the newest run. With
``--seeds`` every seed runs into ``<run>/seed-<s>/`` (each such a folder), and ``<run>`` holds the
first seed's ``metrics.json`` with a ``seeds`` block (per headline number: values, mean, sd) and a
``report.md`` of the spreads (:mod:`eglib.run.seeds`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import faulthandler
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from eglib import config, data
from eglib.data import paper
from eglib.run import kernels, outputs, report, seeds

NOTEBOOK_DIR = config.REPO_ROOT / "notebooks"
REQUIRED_KEYS = ("gate_accuracy", "discriminative_accuracy", "gate_accuracy_per_domain",
                 "discriminative_accuracy_per_domain", "relatedness")
PIPELINE_KEYS = ("expert_gate_accuracy", "expert_gate_multi_accuracy", "joint_accuracy", "oracle_ft_accuracy",
                 "oracle_lwf_accuracy", "single_ft_final_accuracy", "single_lwf_final_accuracy",
                 "most_confident_accuracy", "transfer_choices")
VIDEO_KEYS = ("video_l1", "video_gate_accuracy")
TEXT_KEYS = ("text_gate_accuracy", "text_bpc", "text_routing_by_prefix")
# headline keys that a notebook must have saved when it ran, by its two-digit prefix
NOTEBOOK_KEYS = {"05": PIPELINE_KEYS, "06": VIDEO_KEYS, "07": TEXT_KEYS}


def notebooks(only: list[str] | None = None, folder: Path = NOTEBOOK_DIR) -> list[Path]:
    """The numbered notebooks ``NN_*.ipynb`` in order, optionally only those whose prefix is in ``only``."""
    found = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if only:
        found = [path for path in found if path.name[:2] in only]
    if not found:
        raise ValueError(f"No notebook matches {only or 'NN_*.ipynb'} in {folder}.")
    return found


def new_run_dir(runs: Path) -> Path:
    """Create ``runs/<timestamp>/`` and point ``runs/latest`` at it."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    run = runs / stamp
    suffix = 1
    while run.exists():
        run = runs / f"{stamp}-{suffix}"
        suffix += 1
    run.mkdir(parents=True)
    latest = runs / "latest"
    temporary = runs / f".latest-{os.getpid()}"
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(run.name)
    os.replace(temporary, latest)
    return run


def paper_tasks_needed(selected: list[Path]) -> tuple[str, ...]:
    """The paper datasets the selected notebooks read: the six tasks, and for notebook 04 (the
    paper's Figure 6) also SVHN, letters and MNIST."""
    extra = paper.RELATEDNESS_TASKS if any(p.name.startswith("04") for p in selected) else ()
    return paper.PAPER_TASKS + extra


def last_seconds(runs: Path, profile: str) -> dict[str, float]:
    """Seconds per notebook of the latest finished run of ``profile`` under ``runs`` (empty if none)."""
    try:
        last = json.loads((runs / "latest" / "metrics.json").read_text())["run"]
    except (OSError, ValueError, KeyError):
        return {}
    return last.get("notebook_seconds", {}) if last.get("PROFILE") == profile else {}


class Ticker:
    """One line per notebook: its elapsed seconds, updated in place on a terminal, beside the time
    the same notebook took in the last run."""

    def __init__(self, label: str, expected: float | None) -> None:
        self.label, self.expected = label, expected
        self.start = time.perf_counter()
        self.stop = threading.Event()
        self.live = sys.stdout.isatty()
        print(self.label, end=" ", flush=True)
        if self.live:
            self.thread = threading.Thread(target=self._tick, daemon=True)
            self.thread.start()

    def _hint(self) -> str:
        return f" (last run: {self.expected:.0f} s)" if self.expected else ""

    def _tick(self) -> None:
        while not self.stop.wait(2.0):
            print(f"\r{self.label} {time.perf_counter() - self.start:.0f} s{self._hint()}", end="", flush=True)

    def done(self, outcome: str) -> float:
        """Stop updating, print ``outcome`` and the elapsed time; return the seconds."""
        self.stop.set()
        seconds = time.perf_counter() - self.start
        prefix = f"\r{self.label} " if self.live else ""
        print(f"{prefix}{outcome} in {seconds:.0f} s{self._hint()}", flush=True)
        return seconds


def run_suite(run: Path, selected: list[Path], parameters: dict[str, Any], expected: dict[str, float],
              notebook_dir: Path, label: str = "", cell_timeout: float | None = None
              ) -> tuple[dict[str, Any], dict[str, str]]:
    """Execute ``selected`` notebooks into ``run`` (one seed); write its ``metrics.json`` and
    ``report.md``. Returns the merged metrics and the failed notebooks (``{stem: reason}``).
    ``cell_timeout``: seconds a cell may go without a reply (:func:`kernels.execute_notebook`)."""
    (run / "notebooks").mkdir(parents=True, exist_ok=True)
    os.environ["EGLIB_RUN_DIR"] = str(run)
    import papermill

    timings, failed, hung = {}, {}, {}
    for index, notebook in enumerate(selected, 1):
        ticker = Ticker(f"{label}[{index}/{len(selected)}] {notebook.stem} ...", expected.get(notebook.stem))
        try:
            hangs = kernels.execute_notebook(notebook, run / "notebooks" / notebook.name, parameters, notebook_dir,
                                             cell_timeout)
        except papermill.PapermillExecutionError as error:
            # the notebooks are independent: the others still run, and the report lists the failure
            failed[notebook.stem] = f"cell {error.exec_count or '?'}: {error.ename}: {error.evalue}"
            ticker.done("FAILED")
            print(f"{notebook.name} failed in {failed[notebook.stem]}\n"
                  f"See the executed copy: {run / 'notebooks' / notebook.name}", file=sys.stderr)
            continue
        timings[notebook.stem] = round(ticker.done(f"done after {hangs} hung attempt(s)" if hangs else "done"), 1)
        if hangs:
            hung[notebook.stem] = hangs
    merged = outputs.merge_metrics(run)
    merged["run"] = {**parameters, "notebook_seconds": timings, "failed_notebooks": failed,
                     "hung_attempts": hung, "settings": config.get_profile(parameters["PROFILE"]).settings(),
                     "finished": dt.datetime.now().isoformat(timespec="seconds")}
    outputs.write_json_atomic(run / "metrics.json", merged)
    with outputs.atomic_writer(run / "report.md", "w") as out:
        out.write(report.build_report(run, merged))
    return merged, failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default=os.environ.get("PROFILE", "mini"))
    parser.add_argument("--device", default=os.environ.get("DEVICE", "cpu"))
    parser.add_argument("--seed", type=int, default=int(os.environ.get("SEED", "0")))
    parser.add_argument("--seeds", default=None,
                        help="comma-separated seeds (e.g. 0,1,2): the suite once per seed into <run>/seed-<s>/, "
                             "and the spread of every headline number in <run>/metrics.json and report.md")
    parser.add_argument("--only", nargs="*", help="two-digit prefixes of the notebooks to run")
    parser.add_argument("--runs", type=Path, default=config.REPO_ROOT / "runs")
    parser.add_argument("--resume", type=Path, default=None,
                        help="an earlier run folder to complete: its checkpoints and expert zoo are reused")
    parser.add_argument("--cell-timeout", type=float, default=None, metavar="SECONDS",
                        help="interrupt a cell that gives no reply in SECONDS and run its notebook once more "
                             "with a new kernel (make test's rehearsal lanes; default: no limit)")
    parser.add_argument("--notebook-dir", type=Path, default=NOTEBOOK_DIR, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.runs = args.runs.resolve()  # the notebooks run in notebooks/: a relative folder would land there
    try:
        config.get_profile(args.profile)
        config.resolve_device(args.device)
        kernels.timeout_options(args.cell_timeout)
        seed_list = seeds.parse_seeds(args.seeds) if args.seeds else [args.seed]
        selected = notebooks(args.only, args.notebook_dir)
        data.check_profile_ready(args.profile, paper_tasks_needed(selected))
    except (ValueError, data.DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    several = args.seeds is not None
    expected = last_seconds(args.runs, args.profile)
    if args.resume is not None:
        run = args.resume.resolve()
        firsts = [run / f"seed-{s}" for s in seed_list] if several else [run]
        if not any((folder / "notebooks").is_dir() for folder in firsts):
            print(f"error: {args.resume} is not a run folder of `make reproduce` (no notebooks/ inside"
                  f"{', nor in its seed-<s>/ folders' if several else ''}).", file=sys.stderr)
            return 2
        os.environ["EGLIB_RESUME"] = "1"
        print(f"Resuming {run}: finished experts and baselines are read back from its checkpoints.", flush=True)
    else:
        run = new_run_dir(args.runs)
        os.environ.pop("EGLIB_RESUME", None)
    os.environ["EGLIB_PROGRESS"] = "0"  # the executed notebooks keep no progress bars; this loop prints its own
    print(f"Expert Gate suite: profile={args.profile} device={args.device} "
          f"seed{'s' if several else ''}={','.join(map(str, seed_list))} -> {run}", flush=True)
    per_seed, failed = {}, {}
    for seed in seed_list:
        parameters = {"PROFILE": args.profile, "DEVICE": args.device, "SEED": seed}
        folder = run / f"seed-{seed}" if several else run
        per_seed[seed], seed_failed = run_suite(folder, selected, parameters, expected, args.notebook_dir,
                                                label=f"seed {seed} " if several else "", cell_timeout=args.cell_timeout)
        failed.update({f"{stem} (seed {seed})" if several else stem: why for stem, why in seed_failed.items()})
    merged = per_seed[seed_list[0]]
    if several:
        merged = {**merged, "seeds": seeds.spread(per_seed)}
        merged["run"] = {**merged["run"], "SEEDS": seed_list, "failed_notebooks": failed}
        outputs.write_json_atomic(run / "metrics.json", merged)
        with outputs.atomic_writer(run / "report.md", "w") as out:
            out.write(report.build_seed_report(merged))
    if failed:
        print(f"error: {len(failed)} notebook(s) failed: {', '.join(failed)}; the report lists them: {run / 'report.md'}",
              file=sys.stderr)
        return 1
    required = REQUIRED_KEYS + tuple(key for p in selected for key in NOTEBOOK_KEYS.get(p.name[:2], ()))
    missing = sorted({key for m in per_seed.values() for key in required if key not in m}) if not args.only else []
    if missing:
        print(f"error: metrics.json lacks {missing}: a notebook did not save its headline numbers.", file=sys.stderr)
        return 1
    print(f"Results: {run}\n  report: {run / 'report.md'}\n  metrics: {run / 'metrics.json'}\n"
          + ("".join(f"  seed {s}: {run / f'seed-{s}'}\n" for s in seed_list) if several else
             f"  figures: {run / 'figures'}\n  notebooks: {run / 'notebooks'}\n")
          + f"  (also at {args.runs / 'latest'})")
    spread_of = merged.get("seeds", {}).get("keys", {})
    for key in ("gate_accuracy", "discriminative_accuracy", "expert_gate_accuracy", "oracle_ft_accuracy"):
        if key in spread_of and len(seed_list) > 1:
            print(f"  {key}: {spread_of[key]['mean']:.3f} ± {spread_of[key]['sd']:.3f} over {len(seed_list)} seeds")
        elif key in merged:
            print(f"  {key}: {merged[key]:.3f}")
    return 0


if __name__ == "__main__":
    # `kill -USR1 <pid>` prints where every thread of the run is, and it goes on (make test's lanes
    # send it when they run past LANE_TIMEOUT, before stopping the lane)
    faulthandler.register(signal.SIGUSR1, file=sys.__stderr__, all_threads=True)
    sys.exit(main())
