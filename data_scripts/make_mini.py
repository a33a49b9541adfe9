"""Build (or check) the embedded mini benchmark: `python data_scripts/make_mini.py [--force]`.

Needs no network: every image comes from data bundled in installed packages or from seeded
procedural generators. The result lands in $EGLIB_DATA/mini (default: data/mini).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eglib import config, data  # noqa: E402


def _stored_version(folder: Path) -> int | None:
    """The version in ``folder``'s manifest, or ``None`` when there is no readable one."""
    try:
        return json.loads((folder / "manifest.json").read_text()).get("version")
    except (OSError, ValueError, AttributeError):
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=None, help="data root (default: $EGLIB_DATA or data/)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="rebuild even when a verified copy exists")
    args = parser.parse_args()
    root = args.root or config.data_root()
    folder = root / "mini"
    stored = _stored_version(folder)
    if stored is not None and stored != data.MINI_VERSION and not args.force:
        # generated from bundled data and seeds, so a rebuild loses nothing
        print(f"{folder} holds mini benchmark version {stored}; this eglib builds version {data.MINI_VERSION}. "
              "Rebuilding it.")
    elif folder.exists() and not args.force:
        try:
            manifest = data.check_mini(folder)
        except data.DataError as error:
            sys.exit(f"error: {error}")
        if manifest["seed"] != args.seed:
            sys.exit(f"error: {folder} was built with seed {manifest['seed']}, not {args.seed}. "
                     "Add --force to rebuild it with the new seed.")
        print(f"{folder} is present and verified; nothing to do (use --force to rebuild).")
        return
    start = time.perf_counter()
    data.build_mini(root, seed=args.seed)
    bench = data.load_mini(root, build=False)
    for name, domain in bench.domains.items():
        print(f"{name:9s} classes={len(domain.classes):2d} train={len(domain.train)} "
              f"val={len(domain.val)} test={len(domain.test)}")
    print(f"base      images={len(bench.base)}")
    print(f"built {folder} in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
