"""Parametric synthetic faces: one :class:`FaceIdentity` per subject, drawn with OpenCV and smooth shading.

A face is an ellipsoid height map with Gaussian bumps (brow ridge, eye sockets, nose, cheeks, lips, chin)
lit by a directional light, skin texture at three scales (so optical flow has something to track), and
features painted on top as anti-aliased masks: brows, eyes with iris and lids, nostrils, nasolabial folds,
lips, hair, ears, neck. Identity parameters cover face shape and size, skin tone, the geometry of every
feature, hair style and colour, background and light direction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from larnet_core.synth.landmarks import FaceLandmarks

__all__ = ["FaceIdentity", "sample_identity", "render_face"]

_SKIN_LIGHT = np.array([0.98, 0.80, 0.68])
_SKIN_DARK = np.array([0.42, 0.26, 0.17])
_HAIR_COLOURS = np.array([
    [0.06, 0.05, 0.05], [0.14, 0.09, 0.06], [0.30, 0.19, 0.11], [0.52, 0.36, 0.20],
    [0.78, 0.63, 0.38], [0.55, 0.25, 0.12], [0.62, 0.60, 0.58],
])
_HAIR_WEIGHTS = np.array([0.34, 0.24, 0.16, 0.1, 0.07, 0.04, 0.05])
_IRIS_COLOURS = np.array([
    [0.20, 0.12, 0.07], [0.33, 0.20, 0.10], [0.28, 0.42, 0.60], [0.33, 0.42, 0.28], [0.45, 0.34, 0.18],
])
_IRIS_WEIGHTS = np.array([0.4, 0.25, 0.15, 0.1, 0.1])
HAIR_STYLES = ("short", "long", "fringe", "receding")


@dataclass(frozen=True)
class FaceIdentity:
    """Everything that makes one synthetic subject look like themself. Sizes are relative to the face.

    Horizontal positions are in units of the face's half-width, vertical ones in its half-height, measured
    from the face ellipse's centre; colours are RGB in 0..1. Build one with :func:`sample_identity`.
    """

    face_height: float
    aspect: float
    jaw: float
    offset_x: float
    skin: tuple[float, float, float]
    eye_u: float
    eye_v: float
    eye_half_w: float
    eye_open: float
    eye_tilt: float
    iris: tuple[float, float, float]
    brow_gap: float
    brow_thick: float
    brow_arch: float
    brow_inner_u: float
    brow_outer_u: float
    brow_tilt: float
    nose_v: float
    nose_half_w: float
    mouth_v: float
    mouth_half_w: float
    upper_lip: float
    lower_lip: float
    mouth_curve: float
    lip: tuple[float, float, float]
    hair: tuple[float, float, float]
    hair_style: str
    hairline_v: float
    background_top: tuple[float, float, float]
    background_bottom: tuple[float, float, float]
    clothes: tuple[float, float, float]
    light_azimuth: float
    light_elevation: float
    ambient: float
    age: float
    stubble: float
    moles: tuple[tuple[float, float, float], ...]
    texture_seed: int


def _colour(values: np.ndarray) -> tuple[float, float, float]:
    c = np.clip(values, 0.0, 1.0)
    return (float(c[0]), float(c[1]), float(c[2]))


def sample_identity(rng: np.random.Generator) -> FaceIdentity:
    """Draw a random identity. Every parameter comes from ``rng``, so a seeded generator gives the same face."""
    u = rng.uniform
    tone = u(0.0, 1.0) ** 0.8
    skin = _SKIN_DARK + (_SKIN_LIGHT - _SKIN_DARK) * (1 - tone) + rng.normal(0, 0.025, 3) + [0.02, 0.0, -0.02]
    lip = skin * 0.75 + np.array([0.55, 0.18, 0.2]) * 0.3 + rng.normal(0, 0.02, 3)
    hair = _HAIR_COLOURS[rng.choice(len(_HAIR_COLOURS), p=_HAIR_WEIGHTS)] * u(0.85, 1.15)
    iris = _IRIS_COLOURS[rng.choice(len(_IRIS_COLOURS), p=_IRIS_WEIGHTS)] * u(0.8, 1.2)
    grey = u(0.35, 0.85)
    tint = rng.normal(0, 0.05, 3)
    background_top = np.full(3, grey) + tint
    background_bottom = background_top * u(0.75, 1.05)
    clothes = rng.uniform(0.05, 0.7, 3) * u(0.5, 1.0)
    style = HAIR_STYLES[int(rng.choice(len(HAIR_STYLES), p=[0.35, 0.3, 0.2, 0.15]))]
    mole_count = int(rng.choice(4, p=[0.5, 0.3, 0.15, 0.05]))
    moles = tuple((float(u(-0.7, 0.7)), float(u(-0.5, 0.75)), float(u(0.012, 0.025))) for _ in range(mole_count))
    return FaceIdentity(
        face_height=float(u(0.88, 0.96)),
        aspect=float(u(1.22, 1.42)),
        jaw=float(u(0.1, 0.45)),
        offset_x=float(rng.normal(0, 0.02)),
        skin=_colour(skin),
        eye_u=float(u(0.36, 0.44)),
        eye_v=float(u(-0.2, -0.09)),
        eye_half_w=float(u(0.17, 0.21)),
        eye_open=float(u(0.32, 0.48)),
        eye_tilt=float(u(-0.015, 0.025)),
        iris=_colour(iris),
        brow_gap=float(u(0.13, 0.2)),
        brow_thick=float(u(0.03, 0.06)),
        brow_arch=float(u(0.01, 0.05)),
        brow_inner_u=float(u(0.1, 0.17)),
        brow_outer_u=float(u(0.62, 0.74)),
        brow_tilt=float(u(-0.03, 0.03)),
        nose_v=float(u(0.2, 0.3)),
        nose_half_w=float(u(0.13, 0.19)),
        mouth_v=float(u(0.48, 0.58)),
        mouth_half_w=float(u(0.27, 0.37)),
        upper_lip=float(u(0.035, 0.058)),
        lower_lip=float(u(0.05, 0.08)),
        mouth_curve=float(u(-0.012, 0.015)),
        lip=_colour(lip),
        hair=_colour(hair),
        hair_style=style,
        hairline_v=float(u(-0.8, -0.6)),
        background_top=_colour(background_top),
        background_bottom=_colour(background_bottom),
        clothes=_colour(clothes),
        light_azimuth=float(u(-0.8, 0.8)),
        light_elevation=float(u(0.1, 0.6)),
        ambient=float(u(0.4, 0.6)),
        age=float(u(0.0, 1.0)),
        stubble=float(u(0.15, 0.35)) if rng.random() < 0.15 else 0.0,
        moles=moles,
        texture_seed=int(rng.integers(2**31 - 1)),
    )


class _Canvas:
    """Float RGB canvas with the face's coordinate frame and helpers that paint anti-aliased masks."""

    _SHIFT = 4  # cv2 drawing with 4 fractional bits: sub-pixel precise shapes

    def __init__(self, width: int, height: int, cx: float, cy: float, half_w: float, half_h: float) -> None:
        self.w, self.h = width, height
        self.cx, self.cy, self.a, self.b = cx, cy, half_w, half_h
        self.image = np.zeros((height, width, 3), dtype=np.float32)
        self.xs = ((np.arange(width, dtype=np.float32) - cx) / half_w)[None, :]
        self.ys = ((np.arange(height, dtype=np.float32) - cy) / half_h)[:, None]
        self.px = max(half_w / 118.0, 0.25)  # feature scale relative to a 280x340 CASME II-like face

    def point(self, u: float, v: float) -> tuple[float, float]:
        return (self.cx + u * self.a, self.cy + v * self.b)

    def gauss(self, u0: float, v0: float, su: float, sv: float) -> np.ndarray:
        """Separable Gaussian bump in face units, as an (H, W) array."""
        gx = np.exp(-0.5 * ((self.xs - u0) / su) ** 2)
        gy = np.exp(-0.5 * ((self.ys - v0) / sv) ** 2)
        return gy * gx

    def _fixed(self, points: np.ndarray) -> np.ndarray:
        return np.round(np.asarray(points, dtype=np.float64) * (1 << self._SHIFT)).astype(np.int32)

    def poly_mask(self, points: np.ndarray, blur: float = 0.0) -> np.ndarray:
        mask = np.zeros((self.h, self.w), dtype=np.uint8)
        cv2.fillPoly(mask, [self._fixed(points)], 255, cv2.LINE_AA, self._SHIFT)
        return self._soften(mask, blur)

    def line_mask(self, points: np.ndarray, thickness: float, blur: float = 0.0) -> np.ndarray:
        mask = np.zeros((self.h, self.w), dtype=np.uint8)
        width = max(1, int(round(thickness)))
        cv2.polylines(mask, [self._fixed(points)], False, 255, width, cv2.LINE_AA, self._SHIFT)
        alpha = self._soften(mask, blur)
        if thickness < 1.0:  # thinner than a pixel: fade instead
            alpha *= float(thickness)
        return alpha

    def ellipse_mask(self, centre, axes, angle: float = 0.0, blur: float = 0.0) -> np.ndarray:
        mask = np.zeros((self.h, self.w), dtype=np.uint8)
        c = tuple(int(v) for v in self._fixed(centre))
        ax = tuple(max(1, int(v)) for v in self._fixed(axes))
        cv2.ellipse(mask, c, ax, angle, 0, 360, 255, -1, cv2.LINE_AA, self._SHIFT)
        return self._soften(mask, blur)

    def _soften(self, mask: np.ndarray, blur: float) -> np.ndarray:
        alpha = mask.astype(np.float32) * np.float32(1.0 / 255.0)
        if blur > 0:
            alpha = cv2.GaussianBlur(alpha, (0, 0), blur * self.px)
        return alpha

    def paint(self, alpha: np.ndarray, colour) -> None:
        """Blend a colour (RGB triple or an (H, W, 3) layer) in where ``alpha`` is set."""
        rows = np.flatnonzero(alpha.any(axis=1))
        if rows.size == 0:
            return
        cols = np.flatnonzero(alpha[rows[0]:rows[-1] + 1].any(axis=0))
        box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        a = alpha[box][..., None].astype(np.float32)
        colour = np.asarray(colour, dtype=np.float32)
        layer = np.broadcast_to(colour, self.image.shape)[box] if colour.ndim == 3 else colour
        target = self.image[box]
        target *= 1.0 - a
        target += a * layer


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float, sigma_y: float | None = None) -> np.ndarray:
    """Unit-variance noise low-passed at ``sigma`` pixels (optionally anisotropic)."""
    noise = rng.standard_normal(shape, dtype=np.float32)
    sy = sigma if sigma_y is None else sigma_y
    if sigma > 0 or sy > 0:
        noise = cv2.GaussianBlur(noise, (0, 0), sigmaX=max(sigma, 0.3), sigmaY=max(sy, 0.3))
    std = float(noise.std()) or 1.0
    return noise / std


def _arc(canvas: _Canvas, u0: float, u1: float, v_of_t, n: int = 24) -> np.ndarray:
    t = np.linspace(0.0, 1.0, n)
    u = u0 + (u1 - u0) * t
    return np.stack([canvas.cx + u * canvas.a, canvas.cy + v_of_t(t) * canvas.b], axis=1)


def render_face(
    identity: FaceIdentity,
    size: tuple[int, int] = (280, 340),
    face_fraction: float = 1.0,
    light_jitter: tuple[float, float] = (0.0, 0.0),
    gaze: tuple[float, float] = (0.0, 0.0),
) -> tuple[np.ndarray, FaceLandmarks]:
    """Draw a neutral face.

    Args:
        identity: Who to draw.
        size: ``(width, height)`` in pixels.
        face_fraction: Share of the frame height the face spans. 1.0 gives CASME II-style face crops (the
            face fills the frame); about 0.6-0.75 leaves room around the head, as in a long recording.
        light_jitter: Added to the light's azimuth and elevation (radians), for per-clip variation.
        gaze: Iris offset in units of the eye size, ``(right, down)``, within about ±1.

    Returns:
        ``(image, landmarks)``: an RGB uint8 array ``(height, width, 3)`` and the face's key points.
    """
    width, height = int(size[0]), int(size[1])
    if width < 16 or height < 16:
        raise ValueError(f"face size {width}x{height} is too small; use at least 16x16 pixels")
    cv = _face_canvas(identity, width, height, face_fraction)
    # One generator for every texture, drawn from in a fixed order (the steps below), so a seed gives one face.
    rng = np.random.default_rng(identity.texture_seed)
    hair = _paint_behind_head(cv, identity, rng)
    skin = _paint_face_skin(cv, identity, rng, light_jitter)
    _paint_hair_over_forehead(cv, identity, skin, hair)
    _paint_forehead_lines(cv, identity)
    brows = _paint_brows(cv, identity, hair)
    eyes = _paint_eyes(cv, identity, skin, gaze)
    _paint_nose(cv, identity)
    mouth = _paint_mouth(cv, identity, skin)
    _paint_moles(cv, identity)
    image = np.clip(cv.image * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return image, _face_landmarks(cv, identity, {**brows, **eyes, **mouth})


@dataclass(frozen=True)
class _HairLayers:
    """The hair's colour layer and the brows' hair texture, drawn once behind the head and used again on top."""

    layer: np.ndarray
    brow_texture: np.ndarray


@dataclass(frozen=True)
class _SkinShading:
    """The lit face: its coverage, shading (features are shaded with it), squared radius in face units, and the
    light's azimuth (eye glints follow it)."""

    mask: np.ndarray
    shade: np.ndarray
    radius2: np.ndarray
    azimuth: float


def _face_canvas(idt: FaceIdentity, width: int, height: int, face_fraction: float) -> _Canvas:
    """The canvas with the face ellipse placed: its half-height from the frame share, centred a little low."""
    half_h = 0.5 * height * face_fraction * idt.face_height
    half_w = half_h / idt.aspect
    cx = width / 2.0 + idt.offset_x * half_w
    cy = height / 2.0 + half_h * 0.06
    return _Canvas(width, height, cx, cy, half_w, half_h)


def _ear_row(idt: FaceIdentity) -> float:
    """The ears' height in face units (just below the eyes); the hair beside the face stops above it."""
    return idt.eye_v + 0.12


def _paint_behind_head(cv: _Canvas, idt: FaceIdentity, rng: np.random.Generator) -> _HairLayers:
    """Background, clothes, neck, long hair behind the head and ears; the hair layers drawn on top later."""
    width, height, half_w, half_h, xs, ys = cv.w, cv.h, cv.a, cv.b, cv.xs, cv.ys
    rows = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    bg_top, bg_bottom = np.array(idt.background_top, np.float32), np.array(idt.background_bottom, np.float32)
    cv.image[:] = bg_top * (1 - rows) + bg_bottom * rows
    cv.image *= 1.0 + 0.03 * _smooth_noise(rng, (height, width), 18 * cv.px)[..., None]
    shoulders = cv.ellipse_mask(cv.point(0.0, 2.05), (half_w * 2.3, half_h * 1.05), blur=1.0)
    cv.paint(shoulders, np.array(idt.clothes) * (0.9 + 0.06 * _smooth_noise(rng, (height, width), 6 * cv.px)[..., None]))
    skin = np.array(idt.skin, dtype=np.float32)
    neck_shade = np.clip(0.55 + 0.12 * np.sin(xs * 2.5 + idt.light_azimuth), 0.3, 0.9)
    neck = cv.poly_mask(np.array([cv.point(-0.62, 0.3), cv.point(0.62, 0.3), cv.point(0.66, 2.2), cv.point(-0.66, 2.2)]), 1.0)
    cv.paint(neck, skin * neck_shade[..., None])
    hair = np.array(idt.hair, dtype=np.float32)
    streaks = _smooth_noise(rng, (height, width), 0.7 * cv.px, 7 * cv.px)
    brow_hairs = _smooth_noise(rng, (height, width), 2.0 * cv.px, 0.6 * cv.px)
    hair_layer = hair * (0.8 + 0.22 * streaks)[..., None] * (0.75 + 0.25 * np.cos(np.clip(xs * 0.9, -1.5, 1.5)))[..., None]
    if idt.hair_style == "long":
        back = cv.ellipse_mask(cv.point(0.0, -0.05), (half_w * 1.22, half_h * 1.1), blur=1.5)
        back *= (ys < 0.75 + 0.1 * np.cos(xs * 3)).astype(np.float32)
        cv.paint(cv2.GaussianBlur(back, (0, 0), 1.5 * cv.px), hair_layer * 0.8)
    eye_row = _ear_row(idt)
    for side in (-1, 1):
        ear = cv.ellipse_mask(cv.point(side * 0.98, eye_row), (half_w * 0.13, half_h * 0.2), angle=side * 8, blur=0.7)
        cv.paint(ear, skin * 0.72)
    return _HairLayers(hair_layer, brow_hairs)


def _face_relief(cv: _Canvas, idt: FaceIdentity) -> tuple[np.ndarray, np.ndarray]:
    """The face's height map (an ellipsoid narrowed at the jaw, with feature bumps) and its squared radius."""
    xs, ys = cv.xs, cv.ys
    narrowing = 1.0 - idt.jaw * np.clip(ys, 0.0, 1.0) ** 2 * 0.6
    radius2 = (xs / narrowing) ** 2 + ys**2
    relief = np.sqrt(np.clip(1.0 - radius2, 0.0, 1.0))
    eu, ev, nv = idt.eye_u, idt.eye_v, idt.nose_v
    for side in (-1, 1):
        relief += 0.05 * cv.gauss(side * 0.38, ev - idt.brow_gap * 0.8, 0.28, 0.07)
        relief -= 0.07 * cv.gauss(side * eu, ev, 0.2, 0.09)
        relief += 0.04 * cv.gauss(side * idt.nose_half_w * 0.85, nv, 0.06, 0.045)
        relief += 0.05 * cv.gauss(side * 0.48, nv - 0.02, 0.2, 0.15)
        relief -= 0.015 * cv.gauss(side * idt.mouth_half_w, idt.mouth_v, 0.04, 0.04)
    relief += 0.10 * cv.gauss(0.0, (ev + nv) / 2, 0.07, max((nv - ev) / 2, 0.05))
    relief += 0.09 * cv.gauss(0.0, nv - 0.03, 0.09, 0.06)
    relief += 0.03 * cv.gauss(0.0, idt.mouth_v, idt.mouth_half_w, 0.06)
    relief += 0.04 * cv.gauss(0.0, 0.82, 0.18, 0.1)
    return relief, radius2


def _paint_face_skin(cv: _Canvas, idt: FaceIdentity, rng: np.random.Generator,
                     light_jitter: tuple[float, float]) -> _SkinShading:
    """The face's skin, lit by a directional light (diffuse, specular, darker limb), textured at three scales,
    with blush and stubble."""
    width, height, half_w, half_h, ys = cv.w, cv.h, cv.a, cv.b, cv.ys
    relief, radius2 = _face_relief(cv, idt)
    face_mask = np.clip((1.0 - np.sqrt(radius2)) * (min(half_w, half_h) / 1.2) + 0.5, 0.0, 1.0)
    nv = idt.nose_v
    height_px = relief * (half_w * 0.6)
    gy, gx = np.gradient(height_px)
    inside = radius2 < 0.985
    gx = np.where(inside, gx, 0.0)
    gy = np.where(inside, gy, 0.0)
    norm = np.sqrt(gx**2 + gy**2 + 1.0)
    az = idt.light_azimuth + light_jitter[0]
    el = idt.light_elevation + light_jitter[1]
    light = np.array([math.sin(az) * math.cos(el), -math.sin(el), math.cos(az) * math.cos(el)])
    light /= np.linalg.norm(light)
    n_dot_l = (-gx * light[0] - gy * light[1] + light[2]) / norm
    shade = idt.ambient + (1 - idt.ambient) * np.clip(n_dot_l, 0.0, 1.0)
    half_vec = light + np.array([0.0, 0.0, 1.0])
    half_vec /= np.linalg.norm(half_vec)
    spec = np.clip((-gx * half_vec[0] - gy * half_vec[1] + half_vec[2]) / norm, 0.0, 1.0) ** 40 * 0.12
    rim = np.clip(1.0 - radius2, 0.0, 1.0) ** 0.15  # darken the limb a little more
    texture = (1.0 + 0.035 * _smooth_noise(rng, (height, width), 0.6 * cv.px)
               + 0.02 * _smooth_noise(rng, (height, width), 2.5 * cv.px)
               + 0.025 * _smooth_noise(rng, (height, width), 10 * cv.px))
    blush = 0.04 * (cv.gauss(-0.5, nv, 0.2, 0.12) + cv.gauss(0.5, nv, 0.2, 0.12))
    skin = np.array(idt.skin, dtype=np.float32)
    face_rgb = skin * (shade * rim * texture)[..., None] + np.array([1.0, 0.9, 0.85], np.float32) * spec[..., None]
    face_rgb += np.array([0.6, -0.2, -0.2], np.float32) * blush[..., None] * skin
    if idt.stubble > 0:
        lower = np.clip((ys - nv - 0.08) * 6, 0, 1) * (radius2 < 1.0)
        speck = np.clip(_smooth_noise(rng, (height, width), 0.5 * cv.px), 0, None) * idt.stubble * lower
        face_rgb *= (1.0 - 0.6 * np.clip(speck, 0, 1))[..., None]
    cv.paint(face_mask.astype(np.float32), face_rgb)
    return _SkinShading(face_mask, shade, radius2, az)


def _paint_hair_over_forehead(cv: _Canvas, idt: FaceIdentity, skin: _SkinShading, hair: _HairLayers) -> None:
    """The hair cap down to the hairline (its shape from the hair style), beside the face, and sideburns or long
    side hair."""
    half_w, half_h, xs, ys = cv.a, cv.b, cv.xs, cv.ys
    eye_row = _ear_row(idt)
    line = idt.hairline_v + (0.35 if idt.hair_style == "receding" else 0.22) * xs**2
    if idt.hair_style == "fringe":
        line = line + 0.22 + 0.03 * np.sin(xs * 11 + idt.texture_seed % 7)
    cap = cv.ellipse_mask(cv.point(0.0, -0.03), (half_w * 1.07, half_h * 1.07), blur=0.0)
    above_line = np.clip((line - ys) * half_h / (1.5 * cv.px), 0.0, 1.0)
    # Beside the face (above the ears) the head is hair too, whatever the hairline does.
    beside_face = (1.0 - skin.mask) * np.clip((eye_row - 0.1 - ys - 0.1 * np.abs(xs)) * 4, 0.0, 1.0)
    cap *= np.maximum(above_line, beside_face)
    if idt.hair_style == "long":
        side_hair = cv.ellipse_mask(cv.point(0.0, -0.05), (half_w * 1.18, half_h * 1.05))
        side_hair *= np.clip((np.abs(xs) - 0.9) * 8, 0, 1) * (ys < 0.7)
        cap = np.maximum(cap, side_hair)
    else:  # sideburns
        burns = np.clip((np.abs(xs) - 0.88) * 10, 0, 1) * (ys < eye_row) * (skin.radius2 < 1.2)
        cap = np.maximum(cap, burns.astype(np.float32))
    cv.paint(cv2.GaussianBlur(cap, (0, 0), 0.9 * cv.px), hair.layer * skin.shade[..., None].clip(0.5, 1.0))


def _skin_shadow(idt: FaceIdentity) -> np.ndarray:
    """The colour of lines and creases drawn on the skin."""
    return np.array(idt.skin, dtype=np.float32) * 0.55


def _paint_forehead_lines(cv: _Canvas, idt: FaceIdentity) -> None:
    """Up to three forehead lines on older faces, stopping at the hairline."""
    if idt.age > 0.55:
        for k in range(3):
            v = idt.eye_v - idt.brow_gap - 0.1 - 0.075 * k
            if v < idt.hairline_v + 0.1:
                break
            arc = _arc(cv, -0.42, 0.42, lambda t, v=v: v - 0.025 * np.sin(np.pi * t))
            cv.paint(cv.line_mask(arc, 1.2 * cv.px, blur=0.8) * (idt.age - 0.5) * 0.45, _skin_shadow(idt))


def _paint_brows(cv: _Canvas, idt: FaceIdentity, hair: _HairLayers) -> dict[str, tuple[float, float]]:
    """Both brows, tapering arches with hair texture; their inner and outer ends as landmarks."""
    half_w, half_h = cv.a, cv.b
    brow_colour = np.array(idt.hair, dtype=np.float32) * 0.6 + 0.04
    landmarks = {}
    for side, name in ((-1, "left"), (1, "right")):
        base_v = idt.eye_v - idt.brow_gap
        t = np.linspace(0.0, 1.0, 20)
        u = side * (idt.brow_inner_u + (idt.brow_outer_u - idt.brow_inner_u) * t)
        centre_v = base_v - idt.brow_arch * np.sin(np.pi * t**0.8) + idt.brow_tilt * t
        thick = idt.brow_thick * (1.0 - 0.5 * t) * (0.6 + 0.4 * np.sin(np.pi * np.clip(t * 1.5 + 0.05, 0, 1)))
        top = np.stack([cv.cx + u * half_w, cv.cy + (centre_v - thick / 2) * half_h], axis=1)
        bottom = np.stack([cv.cx + u * half_w, cv.cy + (centre_v + thick / 2) * half_h], axis=1)
        brow = cv.poly_mask(np.concatenate([top, bottom[::-1]]), blur=0.6)
        cv.paint(brow * np.clip(0.9 + 0.12 * hair.brow_texture, 0.6, 1.0), brow_colour)
        landmarks[f"{name}_brow_inner"] = cv.point(u[0], centre_v[0])
        landmarks[f"{name}_brow_outer"] = cv.point(u[-1], centre_v[-1])
    return landmarks


def _paint_eyes(cv: _Canvas, idt: FaceIdentity, skin: _SkinShading,
                gaze: tuple[float, float]) -> dict[str, tuple[float, float]]:
    """Both eyes: sclera, iris and pupil looking along ``gaze``, a glint from the light, lids and creases; their
    centres as landmarks."""
    width, height, half_w, half_h = cv.w, cv.h, cv.a, cv.b
    eu, ev, shade, az = idt.eye_u, idt.eye_v, skin.shade, skin.azimuth
    skin_shadow = _skin_shadow(idt)
    landmarks = {}
    ew = idt.eye_half_w
    eh = ew * idt.eye_open * half_w / half_h  # half-opening in face-height units
    for side, name in ((-1, "left"), (1, "right")):
        ecx = side * eu
        tilt = idt.eye_tilt

        def upper(t, ecx=ecx, side=side):
            return ev - eh * np.sin(np.pi * t) ** 0.85 - tilt * side * (t - 0.5) * 2 * 0.5

        def lower(t, ecx=ecx, side=side):
            return ev + eh * 0.7 * np.sin(np.pi * t) ** 1.1 - tilt * side * (t - 0.5) * 2 * 0.5

        up_pts = _arc(cv, ecx - ew, ecx + ew, upper)
        low_pts = _arc(cv, ecx - ew, ecx + ew, lower)
        sclera = cv.poly_mask(np.concatenate([up_pts, low_pts[::-1]]), blur=0.3)
        cv.paint(sclera, np.array([0.92, 0.89, 0.86], np.float32) * (0.75 + 0.25 * shade)[..., None])
        iris_c = cv.point(ecx + gaze[0] * ew * 0.3, ev + gaze[1] * eh * 0.2)
        iris_r = eh * half_h * 1.05
        ring = np.sqrt((np.arange(width, dtype=np.float32)[None, :] - iris_c[0]) ** 2
                       + (np.arange(height, dtype=np.float32)[:, None] - iris_c[1]) ** 2) / iris_r
        iris_layer = np.array(idt.iris, np.float32) * np.clip(1.15 - 0.5 * ring, 0.4, 1.2)[..., None]
        iris_mask = cv.ellipse_mask(iris_c, (iris_r, iris_r)) * sclera
        cv.paint(iris_mask, iris_layer)
        cv.paint(cv.ellipse_mask(iris_c, (iris_r * 0.45, iris_r * 0.45)) * sclera, (0.03, 0.03, 0.03))
        glint = (iris_c[0] + iris_r * 0.35 * math.sin(az), iris_c[1] - iris_r * 0.35)
        cv.paint(cv.ellipse_mask(glint, (iris_r * 0.16, iris_r * 0.16), blur=0.3) * sclera * 0.85, (1.0, 1.0, 1.0))
        cv.paint(cv.line_mask(up_pts, max(1.0, 2.2 * cv.px), blur=0.35) * 0.9, (0.08, 0.05, 0.05))
        cv.paint(cv.line_mask(low_pts[2:-2], 0.9 * cv.px, blur=0.4) * 0.35, skin_shadow)
        crease = _arc(cv, ecx - ew * 0.9, ecx + ew * 0.95, lambda t, up=upper: up(t) - eh * 0.75)
        cv.paint(cv.line_mask(crease, 1.0 * cv.px, blur=0.7) * 0.35, skin_shadow)
        landmarks[f"{name}_eye"] = cv.point(ecx, ev)
    return landmarks


def _paint_nose(cv: _Canvas, idt: FaceIdentity) -> None:
    """Nostrils, the nose wings' creases and the nasolabial folds (deeper with age)."""
    half_w, half_h = cv.a, cv.b
    nv, nw = idt.nose_v, idt.nose_half_w
    skin = np.array(idt.skin, dtype=np.float32)
    skin_shadow = _skin_shadow(idt)
    for side in (-1, 1):
        nostril = cv.ellipse_mask(cv.point(side * nw * 0.45, nv + 0.012), (half_w * 0.055, half_h * 0.022),
                                  angle=side * 18, blur=0.6)
        cv.paint(nostril * 0.85, skin * 0.3)
        wing = _arc(cv, side * nw * 0.7, side * nw * 1.05, lambda t: nv - 0.03 + 0.04 * np.sin(np.pi * t * 0.9))
        cv.paint(cv.line_mask(wing, 1.0 * cv.px, blur=0.6) * 0.4, skin_shadow)
        # Nasolabial fold: from the nose wing around the mouth corner.
        fold = _arc(cv, side * (nw + 0.04), side * (idt.mouth_half_w + 0.08),
                    lambda t: nv - 0.02 + (idt.mouth_v + 0.07 - nv + 0.02) * t**1.3)
        cv.paint(cv.line_mask(fold, 1.5 * cv.px, blur=1.4) * (0.18 + 0.3 * idt.age), skin_shadow)


def _mouth_corner_v(idt: FaceIdentity) -> float:
    """The mouth corners' height in face units (above the mouth's centre line when it curves up)."""
    return idt.mouth_v - idt.mouth_curve


def _paint_mouth(cv: _Canvas, idt: FaceIdentity, skin: _SkinShading) -> dict[str, tuple[float, float]]:
    """Both lips (a cupid's bow, a highlight on the lower one) and the line between them; the corners and lip
    centres as landmarks."""
    shade = skin.shade
    mw, mv, ul, ll = idt.mouth_half_w, idt.mouth_v, idt.upper_lip, idt.lower_lip
    corner_v = _mouth_corner_v(idt)

    def mouth_line(t):
        return corner_v + (mv - corner_v) * np.sin(np.pi * t) + 0.006 * np.sin(np.pi * t) ** 8

    def upper_edge(t):
        bow = np.exp(-((t - 0.5) / 0.06) ** 2) * ul * 0.2
        return mouth_line(t) - ul * np.sin(np.pi * t) ** 0.7 + bow

    def lower_edge(t):
        return mouth_line(t) + ll * np.sin(np.pi * t) ** 0.8

    line_pts = _arc(cv, -mw, mw, mouth_line, 32)
    up_lip = cv.poly_mask(np.concatenate([_arc(cv, -mw, mw, upper_edge, 32), line_pts[::-1]]), blur=0.5)
    low_lip = cv.poly_mask(np.concatenate([line_pts, _arc(cv, mw, -mw, lambda t: lower_edge(1 - t), 32)]), blur=0.5)
    lip = np.array(idt.lip, np.float32)
    cv.paint(up_lip, lip * 0.82 * (0.6 + 0.4 * shade)[..., None])
    lip_highlight = 1.0 + 0.25 * cv.gauss(0.0, mv + ll * 0.45, mw * 0.5, ll * 0.35)
    cv.paint(low_lip, lip * (0.65 + 0.4 * shade)[..., None] * lip_highlight[..., None])
    cv.paint(cv.line_mask(line_pts, max(1.0, 1.6 * cv.px), blur=0.5) * 0.85, lip * 0.25)
    return {"mouth_left": cv.point(-mw, corner_v), "mouth_right": cv.point(mw, corner_v),
            "upper_lip": cv.point(0.0, mv - ul * 0.7), "lower_lip": cv.point(0.0, mv + ll)}


def _paint_moles(cv: _Canvas, idt: FaceIdentity) -> None:
    """The identity's moles that fall on the face."""
    skin = np.array(idt.skin, dtype=np.float32)
    for mu, mvv, mr in idt.moles:
        if mu**2 + mvv**2 < 0.8:
            cv.paint(cv.ellipse_mask(cv.point(mu, mvv), (mr * cv.a, mr * cv.a), blur=0.4) * 0.7, skin * 0.35)


def _face_landmarks(cv: _Canvas, idt: FaceIdentity, painted: dict[str, tuple[float, float]]) -> FaceLandmarks:
    """The face's key points: those the painting steps placed, and the nose tip."""
    return FaceLandmarks(nose_tip=cv.point(0.0, idt.nose_v - 0.03), **painted)
