"""Text domains from real text already on the machine (notebook ``07_text_domains``).

Five domains of clearly different character, all read offline from what Python and the pinned
packages install, so nothing is downloaded:

* ``code``         -- Python standard-library source, its docstrings removed (PSF licence);
* ``docstrings``   -- the docstrings of *other* standard-library modules (PSF licence);
* ``reference``    -- the Python language reference's topics (``pydoc_data.topics``; PSF licence);
* ``licences``     -- the licence files that installed distributions ship (each text's own terms,
                      which allow copying it verbatim);
* ``descriptions`` -- installed distributions' long descriptions (their ``METADATA`` body; each
                      under its package's licence).

The gate's base set (the counterpart of ImageNet: it fixes the preprocessing's statistics and is no
task) is technical English that none of the domains draws from: IDLE's README, news and help page
and scikit-learn's dataset descriptions.

A *document* is one source (a module, a topic, a licence file, a distribution). Documents are
de-duplicated (exactly, after folding whitespace, and near-duplicates by word 5-gram overlap: the
licence folders repeat the MIT and BSD texts with other copyright lines), then each domain's
documents are shuffled by the seed and split by document, so no document spans train and test;
a val or test sequence that still repeats training text (a licence file that bundles other
licences) is dropped (:func:`drop_overlapping`).
Every split is a list of sequences of :data:`SEQUENCE_LENGTH` characters, cut from its documents
without overlap, at most ``per_document`` of them from one document.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import html
import importlib.metadata
import re
import random
import sysconfig
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

DOMAINS = ("code", "docstrings", "reference", "licences", "descriptions")
SEQUENCE_LENGTH = 256
LICENCES = {
    "code": "PSF-2.0 (the Python standard library)",
    "docstrings": "PSF-2.0 (the Python standard library)",
    "reference": "PSF-2.0 (pydoc_data, the Python documentation)",
    "licences": "each file's own terms (licence texts may be copied verbatim)",
    "descriptions": "each distribution's own licence (its METADATA)",
    "base": "PSF-2.0 (idlelib) and BSD-3-Clause (scikit-learn)",
}
# standard-library folders that hold tests, vendored third-party code or generated tables, not the library
_SKIPPED_PARTS = {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__", "encodings",
                  "lib2to3", "ensurepip", "turtledemo", "pydoc_data"}
_LICENCE_FILE = re.compile(r"^(licen[cs]e|copying|notice)", re.IGNORECASE)


class TextDataError(RuntimeError):
    """A text domain cannot be built from this machine's files."""


@dataclass
class Document:
    """One source text: ``source`` names where it came from (a module, a topic, a file)."""

    source: str
    text: str


@dataclass
class TextDomain:
    """One domain's sequences per split, and where they came from.

    Attributes:
        name: the domain's name.
        train, val, test: sequences of :data:`SEQUENCE_LENGTH` characters.
        sources: ``{split: [document source, ...]}``; disjoint between splits.
        licence: the licence of the domain's texts.
        dropped: ``{split: count}`` of val and test sequences removed for repeating training text
            (:func:`drop_overlapping`).
    """

    name: str
    train: list[str]
    val: list[str]
    test: list[str]
    sources: dict[str, list[str]] = field(default_factory=dict)
    licence: str = ""
    dropped: dict[str, int] = field(default_factory=dict)

    def split(self, name: str) -> list[str]:
        if name not in ("train", "val", "test"):
            raise ValueError(f"Unknown split {name!r}; use 'train', 'val' or 'test'.")
        return getattr(self, name)


def stdlib_root() -> Path:
    """The running interpreter's standard-library folder."""
    return Path(sysconfig.get_paths()["stdlib"])


@functools.lru_cache(maxsize=4)
def stdlib_modules(root: Path | None = None, min_chars: int = 4000, max_chars: int = 80000) -> tuple[Path, ...]:
    """Standard-library source files of ``min_chars`` to ``max_chars`` characters, tests and vendored code
    left out, sorted (the largest modules, which are slow to parse, are left out too)."""
    root = root or stdlib_root()
    found = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if _SKIPPED_PARTS.intersection(relative.parts) or relative.name.startswith("test_"):
            continue
        if min_chars <= path.stat().st_size <= max_chars:
            found.append(path)
    if not found:
        raise TextDataError(f"No standard-library source under {root}: this Python ships without its library "
                            "sources (some distributions split them into a python3-lib package); install them.")
    return tuple(found)


def _docstring_nodes(tree: ast.Module) -> list[ast.Constant]:
    """The docstring constants of a module and of every class and function in it."""
    nodes = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)):
                nodes.append(first.value)
    return nodes


def code_without_docstrings(source: str) -> str:
    """Python source with every docstring's lines removed (comments and code kept)."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    drop = set()
    for node in _docstring_nodes(tree):
        drop.update(range(node.lineno - 1, node.end_lineno))
    return "".join(line for index, line in enumerate(lines) if index not in drop)


def docstrings_of(source: str) -> str:
    """The docstrings of a module, its classes and functions, cleaned, one paragraph each."""
    import inspect
    return "\n\n".join(inspect.cleandoc(node.value) for node in _docstring_nodes(ast.parse(source)))


def _stdlib_documents(kind: str, seed: int, modules: int) -> list[Document]:
    """``modules`` standard-library modules for ``code`` (even positions of a seeded shuffle) or
    ``docstrings`` (odd positions): the two domains never read the same module."""
    paths = list(stdlib_modules())
    random.Random(f"stdlib-{seed}").shuffle(paths)
    chosen = paths[0 if kind == "code" else 1::2][:modules]
    root = stdlib_root()
    convert = code_without_docstrings if kind == "code" else docstrings_of
    documents = []
    for path in chosen:
        try:
            text = convert(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue  # a module this interpreter's parser does not read is no document
        documents.append(Document(f"stdlib:{path.relative_to(root).as_posix()}", text))
    return documents


def reference_documents() -> list[Document]:
    """The language reference's topics (``pydoc_data.topics``), one document each."""
    from pydoc_data.topics import topics
    return [Document(f"pydoc_data:{name}", text) for name, text in sorted(topics.items())]


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_versions(lock: Path | None = None) -> dict[str, str] | None:
    """``{name: version}`` of the suite's ``requirements-lock.txt`` (``None`` when it is not there)."""
    lock = lock or Path(__file__).resolve().parents[2] / "requirements-lock.txt"
    if not lock.exists():
        return None
    pins = {}
    for line in lock.read_text().splitlines():
        match = re.match(r"^\s*([A-Za-z0-9_.\-]+)==([^\s;#]+)", line)
        if match:
            pins[_normalised(match.group(1))] = match.group(2)
    return pins


def _distributions() -> list[importlib.metadata.Distribution]:
    """The installed distributions whose text the ``licences`` and ``descriptions`` domains read.

    Only those pinned, at the installed version, in the suite's ``requirements-lock.txt`` (when it
    is there), so that a package a user added does not change the domains; never this project
    (its description is the README, which changes with every commit) nor the GPU runtimes
    (``nvidia-*``, ``triton``), which a CPU-only or conda install lacks. One per name (the first
    on ``sys.path``), sorted by name.
    """
    pins = pinned_versions()
    seen: dict[str, importlib.metadata.Distribution] = {}
    for dist in importlib.metadata.distributions():
        name = _normalised(dist.metadata["Name"] or "")
        if not name or name in seen or name == "eglib" or name.startswith("nvidia-") or name == "triton":
            continue
        if pins is not None and pins.get(name) != dist.version:
            continue
        seen[name] = dist
    return [seen[name] for name in sorted(seen)]


def licence_documents() -> list[Document]:
    """The licence files (LICENSE*, LICENCE*, COPYING*, NOTICE*) of the installed distributions."""
    documents = []
    for dist in _distributions():
        for file in dist.files or ():
            if file.parts and ".dist-info" in file.parts[0] and _LICENCE_FILE.match(file.name):
                try:
                    text = file.locate().read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError):
                    continue
                documents.append(Document(f"{dist.metadata['Name']}:{file.name}", text))
    return documents


def description_documents() -> list[Document]:
    """The long descriptions (``METADATA`` body or ``Description`` field) of the installed distributions."""
    documents = []
    for dist in _distributions():
        metadata = dist.metadata
        text = metadata.get_payload() or metadata.get("Description") or ""
        documents.append(Document(f"{metadata['Name']}:METADATA", str(text)))
    return documents


def base_documents() -> list[Document]:
    """The gate's base set: IDLE's README, news and help page, and scikit-learn's dataset descriptions."""
    documents = []
    idle = stdlib_root() / "idlelib"
    for name in ("README.txt", "NEWS.txt", "NEWS2x.txt", "HISTORY.txt", "TODO.txt", "extend.txt", "help.html"):
        if (idle / name).exists():
            text = (idle / name).read_text(encoding="utf-8", errors="replace")
            if name.endswith(".html"):
                text = html.unescape(re.sub(r"<[^>]+>", "", text))
            documents.append(Document(f"idlelib:{name}", text))
    try:
        import sklearn.datasets
        descr = Path(sklearn.datasets.__file__).parent / "descr"
        documents += [Document(f"sklearn:{p.name}", p.read_text(encoding="utf-8")) for p in sorted(descr.glob("*.rst"))]
    except ImportError:
        pass
    return documents


def _fold(text: str) -> str:
    return " ".join(text.split())


def _shingles(text: str, size: int = 5) -> set[int]:
    words = text.lower().split()
    return {hash(tuple(words[i:i + size])) for i in range(max(1, len(words) - size + 1))}


def deduplicated(documents: list[Document], near: float = 0.8) -> list[Document]:
    """Documents without exact duplicates (after folding whitespace) or near-duplicates.

    A document is a near-duplicate of an earlier kept one when more than ``near`` of its word
    5-grams occur in it (e.g. an MIT licence with another copyright line). Empty documents go too.
    """
    kept: list[Document] = []
    seen_text: set[str] = set()
    kept_shingles: list[set[int]] = []
    for document in documents:
        folded = _fold(document.text)
        digest = hashlib.sha256(folded.encode()).hexdigest()
        if not folded or digest in seen_text:
            continue
        shingles = _shingles(folded)
        if any(len(shingles & other) > near * len(shingles) for other in kept_shingles):
            continue
        seen_text.add(digest)
        kept.append(document)
        kept_shingles.append(shingles)
    return kept


def sequences(text: str, length: int = SEQUENCE_LENGTH, limit: int | None = None) -> list[str]:
    """Non-overlapping ``length``-character pieces of ``text`` (tabs as spaces; the short tail dropped);
    with ``limit``, at most that many, spread evenly over the text."""
    text = text.replace("\t", "    ").replace("\r\n", "\n")
    pieces = [text[start:start + length] for start in range(0, len(text) - length + 1, length)]
    if limit is None or len(pieces) <= limit:
        return pieces
    return [pieces[round(i * (len(pieces) - 1) / max(1, limit - 1))] for i in range(limit)]


def split_by_document(name: str, documents: list[Document], seed: int, sizes: dict[str, int],
                      per_document: int = 6, train_per_document: int = 40, licence: str = "") -> TextDomain:
    """Shuffle ``documents`` by ``seed`` and fill test, then val, then train with whole documents.

    Args:
        sizes: ``{"train": n, "val": n, "test": n}``, the number of sequences each split gets
            (fewer when the documents run out; :func:`load_text_domains` checks the minimum).
        per_document: at most this many val or test sequences come from one document, so that
            several documents make up those splits; raised for a domain of few documents to twice
            what it needs per document (the licences: a few dozen distinct texts).
        train_per_document: the same bound for the training split.
    """
    per_document = max(per_document, 2 * -(-(sizes["val"] + sizes["test"]) // max(1, len(documents))))
    order = list(documents)
    random.Random(f"{name}-{seed}").shuffle(order)
    splits: dict[str, list[str]] = {"test": [], "val": [], "train": []}
    sources: dict[str, list[str]] = {"test": [], "val": [], "train": []}
    current = iter(splits)
    split = next(current)
    for document in order:
        while len(splits[split]) >= sizes[split]:
            split = next(current, None)
            if split is None:
                break
        if split is None:
            break
        pieces = sequences(document.text, limit=train_per_document if split == "train" else per_document)
        if not pieces:
            continue
        splits[split] += pieces[:sizes[split] - len(splits[split])]
        sources[split].append(document.source)
    return TextDomain(name, splits["train"], splits["val"], splits["test"], sources, licence)


def evenly_spaced(items: list[str], count: int) -> list[str]:
    """``count`` of ``items`` evenly spaced from the first to the last (all of them when there are fewer):
    e.g. the gate's training sequences, spread over all training documents."""
    if count >= len(items):
        return list(items)
    return [items[round(i * (len(items) - 1) / max(1, count - 1))] for i in range(count)]


def _windows(text: str, width: int, stride: int) -> list[str]:
    return [text[start:start + width] for start in range(0, max(1, len(text) - width + 1), stride)]


def drop_overlapping(domain: TextDomain, width: int = 48, max_share: float = 0.5) -> TextDomain:
    """``domain`` without the val and test sequences that repeat its training text.

    Splitting by document is not enough where documents embed one another (a licence file that
    bundles the MIT and BSD texts of its dependencies): a sequence goes when more than
    ``max_share`` of its ``width``-character windows (every 8 characters) occur verbatim in the
    training sequences. The number dropped per split is kept in ``domain.dropped``.
    """
    seen = {text[start:start + width] for text in domain.train for start in range(len(text) - width + 1)}
    for split in ("val", "test"):
        kept = []
        for sequence in domain.split(split):
            windows = _windows(sequence, width, 8)
            if sum(window in seen for window in windows) <= max_share * len(windows):
                kept.append(sequence)
        domain.dropped[split] = len(domain.split(split)) - len(kept)
        setattr(domain, split, kept)
    return domain


READERS: dict[str, Callable[[int, int], list[Document]]] = {
    "code": lambda seed, modules: _stdlib_documents("code", seed, modules),
    "docstrings": lambda seed, modules: _stdlib_documents("docstrings", seed, modules),
    "reference": lambda seed, modules: reference_documents(),
    "licences": lambda seed, modules: licence_documents(),
    "descriptions": lambda seed, modules: description_documents(),
}


def load_text_domains(seed: int = 0, train: int = 400, val: int = 40, test: int = 40, per_document: int = 6,
                      train_per_document: int = 40, domains: tuple[str, ...] = DOMAINS,
                      modules: int = 60) -> dict[str, TextDomain]:
    """The text domains, split by document, with ``train`` / ``val`` / ``test`` sequences each.

    Args:
        seed: fixes which modules are read and which documents go to which split.
        per_document, train_per_document: bounds on the sequences one document gives to val or
            test, and to train (:func:`split_by_document`).
        modules: standard-library modules read for each of ``code`` and ``docstrings``.

    Raises:
        TextDataError: a domain has too few documents for the sizes asked (the message says which
            domain and how many sequences it has: ask for fewer).
    """
    unknown = set(domains) - set(READERS)
    if unknown:
        raise ValueError(f"Unknown text domains {sorted(unknown)}; choose from {list(READERS)}.")
    sizes = {"train": train, "val": val, "test": test}
    loaded = {}
    for name in domains:
        documents = deduplicated(READERS[name](seed, modules))
        domain = drop_overlapping(split_by_document(name, documents, seed, sizes, per_document, train_per_document,
                                                    LICENCES[name]))
        short = {s: len(domain.split(s)) for s in sizes if len(domain.split(s)) < max(1, sizes[s] // 2)}
        if short:
            raise TextDataError(f"Text domain {name!r} has only {short} sequences of {SEQUENCE_LENGTH} characters "
                                f"for {sizes}: too few documents on this machine. Ask load_text_domains for fewer "
                                "(train=, val=, test=) or raise train_per_document.")
        loaded[name] = domain
    return loaded


def load_base(limit: int = 160) -> list[str]:
    """Sequences of the gate's base set (see the module docstring), at most ``limit``."""
    pieces = [piece for document in deduplicated(base_documents()) for piece in sequences(document.text)]
    if len(pieces) < 20:
        raise TextDataError("The text gate's base set (idlelib's text files, scikit-learn's dataset descriptions) "
                            f"gave only {len(pieces)} sequences; is this Python's idlelib installed?")
    return pieces[:: max(1, len(pieces) // limit)][:limit]
