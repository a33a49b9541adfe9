"""Names and relative paths read from files (split lists, annotations, archives, manifests) must stay
inside the folder they are meant for.

* :func:`plain_name` accepts one file or folder name and nothing else: no ``/`` or ``\\``, no ``.``
  or ``..``, no NUL or other control character, not empty.
* :func:`inside` joins a relative path to a folder and refuses it when it would land outside that
  folder: an absolute path, ``..`` climbing above it, or a symbolic link on the way that points out.
  ``..`` that stays inside (``a/../b``) is accepted, as the file system would.

Both raise :class:`UnsafeNameError`, a ``ValueError`` whose message says what is wrong with which
name and what to do about it. Valid input comes back unchanged.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path, PurePath

SEPARATORS = ("/", "\\")
DEFAULT_FIX = ("A name read from a list, archive or manifest must stay inside its folder: the file it was read from "
               "is damaged or crafted; replace it with the original and try again.")


class UnsafeNameError(ValueError):
    """A name or relative path read from a file would leave its folder; the message names the fix."""


def _control_character(text: str) -> str | None:
    """The first control character of ``text`` (NUL, newline, DEL, ...) or ``None``."""
    return next((char for char in text if unicodedata.category(char) == "Cc"), None)


def _refuse(what: str, name: object, problem: str, fix: str) -> UnsafeNameError:
    """The error for ``name`` (read as ``what``) with ``problem``, ending with ``fix``."""
    return UnsafeNameError(f"Unsafe {what} {name!r}: {problem}. {fix}")


def _common_problem(name: object) -> str | None:
    """What makes ``name`` unusable as a name or a relative path (not a string, empty, control
    characters), or ``None``."""
    if not isinstance(name, str):
        return f"it is a {type(name).__name__}, not a string"
    if not name:
        return "it is empty"
    control = _control_character(name)
    return None if control is None else f"it contains the control character {control!r}"


def plain_name(name: str, what: str, fix: str = DEFAULT_FIX) -> str:
    """Return ``name`` when it is one plain file or folder name; raise :class:`UnsafeNameError` otherwise.

    Args:
        name: the name as read (an image id, a class name, a task name, ...).
        what: what the name is and where it was read, for the message (``"image id in train.txt"``).
        fix: what the user should do; the default says to restore the original file.
    """
    problem = _common_problem(name)
    if problem is None and name in (".", ".."):
        problem = f"{name!r} names a folder itself, not an entry of it"
    if problem is None and any(separator in name for separator in SEPARATORS):
        problem = "it contains a path separator ('/' or '\\')"
    if problem is not None:
        raise _refuse(what, name, problem, fix)
    return name


def inside(folder: Path, relative: str | PurePath, what: str, fix: str = DEFAULT_FIX) -> Path:
    """``folder / relative`` when that path stays inside ``folder``; :class:`UnsafeNameError` otherwise.

    The check resolves the joined path (following symbolic links that exist) and requires it to be
    ``folder`` (resolved) or below it. The returned path is the plain join, not the resolved one.

    Args:
        folder: the folder the path must stay in (it need not exist yet).
        relative: a relative path as read (``"name/expert.pt"``, an archive member, a split-list line).
        what: what the path is and where it was read, for the message.
        fix: what the user should do; the default says to restore the original file.
    """
    text = str(relative) if isinstance(relative, PurePath) else relative
    problem = _common_problem(text)
    if problem is None and Path(text).is_absolute():
        problem = "it is an absolute path"
    if problem is None and not is_below(folder, text):
        problem = f"it leaves {folder} ('..' or a symbolic link pointing outside)"
    if problem is not None:
        raise _refuse(what, relative, problem, fix)
    return Path(folder) / text


def is_below(folder: Path, relative: str) -> bool:
    """Whether ``folder / relative``, resolved, is ``folder`` (resolved) or below it."""
    return (Path(folder) / relative).resolve().is_relative_to(Path(folder).resolve())


def stays_inside(folder: Path, relative: str | PurePath) -> bool:
    """Whether :func:`inside` accepts ``relative`` under ``folder`` (for checks over many names)."""
    try:
        inside(folder, relative, "path")
    except UnsafeNameError:
        return False
    return True
