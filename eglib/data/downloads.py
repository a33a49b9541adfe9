"""Verified downloads and safe extraction of the paper's datasets (``data_scripts/get_paper_data.py``).

Every file the paper profile needs is listed once in ``eglib/data/paper_datasets.json``: its official
address, its size when known, a checksum (``"md5:..."`` / ``"sha256:..."``) and where that checksum
comes from. Downloads go through `pooch <https://www.fatiando.org/pooch>`_, which shows progress,
writes to a temporary name and checks the hash before the file gets its real name.

* A file whose host no longer serves it (``"manual": true``) is never fetched: the error says which
  file to download by hand, from which page, and where to put it; it is then checked like any other.
* Offline, :func:`fetch` fails within seconds with a message that says so (no long time-outs).
* A file with no published checksum is refused unless the caller accepts it explicitly
  (``--accept-unverified``); its sha256 is printed so it can be recorded.
* :func:`safe_extract` refuses archive members that would land outside the target folder
  (absolute paths, ``..``, links pointing out, control characters, devices), with the same check
  (:func:`eglib.safe_paths.inside`) the preparers and the zoo use.
"""

from __future__ import annotations

import json
import socket
import tarfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from eglib.safe_paths import stays_inside
from eglib.storage import file_digest

MANIFEST = Path(__file__).with_name("paper_datasets.json")


class DownloadError(RuntimeError):
    """A file could not be fetched or verified; the message says what to do."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset, as listed in the manifest."""

    name: str
    url: str
    hash: str | None
    hash_source: str
    size: int | None = None
    manual: bool = False
    page: str = ""

    def hash_parts(self) -> tuple[str, str] | None:
        """``("md5", hexdigest)`` from the manifest's ``"md5:..."``, or ``None`` when unknown."""
        if not self.hash:
            return None
        algorithm, _, digest = self.hash.partition(":")
        return algorithm, digest.lower()


@dataclass(frozen=True)
class DatasetEntry:
    """One dataset of the paper profile: its files, classes and how it is split."""

    name: str
    title: str
    classes: int
    split: str
    files: tuple[RemoteFile, ...]
    crop: bool = False


def load_manifest(path: Path = MANIFEST) -> dict[str, DatasetEntry]:
    """Read the dataset manifest into :class:`DatasetEntry` objects keyed by dataset name."""
    raw = json.loads(Path(path).read_text())
    return {name: DatasetEntry(name=name, title=entry["title"], classes=entry["classes"], split=entry["split"],
                               crop=entry.get("crop", False),
                               files=tuple(RemoteFile(**file) for file in entry["files"]))
            for name, entry in raw["datasets"].items()}


def verify(path: Path, file: RemoteFile) -> None:
    """Check a present file's size and checksum against the manifest.

    Raises:
        DownloadError: naming the mismatch; the file is left where it is (nothing is deleted).
    """
    if file.size is not None and path.stat().st_size != file.size:
        raise DownloadError(f"{path} has {path.stat().st_size} bytes, the official {file.name} has {file.size}: "
                            f"it is incomplete or another file. Move it away and fetch it again from {file.page or file.url}.")
    parts = file.hash_parts()
    if parts is not None and file_digest(path, parts[0]) != parts[1]:
        raise DownloadError(f"{path} does not match the {parts[0]} of {file.name} ({file.hash_source}). Move it away "
                            f"and fetch it again from {file.page or file.url}.")


def host_reachable(url: str, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to ``url``'s host opens within ``timeout`` seconds; behind a proxy
    (``HTTPS_PROXY`` / ``HTTP_PROXY``, unless ``NO_PROXY`` exempts the host) the proxy is the
    host that must answer, since downloads go through it."""
    parsed = urlparse(url)
    proxy = urllib.request.getproxies().get(parsed.scheme)
    if proxy and not urllib.request.proxy_bypass(parsed.hostname or ""):
        parsed = urlparse(proxy if "://" in proxy else f"http://{proxy}")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def fetch(file: RemoteFile, folder: Path, accept_unverified: bool = False) -> Path:
    """Return the verified local copy of ``file`` in ``folder``, downloading it when missing.

    Raises:
        DownloadError: a manual file that is not there yet, no network, a checksum mismatch, or an
            unverifiable file not explicitly accepted.
    """
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / file.name
    if target.exists():
        verify(target, file)
        if file.hash is None and file.size is None and not accept_unverified:
            raise DownloadError(f"{target} is present but nothing can verify it: no checksum or size is published for "
                                f"{file.name} ({file.hash_source}). Rerun with --accept-unverified to use it as it is.")
        return target
    if file.manual:
        check = f"checked against {file.hash}" if file.hash else "used only with --accept-unverified (nothing published to check it against)"
        raise DownloadError(f"{file.name} can no longer be downloaded automatically. Download it by hand from "
                            f"{file.page or file.url} and put it at {target}; then run the script again: it is {check}.")
    if not host_reachable(file.url):
        raise DownloadError(f"Offline: cannot reach {urlparse(file.url).hostname} to download {file.name}. Run this "
                            f"on a machine with network access, or download {file.url} by hand to {target}.")
    if file.hash is None and not accept_unverified:
        raise DownloadError(f"No checksum is published for {file.name} ({file.hash_source}). Rerun with "
                            f"--accept-unverified to download it anyway; its sha256 will be printed for the record.")
    import pooch

    try:
        pooch.retrieve(file.url, known_hash=file.hash, fname=file.name, path=folder, progressbar=True)
    except ValueError as error:  # pooch's hash mismatch (the bad download is not kept), or a malformed URL
        reason = "failed its checksum" if "hash" in str(error).lower() else "could not be downloaded"
        raise DownloadError(f"{file.name} from {file.url} {reason}: {error}") from error
    except Exception as error:  # network errors of requests, HTTP errors
        raise DownloadError(f"Downloading {file.url} failed ({error}). If the address is gone, download "
                            f"{file.name} by hand from {file.page or file.url} and put it at {target}.") from error
    verify(target, file)
    if file.hash is None:
        print(f"{file.name}: unverified download, sha256 {file_digest(target)} (record it in the manifest)")
    return target


def _unsafe_tar_member(root: Path, member: tarfile.TarInfo) -> bool:
    """Whether ``member`` would land outside ``root``, link outside it, or is a device file."""
    link_base = str(Path(member.name).parent / member.linkname) if member.issym() else member.linkname
    return (not stays_inside(root, member.name) or member.isdev()
            or ((member.issym() or member.islnk()) and not stays_inside(root, link_base)))


def safe_extract(archive: Path, target: Path) -> None:
    """Extract a tar (any compression) or zip archive into ``target``, refusing unsafe members.

    Raises:
        DownloadError: a member with an absolute path, ``..`` escaping ``target``, a link
            pointing outside it, or a device file. Nothing is extracted in that case.
    """
    target.mkdir(parents=True, exist_ok=True)
    root = target.resolve()
    if archive.name.lower().endswith(".zip"):
        with zipfile.ZipFile(archive) as bundle:
            bad = [name for name in bundle.namelist() if not stays_inside(root, name)]
            if bad:
                raise DownloadError(f"{archive} has members outside the target folder ({bad[:3]}); refusing to extract.")
            bundle.extractall(root)
        return
    with tarfile.open(archive) as bundle:
        members = bundle.getmembers()
        bad = [m.name for m in members if _unsafe_tar_member(root, m)]
        if bad:
            raise DownloadError(f"{archive} has members outside the target folder or device files ({bad[:3]}); "
                                "refusing to extract.")
        try:  # the "data" filter (Python >= 3.11.4) also resolves chained links the check above cannot see
            bundle.extractall(root, members=members, filter="data")
        except tarfile.FilterError as error:
            raise DownloadError(f"{archive}: refusing to extract {error}; delete {target} before retrying.") from error
