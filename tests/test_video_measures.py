"""What tells a video prediction from blur: SSIM, sharpness, and the rivals an expert must beat (06)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from eglib.video import clips as clip_generators
from eglib.video import measures, rivals


def pan(dy: int, dx: int, count: int = 3, size: int = 32) -> np.ndarray:
    """``count`` clips of a window moving (dy, dx) per frame over smooth random textures: [count, 6, size, size]."""
    textures = [clip_generators._texture(np.random.default_rng(seed), 3 * size) for seed in range(count)]
    return np.stack([np.stack([t[size + f * dy:2 * size + f * dy, size + f * dx:2 * size + f * dx] for f in range(6)])
                     for t in textures])


def test_identity_scores_perfectly_and_blur_loses_structure_and_sharpness():
    truth = pan(1, 1)[:, 3:].astype(float)
    same = measures.scores(truth, truth)
    assert np.allclose(same["L1"], 0) and np.allclose(same["SSIM"], 1) and np.allclose(same["sharpness"], 1)
    blurred = ndimage.gaussian_filter(truth, sigma=(0, 0, 1.5, 1.5), mode="nearest")
    scores = measures.scores(blurred, truth)
    assert (scores["L1"] > 0).all() and (scores["SSIM"] < 0.95).all() and (scores["sharpness"] < 0.5).all()
    noisy = truth + np.random.default_rng(0).normal(0, 10, truth.shape)
    assert (measures.sharpness_ratio(noisy, truth) > 1).all()  # noise is not sharpness lost
    with pytest.raises(ValueError, match="one shape"):
        measures.l1(truth, truth[:, :2])


@pytest.mark.parametrize("dy, dx", [(1, -2), (-3, 3), (0, 2)])
def test_constant_velocity_finds_the_shift_and_predicts_a_pan(dy, dx):
    clips = pan(dy, dx)  # the window moves by (dy, dx), so the content by (-dy, -dx)
    assert rivals.displacement(clips[0, 1], clips[0, 2]) == (-dy, -dx)
    assert rivals.last_displacements(clips).tolist() == [[-dy, -dx]] * len(clips)
    predicted, truth = rivals.constant_velocity(clips), rivals.future_frames(clips)
    margin = 3 * max(abs(dy), abs(dx))  # what enters at the edges cannot be known
    assert np.array_equal(predicted[:, :, margin:-margin, margin:-margin], truth[:, :, margin:-margin, margin:-margin])
    assert measures.l1(predicted, truth).mean() < 0.3 * measures.l1(rivals.repeat_last(clips), truth).mean()


def test_the_blurred_last_frame_is_blurred_to_the_sharpness_asked_for():
    clips = pan(1, 1)
    truth, last = rivals.future_frames(clips), rivals.repeat_last(clips)
    assert np.array_equal(rivals.blurred_last(clips, 0.0), last) and np.array_equal(last[:, 1], clips[:, 2])
    sharp, soft = (rivals.sigma_matching_sharpness(clips, target) for target in (0.8, 0.2))
    assert 0 < sharp < soft
    ratio = measures.sharpness_ratio(rivals.blurred_last(clips, soft), truth).mean()
    assert abs(ratio - 0.2) < 0.1
    with pytest.raises(ValueError, match=">= 0"):
        rivals.blurred_last(clips, -1.0)
