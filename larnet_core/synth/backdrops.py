"""Backgrounds and props for composed footage: textured rooms and outdoor scenes, a hand and sunglasses.

Everything is drawn from a seeded generator with OpenCV primitives: no image files, nothing downloaded.
Backgrounds are deliberately busy (edges, gradients, uneven light, fine texture) so that a face tracker and
an optical-flow signal meet what a real scene gives them, yet hold nothing face-like.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from larnet_core.face import build_detector

__all__ = ["BACKGROUND_STYLES", "textured_background", "hand_layer", "sunglasses_layer"]

BACKGROUND_STYLES = ("indoor", "outdoor")

_WALLS = ((214, 204, 186), (196, 202, 206), (186, 200, 214), (200, 210, 190), (222, 214, 200), (170, 160, 150))
_FLOORS = ((120, 86, 60), (96, 90, 84), (140, 110, 80), (70, 64, 60))


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """Low-frequency noise in about -1..1: a coarse random grid upsampled with cubic interpolation."""
    h, w = shape
    gh, gw = max(2, h // cells), max(2, w // cells)
    coarse = rng.standard_normal((gh, gw)).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC) / 2.0


def _rect(image: np.ndarray, x0: float, y0: float, x1: float, y1: float, colour, thickness: int = -1) -> None:
    cv2.rectangle(image, (int(x0), int(y0)), (int(x1), int(y1)), tuple(float(c) for c in colour), thickness,
                  cv2.LINE_AA)


def _shade(rng: np.random.Generator, colour, spread: float = 25.0) -> np.ndarray:
    return np.clip(np.asarray(colour, dtype=np.float32) + rng.uniform(-spread, spread, 3), 20, 245)


def _indoor(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    wall = _shade(rng, _WALLS[int(rng.integers(len(_WALLS)))], 12)
    image = np.empty((h, w, 3), dtype=np.float32)
    image[:] = wall
    floor_y = h * rng.uniform(0.72, 0.86)
    _rect(image, 0, floor_y, w, h, _shade(rng, _FLOORS[int(rng.integers(len(_FLOORS)))], 10))
    for y in np.arange(floor_y + 4, h, rng.uniform(6, 14)):  # floor boards
        cv2.line(image, (0, int(y)), (w, int(y + rng.uniform(-3, 3))), tuple(float(c) for c in wall * 0.35), 1,
                 cv2.LINE_AA)
    for _ in range(int(rng.integers(3, 7))):
        kind = rng.choice(["door", "frame", "shelf", "window", "plant"])
        x0 = rng.uniform(-0.05, 0.9) * w
        if kind == "door":
            dw = w * rng.uniform(0.12, 0.2)
            _rect(image, x0, h * rng.uniform(0.08, 0.18), x0 + dw, floor_y, _shade(rng, (110, 80, 55)))
            _rect(image, x0 + dw * 0.8, h * 0.5, x0 + dw * 0.86, h * 0.53, (200, 190, 120))
        elif kind == "frame":
            fw, fh = w * rng.uniform(0.06, 0.14), h * rng.uniform(0.08, 0.2)
            y0 = h * rng.uniform(0.08, 0.4)
            _rect(image, x0, y0, x0 + fw, y0 + fh, _shade(rng, (60, 50, 40), 20))
            inner = np.clip(_smooth_field(rng, (max(2, int(fh * 0.8)), max(2, int(fw * 0.8))), 6)[..., None]
                            * rng.uniform(30, 70) + _shade(rng, (120, 130, 120), 60), 0, 255)
            iy, ix = int(y0 + fh * 0.1), int(x0 + fw * 0.1)
            ih, iw = inner.shape[:2]
            ys, xs = slice(max(iy, 0), min(iy + ih, h)), slice(max(ix, 0), min(ix + iw, w))
            if ys.start < ys.stop and xs.start < xs.stop:
                image[ys, xs] = inner[ys.start - iy:ys.stop - iy, xs.start - ix:xs.stop - ix]
        elif kind == "shelf":
            sw, y0 = w * rng.uniform(0.15, 0.3), h * rng.uniform(0.2, 0.55)
            _rect(image, x0, y0, x0 + sw, y0 + h * 0.02, _shade(rng, (90, 70, 50)))
            x = x0
            while x < x0 + sw * 0.9:  # books
                bw = w * rng.uniform(0.008, 0.02)
                _rect(image, x, y0 - h * rng.uniform(0.05, 0.1), x + bw, y0, _shade(rng, (120, 90, 90), 80))
                x += bw + 1
        elif kind == "window":
            ww, wh, y0 = w * rng.uniform(0.12, 0.22), h * rng.uniform(0.25, 0.4), h * rng.uniform(0.08, 0.2)
            _rect(image, x0, y0, x0 + ww, y0 + wh, _shade(rng, (235, 240, 245), 8))
            _rect(image, x0, y0, x0 + ww, y0 + wh, (90, 90, 90), 3)
            cv2.line(image, (int(x0 + ww / 2), int(y0)), (int(x0 + ww / 2), int(y0 + wh)), (90, 90, 90), 2)
        else:
            cx, base = x0, floor_y
            _rect(image, cx - w * 0.02, base - h * 0.08, cx + w * 0.02, base, _shade(rng, (150, 80, 50)))
            for _ in range(12):
                centre = (int(cx + rng.normal(0, w * 0.02)), int(base - h * rng.uniform(0.1, 0.25)))
                cv2.ellipse(image, centre, (int(w * 0.012) + 1, int(h * 0.03) + 1), rng.uniform(0, 180), 0, 360,
                            tuple(float(c) for c in _shade(rng, (60, 110, 50), 20)), -1, cv2.LINE_AA)
    # Uneven light: a lamp to one side and low-frequency blotches.
    side = rng.uniform(-0.35, 0.35)
    columns = np.linspace(-0.5, 0.5, w, dtype=np.float32)[None, :]
    rows = np.linspace(-0.5, 0.5, h, dtype=np.float32)[:, None]
    light = 1.0 + side * columns - 0.12 * rows + 0.05 * _smooth_field(rng, (h, w), 40)
    return image * light[..., None]


def _outdoor(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    image = np.empty((h, w, 3), dtype=np.float32)
    horizon = h * rng.uniform(0.45, 0.65)
    top, low = _shade(rng, (110, 160, 220), 15), _shade(rng, (200, 220, 235), 10)
    t = np.clip(np.arange(h, dtype=np.float32) / max(horizon, 1.0), 0, 1)[:, None, None]
    image[:] = top * (1 - t) + low * t
    image[int(horizon):] = _shade(rng, (100, 120, 80), 20)
    for _ in range(int(rng.integers(2, 5))):  # buildings
        bx, bw = rng.uniform(-0.1, 0.95) * w, w * rng.uniform(0.1, 0.25)
        by = horizon - h * rng.uniform(0.15, 0.4)
        colour = _shade(rng, (150, 140, 130), 40)
        _rect(image, bx, by, bx + bw, horizon + 2, colour)
        for wy in np.arange(by + h * 0.03, horizon - h * 0.05, h * 0.07):
            for wx in np.arange(bx + bw * 0.1, bx + bw * 0.85, bw * 0.22):
                _rect(image, wx, wy, wx + bw * 0.12, wy + h * 0.04, 0.4 * colour + 0.6 * low)  # sky reflected
    for _ in range(int(rng.integers(3, 7))):  # trees: a trunk and a dense crown of small leaf clusters
        tx, crown = rng.uniform(0, w), h * rng.uniform(0.1, 0.2)
        top = horizon - h * rng.uniform(0.25, 0.4)
        _rect(image, tx - w * 0.008, top + crown, tx + w * 0.008, horizon + 4, _shade(rng, (90, 70, 50), 15))
        green = _shade(rng, (60, 105, 50), 20)
        for _ in range(60):
            r, a = crown * np.sqrt(rng.random()), rng.uniform(0, 2 * np.pi)
            centre = (int(tx + 0.8 * r * np.cos(a)), int(top + crown + r * np.sin(a)))
            axes = (int(crown * rng.uniform(0.1, 0.2)) + 1, int(crown * rng.uniform(0.08, 0.16)) + 1)
            cv2.ellipse(image, centre, axes, rng.uniform(0, 180), 0, 360,
                        tuple(float(c) for c in np.clip(green + rng.uniform(-18, 18, 3), 0, 255)), -1, cv2.LINE_AA)
    cv2.line(image, (0, int(h * 0.9)), (w, int(h * rng.uniform(0.85, 0.95))), (140, 140, 140), max(2, h // 40))
    return image * (1.0 + 0.06 * _smooth_field(rng, (h, w), 30))[..., None]


def textured_background(size: tuple[int, int], rng: np.random.Generator, style: str = "indoor",
                        texture_sigma: float = 3.0, avoid_faces: bool = True) -> np.ndarray:
    """A non-uniform background with no face in it.

    Args:
        size: ``(width, height)`` in pixels.
        rng: Seeds the layout and colours.
        style: ``"indoor"`` (wall, floor, door, frames, shelves, windows, plants) or ``"outdoor"`` (sky,
            buildings, trees, a road).
        texture_sigma: Fine static texture (grey levels), as surfaces and optics give.
        avoid_faces: Draw again (from the same generator) when OpenCV's Haar cascade sees a face in the
            picture: a grid of windows or a few leaf clusters sometimes look like one (about 1 draw in 900),
            and the footage's truth says there is no face.

    Returns:
        ``(height, width, 3)`` uint8 RGB.
    """
    if style not in BACKGROUND_STYLES:
        raise ValueError(f"unknown background style {style!r}; use one of {', '.join(BACKGROUND_STYLES)}")
    w, h = int(size[0]), int(size[1])
    for _ in range(8):
        image = _indoor(rng, w, h) if style == "indoor" else _outdoor(rng, w, h)
        image = cv2.GaussianBlur(image, (0, 0), 0.8)  # optics: no perfectly sharp edges
        if texture_sigma > 0:
            grain = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 0.6)
            image += grain[..., None] * np.float32(texture_sigma)
        picture = np.clip(image + 0.5, 0, 255).astype(np.uint8)
        if not avoid_faces or not _haar().detect(picture):
            break
    return picture


@functools.lru_cache(maxsize=1)
def _haar():
    return build_detector("haar")  # the project's default cascade and settings


def hand_layer(width_px: float, skin_rgb,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """A shaded, skin-coloured hand seen from the back, fingers together and pointing to the image's left.

    Drawn as a palm ellipse, four finger bars and a thumb, shaded darker towards the edges and between the
    fingers, lit from above.

    Args:
        width_px: Length of the hand from wrist to fingertips, pixels.
        skin_rgb: Base skin colour (e.g. sampled from the face's cheek).
        rng: Seeds small variations of shape and tone.

    Returns:
        ``(image (H, W, 3) uint8, alpha (H, W) float32 in 0..1, palm centre (x, y))``.
    """
    L = float(width_px)
    h, w = int(L * 0.75) + 4, int(L * 1.05) + 4
    mask = np.zeros((h, w), dtype=np.uint8)
    ridges = np.zeros((h, w), dtype=np.uint8)
    palm = (w - L * 0.32, h * 0.52)
    cv2.ellipse(mask, (int(palm[0]), int(palm[1])), (int(L * 0.3), int(L * 0.24)), 0, 0, 360, 255, -1, cv2.LINE_AA)
    cv2.rectangle(mask, (int(palm[0]), int(palm[1] - L * 0.18)), (w - 1, int(palm[1] + L * 0.16)), 255, -1)  # wrist
    finger_w = L * 0.1
    top = palm[1] - 2 * finger_w
    for k in range(4):
        y = top + k * finger_w * 1.02 + finger_w / 2
        length = L * (0.42 + 0.06 * (1.5 - abs(k - 1.5)) + rng.uniform(-0.02, 0.02))
        x1 = palm[0] - L * 0.15
        cv2.line(mask, (int(x1), int(y)), (int(x1 - length), int(y + rng.uniform(-2, 2))), 255,
                 max(2, int(finger_w * 0.95)), cv2.LINE_AA)
        cv2.circle(mask, (int(x1 - length), int(y)), max(1, int(finger_w * 0.47)), 255, -1, cv2.LINE_AA)
        if k:
            cv2.line(ridges, (int(x1), int(y - finger_w / 2)), (int(x1 - length * 0.95), int(y - finger_w / 2)),
                     255, 1, cv2.LINE_AA)
    thumb_start = (int(palm[0] - L * 0.05), int(palm[1] + L * 0.2))
    cv2.line(mask, thumb_start, (int(palm[0] - L * 0.33), int(palm[1] + L * 0.3)), 255, int(finger_w * 1.1),
             cv2.LINE_AA)
    alpha = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), 1.0)
    # Shading: darker where the coverage thins (edges) and along the gaps between fingers; light from above.
    depth = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), max(1.0, L * 0.04))
    gaps = cv2.GaussianBlur(ridges.astype(np.float32) / 255.0, (0, 0), 1.2)
    rows = np.linspace(0.12, -0.12, h, dtype=np.float32)[:, None]
    tone = 0.72 + 0.3 * depth + rows - 0.35 * gaps + 0.03 * _smooth_field(rng, (h, w), 8)
    skin = np.asarray(skin_rgb, dtype=np.float32) * np.float32(rng.uniform(0.95, 1.05))
    image = np.clip(skin[None, None, :] * tone[..., None], 0, 255).astype(np.uint8)
    return image, alpha, (float(palm[0]), float(palm[1]))


def sunglasses_layer(eye_distance_px: float,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """Dark sunglasses seen from the front: two tinted lenses with a lighter reflection across their tops, a
    bridge and a rim, for a face whose eye centres are ``eye_distance_px`` apart.

    Returns:
        ``(image (H, W, 3) uint8, alpha (H, W) float32 in 0..1, point between the lenses' centres (x, y))``.
    """
    d = float(eye_distance_px)
    h, w = int(0.8 * d) + 4, int(2.15 * d) + 4
    centre = (w / 2.0, h / 2.0)
    lenses = np.zeros((h, w), dtype=np.uint8)
    rims = np.zeros((h, w), dtype=np.uint8)
    axes = (int(0.5 * d), int(0.36 * d))
    for side in (-0.5, 0.5):
        c = (int(round(centre[0] + side * d)), int(round(centre[1])))
        cv2.ellipse(lenses, c, axes, 0, 0, 360, 255, -1, cv2.LINE_AA)
        cv2.ellipse(rims, c, axes, 0, 0, 360, 255, max(2, int(0.05 * d)), cv2.LINE_AA)
    bridge_y = int(centre[1] - 0.18 * d)
    cv2.line(rims, (int(centre[0] - 0.12 * d), bridge_y), (int(centre[0] + 0.12 * d), bridge_y), 255,
             max(2, int(0.05 * d)), cv2.LINE_AA)
    mask = np.maximum(lenses, rims)
    alpha = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), 0.8)
    tint = np.asarray(rng.uniform(18, 40, 3), dtype=np.float32)
    rows = np.linspace(1.0, 0.0, h, dtype=np.float32)[:, None]
    shine = 28.0 * np.clip(rows - 0.55, 0.0, None) + 4.0 * _smooth_field(rng, (h, w), 6)  # sky reflected above
    image = tint[None, None, :] + shine[..., None]
    image = np.where((rims > 0)[..., None], np.float32(12.0), image)
    return np.clip(image, 0, 255).astype(np.uint8), alpha, centre
