"""Text domains (eglib.text.corpora) and character-level experts (eglib.text.charlm) of notebook 07."""

from __future__ import annotations

import math

import pytest
import torch

from eglib.text import charlm, corpora


# --------------------------------------------------------------------------------------------- corpora
def test_code_loses_its_docstrings_and_the_docstrings_domain_gets_them():
    source = '"""Module doc."""\nimport os\n\n\ndef f(x):\n    """Return x,\n    twice."""\n    return 2 * x  # double\n'
    code = corpora.code_without_docstrings(source)
    assert "Module doc" not in code and "twice" not in code
    assert "import os" in code and "return 2 * x  # double" in code
    assert corpora.docstrings_of(source) == "Module doc.\n\nReturn x,\ntwice."


def test_deduplication_drops_copies_and_near_copies_but_keeps_distinct_texts():
    mit = "Permission is hereby granted, free of charge, to any person obtaining a copy of this software " * 3
    documents = [corpora.Document("a", "Copyright 2020 Alice\n" + mit), corpora.Document("b", "Copyright 1999 Bob\n" + mit),
                 corpora.Document("c", "  Copyright 2020 Alice\n" + mit.replace(" ", "  ")),
                 corpora.Document("d", "An entirely different text about parsing Python source into trees."),
                 corpora.Document("e", "   ")]
    assert [d.source for d in corpora.deduplicated(documents)] == ["a", "d"]


def test_sequences_have_one_length_and_a_limit_spreads_them_over_the_text():
    text = "".join(chr(ord("a") + i % 26) * 10 for i in range(100))   # 1,000 characters
    pieces = corpora.sequences(text, length=100)
    assert len(pieces) == 10 and all(len(p) == 100 for p in pieces)
    spread = corpora.sequences(text, length=100, limit=3)
    assert spread == [pieces[0], pieces[4], pieces[9]] or spread == [pieces[0], pieces[5], pieces[9]]
    assert corpora.sequences("a\tb" * 10, length=4)[0] == "a   "


def test_split_by_document_keeps_each_document_in_one_split():
    documents = [corpora.Document(f"doc{i:03d}", f"{i:03d}|" * 300) for i in range(30)]   # 256 = 64 four-character tokens
    sizes = {"train": 40, "val": 6, "test": 6}
    domain = corpora.split_by_document("x", documents, seed=0, sizes=sizes, per_document=3, train_per_document=4)
    assert {s: len(domain.split(s)) for s in sizes} == sizes
    owners = {s: {seq[:3] for seq in domain.split(s)} for s in sizes}
    assert all(len(set(seq.split("|")[:-1])) == 1 for s in sizes for seq in domain.split(s))
    assert not (owners["train"] & owners["test"]) and not (owners["train"] & owners["val"]) and not (owners["val"] & owners["test"])
    assert {s: {src[3:] for src in domain.sources[s]} for s in sizes} == owners
    again = corpora.split_by_document("x", documents, seed=0, sizes=sizes, per_document=3, train_per_document=4)
    other = corpora.split_by_document("x", documents, seed=1, sizes=sizes, per_document=3, train_per_document=4)
    assert again.test == domain.test and other.test != domain.test


@pytest.fixture(scope="module")
def domains() -> dict[str, corpora.TextDomain]:
    return corpora.load_text_domains(seed=0, train=60, val=10, test=10)


def test_the_five_domains_come_from_this_machine_split_by_document(domains):
    assert list(domains) == list(corpora.DOMAINS)
    for name, domain in domains.items():
        assert len(domain.train) == 60 and len(domain.val) == 10 - domain.dropped["val"], name
        assert len(domain.test) == 10 - domain.dropped["test"] >= 5, name
        assert all(len(s) == corpora.SEQUENCE_LENGTH for split in ("train", "val", "test") for s in domain.split(split))
        train, val, test = (set(domain.sources[s]) for s in ("train", "val", "test"))
        assert not (train & test) and not (train & val) and not (val & test), name
        assert domain.licence
    # code and docstrings never read the same module
    modules = {name: {src for split in domains[name].sources.values() for src in split} for name in ("code", "docstrings")}
    assert not (modules["code"] & modules["docstrings"])
    assert "def " in "".join(domains["code"].train) and "Permission" in "".join(domains["licences"].train + domains["licences"].test
                                                                                 + domains["licences"].val)


def test_held_out_sequences_that_repeat_training_text_are_dropped():
    words = " ".join(f"word{i}" for i in range(400))
    domain = corpora.TextDomain("x", train=[words[:256], words[256:512]], val=[words[100:356], words[600:856]],
                                test=[words[200:456] , words[1000:1256]])
    corpora.drop_overlapping(domain)
    assert domain.val == [words[600:856]] and domain.test == [words[1000:1256]]
    assert domain.dropped == {"val": 1, "test": 1}


def test_package_texts_come_from_the_pinned_packages_only():
    names = {corpora._normalised(d.metadata["Name"]) for d in corpora._distributions()}
    pins = corpora.pinned_versions()
    assert names and pins is not None and names <= set(pins)
    assert "eglib" not in names and not any(n.startswith("nvidia-") for n in names) and "triton" not in names


def test_text_domains_are_the_same_for_a_seed_and_say_how_to_ask_for_less():
    assert corpora.load_text_domains(seed=0, train=60, val=10, test=10, domains=("reference",))["reference"].test == \
        corpora.load_text_domains(seed=0, train=60, val=10, test=10, domains=("reference",))["reference"].test
    with pytest.raises(corpora.TextDataError, match="Ask load_text_domains for fewer"):
        corpora.load_text_domains(train=100_000, domains=("licences",))
    with pytest.raises(ValueError, match="Unknown text domains"):
        corpora.load_text_domains(domains=("poetry",))
    assert len(corpora.load_base(limit=30)) == 30


# ---------------------------------------------------------------------------------------------- charlm
def test_characters_round_trip_and_the_rest_share_one_symbol():
    ids = charlm.encode(["Hi!\n", "é ok"])
    assert ids.shape == (2, 4) and ids[1, 0] == charlm.OTHER
    assert charlm.decode(ids[0]) == "Hi!\n" and charlm.decode(ids[1]) == "· ok"
    with pytest.raises(ValueError, match="one length"):
        charlm.encode(["ab", "abc"])
    with pytest.raises(TypeError, match="list of texts"):
        charlm.encode("abc")


def test_a_prediction_sees_only_earlier_characters():
    torch.manual_seed(0)
    model = charlm.CharLM(context=4, embedding=8, hidden=16).eval()
    ids = charlm.encode(["abcdefghij"])
    changed = ids.clone()
    changed[0, 5] = charlm.encode(["z"])[0, 0]
    before, after = model(ids, "task"), model(changed, "task")
    torch.testing.assert_close(before[:, :6], after[:, :6])           # positions <= 5 do not see character 5
    assert not torch.allclose(before[:, 6:10], after[:, 6:10])        # the next 4 (the context) do
    torch.testing.assert_close(before[:, 10:], after[:, 10:])


def _texts(pattern: str, count: int = 24, length: int = 64) -> torch.Tensor:
    return charlm.encode([(pattern * length)[i % len(pattern):][:length] for i in range(count)])


def test_an_expert_learns_its_text_and_the_same_seed_gives_the_same_expert():
    options = charlm.TrainingOptions(steps=60, batch_size=8, log_every=10)
    ids = _texts("the cat sat. ")
    model, log = charlm.train_expert("cats", ids, options, seed=3, model_options={"context": 6, "embedding": 8, "hidden": 32})
    assert log.loss[-1] < 0.5 * log.loss[0]
    assert charlm.bits_per_character(charlm.log_probabilities(model, ids), skip=6) < 1.0
    again, _ = charlm.train_expert("cats", ids, options, seed=3, model_options={"context": 6, "embedding": 8, "hidden": 32})
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)


def test_lwf_keeps_the_sources_answers_that_fine_tuning_loses():
    options = charlm.TrainingOptions(steps=40, batch_size=8)
    small = {"context": 6, "embedding": 8, "hidden": 32}
    old, new = _texts("the cat sat. "), _texts("0123456789 ")
    source, _ = charlm.train_expert("cats", old, options, seed=0, model_options=small)
    finetuned, log_ft = charlm.train_expert("digits", new, options, seed=1, source=source, method="finetune")
    lwf, log_lwf = charlm.train_expert("digits", new, options, seed=1, source=source, method="lwf")
    assert list(finetuned.heads) == ["digits"] and list(lwf.heads) == ["digits", "cats"]
    assert (log_ft.method, log_lwf.method, log_lwf.source) == ("finetune", "lwf", "cats")
    with torch.no_grad():
        teacher = torch.softmax(source(new, "cats"), dim=2)
        kept = (torch.softmax(lwf(new, "cats"), dim=2) - teacher).abs().sum(dim=2).mean()
        moved = (torch.softmax(finetuned(new, "digits"), dim=2) - teacher).abs().sum(dim=2).mean()
    assert kept < 0.5 * moved
    assert charlm.bits_per_character(charlm.log_probabilities(lwf, old, "cats")) < \
        charlm.bits_per_character(charlm.log_probabilities(finetuned, old, "digits"))
    with pytest.raises(ValueError, match="Unknown method"):
        charlm.train_expert("digits", new, options, seed=1, source=source, method="distil")


def test_the_mixture_is_bayes_rule_over_the_characters_read():
    generator = torch.Generator().manual_seed(0)
    per_expert = -torch.rand(3, 2, 5, generator=generator) * 4                      # log2 p, [K, N, T]
    mixed, posterior = charlm.mixture_log_probabilities(per_expert)
    torch.testing.assert_close(posterior.sum(dim=2), torch.ones(2, 5))
    torch.testing.assert_close(posterior[:, 0], torch.full((2, 3), 1 / 3))         # nothing read: the prior
    for n in range(2):
        for t in range(5):
            evidence = torch.tensor([2.0 ** float(per_expert[k, n, :t].sum()) for k in range(3)])
            weights = evidence / evidence.sum()
            expected = math.log2(float((weights * 2.0 ** per_expert[:, n, t]).sum()))
            assert abs(float(mixed[n, t]) - expected) < 1e-4
    # an expert that predicts every character for sure takes all the weight
    sure = torch.stack([torch.zeros(1, 50), torch.full((1, 50), -3.0)])
    mixed, posterior = charlm.mixture_log_probabilities(sure)
    assert float(posterior[0, -1, 0]) > 0.999 and float(mixed[0, -1]) > -1e-3


def test_in_sequence_training_measures_every_domain_after_every_stage():
    options = charlm.TrainingOptions(steps=30, batch_size=8)
    small = {"context": 6, "embedding": 8, "hidden": 32}
    train = {"cats": _texts("the cat sat. "), "digits": _texts("0123456789 ")}
    first, _ = charlm.train_expert("cats", train["cats"], options, seed=0, model_options=small)
    model, matrix = charlm.train_in_sequence(train, train, options, seed=0, first_stages=[first], skip=6)
    assert list(matrix) == ["cats", "digits"] and all(list(row) == ["cats", "digits"] for row in matrix.values())
    assert matrix["digits"]["digits"] < matrix["cats"]["digits"]         # learnt the second domain
    assert matrix["digits"]["cats"] > matrix["cats"]["cats"]             # and forgot some of the first
    assert list(model.heads) == ["digits"]
    # a stage trained elsewhere is reused, not trained again
    again, reused = charlm.train_in_sequence(train, train, options, seed=0, first_stages=[first, model], skip=6)
    assert again is model and reused == matrix
    with pytest.raises(ValueError, match="first_stages"):
        charlm.train_in_sequence(train, train, options, seed=0, first_stages=[], skip=6)


def test_the_run_report_shows_the_text_results(tmp_path):
    from eglib.run import report
    from eglib.run.outputs import _jsonable

    import pandas as pd
    metrics = {"run": {"PROFILE": "mini"}, "text_gate_accuracy": 0.8, "text_route_prefix": 128,
               "text_bpc": {"expert_gate": {"code": 2.9, "avg": 2.9}, "oracle": {"code": 2.8, "avg": 2.8}},
               "text_routing_by_prefix": {"gate": {"16": 0.4, "128": 0.8}, "mixture_posterior": {"16": 0.6, "128": 0.8}},
               "text_cost": _jsonable(pd.DataFrame({"experts run per sequence": [1, 5]}, index=["Expert Gate", "mixture"]))}
    text = report.build_report(tmp_path, metrics)
    assert "## Text domains" in text and "| expert_gate | 2.9 | 2.9 |" in text and "80.0%" in text
    assert "| mixture | 5 |" in text


def test_evenly_spaced_reaches_both_ends_and_keeps_all_when_short():
    items = [str(i) for i in range(10)]
    assert corpora.evenly_spaced(items, 4) == ["0", "3", "6", "9"]
    assert corpora.evenly_spaced(items, 20) == items
