"""One notebook under papermill, with a kernel that cannot be taken by a neighbour and a run that cannot hang.

:func:`execute_notebook` is what ``make reproduce`` and ``make test``'s rehearsal lanes call for each
notebook. Around ``papermill.execute_notebook`` it adds four guards, each met on this project's runs:

* the client's shell channel (:class:`SlicedShellChannel`) re-checks its socket after each send and
  waits in slices of ``SHELL_WAIT_SLICE`` seconds, so a reply whose wake-up was lost is read instead of
  waited on forever (a clean-clone ``make reproduce`` waited on notebook 02's widget cell with its kernel idle);
* the kernel talks over Unix sockets in a private folder (:func:`ipc_kernel_manager`), so two suites
  side by side cannot take each other's TCP ports;
* a kernel that dies before it answers ``kernel_info``, or does not answer it within papermill's
  start-up limit (60 s), is started again (nothing has run yet);
* with ``cell_timeout``, a cell that gives no reply in that many seconds is interrupted and the
  notebook is run once more with a new kernel, said on stderr and kept as ``<name>.hung.ipynb``
  beside the executed copy (a rehearsal lane once waited about 70 minutes, where is not known, until
  CI's limit ended it, with no line of its log printed). A notebook that hangs twice fails with the reason.

A notebook's own errors (:class:`papermill.PapermillExecutionError`) are never retried.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path
from queue import Empty
from typing import Any

import zmq
from jupyter_client.channels import AsyncZMQSocketChannel

KERNEL_START_TRIES = 3
# jupyter_client's messages for a kernel that never became ready (nothing of the notebook has run)
KERNEL_START_FAILURES = ("before replying to kernel_info", "Kernel didn't respond in")
HANG_RETRIES = 1
SHELL_WAIT_SLICE = 1.0  # seconds: the longest a reply already in the client's socket can go unread
MIN_WAIT_SLICE = 0.01  # a slice is never shorter, so a wait with no limit cannot spin the CPU


class SlicedShellChannel(AsyncZMQSocketChannel):
    """The shell channel of the suite's kernel clients: no reply left unread in its socket.

    nbclient waits for a cell's ``execute_reply`` with one ``get_msg(timeout)`` on the shell socket, and
    while it waits it may itself *send* on that socket: when a cell draws into an ``ipywidgets.Output``
    (notebook 02's explorer does), its stand-in for the widget sends the kernel a ``comm_msg`` with the
    new outputs. jupyter_client's ``Session.send`` writes through a blocking copy of the asyncio socket,
    so pyzmq never re-checks the socket's events after that send, as its own sends do; and zmq's
    descriptor is edge-triggered, so the send uses up the wake-up of a reply that arrived just before.
    The asyncio poll then waits forever on a reply that is already in the socket (jupyter/nbclient#312;
    ``tests/test_kernels.py`` makes it happen on purpose). Two mends, each enough on its own:

    * :meth:`send` reads the socket's events through the asyncio socket after sending, which makes
      pyzmq schedule the reading of anything that is waiting (what its own sends do);
    * :meth:`get_msg` waits in slices of ``SHELL_WAIT_SLICE`` s, each a new poll that looks at the
      socket's state instead of waiting for an edge, so a reply whose wake-up was lost some other way
      is read within a slice.
    """

    def send(self, msg: dict[str, Any]) -> None:
        super().send(msg)
        self.socket.get(zmq.EVENTS)  # pyzmq's re-check after a send: a reply already here is read now

    async def get_msg(self, timeout: float | None = None) -> dict[str, Any]:  # type: ignore[override]
        """The next message; ``Empty`` after ``timeout`` seconds (``None`` or negative: no limit, as zmq's)."""
        deadline = None if timeout is None or timeout < 0 else time.monotonic() + timeout
        wait_slice = max(SHELL_WAIT_SLICE, MIN_WAIT_SLICE)
        while True:
            left = wait_slice if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                return await super().get_msg(timeout=min(wait_slice, left))
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise


def ipc_kernel_manager(folder: Path, interrupts: list[bool] | None = None) -> type:
    """A kernel manager class whose kernels talk over Unix sockets in ``folder``, not TCP ports.

    Two suites run side by side (``make test``'s rehearsal lanes) used to share the machine's TCP
    ports: jupyter_client picks free ports and the kernel binds them later, so a port could be
    taken in between. The kernel then either died ("Kernel died before replying to kernel_info")
    or, when ipykernel moved to another port, ran on while its client listened to the other
    suite's kernel and waited forever. Sockets in a folder of one's own cannot be taken by anyone else.

    Its shutdown sends no SIGINT first. jupyter_client interrupts a kernel before asking it to shut
    down, and ipykernel, idle after the notebook's last cell, sometimes logged "KeyboardInterrupt
    caught in kernel" to the console of ``make test`` and ``make reproduce``, an error message for
    nothing. The shutdown request, then SIGTERM and SIGKILL if the kernel does not end, still stop
    it. Any other interrupt (papermill sends one only when a cell ran past its timeout) is sent,
    and appended to ``interrupts`` when given. Its clients read replies through :class:`SlicedShellChannel`.
    """
    from jupyter_client.manager import AsyncKernelManager

    class IpcKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.transport = "ipc"
            self.ip = str(folder / "kernel")

        async def _async_interrupt_kernel(self) -> None:
            if self.shutting_down:  # called by the shutdown itself: the notebook has finished
                return
            if interrupts is not None:
                interrupts.append(True)
            await super()._async_interrupt_kernel()

        interrupt_kernel = _async_interrupt_kernel  # jupyter_client binds the public name to its own function

        def client(self, **kwargs: Any) -> Any:
            kernel_client = super().client(**kwargs)
            kernel_client.shell_channel_class = SlicedShellChannel  # before its channels are opened
            return kernel_client

    return IpcKernelManager


def timeout_options(cell_timeout: float | None) -> dict[str, Any]:
    """papermill's options for a per-cell limit of ``cell_timeout`` seconds (none for ``None``).

    On the limit nbclient interrupts the kernel. A kernel that honours the interrupt records where it
    was (a KeyboardInterrupt traceback in the cell); an idle kernel whose reply was lost, or one stuck
    where SIGINT cannot reach Python, is answered for: the cell ends with an error either way, so
    neither keeps the run waiting.
    """
    if cell_timeout is None:
        return {}
    if cell_timeout <= 0:
        raise ValueError(f"--cell-timeout (cell_timeout) must be a positive number of seconds, e.g. 300, not {cell_timeout:g}.")
    return {"execution_timeout": cell_timeout, "interrupt_on_timeout": True,
            "error_on_timeout": {"ename": "CellTimeout", "evalue": f"no reply within {cell_timeout:g} s",
                                 "traceback": []}}


def execute_notebook(notebook: Path, out: Path, parameters: dict[str, Any], notebook_dir: Path,
                     cell_timeout: float | None = None) -> int:
    """Execute ``notebook`` into ``out`` with papermill in ``notebook_dir`` (see the module's guards).

    Returns how many times a hung cell made it run the notebook again (0 normally). Raises
    ``papermill.PapermillExecutionError`` for the notebook's own error, or with ``ename``
    ``"CellTimeout"`` when it hung ``HANG_RETRIES + 1`` times, and ``RuntimeError`` when the kernel
    did not start in ``KERNEL_START_TRIES`` tries.
    """
    import papermill

    starts = hangs = 0
    while True:
        interrupts: list[bool] = []
        try:
            with tempfile.TemporaryDirectory(prefix="eglib-kernel-") as folder:
                papermill.execute_notebook(str(notebook), str(out), parameters=parameters, kernel_name="python3",
                                           cwd=str(notebook_dir), progress_bar=False, log_output=False,
                                           kernel_manager_class=ipc_kernel_manager(Path(folder), interrupts),
                                           **timeout_options(cell_timeout))
            return hangs
        except Exception as error:  # sorted below; anything not ours is raised again
            if interrupts:  # the only interrupt papermill sends is at the cell limit: the notebook hung
                hung = out.with_name(f"{out.stem}.hung.ipynb")
                if out.exists():
                    shutil.copyfile(out, hung)
                cell = getattr(error, "exec_count", None)
                if hangs == HANG_RETRIES:
                    raise papermill.PapermillExecutionError(
                        cell_index=getattr(error, "cell_index", None), exec_count=cell,
                        source=getattr(error, "source", ""), ename="CellTimeout",
                        evalue=f"no reply within {cell_timeout:g} s, {hangs + 1} times (the last hung copy: {hung})",
                        traceback=getattr(error, "traceback", [])) from error
                hangs += 1
                # a kernel that honours the interrupt ends the cell with its traceback (PapermillExecutionError);
                # one stuck where SIGINT cannot reach Python gives no answer at all (nbclient's CellTimeoutError)
                print(f"{notebook.name}: cell {cell if cell is not None else '?'} gave no reply within "
                      f"{cell_timeout:g} s and its kernel was interrupted ({type(error).__name__}: "
                      f"{getattr(error, 'ename', '') or str(error)[:80]}; the copy that hung: {hung}); running the "
                      f"notebook again with a new kernel", file=sys.stderr, flush=True)
                continue
            if isinstance(error, papermill.PapermillExecutionError) or not isinstance(error, RuntimeError):
                raise
            starts += 1
            if not any(failure in str(error) for failure in KERNEL_START_FAILURES) or starts == KERNEL_START_TRIES:
                raise
            print(f"{notebook.name}: the kernel died while starting ({error}); starting it again "
                  f"({starts + 1}/{KERNEL_START_TRIES})", file=sys.stderr, flush=True)
            time.sleep(starts)
