"""Executing one notebook: private kernel sockets, kernel start retries, and cells that hang."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eglib.run import kernels, reproduce
from tests.conftest import tiny_notebook


def test_a_kernel_that_dies_while_starting_is_started_again_and_a_notebook_error_is_not(tmp_path, monkeypatch):
    import papermill

    calls = []

    def flaky(notebook, out, **kwargs):
        calls.append(out)
        if len(calls) == 1:
            raise RuntimeError("Kernel died before replying to kernel_info")
        Path(out).write_text("{}")

    monkeypatch.setattr(papermill, "execute_notebook", flaky)
    monkeypatch.setattr(kernels.time, "sleep", lambda seconds: None)
    out = tmp_path / "out.ipynb"
    kernels.execute_notebook(Path("nb.ipynb"), out, {}, tmp_path)
    assert len(calls) == 2 and out.exists()

    # a kernel that never starts is given up after KERNEL_START_TRIES; any other error at once
    for message, match, tries in (("Kernel died before replying to kernel_info", "kernel_info", kernels.KERNEL_START_TRIES),
                                  ("Kernel didn't respond in 60 seconds", "respond", kernels.KERNEL_START_TRIES),
                                  ("some other failure", "other failure", 1)):
        def fails(notebook, out, message=message, **kwargs):
            calls.append(out)
            raise RuntimeError(message)

        calls.clear()
        monkeypatch.setattr(papermill, "execute_notebook", fails)
        with pytest.raises(RuntimeError, match=match):
            kernels.execute_notebook(Path("nb.ipynb"), out, {}, tmp_path)
        assert len(calls) == tries


def test_kernels_talk_over_private_unix_sockets_not_tcp_ports(tmp_path, monkeypatch):
    """Two suites side by side cannot take each other's ports: each kernel's sockets live in a folder of its own."""
    import papermill

    seen = []

    def records(notebook, out, kernel_manager_class=None, **kwargs):
        manager = kernel_manager_class(kernel_name="python3")
        seen.append((manager.transport, Path(manager.ip).parent))
        assert Path(manager.ip).parent.is_dir()

    monkeypatch.setattr(papermill, "execute_notebook", records)
    kernels.execute_notebook(Path("nb.ipynb"), tmp_path / "a.ipynb", {}, tmp_path)
    kernels.execute_notebook(Path("nb.ipynb"), tmp_path / "b.ipynb", {}, tmp_path)
    assert [transport for transport, _ in seen] == ["ipc", "ipc"]
    assert seen[0][1] != seen[1][1] and not seen[0][1].exists()   # one folder per run, removed afterwards


def test_a_kernel_is_shut_down_without_an_interrupt_first(tmp_path, monkeypatch):
    """jupyter_client sends SIGINT before a shutdown request; the suite's kernels skip it (an idle kernel logged
    'KeyboardInterrupt caught in kernel' on the console), while an interrupt asked for outside a shutdown is sent."""
    import asyncio

    from jupyter_client.manager import KernelManager

    sent = []

    async def interrupt(self):
        sent.append(self.shutting_down)

    monkeypatch.setattr(KernelManager, "_async_interrupt_kernel", interrupt)
    interrupts = []
    manager = kernels.ipc_kernel_manager(tmp_path, interrupts)(kernel_name="python3")
    asyncio.run(manager.interrupt_kernel())     # the public name, which nbclient calls on a cell timeout
    assert sent == [False] and interrupts == [True]   # outside a shutdown: sent, and counted
    manager.shutting_down = True
    asyncio.run(manager._async_interrupt_kernel())
    assert sent == [False] and interrupts == [True]   # during the shutdown: skipped


# a cell that hangs the first time it runs (until a marker file exists) and answers at once after;
# IGNORE_SIGINT makes its kernel deaf to the interrupt, as one stuck in C code would be
HANGS_ONCE = """
import pathlib, signal, time
marker = pathlib.Path(MARKER)
if not marker.exists():
    marker.write_text("hung once")
    if IGNORE_SIGINT:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    time.sleep(120)
print("answered")
"""


@pytest.mark.parametrize("ignore_sigint", [False, True], ids=["interruptible", "deaf to SIGINT"])
def test_a_hung_cell_is_interrupted_and_its_notebook_run_again_with_a_new_kernel(tmp_path, capsys, ignore_sigint):
    notebook, out = tmp_path / "nb.ipynb", tmp_path / "out" / "nb.ipynb"
    out.parent.mkdir()
    tiny_notebook(notebook, HANGS_ONCE, parameters="MARKER = ''\nIGNORE_SIGINT = False")
    hangs = kernels.execute_notebook(notebook, out, {"MARKER": str(tmp_path / "marker"), "IGNORE_SIGINT": ignore_sigint},
                                     tmp_path, cell_timeout=4)
    assert hangs == 1
    executed = json.loads(out.read_text())
    assert executed["cells"][-1]["outputs"][0]["text"] == ["answered\n"]
    hung = json.loads((tmp_path / "out" / "nb.hung.ipynb").read_text())  # the copy that hung is kept
    tracebacks = [line for output in hung["cells"][-1]["outputs"] for line in output.get("traceback", [])]
    if not ignore_sigint:  # where the kernel was when it was interrupted
        assert any("time.sleep(120)" in line or "KeyboardInterrupt" in line for line in tracebacks)
    assert "gave no reply within 4 s" in capsys.readouterr().err


def test_a_notebook_that_hangs_every_time_fails_with_the_reason_and_the_run_goes_on(tmp_path):
    import papermill

    notebook = tmp_path / "nb.ipynb"
    tiny_notebook(notebook, "import time\ntime.sleep(120)")
    with pytest.raises(papermill.PapermillExecutionError) as raised:
        kernels.execute_notebook(notebook, tmp_path / "out.ipynb", {}, tmp_path, cell_timeout=3)
    assert raised.value.ename == "CellTimeout" and "no reply within 3 s, 2 times" in raised.value.evalue


def test_a_cell_timeout_that_is_not_a_positive_number_is_refused_before_anything_runs(tmp_path, capsys):
    assert kernels.timeout_options(None) == {}
    assert reproduce.main(["--cell-timeout", "0", "--runs", str(tmp_path / "runs")]) == 2
    assert "--cell-timeout (cell_timeout) must be a positive number of seconds, e.g. 300" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


async def _reply_after_a_send(channel_class: type, wait: float) -> bool:
    """Whether a client on ``channel_class`` reads a reply that arrived just before it sent on the same socket.

    The order of nbclient's wait on a cell that draws into an ``ipywidgets.Output``: the client polls its shell
    socket for the reply; the reply reaches the socket while the event loop is busy; the client then sends a
    ``comm_msg`` (the widget's new outputs) on that socket, which uses up the reply's edge-triggered wake-up.
    """
    import asyncio
    import time

    import zmq
    import zmq.asyncio
    from jupyter_client.session import Session

    context = zmq.asyncio.Context()
    kernel, client = context.socket(zmq.ROUTER), context.socket(zmq.DEALER)
    try:
        kernel.bind("inproc://shell")
        client.connect("inproc://shell")
        session = Session(key=b"")
        channel = channel_class(client, session)
        channel.send(session.msg("execute_request"))
        request = await kernel.recv_multipart()
        waiting = asyncio.ensure_future(channel.get_msg())
        await asyncio.sleep(0.1)              # the client's poll is waiting for the socket's wake-up
        await kernel.send_multipart(request)  # the reply arrives...
        time.sleep(0.05)                      # ...while the loop is busy
        channel.send(session.msg("comm_msg")) # and the client sends before the loop wakes
        try:
            await asyncio.wait_for(waiting, wait)
            return True
        except asyncio.TimeoutError:
            waiting_events = zmq.Socket.shadow(client.underlying).get(zmq.EVENTS)  # not the asyncio socket's own
            assert waiting_events & zmq.POLLIN, "the reply was not in the socket: the test did not build the case it is about"
            return False
    finally:
        context.destroy(linger=0)


def test_a_reply_whose_wake_up_a_send_used_up_is_still_read(monkeypatch):
    """The hang of a clean-clone make reproduce in 02's widget cell (jupyter/nbclient#312), made on purpose."""
    import asyncio

    from jupyter_client.channels import AsyncZMQSocketChannel

    # jupyter_client's own channel waits forever on this reply (if this starts to fail, a newer pyzmq or
    # jupyter_client no longer loses the wake-up, and SlicedShellChannel may be no longer needed)
    assert not asyncio.run(_reply_after_a_send(AsyncZMQSocketChannel, wait=2.0))
    # each mend alone reads it: the re-check after the send (with slices far longer than the wait)...
    monkeypatch.setattr(kernels, "SHELL_WAIT_SLICE", 30.0)
    assert asyncio.run(_reply_after_a_send(kernels.SlicedShellChannel, wait=2.0))

    # ...and the slices, with jupyter_client's own send
    class SlicesOnly(kernels.SlicedShellChannel):
        send = AsyncZMQSocketChannel.send

    monkeypatch.setattr(kernels, "SHELL_WAIT_SLICE", 0.2)
    assert asyncio.run(_reply_after_a_send(SlicesOnly, wait=2.0))


def test_the_sliced_shell_channel_keeps_the_callers_timeout(monkeypatch):
    import asyncio
    import time
    from queue import Empty

    import zmq
    import zmq.asyncio
    from jupyter_client.session import Session

    monkeypatch.setattr(kernels, "SHELL_WAIT_SLICE", 0.1)
    context = zmq.asyncio.Context()
    socket = context.socket(zmq.DEALER)
    socket.connect("inproc://nobody")
    try:
        channel = kernels.SlicedShellChannel(socket, Session(key=b""))
        start = time.monotonic()
        with pytest.raises(Empty):
            asyncio.run(channel.get_msg(timeout=0.45))
        assert 0.4 <= time.monotonic() - start < 1.5   # about the caller's limit, not one slice, not forever
        start = time.monotonic()
        with pytest.raises(Empty):
            asyncio.run(channel.get_msg(timeout=0))     # one look
        assert time.monotonic() - start < 0.5

        async def no_limit(timeout: float | None) -> bool:  # still waiting after 0.5 s: no limit, as zmq's
            waiting = asyncio.ensure_future(channel.get_msg(timeout=timeout))
            await asyncio.sleep(0.5)
            pending = not waiting.done()
            waiting.cancel()
            return pending

        assert asyncio.run(no_limit(None)) and asyncio.run(no_limit(-1))
    finally:
        context.destroy(linger=0)


def test_notebooks_are_run_with_the_sliced_shell_channel(tmp_path, monkeypatch):
    """The suite's kernel clients (nbclient's, through papermill) read replies through SlicedShellChannel."""
    calls = []
    read = kernels.SlicedShellChannel.get_msg

    async def counted(self, timeout=None):
        calls.append(timeout)
        return await read(self, timeout)

    monkeypatch.setattr(kernels.SlicedShellChannel, "get_msg", counted)
    notebook = tmp_path / "nb.ipynb"
    tiny_notebook(notebook, "import ipywidgets\noutput = ipywidgets.Output()\nwith output:\n    print('drawn')\noutput")
    kernels.execute_notebook(notebook, tmp_path / "out.ipynb", {}, tmp_path, cell_timeout=60)
    assert calls   # kernel_info and the cell's reply were both read through it
    executed = json.loads((tmp_path / "out.ipynb").read_text())
    assert "application/vnd.jupyter.widget-view+json" in executed["cells"][-1]["outputs"][0]["data"]
