"""A process learning a task is killed (SIGKILL) at random moments: the zoo must never notice.

Each trial copies a zoo that holds task ``a``, starts a fresh process that adds task ``b`` to the
copy, kills it after a random delay, and checks that the zoo reopens with ``a`` bit-identical and
``b`` either absent or complete, and that adding ``b`` again completes it. Half the delays fall
anywhere in the add, half in its writing phase (where a torn write would do harm), measured on an
uninterrupted run first. The profile is the mini one with one-epoch training: the test is about
what reaches the disk, not about accuracy.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import mini_task, register_fast_profile
from eglib import data
from eglib.method.learner import LifelongLearner
from eglib.method.zoo import ExpertZoo

TRIALS = 10
PROFILE = register_fast_profile()

# the child: register the profile, load the data, say "ready", add task b (saying "writing" when the
# zoo starts storing it) and say "done"
CHILD = f"""
import sys, time
sys.path.insert(0, {str(Path(__file__).parent)!r})
from conftest import mini_task, register_fast_profile
from eglib.method.learner import LifelongLearner
from eglib.method.zoo import ExpertZoo
register_fast_profile()
store = ExpertZoo.add_task
def announced(self, *args, **kwargs):
    print("writing", time.monotonic(), flush=True)
    return store(self, *args, **kwargs)
ExpertZoo.add_task = announced
learner = LifelongLearner(sys.argv[1], profile={PROFILE!r}, device="cpu")
train, val = mini_task("shapes")
print("ready", time.monotonic(), flush=True)
learner.add_task("b", train, val)
print("done", time.monotonic(), flush=True)
"""


def fingerprint(zoo_path: Path, task: str) -> dict[str, str]:
    """sha256 of the zoo's shared files, of every file of ``task``, and of its manifest entry."""
    zoo = ExpertZoo(zoo_path, profile=PROFILE)
    files = [zoo_path / "standardizer.pt", *sorted((zoo_path / task).rglob("*"))]
    prints = {str(f.relative_to(zoo_path)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files if f.is_file()}
    prints["manifest entry"] = repr(zoo.task(task))
    return prints


class Child:
    """A child process adding task ``b`` to ``zoo_path``, with the moments it reported."""

    def __init__(self, zoo_path: Path) -> None:
        env = {**os.environ, "EGLIB_PROGRESS": "0", "EGLIB_REUSE": "0"}
        self.stderr = zoo_path.with_name(zoo_path.name + ".stderr")
        with self.stderr.open("w") as errors:  # a file, so that a chatty child never blocks on a pipe
            self.process = subprocess.Popen([sys.executable, "-c", CHILD, str(zoo_path)], stdout=subprocess.PIPE,
                                            stderr=errors, text=True, env=env)
        self.moments: dict[str, float] = {}
        self.ready = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            word, _, moment = line.strip().partition(" ")
            if word in ("ready", "writing", "done"):
                self.moments[word] = float(moment)
                if word == "ready":
                    self.ready.set()
        self.ready.set()  # the child ended (or failed) before it was ready

    def wait_ready(self) -> None:
        assert self.ready.wait(120), "the child did not start within 120 s"
        assert "ready" in self.moments, f"the child failed before it started: {self.stderr.read_text()}"

    def finish(self) -> None:
        """Wait for a child that is not killed; it must succeed."""
        self.process.wait(timeout=300)
        self.reader.join()
        assert self.process.returncode == 0, self.stderr.read_text()


@pytest.fixture(scope="module")
def zoo_with_a(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("kills") / "zoo"
    learner = LifelongLearner(path, profile=PROFILE, reference_images=data.load_mini().base[:60].copy(), device="cpu")
    learner.add_task("a", *mini_task("digits"))
    return path


def test_sigkill_at_random_moments_never_harms_the_zoo(zoo_with_a, tmp_path):
    before = fingerprint(zoo_with_a, "a")
    # an uninterrupted add first: how long the add takes, and when its writing starts
    whole = tmp_path / "uninterrupted"
    shutil.copytree(zoo_with_a, whole)
    child = Child(whole)
    child.wait_ready()
    child.finish()
    start, writing, done = (child.moments[k] for k in ("ready", "writing", "done"))
    assert ExpertZoo(whole, profile=PROFILE).task_names == ["a", "b"]

    rng = np.random.default_rng(0)
    outcomes = []
    for trial in range(TRIALS):
        zoo_path = tmp_path / f"trial{trial}"
        shutil.copytree(zoo_with_a, zoo_path)
        low = 0.0 if trial % 2 == 0 else writing - start  # odd trials: inside the writing phase
        delay = float(rng.uniform(low, done - start))
        child = Child(zoo_path)
        child.wait_ready()
        time.sleep(delay)
        child.process.send_signal(signal.SIGKILL)
        child.process.wait(timeout=60)
        child.reader.join()

        zoo = ExpertZoo(zoo_path, profile=PROFILE)  # reopens, whatever the moment
        assert zoo.task_names in (["a"], ["a", "b"]), (trial, delay, zoo.task_names)
        assert fingerprint(zoo_path, "a") == before, (trial, delay)
        outcomes.append(zoo.task_names[-1])
        if zoo.task_names == ["a", "b"]:
            zoo.expert("b")  # complete: its files pass their checksums
        else:
            LifelongLearner(zoo_path, profile=PROFILE, device="cpu").add_task("b", *mini_task("shapes"))
        again = ExpertZoo(zoo_path, profile=PROFILE)
        assert again.task_names == ["a", "b"], (trial, delay)
        again.expert("b")
        assert fingerprint(zoo_path, "a") == before
        leftovers = sorted(p.name for p in zoo_path.iterdir() if p.name.startswith("."))
        assert leftovers == [], (trial, leftovers)  # no staging folder survives the next add
    # the moments must have interrupted some adds (else the test checked nothing)
    assert outcomes.count("a") >= 2, outcomes
