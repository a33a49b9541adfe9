"""A process learning a task is killed (SIGKILL) at random moments: the zoo must never notice.

Each trial copies a zoo that holds task ``a``, starts a fresh process that adds task ``b`` to the
copy, kills it after a random delay, and checks that the zoo reopens with ``a`` bit-identical and
``b`` either absent or complete, and that adding ``b`` again completes it. Half the kills fall
anywhere in the add, half in its writing phase (where a torn write would do harm): a random delay
after the child says it starts writing, within the writing time of an uninterrupted add, which
the children stretch by sleeping 20 ms before each file they write (the same writes, in the same
order, slower). The profile is the mini one with one-epoch training: the test is about
what reaches the disk, not about accuracy.

The processes are forked from one server that has imported torch and eglib and loaded the data
(4 s a start otherwise), on one thread, so a trial costs about as long as the add itself.
"""

from __future__ import annotations

import hashlib
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from conftest import mini_task, register_fast_profile
from eglib import data
from eglib.method.learner import LifelongLearner
from eglib.method.zoo import ExpertZoo

TRIALS = 10
PROFILE = register_fast_profile()

# The fork server: for every zoo path on stdin it forks a child that says "ready", adds task b
# (saying "writing" when the zoo starts storing it) and says "done" (with the moment); the server reports the child's
# pid when told to reap the child ("ended", with its exit status). Lines are "<word> <pid> <value>".
SERVER = f"""
import os, sys, time, traceback
import torch
torch.set_num_threads(1)  # no OpenMP pool in the server: its forks start clean
sys.path.insert(0, {str(Path(__file__).parent)!r})
from conftest import mini_task, register_fast_profile
from eglib.features import extract
from eglib.method.learner import LifelongLearner
from eglib.method.zoo import ExpertZoo
register_fast_profile()
extract._trunk("mobilenet_v2", "cpu")  # the backbone's weights, read once
train, val = mini_task("shapes")
from eglib.method import zoo
def slowed(write):  # 20 ms before every file the zoo writes: a writing phase wide enough to land kills in
    def slow(*args, **kwargs):
        time.sleep(0.02)
        return write(*args, **kwargs)
    return slow
zoo.save_tensors, zoo.atomic_writer = slowed(zoo.save_tensors), slowed(zoo.atomic_writer)
store = ExpertZoo.add_task
def say(word):
    print(word, os.getpid(), time.monotonic(), flush=True)
def announced(self, *args, **kwargs):
    say("writing")
    return store(self, *args, **kwargs)
ExpertZoo.add_task = announced
say("server")
while line := sys.stdin.readline():
    pid = os.fork()
    if pid == 0:
        try:
            learner = LifelongLearner(line.strip(), profile={PROFILE!r}, device="cpu")
            say("ready")
            learner.add_task("b", train, val)
            say("done")
            os._exit(0)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
    sys.stdin.readline()  # "reap": until then a finished child stays a zombie, so its pid is never reused
    _, status = os.waitpid(pid, 0)
    print("ended", pid, float(status), flush=True)
"""


class ForkServer:
    """The server process and the lines it and its children print, as ``(word, pid, value)``."""

    def __init__(self, stderr: Path) -> None:
        env = {**os.environ, "EGLIB_PROGRESS": "0", "EGLIB_REUSE": "0"}
        self.stderr = stderr
        with stderr.open("w") as errors:  # a file, so that a chatty process never blocks on a pipe
            self.process = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, stderr=errors, text=True, env=env)
        self.lines: queue.Queue[tuple[str, int, float]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.expect("server")

    def _read(self) -> None:
        for line in self.process.stdout:
            word, pid, value = line.split()
            self.lines.put((word, int(pid), float(value)))
        self.lines.put(("exit", 0, 0.0))

    def expect(self, word: str, pid: int | None = None) -> tuple[int, float]:
        """Wait for the next line; it must be ``word`` (of ``pid``). Returns ``(pid, value)``."""
        got, who, value = self.lines.get(timeout=120)
        assert got == word and (pid is None or who == pid), (word, pid, got, who, self.stderr.read_text())
        return who, value

    def reap(self, pid: int) -> float:
        """Let the server reap child ``pid`` (after the lines it still printed); return its exit status."""
        self.process.stdin.write("reap\n")
        self.process.stdin.flush()
        while True:
            word, who, value = self.lines.get(timeout=120)
            assert who == pid, (word, who, pid, self.stderr.read_text())
            if word == "ended":
                return value

    def start(self, zoo_path: Path) -> tuple[int, float]:
        """Fork a child adding task b to ``zoo_path``; return its pid and the moment it was ready."""
        self.process.stdin.write(f"{zoo_path}\n")
        self.process.stdin.flush()
        return self.expect("ready")

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


def fingerprint(zoo_path: Path, task: str) -> dict[str, str]:
    """sha256 of the zoo's shared files, of every file of ``task``, and of its manifest entry."""
    zoo = ExpertZoo(zoo_path, profile=PROFILE)
    files = [zoo_path / "standardizer.pt", *sorted((zoo_path / task).rglob("*"))]
    prints = {str(f.relative_to(zoo_path)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files if f.is_file()}
    prints["manifest entry"] = repr(zoo.task(task))
    return prints


@pytest.fixture(scope="module")
def zoo_with_a(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("kills") / "zoo"
    learner = LifelongLearner(path, profile=PROFILE, reference_images=data.load_mini().base[:60].copy(), device="cpu")
    learner.add_task("a", *mini_task("digits-a"))
    return path


@pytest.mark.serial  # its kill moments are timed on an uninterrupted add: other load would shift them
def test_sigkill_at_random_moments_never_harms_the_zoo(zoo_with_a, tmp_path):
    before = fingerprint(zoo_with_a, "a")
    server = ForkServer(tmp_path / "server.stderr")
    # an uninterrupted add first: how long the add takes, and when its writing starts
    whole = tmp_path / "uninterrupted"
    shutil.copytree(zoo_with_a, whole)
    pid, start = server.start(whole)
    writing, done = server.expect("writing", pid)[1], server.expect("done", pid)[1]
    assert server.reap(pid) == 0  # exit status
    assert ExpertZoo(whole, profile=PROFILE).task_names == ["a", "b"]

    rng = np.random.default_rng(0)
    outcomes = []
    for trial in range(TRIALS):
        zoo_path = tmp_path / f"trial{trial}"
        shutil.copytree(zoo_with_a, zoo_path)
        in_writing = trial % 2 == 1
        pid, ready = server.start(zoo_path)
        if in_writing:  # odd trials: at a random moment of the writing phase, timed from its start
            server.expect("writing", pid)
            delay = float(rng.uniform(0.0, done - writing))
        else:  # even trials: at a random moment of the whole add
            delay = float(rng.uniform(0.0, done - start))
        threading.Event().wait(delay)
        os.kill(pid, signal.SIGKILL)  # a child that finished is a zombie until reaped: the kill is a no-op
        server.reap(pid)

        zoo = ExpertZoo(zoo_path, profile=PROFILE)  # reopens, whatever the moment
        assert zoo.task_names in (["a"], ["a", "b"]), (trial, delay, zoo.task_names)
        assert fingerprint(zoo_path, "a") == before, (trial, delay)
        outcomes.append((in_writing, zoo.task_names[-1]))
        if zoo.task_names == ["a", "b"]:
            zoo.expert("b")  # complete: its files pass their checksums
        else:
            LifelongLearner(zoo_path, profile=PROFILE, device="cpu").add_task("b", *mini_task("shapes"))
        again = ExpertZoo(zoo_path, profile=PROFILE)
        assert again.task_names == ["a", "b"], (trial, delay)
        again.expert("b")
        assert fingerprint(zoo_path, "a") == before
        leftovers = sorted(p.name for p in zoo_path.iterdir() if p.name.startswith("."))
        assert leftovers == [], (trial, leftovers)  # no staging folder or temporary manifest survives
    server.close()
    # the kills must have interrupted adds, writes among them (else the test checked nothing)
    assert outcomes.count((False, "a")) >= 2 and outcomes.count((True, "a")) >= 2, outcomes
