"""The on-disk expert zoo: checksums, atomic adds, lazy loading, refusal of mismatched zoos."""

from __future__ import annotations

import json

import pytest
import torch

from eglib.method import experts
from eglib.method.autoencoder import train_autoencoder
from eglib.method.zoo import ExpertZoo, ZooError


@pytest.fixture(scope="module")
def parts(cluster_data):
    base = experts.base_expert()
    small = experts.Expert(base.upper, 1280, {"t": 3})  # shares the pretrained upper part
    return {"standardizer": cluster_data["standardizer"], "autoencoders": cluster_data["autoencoders"],
            "expert": small}


def filled_zoo(path, parts, tasks=("a", "b")) -> ExpertZoo:
    zoo = ExpertZoo(path)
    zoo.set_standardizer(parts["standardizer"])
    for index, name in enumerate(tasks):
        zoo.add_task(name, parts["autoencoders"][index], parts["expert"],
                     {"classes": ["x", "y", "z"], "source": "base", "method": "finetune"})
    return zoo


def test_round_trip_in_a_new_object(tmp_path, parts, cluster_data):
    filled_zoo(tmp_path, parts)
    reopened = ExpertZoo(tmp_path)
    assert reopened.task_names == ["a", "b"] and reopened.task("a")["source"] == "base"
    x = torch.cat(cluster_data["test"])
    expected = torch.stack([ae.reconstruction_error(x) for ae in parts["autoencoders"][:2]], dim=1)
    torch.testing.assert_close(reopened.gate().errors(x), expected, rtol=1e-4, atol=1e-4)
    activations = torch.rand(4, 160, 3, 3)
    with torch.no_grad():
        torch.testing.assert_close(reopened.expert("a")(activations, "t"), parts["expert"](activations, "t"))


def test_experts_are_loaded_lazily_one_at_a_time(tmp_path, parts):
    zoo = ExpertZoo(filled_zoo(tmp_path, parts).path)
    assert zoo.resident == []
    zoo.expert("a")
    assert zoo.resident == ["a"]
    zoo.expert("b")
    assert zoo.resident == ["b"]


def test_tampered_or_truncated_files_are_refused(tmp_path, parts):
    filled_zoo(tmp_path, parts)
    expert_file = tmp_path / "a" / "expert.pt"
    expert_file.write_bytes(expert_file.read_bytes()[:-10])
    with pytest.raises(ZooError, match="checksum"):
        ExpertZoo(tmp_path).expert("a")
    ExpertZoo(tmp_path).expert("b")  # the other task is untouched


def test_a_file_is_hashed_once_while_it_stays_the_same_and_again_when_it_changes(tmp_path, parts, monkeypatch):
    """An expert is loaded again for each evaluation; its file is verified once, unless it changed since."""
    import os
    import shutil

    from eglib.method import zoo as zoo_module

    filled_zoo(tmp_path, parts)
    hashed = []
    real = zoo_module.file_sha256
    monkeypatch.setattr(zoo_module, "file_sha256", lambda path: hashed.append(path.name) or real(path))
    zoo = ExpertZoo(tmp_path, max_resident=1)
    for _ in range(3):
        zoo.expert("a"), zoo.expert("b")  # each load of one drops the other
        zoo.gate()
    assert sorted(hashed) == ["autoencoder.pt", "autoencoder.pt", "expert.pt", "expert.pt", "standardizer.pt"]
    # the same bytes count flipped in place, with a new modification time: hashed again and refused
    expert_file = tmp_path / "a" / "expert.pt"
    data = bytearray(expert_file.read_bytes())
    data[-20] ^= 0xFF
    stat = expert_file.stat()
    expert_file.write_bytes(bytes(data))
    os.utime(expert_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    zoo.expert("b")
    with pytest.raises(ZooError, match="checksum"):
        zoo.expert("a")
    assert hashed.count("expert.pt") == 3
    # a changed copy renamed over b's verified file with b's times and size put back: another file, hashed again
    b_file = tmp_path / "b" / "expert.pt"
    zoo.expert("b")
    before = b_file.stat()
    changed = bytearray(b_file.read_bytes())
    changed[-20] ^= 0xFF
    copy = tmp_path / "b" / "copy.pt"
    copy.write_bytes(bytes(changed))
    os.utime(copy, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(copy, b_file)
    zoo._resident.clear()  # nothing resident: the next call loads b from its file
    with pytest.raises(ZooError, match="checksum"):
        zoo.expert("b")
    # a task folder replaced by a file: refused as a missing file, not an OSError from deep inside
    shutil.rmtree(tmp_path / "a")
    (tmp_path / "a").write_text("not a folder")
    with pytest.raises(ZooError, match="missing"):
        zoo.expert("a")


def test_interrupted_add_leaves_the_zoo_loadable_and_can_be_redone(tmp_path, parts, monkeypatch):
    zoo = filled_zoo(tmp_path, parts, tasks=("a",))
    before = (tmp_path / "manifest.json").read_text()

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(ExpertZoo, "_write_manifest", killed)
    with pytest.raises(KeyboardInterrupt):
        zoo.add_task("b", parts["autoencoders"][1], parts["expert"], {"source": "a"})
    monkeypatch.undo()
    assert (tmp_path / "manifest.json").read_text() == before
    assert ExpertZoo(tmp_path).task_names == ["a"]
    again = ExpertZoo(tmp_path)
    again.add_task("b", parts["autoencoders"][1], parts["expert"], {"source": "a"})
    assert ExpertZoo(tmp_path).task_names == ["a", "b"]


def test_bad_input_is_refused_and_the_zoo_left_as_it_was(tmp_path, parts, cluster_data):
    zoo = filled_zoo(tmp_path, parts)
    before = (tmp_path / "manifest.json").read_text()
    with pytest.raises(ValueError, match="already has a task"):
        zoo.add_task("a", parts["autoencoders"][0], parts["expert"], {})
    with pytest.raises(ValueError, match="names a folder"):
        zoo.add_task("../evil", parts["autoencoders"][0], parts["expert"], {})
    foreign = train_autoencoder(cluster_data["train"][2], hidden_size=8, epochs=1, device="cpu")
    with pytest.raises(ZooError, match="other statistics"):
        zoo.add_task("c", foreign, parts["expert"], {})
    assert (tmp_path / "manifest.json").read_text() == before
    with pytest.raises(ZooError, match="profile/backbone"):
        ExpertZoo(tmp_path, profile="paper", backbone="alexnet")
    manifest = json.loads(before)
    assert all(len(task["expert"]["sha256"]) == 64 for task in manifest["tasks"])


def test_a_stored_module_is_rebuilt_bit_for_bit_without_initialising_it_or_drawing_random_numbers(parts):
    from eglib.method.autoencoder import TaskAutoencoder
    from eglib.method.zoo import build_expert
    from eglib.video import dfn

    expert = parts["expert"].eval()
    autoencoder = parts["autoencoders"][0]
    video = dfn.DynamicFilterNetwork().eval()
    before = torch.get_rng_state()
    rebuilt_expert = build_expert(expert.state_dict(), "mobilenet_v2")
    rebuilt_autoencoder = TaskAutoencoder.from_state_dict(autoencoder.state_dict())
    rebuilt_video = dfn.from_state_dict(video.state_dict())
    assert torch.equal(torch.get_rng_state(), before)  # building them drew nothing from the global generator
    # the layout the expert computes in (channels-last convolutions) is kept
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in rebuilt_expert.upper.parameters() if p.ndim == 4)
    with torch.no_grad():
        maps, features, frames = torch.rand(5, 160, 3, 3), torch.rand(5, autoencoder.standardizer.dim), torch.rand(2, 3, 16, 16)
        assert torch.equal(rebuilt_expert(maps, "t"), expert(maps, "t"))
        assert torch.equal(rebuilt_autoencoder.network(features), autoencoder.network(features))
        assert torch.equal(rebuilt_video(frames), video(frames))
    # experts are rebuilt from one cached skeleton: each gets its own tensors
    again = build_expert(expert.state_dict(), "mobilenet_v2")
    assert all(a.data_ptr() != b.data_ptr() for a, b in zip(again.parameters(), rebuilt_expert.parameters()))
    with pytest.raises(ValueError, match="no head"):
        build_expert({k: v for k, v in expert.state_dict().items() if not k.startswith("heads.")}, "mobilenet_v2")


def test_rebuilding_refuses_a_module_with_tensors_no_state_holds(parts):
    from eglib.storage import rebuild_module

    class WithScratch(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(2, 2)
            self.register_buffer("scratch", torch.zeros(2), persistent=False)

    with pytest.raises(ValueError, match=r"buffers that no state dict holds \(\['scratch'\]\)"):
        rebuild_module(WithScratch, WithScratch().state_dict())
    with pytest.raises(RuntimeError, match="Missing key"):
        rebuild_module(lambda: torch.nn.Linear(2, 2), {"weight": torch.zeros(2, 2)})
