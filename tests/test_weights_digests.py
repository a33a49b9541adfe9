"""Weights files are checked against their full sha256, never against the 8-digit prefix in their name."""

from __future__ import annotations

import dataclasses
import re

import pytest

from eglib.features import backbones
from eglib.storage import file_sha256

FILE_SPECS = [spec for spec in backbones.BACKBONES.values() if spec.url]


def test_every_registered_weights_file_has_a_full_lowercase_sha256():
    assert {spec.name for spec in FILE_SPECS} == {"mobilenet_v2", "alexnet"}
    for spec in FILE_SPECS:
        assert re.fullmatch(r"[0-9a-f]{64}", spec.sha256), spec.name
        # torchvision names its files after the first 8 digits of the same digest
        assert spec.filename.endswith(f"-{spec.sha256[:8]}.pth"), spec.name
    assert backbones.BACKBONES["alexnet"].sha256 == "7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02"


def test_only_the_rehearsal_backbones_have_no_file_and_no_digest():
    for name in ("alexnet_untrained", "alexnet_slim_untrained"):
        untrained = backbones.BACKBONES[name]
        assert untrained.untrained_seed is not None and untrained.url == untrained.sha256 == "", name
    assert [spec.name for spec in backbones.BACKBONES.values() if not spec.url] == [
        "alexnet_untrained", "alexnet_slim_untrained"]


def fake_digest_sharing_prefix(digest: str, keep: int = 8) -> str:
    """A well-formed sha256 that agrees with ``digest`` on its first ``keep`` digits only."""
    flipped = "".join("0" if char != "0" else "1" for char in digest[keep:])
    return digest[:keep] + flipped


def test_a_file_whose_digest_differs_is_refused_with_both_digests(tmp_path):
    # (with full digests in the registry, a prefix check could not be told apart from this one: the
    # registry test above is what keeps prefixes out)
    path = tmp_path / "alexnet-owt-7be5be79.pth"
    path.write_bytes(b"not torchvision's alexnet")
    real = file_sha256(path)
    other = dataclasses.replace(backbones.BACKBONES["alexnet"], sha256=fake_digest_sharing_prefix(real, 8))
    with pytest.raises(backbones.WeightsError, match=f"has sha256 {real}, expected {other.sha256}.*Delete it"):
        backbones.verify_weights_file(path, other)
    exact = dataclasses.replace(backbones.BACKBONES["alexnet"], sha256=real)
    assert backbones.verify_weights_file(path, exact) == real


@pytest.mark.parametrize("digest", ["7be5be79", "", "7BE5BE791159472B1FBF3C69796F7CB30DCA7AD8466C2DF70058C37116CDEE02",
                                    "7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02 "])
def test_a_registry_entry_without_a_full_digest_is_a_programming_error(tmp_path, digest):
    path = tmp_path / "w.pth"
    path.write_bytes(b"x")
    spec = dataclasses.replace(backbones.BACKBONES["alexnet"], sha256=digest)
    with pytest.raises(ValueError, match="not a full 64-hex-digit digest.*Put the full sha256"):
        backbones.verify_weights_file(path, spec)
    with pytest.raises(ValueError, match="not a full 64-hex-digit digest"):
        backbones._torchvision("alexnet", "alexnet-owt-7be5be79.pth", digest, input_size=227,
                               conv_shape=(256, 13, 13), conv_layers=12)


def test_the_installed_mobilenet_file_passes_its_full_digest():
    spec = backbones.get_backbone_spec("mobilenet_v2")
    path = backbones.find_weights(spec, download=False)
    assert backbones.verify_weights_file(path, spec) == spec.sha256 == file_sha256(path)
    assert spec.sha256 == "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"


def test_a_cached_file_that_fails_its_digest_stops_the_loader(tmp_path, monkeypatch):
    """The loader path, not just the check: a file in the hub cache whose sha256 is not the
    registry's is refused before torch.load (it would fail if the loader skipped the check)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    spec = backbones.get_backbone_spec("mobilenet_v2")
    cached = backbones.hub_checkpoint_dir() / spec.filename
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"a forged file")
    forged = dataclasses.replace(spec, sha256=fake_digest_sharing_prefix(file_sha256(cached)))
    monkeypatch.setitem(backbones.BACKBONES, "mobilenet_v2", forged)
    with pytest.raises(backbones.WeightsError, match="corrupt or not torchvision's mobilenet_v2-b0353104.pth"):
        backbones.load_backbone("mobilenet_v2", download=False)
