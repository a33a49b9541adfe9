"""Video prediction (notebook 06): embedded domains, the Dynamic Filter Network, frame folders."""

from __future__ import annotations

import hashlib
from unittest import mock

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from eglib import config, video
from eglib.video import clips as clip_generators
from eglib.video import dfn, measures, rivals

SMALL = {"train": 6, "val": 2, "test": 2}


def test_mini_video_is_seeded_and_every_domain_moves():
    first, again, other = (video.make_mini_video(seed=s, splits=SMALL) for s in (0, 0, 1))
    assert list(first) == list(video.VIDEO_DOMAINS)
    for name, domain in first.items():
        assert domain.train.shape == (6, 6, 32, 32) and domain.test.dtype == np.uint8
        assert np.array_equal(domain.test, again[name].test)
        assert not np.array_equal(domain.train, other[name].train)
        change = np.abs(np.diff(domain.train.astype(int), axis=1)).mean(axis=(2, 3))  # [clips, 5]
        assert (change > 1.0).all(), name  # something moves between every pair of frames of every clip


def test_digits_accelerate_downwards():
    """Mean vertical velocity of the digits' bright mass grows frame by frame (gravity), unlike a pan."""
    clips = clip_generators.make_bouncing_digits(200, 32, np.random.default_rng(0)).astype(float)
    rows = np.arange(32)[None, None, :, None]
    centre = (clips * rows).sum(axis=(2, 3)) / clips.sum(axis=(2, 3))   # [clips, frames]
    velocity = np.diff(centre, axis=1).mean(axis=0)
    assert velocity[-1] > velocity[0] + 0.5


def test_the_digits_generator_takes_its_dynamics_apart():
    """gravity, digits_per_clip and with_bounces leave the domain's clips as they were and change one thing each."""
    def make(**options):
        return clip_generators.make_bouncing_digits(60, 32, np.random.default_rng(3), **options)

    domain = make()
    # the mini domain's clips as they were before the options came (2026-12-06: sha256 of 50 clips of rng 0)
    before = clip_generators.make_bouncing_digits(50, 32, np.random.default_rng(0))
    assert hashlib.sha256(before.tobytes()).hexdigest().startswith("2a1ce702b197513d")
    same, bounced = make(with_bounces=True)
    assert np.array_equal(domain, same) and bounced.shape == (60, 5) and bounced.dtype == bool
    one = make(digits_per_clip=1)
    assert (one <= domain).all() and one.sum() < 0.8 * domain.sum()  # the same first digit, the second not painted
    lone, lone_bounces = make(digits_per_clip=1, gravity=0.0, with_bounces=True)
    rows, cols = np.arange(32)[None, None, :, None], np.arange(32)[None, None, None, :]
    mass = lone.astype(float).sum(axis=(2, 3))
    centre = np.stack([(lone * rows).sum(axis=(2, 3)) / mass, (lone * cols).sum(axis=(2, 3)) / mass], axis=-1)
    step = np.diff(centre, axis=1)  # [clips, 5, 2]
    steady = ~lone_bounces.any(axis=1)
    assert 10 < steady.sum() < 60
    # no gravity, no bounce: the digit's step varies by at most the rounding of its position (a pixel)
    assert (np.abs(np.diff(step[steady], axis=1)) <= 1.0 + 1e-9).all()
    # a component of the step changes sign only in a clip with a bounce, and does in every clip with one between
    # its first and last steps (a bounce in the first or last step may hide in a step of 0)
    reverses = ((step.min(axis=1) < 0) & (step.max(axis=1) > 0)).any(axis=1)
    assert not reverses[steady].any()
    assert reverses[lone_bounces[:, 1:-1].any(axis=1)].all()
    with pytest.raises(ValueError, match="digits_per_clip must be 1 or 2"):
        make(digits_per_clip=3)


def test_the_stored_object_causes_support_06s_prose():
    """Notebook 06 shows benchmarks/results/video_object_causes.csv and a sentence about it (README too):
    the statements hold on every seed of the stored table, so a re-measurement that changes them fails here."""
    stored = pd.read_csv(config.REPO_ROOT / "benchmarks" / "results" / "video_object_causes.csv")
    assert set(stored["seed"]) == {0, 1, 2}
    kept = stored.set_index(["condition", "clips", "method", "seed"])["kept"].unstack("seed")
    spurious = stored.set_index(["condition", "clips", "method", "seed"])["spurious"].unstack("seed")
    domain, velocity = "the domain (gravity, 2 digits)", "constant velocity"
    # a lone digit that neither falls nor bounces: constant velocity (and the prior alone, alike) keeps nearly all of it
    lone = kept.loc[("no gravity, 1 digit", "no bounce")]
    assert (lone.loc[velocity] > 0.9).all() and (lone.loc["prior alone"] - lone.loc[velocity]).abs().max() < 0.02
    # gravity lowers that by more than 0.15, a bounce in the predicted steps by more than 0.3
    assert (lone.loc[velocity] - kept.loc[("gravity, 1 digit", "no bounce", velocity)] > 0.15).all()
    assert (lone.loc[velocity] - kept.loc[("no gravity, 1 digit", "bounce while predicted", velocity)] > 0.3).all()
    # a second digit costs constant velocity (one shift for two digits) more than the prior alone
    two = kept.loc[("no gravity, 2 digits", "no bounce")]
    assert (two.loc[velocity] < lone.loc[velocity] - 0.1).all() and (two.loc["prior alone"] > two.loc[velocity]).all()
    # in the domain's clips a bounce in the predicted steps lowers it too, and most clips have one
    assert (kept.loc[(domain, "no bounce", velocity)] > kept.loc[(domain, "bounce while predicted", velocity)]).all()
    counts = stored[(stored["condition"] == domain) & (stored["method"] == velocity)].groupby("clips")["count"].mean()
    assert counts["bounce while predicted"] > 0.5 * counts["all"]
    # the expert keeps no more than the prior alone and draws fewer spurious pixels
    assert (kept.loc[(domain, "all", "DFN expert")] <= kept.loc[(domain, "all", "prior alone")] + 0.01).all()
    assert (spurious.loc[(domain, "all", "DFN expert")] < spurious.loc[(domain, "all", "prior alone")] - 0.05).all()
    # ...and has learnt something of the fall: on two digits it keeps more with gravity than without, the prior less
    without = "no gravity, 2 digits"
    assert (kept.loc[(domain, "all", "DFN expert")] > kept.loc[(without, "all", "DFN expert")]).all()
    assert (kept.loc[(domain, "all", "prior alone")] < kept.loc[(without, "all", "prior alone")]).all()
    # twice the training (README) moves the expert's kept share both ways over the seeds, by less than 0.03
    longer = pd.read_csv(config.REPO_ROOT / "benchmarks" / "results" / "video_object_causes_20_epochs.csv")
    longer_kept = longer.set_index(["condition", "clips", "method", "seed"])["kept"].unstack("seed")
    change = longer_kept.loc[(domain, "all", "DFN expert")] - kept.loc[(domain, "all", "DFN expert")]
    assert (change < 0).any() and (change > 0).any() and change.abs().max() < 0.03, change


def test_the_stored_training_arms_support_the_readme():
    """README ("More clips, more steps, a wider U-Net?") reads benchmarks/results/video_training_clips.csv:
    its statements hold on every seed of the stored table, so a re-measurement that changes them fails here."""
    stored = pd.read_csv(config.REPO_ROOT / "benchmarks" / "results" / "video_training_clips.csv")
    assert set(stored["seed"]) == {0, 1, 2}
    values = stored.set_index(["arm", "domain", "seed"])
    setting = values.xs("06's setting", level="arm")
    arms = [arm for arm in dict.fromkeys(stored["arm"]) if arm != "06's setting"]
    assert arms == ["same clips, x4 epochs", "x4 clips", "U-Net width 16"]
    for arm in arms:
        change = values.xs(arm, level="arm")[["kept", "test L1"]] - setting[["kept", "test L1"]]
        digits, shapes = change.xs("digits", level="domain"), change.xs("shapes", level="domain")
        # a little more of the digits on every seed, at most a tenth; the shapes as they were
        assert ((digits["kept"] > 0) & (digits["kept"] <= 0.1)).all(), (arm, digits)
        assert (shapes["kept"].abs() < 0.01).all(), (arm, shapes)
        kept = values.xs((arm, "digits"), level=["arm", "domain"])["kept"]
        assert kept.between(0.495, 0.625).all(), (arm, kept)
        # only the fourfold clips lower the digits' test L1 on every seed
        assert (digits["test L1"] < 0).all() == (arm == "x4 clips"), (arm, digits)
    times = values["train s / 06's"]
    assert times.xs("x4 clips", level="arm").between(3.5, 4.5).all()
    assert times.xs("U-Net width 16", level="arm").between(1.2, 1.8).all()


def test_start_network_is_where_train_dfn_starts():
    clips = np.stack([pan_clip(1, 2, seed=s) for s in range(4)])
    unmoved, _ = dfn.train_dfn(clips, epochs=1, lr=0.0, batch_size=4, seed=5, device="cpu")  # reuse is off in tests
    start = dfn.start_network(5)
    assert not start.training
    for name, tensor in start.state_dict().items():
        assert torch.equal(tensor, unmoved.state_dict()[name]), name
    before = torch.get_rng_state()
    dfn.start_network(6)
    assert torch.equal(before, torch.get_rng_state())  # the caller's random state is left as it was


def repeat_last_l1(clips: np.ndarray) -> np.ndarray:
    """Per-clip L1 of repeating the last seen frame (the no-motion guess)."""
    return measures.l1(rivals.repeat_last(clips), rivals.future_frames(clips))


def test_a_dynamic_filter_takes_each_pixel_from_where_its_filter_points():
    net = dfn.DynamicFilterNetwork(filter_size=3)
    frames = torch.rand(2, 3, 8, 8)
    one_hot = torch.zeros(2, 9, 8, 8)
    one_hot[:, 3] = 1.0  # filter position (row 1, col 0): the left neighbour
    net.filters = lambda _frames: one_hot
    moved = net.step(frames)
    torch.testing.assert_close(moved[:, :, 1:], frames[:, -1, :, :-1])  # everything shifted one pixel right
    torch.testing.assert_close(moved[:, :, 0], frames[:, -1, :, 0])  # the left edge repeats itself (no dark border)
    for strength in (0.0, 30.0):
        real = dfn.DynamicFilterNetwork(filter_size=3, prior_strength=strength).filters(frames)
        torch.testing.assert_close(real.sum(dim=1), torch.ones(2, 8, 8))  # softmax filters sum to one


def pan_clip(dy: int, dx: int, size: int = 32, frames: int = 6, seed: int = 0) -> np.ndarray:
    """A window moving by (dy, dx) per frame over a smooth random texture: uint8 [frames, size, size]."""
    texture = clip_generators._texture(np.random.default_rng(seed), 3 * size)
    y0, x0 = size, size  # the middle of a 3x texture: room to move 5 frames at up to 6 px each way
    return np.stack([texture[y0 + t * dy:y0 + t * dy + size, x0 + t * dx:x0 + t * dx + size] for t in range(frames)])


def test_matching_cost_is_lowest_at_the_offset_the_content_came_from():
    clip = torch.from_numpy(pan_clip(1, -2)).float().div(255)[None]  # the window moves 1 down, 2 left a frame
    cost = dfn.matching_cost(clip[:, 1:2], clip[:, 2:3], size=7, window=5)  # [1, 49, 32, 32]
    best = cost[0, :, 8:24, 8:24].argmin(dim=0)  # interior pixels
    offset = (best // 7 - 3, best % 7 - 3)  # last(p) = previous(p + offset): what is at p was at p + (1, -2)
    assert (offset[0] == 1).all() and (offset[1] == -2).all()
    # the untrained network's filters follow it: a prediction far better than repeating the last frame
    net = dfn.DynamicFilterNetwork()
    clips = np.stack([pan_clip(1, -2, seed=s) for s in range(4)])
    with torch.no_grad():
        assert dfn.prediction_l1(net, clips).mean() < 0.5 * repeat_last_l1(clips).mean()
    plain = dfn.DynamicFilterNetwork(prior_strength=0.0)
    assert dfn.prediction_l1(plain, clips).mean() > 0.7 * repeat_last_l1(clips).mean()  # blur, no motion
    rebuilt = dfn.from_state_dict(plain.state_dict())
    assert rebuilt.prior_strength == 0.0 and np.allclose(dfn.prediction_l1(rebuilt, clips), dfn.prediction_l1(plain, clips))


def test_dfn_learns_motion_and_never_modifies_its_start():
    domain = video.make_mini_video(splits={"train": 96, "val": 1, "test": 32})["digits"]
    model, log = dfn.train_dfn(domain.train, epochs=16, batch_size=16, device="cpu")
    assert log.loss[-1] < log.loss[0]
    assert dfn.prediction_l1(model, domain.test).mean() < 0.85 * repeat_last_l1(domain.test).mean()
    # the matching prior alone already beats repeating the last frame (the untrained start network:
    # 0.76 of its error), so what training adds is checked against that start (0.94 of its error, seed 0;
    # both measured with the relative prior, 2026-12-06, as with the raw one before)
    torch.manual_seed(0)
    start = dfn.DynamicFilterNetwork().eval()  # the network train_dfn(seed=0) starts from
    assert dfn.prediction_l1(model, domain.test).mean() < 0.97 * dfn.prediction_l1(start, domain.test).mean()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    tuned, _ = dfn.train_dfn(domain.train[:32], model, epochs=1, device="cpu")
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert not all(torch.equal(v, before[k]) for k, v in tuned.state_dict().items())
    same, _ = dfn.train_dfn(domain.train[:32], model, epochs=1, device="cpu")
    assert all(torch.equal(v, tuned.state_dict()[k]) for k, v in same.state_dict().items())  # seeded
    predicted = dfn.predict_clips(model, domain.test[:2])
    assert predicted.shape == (2, 3, 32, 32) and predicted.dtype == np.uint8


def test_sequence_matrix_routing_and_reused_first_stage():
    domains = video.make_mini_video(splits={"train": 16, "val": 1, "test": 8})
    train = {n: d.train for n, d in domains.items()}
    test = {n: d.test for n, d in domains.items()}
    options = {"epochs": 1, "device": "cpu", "seed": 3}
    first, _ = dfn.train_dfn(train["digits"], **options)
    _, matrix = dfn.finetune_in_sequence(train, test, **options)
    _, reused = dfn.finetune_in_sequence(train, test, first_stage=first, **options)
    assert list(matrix.index) == list(matrix.columns) == list(domains)
    assert np.allclose(matrix.to_numpy(), reused.to_numpy())  # stage 1 is the same network either way
    experts = {"a": first, "b": dfn.train_dfn(train["pan"], **options)[0]}
    clips = test["digits"]
    assert np.array_equal(dfn.routed_frames(experts, np.zeros(8, int), clips), dfn.predicted_frames(first, clips))
    mixed = dfn.routed_frames(experts, np.array([0, 1] * 4), clips)
    assert np.array_equal(mixed[1::2], dfn.predicted_frames(experts["b"], clips[1::2]))
    assert np.array_equal(mixed[::2], dfn.predicted_frames(first, clips[::2]))
    assert np.allclose(measures.l1(dfn.predicted_frames(first, clips), rivals.future_frames(clips)),
                       dfn.prediction_l1(first, clips), atol=1e-4)


def test_bad_clips_are_refused():
    with pytest.raises(video.VideoDataError, match="needs 6"):
        video.check_clips(np.zeros((2, 5, 8, 8), np.uint8))
    with pytest.raises(video.VideoDataError, match=r"uint8 grayscale clips \[N, T, H, W\]"):
        video.check_clips(np.zeros((2, 6, 8, 8), np.float32))
    with pytest.raises(video.VideoDataError, match="no clips"):
        video.check_clips(np.zeros((0, 6, 8, 8), np.uint8))
    with pytest.raises(ValueError, match="multiples of 4"):
        dfn.DynamicFilterNetwork()(torch.zeros(1, 3, 30, 30))


def write_sequence(folder, frames: int, size=(40, 30), odd: int | None = None) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(len(str(folder)))
    for t in range(frames):
        shape = (size[1] + 2, size[0]) if t == odd else (size[1], size[0])
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(folder / f"{t:06d}.png")


def test_frame_folders_are_cut_into_clips_per_sequence(tmp_path):
    for domain in ("city", "highway"):
        write_sequence(tmp_path / domain / "seq_a", 62)  # 10 clips (2 frames left over)
        write_sequence(tmp_path / domain / "seq_b", 30)  # 5 clips
    (tmp_path / "city" / "seq_a" / "notes.txt").write_text("not a frame")
    domains = video.load_frame_folders(tmp_path, size=16, split_by="time")
    assert list(domains) == ["city", "highway"]
    city = domains["city"]
    assert city.train.shape == (7 + 4, 6, 16, 16) and len(city.val) == 1 + 1 and len(city.test) == 2 + 0
    first = np.asarray(Image.open(tmp_path / "city" / "seq_a" / "000000.png").convert("L").crop((5, 0, 35, 30))
                       .resize((16, 16), Image.BILINEAR))
    assert np.array_equal(city.train[0, 0], first)  # frames in name order, centre square, resized


@pytest.mark.parametrize("problem, message", [
    ("short", "has 5 frame"), ("mixed", "must share a size"), ("empty", "no sequence folders"),
    ("missing", "No frame folder"), ("nothing", "is empty: no domain folders")])
def test_bad_frame_folders_get_clear_errors(tmp_path, problem, message):
    root = tmp_path / "frames"
    if problem == "short":
        write_sequence(root / "city" / "s1", 5)
    elif problem == "mixed":
        write_sequence(root / "city" / "s1", 12, odd=7)
    elif problem == "empty":
        (root / "city").mkdir(parents=True)
    elif problem == "nothing":
        root.mkdir()
    with pytest.raises(video.VideoDataError, match=message):
        video.load_frame_folders(root, size=16)


def test_clip_gate_features_average_the_seen_frames(data_root):
    clips = video.make_mini_video(splits={"train": 2, "val": 1, "test": 1})["shapes"].train
    feats = video.clip_gate_features(clips, device="cpu")
    assert feats.shape == (2, 1280)
    from eglib import features

    frames = np.repeat(clips[:, :3].reshape(-1, 32, 32)[..., None], 3, axis=-1)
    per_frame = features.extract_features(frames, layer="pooled", device="cpu").view(2, 3, -1)
    torch.testing.assert_close(feats, per_frame.mean(dim=1), rtol=1e-4, atol=1e-5)


def test_frame_folders_hold_out_whole_sequences_in_the_listed_order(tmp_path):
    for domain in ("highway", "city"):
        for index in range(4):
            write_sequence(tmp_path / domain / f"seq_{index}", 12)  # 2 clips each
    (tmp_path / ".ipynb_checkpoints").mkdir()  # hidden folders are not domains
    (tmp_path / "order.txt").write_text("highway\ncity\n")
    domains = video.load_frame_folders(tmp_path, size=16)
    assert list(domains) == ["highway", "city"]
    highway = domains["highway"]
    assert (len(highway.train), len(highway.val), len(highway.test)) == (4, 2, 2)
    last = clip_generators._cut(clip_generators._read_sequence(tmp_path / "highway" / "seq_3", 16), 6)
    assert np.array_equal(highway.test, last)  # the last sequence is the test set, whole
    (tmp_path / "order.txt").write_text("city\n")
    with pytest.raises(video.VideoDataError, match="make them agree"):
        video.load_frame_folders(tmp_path, size=16)
    (tmp_path / "order.txt").unlink()
    (tmp_path / "city" / "seq_0" / "000003.png").write_bytes(b"not a png")
    with pytest.raises(video.VideoDataError, match="cannot be read"):
        video.load_frame_folders(tmp_path, size=16)



def test_written_frame_folders_read_back_as_the_same_clips(tmp_path):
    domains = video.make_mini_video(splits={"train": 3, "val": 1, "test": 1})
    video.write_frame_folders(domains, tmp_path)
    back = video.load_frame_folders(tmp_path, size=32)
    assert list(back) == list(domains)  # order.txt keeps the arrival order
    for name, domain in domains.items():
        written = np.concatenate([domain.split(s) for s in ("train", "val", "test")])
        read = np.concatenate([back[name].split(s) for s in ("train", "val", "test")])
        assert sorted(map(bytes, read)) == sorted(map(bytes, written)), name  # lossless, every clip once


def test_video_benchmark_per_profile(monkeypatch):
    from eglib import data

    mini = data.load_video_benchmark("mini", seed=0)
    assert list(mini.domains) == list(video.VIDEO_DOMAINS) and mini.base.ndim == 4
    monkeypatch.delenv("EGLIB_VIDEO_DIR", raising=False)
    with pytest.raises(data.DataError, match="EGLIB_VIDEO_DIR"):
        data.load_video_benchmark("paper")


def test_neighbourhoods_are_unfolds_values_and_gradient_bit_for_bit():
    generator = torch.Generator().manual_seed(0)
    for shape, size in (((3, 1, 8, 12), 7), ((2, 1, 5, 5), 3), ((1, 2, 6, 4), 5)):
        frame = torch.rand(shape, generator=generator, requires_grad=True)
        reference = torch.nn.functional.unfold(torch.nn.functional.pad(frame, (size // 2,) * 4, mode="replicate"), size)
        fast = dfn.neighbourhoods(frame, size)
        assert torch.equal(fast, reference)
        upstream = torch.rand(reference.shape, generator=generator)
        expected, = torch.autograd.grad(reference, frame, upstream)
        got, = torch.autograd.grad(fast, frame, upstream)
        assert torch.equal(got, expected)


def test_box_mean_is_a_replicate_padded_average_pool():
    generator = torch.Generator().manual_seed(0)
    for (shape, window), dtype in zip((((2, 3, 8, 12), 5), ((1, 49, 32, 32), 7), ((4, 1, 3, 3), 7), ((2, 3, 8, 12), 5)),
                                      (torch.float32, torch.float32, torch.float32, torch.float64)):
        x = torch.rand(shape, generator=generator, dtype=dtype)
        reference = torch.nn.functional.avg_pool2d(torch.nn.functional.pad(x, (window // 2,) * 4, mode="replicate"),
                                                   window, stride=1)
        torch.testing.assert_close(dfn.box_mean(x, window), reference, rtol=0, atol=1e-6)


def test_the_relative_prior_peaks_at_the_true_motion_at_every_contrast():
    # the untrained network (the prior alone) on a pan moving (1, -2) a frame, at full, half and quarter
    # contrast: the mean filter weight at that offset over the interior pixels. Measured (seeds 0-2 of the
    # texture): relative prior 0.974-0.999; the raw cost at 300 (06 until 2026-12-06) 0.89-0.94 at full
    # contrast but 0.16-0.20 at a quarter, the soft peaks that leaked around the pan's exact shift
    true_offset = (1 + 3) * 7 + (-2 + 3)
    for seed in range(3):
        clip = torch.from_numpy(pan_clip(1, -2, seed=seed)).float().div(255)[None, :3]
        for contrast in (1.0, 0.5, 0.25):
            frames = 0.5 + contrast * (clip - 0.5)
            peaks = {}
            for name, options in (("relative", {}), ("raw", {"prior_strength": 300.0, "relative_prior": False})):
                torch.manual_seed(0)
                with torch.no_grad():
                    peaks[name] = dfn.DynamicFilterNetwork(**options).eval().filters(frames)[0, true_offset, 8:24, 8:24].mean()
            assert peaks["relative"] > 0.95, (seed, contrast, peaks)
            if contrast == 0.25:
                assert peaks["raw"] < 0.5, (seed, peaks)


def test_a_stored_network_comes_back_with_the_prior_it_was_trained_with():
    frames = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    for options in ({}, {"prior_strength": 300.0, "relative_prior": False}, {"match_window": 3}):
        net = dfn.DynamicFilterNetwork(width=2, **options).eval()
        rebuilt = dfn.from_state_dict(net.state_dict(), width=2)
        assert (rebuilt.prior_strength, rebuilt.relative_prior, rebuilt.match_window) == \
            (net.prior_strength, net.relative_prior, net.match_window)
        assert torch.equal(rebuilt.filters(frames), net.filters(frames))
    # a state dict stored before 2026-12-06 holds no settings: it was trained with the raw cost at 300
    legacy = {k: v for k, v in dfn.DynamicFilterNetwork(width=2, **dfn.LEGACY_PRIOR).state_dict().items()
              if k != "prior_settings"}
    rebuilt = dfn.from_state_dict(legacy, width=2)
    assert (rebuilt.prior_strength, rebuilt.relative_prior) == (300.0, False)
    with pytest.raises(ValueError, match="drop those options"):
        dfn.from_state_dict(dfn.DynamicFilterNetwork(width=2).state_dict(), width=2, prior_strength=300.0)
    with pytest.raises(ValueError, match="odd"):
        dfn.DynamicFilterNetwork(match_window=4)
    with pytest.raises(ValueError, match="odd"):
        dfn.box_mean(frames, 4)


def wide_pan(dy: int, dx: int, seed: int = 0, size: int = 32) -> np.ndarray:
    """Like pan_clip, over a texture wide enough for 6 frames at up to 8 px a frame: uint8 [6, size, size]."""
    texture = clip_generators._texture(np.random.default_rng(seed), 200)
    return np.stack([texture[80 + t * dy:80 + t * dy + size, 80 + t * dx:80 + t * dx + size] for t in range(6)])


def test_motion_reach_finds_how_far_a_pan_moves_and_skips_flat_blocks():
    # the window moves (1, -2) a frame, so the content moves (-1, 2): reach 2, on every interior pixel
    reach, offsets = dfn.motion_reach(np.stack([pan_clip(1, -2, seed=s) for s in range(2)]))
    # of 2 clips x 5 frame pairs x 16 x 16 interior pixels (32 - 2 * (5 + 3) a side), the blocks with texture
    # (1,608 on this smooth texture): all found at the true motion
    assert 0.5 * 2 * 5 * 16 * 16 < len(reach) <= 2 * 5 * 16 * 16
    assert (offsets == [-1, 2]).all() and (reach == 2).all()
    reach, offsets = dfn.motion_reach(wide_pan(0, 4)[None])  # beyond a 7x7 filter's reach of 3
    assert len(reach) > 0 and (offsets == [0, -4]).all() and (reach == 4).all()
    flat = np.full((1, 6, 32, 32), 128, dtype=np.uint8)
    flat[:, :, 0, 0] = 255  # one bright pixel in a corner, outside every counted block
    assert len(dfn.motion_reach(flat)[0]) == 0  # no texture, no motion to measure
    with pytest.raises(ValueError, match="smaller search or window"):
        dfn.motion_reach(np.zeros((1, 6, 16, 16), dtype=np.uint8))
    with pytest.raises(ValueError, match="positive odd number"):
        dfn.motion_reach(flat, search=10)


def test_motion_reach_drops_faint_ambiguous_and_out_of_range_matches():
    # each filter alone: a faint texture fails the texture test only; vertical stripes of period 2 moving
    # sideways are textured but match every second offset alike (ties); content moving 8 px a frame, beyond
    # the search of +-5, has no true match, and its best false match is not clear (measured 2026-12-06: with
    # clear=1.0 a quarter of its pixels came out within 3 px)
    strong = wide_pan(0, 2)[None]
    assert len(dfn.motion_reach(strong)[0]) > 500  # of 1,280 interior pixel pairs (902 on 2026-12-06)
    faint = (128 + (strong.astype(float) - 75) / 90 * 8).astype(np.uint8)  # the texture's 90 grey levels -> 8
    assert len(dfn.motion_reach(faint)[0]) == 0
    assert len(dfn.motion_reach(faint, texture=0.0)[0]) > 0.5 * len(dfn.motion_reach(strong)[0])
    stripes = np.zeros((1, 6, 32, 32), dtype=np.uint8)
    for t in range(6):
        stripes[0, t, :, (np.arange(32) + t) % 2 == 0] = 200
    # textured and matched at cost 0, so the texture and clear tests pass them (checked on the interior below):
    # only the tie test drops them
    assert len(dfn.motion_reach(stripes)[0]) == 0
    x = torch.from_numpy(stripes).float().div(255)
    cost = dfn.matching_cost(x[:, 0:1], x[:, 1:2], 11, 7)[:, :, 8:24, 8:24]
    later = x[:, 1:2]
    deviation = dfn.box_mean((later - dfn.box_mean(later, 7)).abs(), 7)[:, 0, 8:24, 8:24]
    assert (deviation > 2 * dfn.COST_FLOOR).all() and (cost.min(dim=1).values <= 0.2 * cost.mean(dim=1)).all()
    far = np.stack([wide_pan(0, 8, seed=s) for s in range(3)])
    assert len(dfn.motion_reach(far)[0]) < 0.01 * len(dfn.motion_reach(far, clear=1.0)[0])
    reach_unclear = dfn.motion_reach(far, clear=1.0)[0]
    assert (reach_unclear <= 3).mean() > 0.1  # what the clear test keeps out of a 7x7's reach


def test_the_stored_settings_measurement_supports_06s_choices():
    # notebook 06 shows benchmarks/results/video_choices.csv and says what it shows; this keeps the two together
    # when the benchmark is run again: the rule (a setting replaces 06's if it lowers the validation L1 on every
    # seed at under 1.5x the training time) keeps 06's settings, and the prose's statements hold
    stored = pd.read_csv(config.REPO_ROOT / "benchmarks" / "results" / "video_choices.csv")
    per_seed = stored.groupby(["variant", "seed"])[["val L1", "train s", "adopted train s"]].mean()
    adopted = per_seed.xs("adopted", level="variant")
    change = (per_seed["val L1"] - adopted["val L1"]).drop("adopted", level="variant")
    time_ratio = (per_seed["train s"] / per_seed["adopted train s"]).groupby("variant").median()  # within one run
    better_everywhere = (change < 0).groupby("variant").all()
    assert not (better_everywhere & (time_ratio < 1.5)).any(), (change, time_ratio)
    assert (change.loc[["filter 5", "zero border"]] > 1.0).all(), change      # lose by far, on every seed
    assert abs(change.loc["filter 9"].mean()) < change.loc["filter 9"].std()  # no gain beyond the seeds' spread
    for mixed in ("20 epochs", "L1 + gradient difference", "L1 + gradient difference, weight 3"):  # both ways
        assert (change.loc[mixed] < 0).any() and (change.loc[mixed] > 0).any(), change.loc[mixed]
    third = change.loc["L1 + gradient difference, weight 0.3"]
    assert (third > 0).all() and third.mean() < 0.1, third                  # slightly worse on every seed
    sharpness = stored.groupby("variant")["test sharpness"].mean()
    for weight in ("L1 + gradient difference", "L1 + gradient difference, weight 0.3", "L1 + gradient difference, weight 3"):
        assert 0 <= sharpness[weight] - sharpness["adopted"] < 0.03, sharpness  # sharper by a little, if at all
    assert change.loc["5 epochs"].mean() > 0
    # carrying pixels forward: no lower validation L1 on every seed, less sharp on every seed (what is sent to
    # several places spreads), and the pan expert loses to constant velocity on every seed
    forward = stored[stored["variant"] == "forward splatting"].set_index(["seed", "domain"])
    kept = stored[stored["variant"] == "adopted"].set_index(["seed", "domain"])
    assert (change.loc["forward splatting"] > 0).any(), change.loc["forward splatting"]
    assert (forward["test sharpness"].groupby("seed").mean() < kept["test sharpness"].groupby("seed").mean() - 0.05).all()
    assert (forward.xs("pan", level="domain")["test L1 / constant velocity"] > 1).all(), forward
    assert set(stored["seed"]) == {0, 1, 2} and stored.groupby(["seed", "variant"]).size().eq(3).all()


def test_the_gradient_difference_loss_penalises_blur_not_brightness():
    truth = torch.from_numpy(np.stack([pan_clip(1, 1)[3:]])).float().div(255)  # [1, 3, 32, 32]
    blurred = torch.nn.functional.avg_pool2d(truth, 3, stride=1, padding=1, count_include_pad=False)
    assert dfn.gradient_difference(truth, truth) == 0
    assert dfn.gradient_difference(truth + 0.1, truth) < 1e-6  # a brightness offset keeps every edge
    assert dfn.gradient_difference(blurred, truth) > 0.3 * dfn.gradient_difference(torch.zeros_like(truth), truth)
    clips = np.stack([pan_clip(1, -2, seed=s) for s in range(4)])
    with pytest.raises(ValueError, match="gradient_weight must be a finite number >= 0"):
        dfn.train_dfn(clips, epochs=1, device="cpu", gradient_weight=-1.0)
    with pytest.raises(ValueError, match="finite number"):
        dfn.train_dfn(clips, epochs=1, device="cpu", gradient_weight=float("nan"))
    plain, plain_log = dfn.train_dfn(clips, epochs=1, device="cpu")
    with_edges, edges_log = dfn.train_dfn(clips, epochs=1, device="cpu", gradient_weight=1.0)
    assert edges_log.loss[0] > plain_log.loss[0]  # the logged loss holds the added term...
    assert not torch.equal(plain.to_filters.weight, with_edges.to_filters.weight)  # ...and the updates follow it


def test_a_black_border_is_black_for_the_filters_and_the_prior_alike():
    frame = torch.full((1, 1, 8, 8), 0.5)
    assert (dfn.neighbourhoods(frame, 3, "replicate") == 0.5).all()
    black = dfn.neighbourhoods(frame, 3, "zeros").view(1, 9, 8, 8)
    assert (black[0, 0, 0, :] == 0).all() and (black[0, 0, 1:, 1:] == 0.5).all()  # offset (-1, -1) past the top edge
    with pytest.raises(ValueError, match="border must be one of"):
        dfn.neighbourhoods(frame, 3, "reflect")

    clip = torch.from_numpy(pan_clip(1, -2)).float().div(255)[None, :3]
    torch.manual_seed(0)
    black_net = dfn.ZeroBorderDFN().eval()
    torch.manual_seed(0)
    edge_net = dfn.DynamicFilterNetwork().eval()
    with torch.no_grad():
        black_cost, edge_cost = black_net.prior_cost(clip), edge_net.prior_cost(clip)
        expected = dfn.relative_cost(dfn.matching_cost(clip[:, 1:2], clip[:, 2:3], 7, 7, border="zeros"))
        assert torch.equal(black_cost, expected)
        inner = (slice(None), slice(None), slice(6, -6), slice(6, -6))  # blocks and offsets inside the frame
        assert torch.equal(black_cost[inner], edge_cost[inner]) and not torch.equal(black_cost, edge_cost)
        predicted = black_net.step(clip)  # [1, H, W]: the filters take black past the edge too
        patches = dfn.neighbourhoods(clip[:, -1:], 7, "zeros").view(1, 49, 32, 32)
        assert torch.allclose(predicted, (patches * black_net.filters(clip)).sum(dim=1))
    rebuilt = dfn.from_state_dict(black_net.state_dict(), network_class=dfn.ZeroBorderDFN)
    assert type(rebuilt) is dfn.ZeroBorderDFN and type(dfn.from_state_dict(black_net.state_dict())) is dfn.DynamicFilterNetwork


def test_forward_splatting_carries_each_pixel_to_where_it_goes_and_fills_what_is_left():
    torch.manual_seed(0)
    forward = dfn.ForwardSplatDFN().eval()
    # one filter, sharp at offset o = (1, -2) everywhere (the content came from p + o): forward, each pixel
    # goes to p - o, i.e. 1 up and 2 right; the rows and columns it leaves get the backward filter's value
    filters = torch.zeros(1, 49, 8, 8)
    filters[:, (1 + 3) * 7 + (-2 + 3)] = 1.0
    frames = torch.rand(1, 3, 8, 8)
    with torch.no_grad(), mock.patch.object(dfn.ForwardSplatDFN, "filters", lambda self, f: filters):
        carried = forward.step(frames)[0]
        taken = dfn.DynamicFilterNetwork.step(forward, frames)[0]  # the parent: from p + o
    last = frames[0, -1]
    assert torch.equal(carried[:-1, 2:], last[1:, :-2])           # moved 1 up, 2 right
    assert torch.equal(carried[-1, :], taken[-1, :]) and torch.equal(carried[:, :2], taken[:, :2])  # nothing arrived
    # a flat frame stays flat whatever the filters: a target's shares are averaged, its gap is filled
    flat = torch.full((2, 3, 16, 16), 0.3)
    assert torch.allclose(forward.step(flat), torch.full((2, 16, 16), 0.3), atol=1e-6)
    with torch.no_grad():  # each clip's pixels go to its own frame only
        clips = torch.rand(3, 3, 16, 16)
        assert torch.allclose(forward.step(clips)[1], forward.step(clips[1:2])[0], atol=1e-6)
    rebuilt = dfn.from_state_dict(forward.state_dict(), network_class=dfn.ForwardSplatDFN)
    assert type(rebuilt) is dfn.ForwardSplatDFN and torch.equal(rebuilt.step(frames), forward.step(frames))


def test_objects_kept_counts_the_true_object_pixels_drawn_near_their_place_and_the_bright_ones_drawn_elsewhere():
    truth = np.zeros((2, 3, 12, 12))
    truth[:, :, 4:7, 4:7] = 200.0                          # a 3x3 square, 9 object pixels, in every frame
    one_off = np.roll(truth, 1, axis=3)                      # the same square one pixel to the right
    kept = measures.objects_kept(one_off, truth, threshold=100.0)
    assert kept["kept"].shape == (2, 3) and np.allclose(kept["kept"], 1.0) and np.allclose(kept["spurious"], 0.0)
    strict = measures.objects_kept(one_off, truth, threshold=100.0, tolerance=0)
    assert np.allclose(strict["kept"], 6 / 9) and np.allclose(strict["spurious"], 3 / 9)
    # blur keeps the square's mass but no pixel above the threshold: nothing is kept
    blurred = np.full_like(truth, 200.0 * 9 / 144)
    assert np.allclose(measures.objects_kept(blurred, truth, 100.0)["kept"], 0.0)
    # a streak: the square plus a bright bar far from it
    streak = truth.copy()
    streak[:, :, 10, 0:6] = 255.0
    assert np.allclose(measures.objects_kept(streak, truth, 100.0)["spurious"], 6 / 9)
    # a frame without objects has no share to give; a threshold on another scale is refused
    empty = measures.objects_kept(truth, np.zeros_like(truth), 100.0)
    assert np.isnan(empty["kept"]).all() and np.isnan(empty["spurious"]).all()
    with pytest.raises(ValueError, match="threshold must lie in 0..255"):
        measures.objects_kept(truth, truth, threshold=0.5 * 256 ** 2)
    with pytest.raises(ValueError, match="tolerance"):
        measures.objects_kept(truth, truth, threshold=100.0, tolerance=-1)


def test_object_thresholds_split_the_mini_domains_objects_from_their_background():
    rng = np.random.default_rng(0)
    digits = clip_generators.make_bouncing_digits(20, 32, rng)
    assert (digits == 0).mean() > 0.5  # black ground: every pixel above the threshold is a digit's
    shapes = clip_generators.make_moving_shapes(20, 32, rng)
    low, high = clip_generators.TEXTURE_RANGE
    assert shapes.min() >= low and (shapes > high).any()
    # no pixel between the background's brightest and the shapes' dimmest: the threshold cuts a gap
    assert not ((shapes > high) & (shapes < clip_generators.SHAPE_BRIGHTNESS[0])).any()
    assert high < clip_generators.OBJECT_THRESHOLDS["shapes"] < clip_generators.SHAPE_BRIGHTNESS[0]


def test_objects_kept_by_frame_sums_up_the_clips_frame_by_frame():
    truth = np.zeros((2, 3, 12, 12))
    truth[:, :, 4:7, 4:7] = 200.0
    predicted = truth.copy()
    predicted[1] = 0.0                                        # the second clip loses its square
    by_frame = measures.objects_kept_by_frame(predicted, truth, 100.0)
    assert np.allclose(by_frame["kept"], 0.5) and np.allclose(by_frame["spurious"], 0.0)
    assert np.allclose(by_frame["clips with half kept"], 0.5) and by_frame["kept"].shape == (3,)
