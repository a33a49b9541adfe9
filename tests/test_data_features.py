"""The mini benchmark on disk, backbone weights, and the feature cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from eglib import config, data, features
from eglib.data import mini, mini_images
from eglib.features import backbones, extract


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    data.build_mini(root, seed=0)
    return root


def test_build_has_seven_domains_with_all_splits(built):
    bench = data.load_mini(built, build=False)
    assert bench.names == ["digits-a", "digits-b", "mnist", "letters", "photos", "shapes", "textures"]
    for domain in bench.domains.values():
        for split, size in data.SPLIT_SIZES.items():
            part = domain.split(split)
            assert part.images.shape == (size, 64, 64, 3) and part.images.dtype == np.uint8
            assert set(np.unique(part.labels)) == set(range(len(domain.classes)))
    assert bench.base.shape == (data.BASE_SIZE, 64, 64, 3)


def test_digit_halves_share_a_source_and_split_its_classes(built):
    """digits-a and digits-b: one source cut by its classes, no original image in two splits."""
    from sklearn.datasets import load_digits

    bench = data.load_mini(built, build=False)
    assert bench.cut_domains == ["digits-a", "digits-b"]
    assert bench.source_of("digits-a") == bench.source_of("digits-b") == "digits"
    assert bench.source_of("mnist") == "mnist" and bench.source_of("no such domain") == "no such domain"
    assert bench.earlier_of_same_source("digits-b") == ["digits-a"]
    assert bench.earlier_of_same_source("digits-a") == [] and bench.earlier_of_same_source("mnist") == []
    assert bench.domains["digits-a"].classes == ["0", "1", "2", "3", "4"]
    assert bench.domains["digits-b"].classes == ["5", "6", "7", "8", "9"]
    # the pool of originals is large enough that a domain of 700 images repeats none (mini_images._pick)
    rng = np.random.default_rng(0)
    images, labels, classes = mini_images.make_digits(700, 16, rng, classes=range(5, 10))
    originals = load_digits().target
    assert len(images) == 700 and set(labels) == set(range(5)) and classes == ["5", "6", "7", "8", "9"]
    assert 700 <= int(np.isin(originals, range(5, 10)).sum())


def test_build_is_deterministic(built, tmp_path):
    data.build_mini(tmp_path, seed=0)
    first = json.loads((built / "mini" / "manifest.json").read_text())["files"]
    second = json.loads((tmp_path / "mini" / "manifest.json").read_text())["files"]
    assert first == second


def test_letters_use_ten_font_files_from_packages():
    fonts = mini_images.font_files()
    assert len(fonts) == 10 and all(f.exists() for f in fonts)
    assert any("font_roboto" in str(f) for f in fonts) and any("amatic" in str(f).lower() for f in fonts)


def test_truncated_file_is_refused_with_the_fix(built, tmp_path):
    import shutil

    copy = tmp_path / "mini"
    shutil.copytree(built / "mini", copy)
    path = copy / "letters.npz"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(data.DataError, match="make_mini.py"):
        data.load_mini(tmp_path, build=False)
    assert path.stat().st_size == 1000  # the broken folder is reported, not silently replaced


def test_half_written_folder_is_refused(tmp_path):
    (tmp_path / "mini").mkdir()
    (tmp_path / "mini" / "digits-a.npz").write_bytes(b"partial")
    with pytest.raises(data.DataError, match="no manifest.json"):
        data.load_mini(tmp_path)


def test_missing_folder_without_build_names_the_script(tmp_path):
    with pytest.raises(data.DataError, match="make_mini.py"):
        data.load_mini(tmp_path, build=False)


def test_interrupted_build_leaves_nothing_that_looks_complete(tmp_path, monkeypatch):
    def explode(count, size, rng):
        raise KeyboardInterrupt

    monkeypatch.setitem(mini_images.GENERATORS, "shapes", explode)
    with pytest.raises(KeyboardInterrupt):
        data.build_mini(tmp_path)
    assert not (tmp_path / "mini").exists()
    assert list(tmp_path.iterdir()) == []


def test_unknown_profile_device_and_backbone_are_clear_errors():
    with pytest.raises(ValueError, match="Unknown profile 'tiny'.*mini"):
        config.get_profile("tiny")
    with pytest.raises(ValueError, match="Unknown device 'gpu'"):
        config.resolve_device("gpu")
    with pytest.raises(ValueError, match="Unknown backbone 'vgg'.*alexnet"):
        backbones.get_backbone_spec("vgg")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="DEVICE=cpu"):
            config.resolve_device("cuda")


def test_mobilenet_weights_are_the_verified_official_file():
    spec = backbones.get_backbone_spec("mobilenet_v2")
    path = backbones.find_weights(spec, download=False)
    assert backbones.verify_weights_file(path, spec).startswith("b0353104")


def test_tampered_weights_file_is_refused(tmp_path, monkeypatch):
    spec = backbones.get_backbone_spec("mobilenet_v2")
    good = backbones.find_weights(spec, download=False)
    bad = bytearray(good.read_bytes())
    bad[5000] ^= 0xFF
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    target = backbones.hub_checkpoint_dir() / spec.filename
    target.parent.mkdir(parents=True)
    target.write_bytes(bytes(bad))
    with pytest.raises(backbones.WeightsError, match="sha256"):
        backbones.load_backbone("mobilenet_v2")


def test_alexnet_without_weights_says_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(backbones.WeightsError, match="alexnet-owt-7be5be79.pth.*never uses random"):
        backbones.load_backbone("alexnet", download=False)
    # a file of the right name but not the official bytes is refused before unpickling
    target = backbones.hub_checkpoint_dir() / "alexnet-owt-7be5be79.pth"
    target.parent.mkdir(parents=True)
    torch.save(torchvision_alexnet_state(), target)
    with pytest.raises(backbones.WeightsError, match="expected 7be5be79"):
        backbones.load_backbone("alexnet", download=False)


def torchvision_alexnet_state() -> dict:
    import torchvision

    return torchvision.models.alexnet(weights=None).state_dict()


def test_alexnet_relu5_shape_on_generated_images():
    trunk, digest = backbones.load_backbone("alexnet", allow_random=True)
    assert digest == "random"
    images = torch.rand(2, 3, 227, 227)
    assert trunk(images).shape == (2, 256, 13, 13)
    assert backbones.get_backbone_spec("alexnet").conv_dim == 43264


def test_extract_features_shapes_and_inputs():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 40, 50, 3), dtype=np.uint8)
    conv = features.extract_features(images, device="cpu")
    assert conv.shape == (3, 11520) and conv.dtype == torch.float32
    pooled = features.extract_features(images, layer="pooled", device="cpu")
    # bit for bit: features pooled on the way (the learner's) and pooled from the cached map (the
    # notebooks') must agree exactly, or a model trained on one is not reused for the other
    assert torch.equal(pooled, features.pool_conv_features(conv, "mobilenet_v2"))
    from PIL import Image

    as_pil = [Image.fromarray(image) for image in images] + [Image.fromarray(images[0]).resize((90, 70))]
    mixed = features.extract_features(as_pil, device="cpu")
    torch.testing.assert_close(mixed[:3], conv, rtol=1e-4, atol=1e-4)


def test_one_pass_gives_gate_features_and_expert_inputs():
    """The expert's cut point lies on the way to the gate's map: one pass, the same numbers as two."""
    images = np.random.default_rng(2).integers(0, 256, (5, 64, 64, 3), dtype=np.uint8)
    both = features.extract_layers(images, layers=("pooled", "conv", "expert_input"), device="cpu", batch_size=2)
    spec = backbones.get_backbone_spec("mobilenet_v2")
    assert both["expert_input"].shape == (5, *spec.expert_input_shape)
    assert both["expert_input"].is_contiguous()  # one layout, whether read from the cache or not
    for layer in ("pooled", "conv", "expert_input"):
        torch.testing.assert_close(both[layer], features.extract_features(images, layer=layer, device="cpu"))
    trunk, _ = backbones.load_backbone("mobilenet_v2")
    with torch.no_grad():
        rest = trunk.trunk[spec.expert_cut:](both["expert_input"])  # the expert input continues to the gate's map
    torch.testing.assert_close(rest.flatten(1), both["conv"], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="expert_input"):
        features.extract_features(images, layer="split", device="cpu")  # the old name of the cut point


@pytest.mark.parametrize("bad, message", [
    (np.zeros((2, 32, 32), dtype=np.uint8), r"\[N, H, W, 3\]"),
    (np.zeros((2, 32, 32, 4), dtype=np.uint8), "alpha"),
    (np.zeros((0, 32, 32, 3), dtype=np.uint8), "empty"),
    (np.zeros((2, 32, 32, 3), dtype=np.float32), "uint8"),
])
def test_bad_images_get_clear_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        features.extract_features(bad, device="cpu")


def test_feature_cache_is_reused(data_root, monkeypatch):
    images = np.random.default_rng(1).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    first = features.cached_features(images, device="cpu")
    files = sorted(path.name.split("-")[1] for path in features.cache_dir().glob("*.npy"))
    assert files == ["conv", "expert_input"]  # one pass stored the gate's map and the expert input

    def must_not_run(*args, **kwargs):
        raise AssertionError("features were recomputed instead of read from the cache")

    monkeypatch.setattr(extract, "extract_layers", must_not_run)
    second = features.cached_features(images, device="cpu")
    assert torch.equal(first, second)
    inputs = features.cached_features(images, layer="expert_input", device="cpu")  # from the same pass
    assert inputs.shape == (4, 160, 3, 3)
    other = images.copy()
    other[0, 0, 0, 0] ^= 1  # other content -> other key -> recomputed
    with pytest.raises(AssertionError, match="recomputed"):
        features.cached_features(other, device="cpu")


def test_alexnet_loading_path_with_a_generated_file_of_registered_checksum(tmp_path, monkeypatch):
    """Exercises find -> verify -> torch.load(weights_only) -> load_state_dict for AlexNet.

    The file is generated here (untrained weights) and the registry's checksum is pointed at it
    for this test only: it proves the loading code, not any pretrained quality.
    """
    import dataclasses

    from eglib.storage import file_sha256

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    target = backbones.hub_checkpoint_dir() / "alexnet-owt-7be5be79.pth"
    target.parent.mkdir(parents=True)
    state = torchvision_alexnet_state()
    torch.save(state, target)
    spec = dataclasses.replace(backbones.BACKBONES["alexnet"], sha256=file_sha256(target))
    monkeypatch.setitem(backbones.BACKBONES, "alexnet", spec)
    trunk, digest = backbones.load_backbone("alexnet", download=False)
    assert digest == spec.sha256
    torch.testing.assert_close(trunk.trunk[0].weight, state["features.0.weight"])
    assert trunk(torch.rand(1, 3, 227, 227)).shape == (1, 256, 13, 13)


def test_missing_benchmark_is_built_on_demand_and_then_reused(data_root, monkeypatch):
    calls = []
    real_build = mini.build_mini

    def counting_build(root, seed=0, size=64):
        calls.append(root)
        return real_build(root, seed=seed, size=size)

    monkeypatch.setattr(mini, "build_mini", counting_build)
    first = data.load_mini()
    second = data.load_mini()
    assert len(calls) == 1  # present and intact: not rebuilt
    assert np.array_equal(first.domains["letters"].test.images, second.domains["letters"].test.images)


def test_paper_profile_is_refused_before_any_work(data_root):
    with pytest.raises(data.DataError, match="get_paper_data.py scenes"):
        data.check_profile_ready("paper")
    data.check_profile_ready("mini")


def test_base_images_share_nothing_with_the_photos_domain():
    assert not set(mini_images.BASE_IMAGES) & set(mini_images._photographs())


def test_make_mini_rebuilds_a_folder_of_an_older_version(built, tmp_path):
    import shutil
    import subprocess
    import sys

    root = tmp_path / "old"
    shutil.copytree(built, root)
    manifest = root / "mini" / "manifest.json"
    manifest.write_text(manifest.read_text().replace(f'"version": {data.MINI_VERSION}', '"version": 1'))
    with pytest.raises(data.DataError, match="another version"):
        data.load_mini(root, build=False)  # the loader never replaces a folder silently...
    script = Path(__file__).resolve().parent.parent / "data_scripts" / "make_mini.py"
    done = subprocess.run([sys.executable, str(script), "--root", str(root)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "version 1" in done.stdout and "Rebuilding" in done.stdout  # ...make_mini.py says it rebuilds
    assert data.load_mini(root, build=False).names == data.load_mini(built, build=False).names
