"""Rules that live in one place: the profile's settings, the claims table, routing of samples to experts."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from eglib import config, data
from eglib.features import backbones
from eglib.method.gate import routed_rows
from eglib.run import claims, paper_numbers

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.mark.parametrize("name", sorted(config.PROFILES))
def test_profile_gate_dim_is_the_backbones(name):
    profile = config.get_profile(name)
    spec = backbones.get_backbone_spec(profile.backbone)
    assert profile.gate_dim == (spec.conv_dim if profile.layer == "conv" else spec.conv_shape[0])


def test_gate_temperature_is_the_papers_scaled_by_sqrt_dim_unless_measured():
    assert config.get_profile("paper").gate_temperature == pytest.approx(2.0)
    mini = config.get_profile("mini")
    assert mini.scaled_paper_temperature == pytest.approx(2 * math.sqrt(1280 / 43264))
    assert round(mini.scaled_paper_temperature, 2) == 0.34
    # the mini profile's is 02_gate's calibrated value (checked there against the run's own calibration)
    assert mini.temperature is not None and mini.gate_temperature == mini.temperature
    assert config.get_profile("rehearsal").gate_temperature == pytest.approx(2.0)


def test_mini_base_set_is_a_candidate_and_a_stand_in_is_not():
    assert data.load_mini().base_is_candidate
    stand_in = data.Benchmark(domains={}, base=None, root=None, meta={"base_source": "mini stand-in"})
    imagenet = data.Benchmark(domains={}, base=None, root=None, meta={"base_source": "imagenet"})
    assert not stand_in.base_is_candidate and imagenet.base_is_candidate


def test_routed_rows_hard_and_multi_expert():
    hard = list(routed_rows(torch.tensor([2, 0, 2, 2]), 3))
    assert [(k, rows.tolist()) for k, rows in hard] == [(0, [1]), (2, [0, 2, 3])]  # expert 1 gets nothing
    multi = torch.tensor([[True, True], [False, True]])
    assert [(k, rows.tolist()) for k, rows in routed_rows(multi, 2)] == [(0, [0]), (1, [0, 1])]


def test_every_claim_belongs_to_a_notebook_and_known_profiles():
    for statement, claim in claims.CLAIMS.items():
        assert claim.profiles and set(claim.profiles) <= set(claims.EVERY), statement
        assert list(Path(README.parent, "notebooks").glob(f"{claim.notebook}_*.ipynb")), statement
    for statement, by_profile in claims.TOLERANCES.items():
        assert set(by_profile) == set(claims.CLAIMS[statement].profiles), statement


def test_claims_are_asked_by_name_and_recorded():
    paper, rehearsal = claims.Claims("05_lifelong_pipeline", "paper"), claims.Claims("05", "rehearsal")
    statement = "Expert Gate is close below the oracle-gated FT experts"
    assert paper.applies(statement) and not rehearsal.applies(statement)
    assert paper.tolerance(statement) == (0.02, 0.03)
    assert rehearsal.record() == {"checked": [], "skipped": [statement]}
    assert not paper.applies(statement, when=False)  # the profile checks it, this run cannot: skipped
    assert paper.record() == {"checked": [], "skipped": [statement]}
    mini = claims.Claims("05", "mini")
    with pytest.raises(KeyError, match="No claim"):
        mini.applies("a claim nobody listed")
    with pytest.raises(KeyError, match="No claim"):
        mini.applies("gate routes the mini domains (> 90%)")  # a claim of notebook 02, not 05


@pytest.mark.parametrize("smoke_profile", ["smoke", "smoke-no-imagenet"])
def test_the_smoke_profiles_check_the_rehearsals_claims(smoke_profile):
    assert config.get_profile(smoke_profile).rehearsal
    for statement, claim in claims.CLAIMS.items():
        smoke, rehearsal = claims.Claims(claim.notebook, smoke_profile), claims.Claims(claim.notebook, "rehearsal")
        assert smoke.applies(statement) == rehearsal.applies(statement), statement
    assert config.get_profile(smoke_profile).backbone == "alexnet_slim_untrained"
    with pytest.raises(ValueError, match="Unknown profile"):
        claims.Claims("05", "smokey")


def test_every_notebook_asks_all_of_its_own_claims_and_no_other():
    for notebook in sorted(Path(README.parent, "notebooks").glob("[0-9][0-9]_*.ipynb")):
        text = notebook.read_text()
        cells = json.loads(text)["cells"]
        code = "".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")
        own = {s for s, c in claims.CLAIMS.items() if c.notebook == notebook.name[:2]}
        mentioned = {s for s in claims.CLAIMS if s in code}
        assert mentioned == own, (notebook.name, own ^ mentioned)
        assert code.count("claims.applies(") >= len(own) and "claims.record()" in code, notebook.name


def test_readme_lists_the_claims_table():
    assert claims.markdown_table() in README.read_text(), "README's claims table differs: paste `python -m eglib.run.claims`"


def test_paper_tables_have_their_averages():
    for numbers, averages in ((paper_numbers.TABLE1, paper_numbers.TABLE1_AVERAGE),
                              (paper_numbers.TABLE2, paper_numbers.TABLE2_AVERAGE),
                              (paper_numbers.TABLE3, paper_numbers.TABLE3_AVERAGE),
                              (paper_numbers.TABLE4, paper_numbers.TABLE4_AVERAGE)):
        frame = paper_numbers.table(numbers, averages)
        for method, average in averages.items():
            if frame.loc[method].drop("avg").notna().all():  # rows the paper prints in full
                assert frame.loc[method].drop("avg").mean() == pytest.approx(average, abs=0.2), method  # the paper rounds
