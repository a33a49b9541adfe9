"""Predictions without learning, which a video expert has to beat (``06_video_prediction``).

* :func:`repeat_last` -- no motion: every future frame is the last seen one;
* :func:`blurred_last` -- the last seen frame, blurred (``sigma`` px); with
  :func:`sigma_matching_sharpness` it is blurred until it is as sharp as the experts' predictions,
  so that "beats the blurred last frame" means more than "is blurred too";
* :func:`constant_velocity` -- the whole last frame shifted by the displacement between the last
  two seen frames (phase correlation), once per predicted step: right for a pan, wrong wherever
  things move on their own, accelerate or bounce.

Every function takes uint8 clips ``[N, T, H, W]`` (:func:`eglib.video.clips.check_clips`) and
returns the predicted frames ``[N, 3, H, W]`` as floats on the 0..255 scale.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from eglib.video import measures
from eglib.video.clips import INPUT_FRAMES, PREDICTED_FRAMES, check_clips


def _seen_and_future(clips: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    clips = check_clips(clips).astype(np.float32)
    return clips[:, :INPUT_FRAMES], clips[:, INPUT_FRAMES:INPUT_FRAMES + PREDICTED_FRAMES]


def future_frames(clips: np.ndarray) -> np.ndarray:
    """The true frames to predict, ``[N, 3, H, W]`` floats (0..255)."""
    return _seen_and_future(clips)[1]


def repeat_last(clips: np.ndarray) -> np.ndarray:
    """Every predicted frame is the last seen one: ``[N, 3, H, W]``."""
    seen, _ = _seen_and_future(clips)
    return np.repeat(seen[:, -1:], PREDICTED_FRAMES, axis=1)


def blurred_last(clips: np.ndarray, sigma: float) -> np.ndarray:
    """The last seen frame blurred with a Gaussian of ``sigma`` pixels (edges replicated), repeated."""
    if not sigma >= 0:
        raise ValueError(f"sigma={sigma}: a blur width in pixels is >= 0.")
    last = repeat_last(clips)
    return ndimage.gaussian_filter(last, sigma=(0, 0, sigma, sigma), mode="nearest") if sigma > 0 else last


def sigma_matching_sharpness(clips: np.ndarray, sharpness: float,
                             sigmas: np.ndarray = np.round(np.arange(0.0, 3.01, 0.1), 2)) -> float:
    """The blur (from ``sigmas``) whose :func:`blurred_last` comes closest to a mean
    :func:`~eglib.video.measures.sharpness_ratio` of ``sharpness`` on ``clips``."""
    truth = future_frames(clips)
    ratios = [float(measures.sharpness_ratio(blurred_last(clips, s), truth).mean()) for s in sigmas]
    return float(sigmas[int(np.argmin(np.abs(np.array(ratios) - sharpness)))])


def displacement(before: np.ndarray, after: np.ndarray) -> tuple[int, int]:
    """Whole-pixel shift ``(dy, dx)`` that best maps frame ``before [H, W]`` onto ``after``, i.e.
    ``after(p) ~ before(p - (dy, dx))`` (phase correlation: the peak of the normalised cross-power
    spectrum's inverse transform; both frames are mean-subtracted and Hann-windowed first, so that
    their edges, which the transform treats as wrapping round, do not pose as motion)."""
    window = np.outer(np.hanning(before.shape[0]), np.hanning(before.shape[1]))
    before, after = ((np.asarray(f, dtype=np.float64) - np.mean(f)) * window for f in (before, after))
    spectrum = np.fft.fft2(after) * np.conj(np.fft.fft2(before))
    peak = np.fft.ifft2(spectrum / np.maximum(np.abs(spectrum), 1e-9)).real
    dy, dx = np.unravel_index(int(np.argmax(peak)), peak.shape)
    h, w = peak.shape
    return int(dy - h if dy > h // 2 else dy), int(dx - w if dx > w // 2 else dx)


def shifted(frame: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``frame [H, W]`` moved by ``(dy, dx)`` pixels; what enters at an edge repeats the edge pixel."""
    h, w = frame.shape
    rows, cols = np.clip(np.arange(h) - dy, 0, h - 1), np.clip(np.arange(w) - dx, 0, w - 1)
    return frame[rows][:, cols]


def last_displacements(clips: np.ndarray) -> np.ndarray:
    """The :func:`displacement` between the last two seen frames of every clip: int ``[N, 2]`` (dy, dx)."""
    return _displacements(_seen_and_future(clips)[0])


def _displacements(seen: np.ndarray) -> np.ndarray:
    """:func:`last_displacements` of the seen frames ``[N, 3, H, W]`` (floats)."""
    return np.array([displacement(clip[-2], clip[-1]) for clip in seen], dtype=np.int64).reshape(len(seen), 2)


def constant_velocity(clips: np.ndarray) -> np.ndarray:
    """The last seen frame moved on by the last seen displacement, 1, 2 and 3 times: ``[N, 3, H, W]``."""
    seen, _ = _seen_and_future(clips)
    predicted = np.empty((len(seen), PREDICTED_FRAMES, *seen.shape[2:]), dtype=np.float32)
    for n, (clip, (dy, dx)) in enumerate(zip(seen, _displacements(seen))):
        for step in range(PREDICTED_FRAMES):
            predicted[n, step] = shifted(clip[-1], (step + 1) * int(dy), (step + 1) * int(dx))
    return predicted
