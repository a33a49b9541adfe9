"""Download, verify, extract and prepare the datasets of the paper profile.

    .venv/bin/python data_scripts/get_paper_data.py                 # every dataset
    .venv/bin/python data_scripts/get_paper_data.py birds flowers   # some of them
    .venv/bin/python data_scripts/get_paper_data.py --list          # what is where, and its split

Files go to <data_root>/paper/raw/<dataset>/files (EGLIB_DATA moves the root), are checked
against eglib/paper_datasets.json, extracted safely and turned into
<data_root>/paper/<dataset>/{train,test}/<class>/*.jpg; the image counts are printed. A dataset
whose host is gone (Stanford Cars) names the files to fetch by hand and where to put them; run
the script again afterwards. Offline, every download fails at once with a message that says so.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from eglib.data import downloads, prepare  # noqa: E402

ARCHIVES = (".tar", ".tgz", ".tar.gz", ".zip")


def extract_all(files: list[Path], folder: Path) -> Path:
    """Extract the archives (and copy the other files) into ``folder``, all or nothing."""
    done = folder / ".complete"
    stamp = "\n".join(f"{path.name} {path.stat().st_size} {path.stat().st_mtime_ns}" for path in files)
    if done.exists() and done.read_text() == stamp:
        return folder  # extracted from exactly these files before
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for path in files:
        if path.name.endswith(ARCHIVES):
            print(f"  extracting {path.name} ...", flush=True)
            downloads.safe_extract(path, partial)
        else:
            shutil.copyfile(path, partial / path.name)
    (partial / ".complete").write_text(stamp)
    prepare.replace_folder(partial, folder)
    return folder


def get_dataset(entry: downloads.DatasetEntry, root: Path, accept_unverified: bool = False) -> dict[str, int]:
    """Fetch, verify, extract and prepare one dataset; return its image counts per split."""
    raw = root / "raw" / entry.name
    files = [downloads.fetch(file, raw / "files", accept_unverified=accept_unverified) for file in entry.files]
    return prepare.prepare(entry, extract_all(files, raw / "extracted"), root)


def main(argv: list[str] | None = None) -> int:
    manifest = downloads.load_manifest()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("datasets", nargs="*", help=f"any of {', '.join(manifest)} (default: all)")
    parser.add_argument("--root", type=Path, default=None, help="default: <data_root>/paper")
    parser.add_argument("--accept-unverified", action="store_true",
                        help="download files for which no checksum is published (their sha256 is printed)")
    parser.add_argument("--list", action="store_true", help="list the datasets, their files and splits, and stop")
    args = parser.parse_args(argv)
    root = args.root or prepare.paper_root()
    unknown = [name for name in args.datasets if name not in manifest]
    if unknown:
        print(f"error: unknown dataset(s) {unknown}; choose from {list(manifest)}", file=sys.stderr)
        return 2
    chosen = [manifest[name] for name in (args.datasets or manifest)]
    if args.list:
        for entry in chosen:
            ready = (root / entry.name / "ready.json").exists()
            print(f"{entry.name}: {entry.title}, {entry.classes} classes ({'ready' if ready else 'not prepared'})\n"
                  f"  split: {entry.split}")
            for file in entry.files:
                how = "fetch by hand" if file.manual else "downloaded"
                print(f"  {file.name} ({how}; checksum: {file.hash or 'none published'}, {file.hash_source})\n    {file.url}")
        return 0
    failures = 0
    for entry in chosen:
        print(f"{entry.name}: {entry.title}", flush=True)
        try:
            counts = get_dataset(entry, root, args.accept_unverified)
        except (downloads.DownloadError, prepare.PaperDataError) as error:
            print(f"  not ready: {error}", file=sys.stderr, flush=True)
            failures += 1
            continue
        except Exception as error:  # anything else: report it and go on with the next dataset
            print(f"  not ready: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
            failures += 1
            continue
        print(f"  ready in {root / entry.name}: {counts['train']} train / {counts['test']} test images, "
              f"{entry.classes} classes ({entry.split})", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
