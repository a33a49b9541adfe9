"""How good a predicted frame is, beyond L1: structure (SSIM) and sharpness (``06_video_prediction``).

Mean per-pixel L1 rewards blur: where the motion is uncertain, a blurred guess costs less than a
sharp one in the wrong place, so an expert can beat "repeat the last frame" on L1 while carrying
no object forward. Two more measures expose that:

* :func:`ssim` -- the structural similarity of Wang et al. (2004), Gaussian window (sigma 1.5),
  on the 0..255 scale; 1 for identical frames, lower when structure (edges, texture) is lost;
* :func:`sharpness_ratio` -- the gradient energy of the prediction over that of the true frame:
  about 1 for a sharp prediction, far below 1 for a blurred one, whatever the L1.

Where the frames hold bright objects on a darker background (the mini ``digits`` and ``shapes``),
:func:`objects_kept` asks the question a viewer asks of the last predicted frame: is the object
still there, and is anything bright drawn where there is none?

Every function takes frames ``[N, T, H, W]`` (``T`` predicted frames per clip, floats or uint8 on
the 0..255 scale) and returns one number per clip, ``[N]``; :func:`objects_kept` returns one per
clip and frame, ``[N, T]``, since an object fades frame by frame.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

SSIM_SIGMA = 1.5
SSIM_C1, SSIM_C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2


def _pair(predicted: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    predicted, truth = np.asarray(predicted, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    if predicted.shape != truth.shape or predicted.ndim != 4:
        raise ValueError(f"Expected predicted and true frames of one shape [N, T, H, W]; got {predicted.shape} "
                         f"and {truth.shape}.")
    return predicted, truth


def l1(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Mean absolute per-pixel error of every clip ``[N]`` (0..255)."""
    predicted, truth = _pair(predicted, truth)
    return np.abs(predicted - truth).mean(axis=(1, 2, 3))


def ssim(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Mean SSIM of every clip ``[N]`` over its frames and pixels (Gaussian window, sigma 1.5; the
    border is reflected)."""
    predicted, truth = _pair(predicted, truth)

    def smooth(x: np.ndarray) -> np.ndarray:  # within each frame only
        return ndimage.gaussian_filter(x, sigma=(0, 0, SSIM_SIGMA, SSIM_SIGMA), mode="reflect", truncate=3.5)

    mu_p, mu_t = smooth(predicted), smooth(truth)
    var_p = smooth(predicted * predicted) - mu_p ** 2
    var_t = smooth(truth * truth) - mu_t ** 2
    cov = smooth(predicted * truth) - mu_p * mu_t
    index = ((2 * mu_p * mu_t + SSIM_C1) * (2 * cov + SSIM_C2)) / ((mu_p ** 2 + mu_t ** 2 + SSIM_C1) * (var_p + var_t + SSIM_C2))
    return index.mean(axis=(1, 2, 3))


def gradient_energy(frames: np.ndarray) -> np.ndarray:
    """Sum of squared horizontal and vertical neighbour differences of every clip ``[N]``."""
    frames = np.asarray(frames, dtype=np.float64)
    return (np.diff(frames, axis=2) ** 2).sum(axis=(1, 2, 3)) + (np.diff(frames, axis=3) ** 2).sum(axis=(1, 2, 3))


def sharpness_ratio(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Gradient energy of the prediction over that of the true frames, per clip ``[N]`` (1: as sharp
    as the truth; a blurred prediction falls towards 0). A flat true clip counts as 1 unit of energy."""
    predicted, truth = _pair(predicted, truth)
    return gradient_energy(predicted) / np.maximum(gradient_energy(truth), 1.0)


def objects_kept(predicted: np.ndarray, truth: np.ndarray, threshold: float, tolerance: int = 1) -> dict[str, np.ndarray]:
    """How much of the true objects a prediction keeps, frame by frame: ``{"kept", "spurious"}``, each ``[N, T]``.

    A pixel brighter than ``threshold`` (0..255) is an object pixel, in the truth and in the
    prediction alike; ``tolerance`` forgives a displacement of that many pixels (a square
    neighbourhood), so that an object drawn one pixel off still counts.

    * ``kept``: the share of the true frame's object pixels that have a predicted object pixel within
      ``tolerance`` (``nan`` for a frame with no object pixel);
    * ``spurious``: the predicted object pixels with no true object pixel within ``tolerance``, per
      true object pixel (``nan`` likewise): streaks, ghosts and objects left behind.

    A strongly blurred prediction keeps little (its objects fall below the threshold; a light blur
    keeps about what the sharp frame keeps); repeating the last frame keeps what overlaps and draws
    the rest where the object was.
    """
    predicted, truth = _pair(predicted, truth)
    if not 0 <= threshold < 255 or tolerance < 0 or int(tolerance) != tolerance:
        raise ValueError(f"threshold must lie in 0..255 (an object is brighter) and tolerance be a whole number of "
                         f"pixels >= 0; got threshold={threshold}, tolerance={tolerance}.")
    size = (1, 1, 2 * int(tolerance) + 1, 2 * int(tolerance) + 1)  # within each frame only
    true_objects, predicted_objects = truth > threshold, predicted > threshold
    near_prediction = ndimage.maximum_filter(predicted_objects, size=size, mode="constant", cval=False)
    near_truth = ndimage.maximum_filter(true_objects, size=size, mode="constant", cval=False)
    count = true_objects.sum(axis=(2, 3)).astype(np.float64)
    count[count == 0] = np.nan
    return {"kept": (true_objects & near_prediction).sum(axis=(2, 3)) / count,
            "spurious": (predicted_objects & ~near_truth).sum(axis=(2, 3)) / count}


def objects_kept_by_frame(predicted: np.ndarray, truth: np.ndarray, threshold: float,
                          tolerance: int = 1) -> dict[str, np.ndarray]:
    """:func:`objects_kept` summed up over the clips, per predicted frame, each ``[T]``: the mean
    ``kept`` and ``spurious`` (clips without objects left out), and ``clips with half kept``, the
    share of clips that keep at least half of their object pixels."""
    shares = objects_kept(predicted, truth, threshold, tolerance)
    return {"kept": np.nanmean(shares["kept"], axis=0), "spurious": np.nanmean(shares["spurious"], axis=0),
            "clips with half kept": np.mean(shares["kept"] >= 0.5, axis=0)}


def scores(predicted: np.ndarray, truth: np.ndarray) -> dict[str, np.ndarray]:
    """``{"L1", "SSIM", "sharpness"}``: each measure per clip ``[N]``."""
    return {"L1": l1(predicted, truth), "SSIM": ssim(predicted, truth), "sharpness": sharpness_ratio(predicted, truth)}
