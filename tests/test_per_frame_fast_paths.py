"""The per-frame steps of pose, occlusion and head-motion removal, written for speed, give what their plain
formulas give: each is compared with the straightforward code it replaced (kept here as the reference) on real
meshes of generated footage (a head turning and nodding, a hand over the mouth), written as h264 and read back."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from larnet_core.face.head_compensation import (RIGID_POINTS, compensate, registered_patch, rigid_model)
from larnet_core.face.occlusion import (OCCLUDED_LEVEL, REGION_POINTS, OcclusionTracker, face_appearance,
                                        occlusion_score)
from larnet_core.face.pose import STABLE_POINTS, canonical_face, fit_pose
from larnet_core.synth.footage import make_footage, write_footage
from larnet_core.video.motion import face_flow
from tests.markers import needs_mediapipe

pytestmark = needs_mediapipe

FPS = 30.0
CROP = 96


# ------------------------------------------------------------------------------------------ the reference formulas


def _reference_pose(mesh3d: np.ndarray) -> dict:
    """Umeyama's similarity of the canonical face's stable points onto the mesh's, refined by Gauss-Newton on the
    image points (weak perspective), as pose.py computed it step by step."""
    def skew(v):
        out = np.zeros((len(v), 3, 3))
        out[:, 0, 1], out[:, 0, 2], out[:, 1, 2] = -v[:, 2], v[:, 1], -v[:, 0]
        out[:, 1, 0], out[:, 2, 0], out[:, 2, 1] = v[:, 2], -v[:, 1], v[:, 0]
        return out

    points = np.asarray(mesh3d, dtype=np.float64)
    source, target = canonical_face()[list(STABLE_POINTS)], points[list(STABLE_POINTS)]
    mu_s, mu_t = source.mean(axis=0), target.mean(axis=0)
    s, t = source - mu_s, target - mu_t
    u, sigma, vt = np.linalg.svd(t.T @ s / len(source))
    sign = np.ones(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[2] = -1.0
    rotation = u @ np.diag(sign) @ vt
    scale = float((sigma * sign).sum() / float((s ** 2).sum() / len(source)))
    target_xy = target[:, :2]
    skews, shifts = skew(source), np.tile(np.eye(2), (len(source), 1))
    shift = target_xy.mean(axis=0) - scale * (source @ rotation.T)[:, :2].mean(axis=0)
    for _ in range(3):
        turned = source @ rotation.T
        residual = (scale * turned[:, :2] + shift - target_xy).ravel()
        jacobian = np.column_stack([-scale * (rotation[:2] @ skews).reshape(-1, 3), turned[:, :2].ravel(), shifts])
        step = np.linalg.solve(jacobian.T @ jacobian + 1e-9 * np.eye(6), -jacobian.T @ residual)
        angle = float(np.linalg.norm(step[:3]))
        if angle > 0:
            k = skew((step[:3] / angle)[None])[0]
            rotation = rotation @ (np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k)
        scale, shift = scale + float(step[3]), shift + step[4:]
        if angle < 1e-5:
            break
    translation = np.array([shift[0], shift[1], float((target[:, 2] - scale * source @ rotation[2]).mean())])
    fitted = scale * source @ rotation.T + translation
    residual = float(np.sqrt(((fitted[:, :2] - target[:, :2]) ** 2).sum(axis=1).mean()) / scale)
    return {"rotation": rotation, "scale": scale, "translation": translation, "residual": residual,
            "pitch": math.degrees(math.asin(float(np.clip(rotation[2, 1], -1, 1)))),
            "yaw": math.degrees(math.atan2(rotation[2, 0], rotation[2, 2])),
            "roll": math.degrees(math.atan2(-rotation[0, 1], rotation[1, 1]))}


def _reference_appearance(frame_rgb: np.ndarray, mesh: np.ndarray) -> np.ndarray:
    """Each point's 3x3 block of pixels, converted to Lab one block after another and averaged."""
    pairs = [pair for points in REGION_POINTS.values() for pair in points]
    height, width = frame_rgb.shape[:2]
    out = []
    for first, second in pairs:
        x, y = np.rint(0.5 * (np.asarray(mesh[first], float)[:2] + np.asarray(mesh[second], float)[:2]))
        x, y = int(np.clip(x, 1, max(1, width - 2))), int(np.clip(y, 1, max(1, height - 2)))
        block = np.array([[frame_rgb[min(max(y + dy, 0), height - 1), min(max(x + dx, 0), width - 1)]
                           for dx in (-1, 0, 1)] for dy in (-1, 0, 1)])
        lab = cv2.cvtColor(block.astype(np.float32) / np.float32(255.0), cv2.COLOR_RGB2Lab)
        out.append(lab.reshape(-1, 3).mean(axis=0))
    return np.array(out)


def _reference_compensation(flow: np.ndarray, model) -> tuple[np.ndarray, float]:
    """The robust rigid fit as head_compensation.py computed it: two biweight rounds, a solve per flow component."""
    size = flow.shape[0]
    design = model.design(size)
    observed = flow[design.rows, design.cols].astype(np.float64)
    weights = np.ones(len(observed))
    error = np.zeros(len(observed))
    coefficients = []
    for _ in range(2):
        coefficients = []
        fitted = np.empty_like(observed)
        for k, a in enumerate((design.u, design.v)):
            weighted = a * weights[:, None]
            c = np.linalg.solve(weighted.T @ a + 1e-9 * np.eye(a.shape[1]), weighted.T @ observed[:, k])
            coefficients.append(c)
            fitted[:, k] = a @ c
        error = np.hypot(*(fitted - observed).T)
        r = error / (4.685 * max(1.4826 * float(np.median(error)), 0.05))
        weights = np.where(r < 1, (1 - r * r) ** 2, 0.0)
    rigid = np.stack([coefficients[0].astype(np.float32) @ design.grid_u,
                      coefficients[1].astype(np.float32) @ design.grid_v], axis=-1)
    return (flow - rigid.reshape(size, size, 2)).astype(np.float32), float(np.median(error))


def _reference_registration(frame_rgb: np.ndarray, mesh: np.ndarray, anchor: np.ndarray) -> np.ndarray:
    """The homography of the stable points, the crop's part of the frame in grey (area-shrunk first when the face
    is large), warped."""
    homography, _ = cv2.findHomography(np.asarray(mesh, np.float32)[list(RIGID_POINTS), :2],
                                       np.asarray(anchor, np.float32), 0)
    corners = cv2.perspectiveTransform(np.array([[[0, 0], [CROP, 0], [CROP, CROP], [0, CROP]]], np.float32),
                                       np.linalg.inv(homography))[0]
    height, width = frame_rgb.shape[:2]
    x0, y0 = np.clip(np.floor(corners.min(axis=0)).astype(int) - 2, 0, [width, height])
    x1, y1 = np.clip(np.ceil(corners.max(axis=0)).astype(int) + 2, 0, [width, height])
    grey = cv2.cvtColor(np.ascontiguousarray(frame_rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
    homography = homography @ np.array([[1.0, 0, x0], [0, 1.0, y0], [0, 0, 1.0]])
    scale = float(np.sqrt(abs(np.linalg.det(homography[:2, :2] / homography[2, 2]))))
    if scale < 0.5:
        grey = cv2.resize(grey, None, fx=scale * 2, fy=scale * 2, interpolation=cv2.INTER_AREA)
        homography = homography @ np.diag([1.0 / (scale * 2), 1.0 / (scale * 2), 1.0])
    return cv2.warpPerspective(grey, homography, (CROP, CROP), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)


# ---------------------------------------------------------------------------------------------------- the footage


def _read(path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(np.ascontiguousarray(frame[..., ::-1]))
    capture.release()
    return frames


@pytest.fixture(scope="module")
def footage(tmp_path_factory) -> dict[str, list[tuple[np.ndarray, object]]]:
    """Per clip, its frames (RGB, read back from h264) with the face mesh found on each (``None`` where none)."""
    from larnet_core.face.mesh import MeshFaceDetector

    folder = tmp_path_factory.mktemp("fast_paths")
    clips = {"turn": make_footage("head_turn_and_nod", seed=4, seconds=4.0, photo="astronaut", size=(480, 360)),
             "hand": make_footage("hand_over_mouth", seed=11, seconds=5.0, photo="grace_hopper")}
    detector = MeshFaceDetector(max_faces=1)
    out = {}
    try:
        for name, clip in clips.items():
            frames = _read(write_footage(folder / f"{name}.mp4", clip.frames, FPS))
            out[name] = [(frame, next(iter(detector.detect(frame)), None)) for frame in frames]
    finally:
        detector.close()
    return out


def _faces(footage, name: str):
    faces = [(frame, face) for frame, face in footage[name] if face is not None and face.mesh3d is not None]
    assert len(faces) >= 0.9 * len(footage[name])
    return faces


# ------------------------------------------------------------------------------------------------------ the tests


def _turned_meshes() -> list[np.ndarray]:
    """Meshes of the shipped photos turned in 3-D (with their own relief) by up to 28 degrees."""
    from larnet_core.face.mesh import MeshFaceDetector
    from tests.rendered_faces import photo_mesh, render_turn

    detector = MeshFaceDetector(max_faces=1)
    try:
        meshes = []
        for name in ("grace_hopper", "astronaut"):
            image, mesh3d = photo_mesh(name)
            meshes.append(mesh3d)
            for yaw, pitch, roll in ((28, 0, 0), (-20, 12, 0), (10, -15, 8)):
                meshes.append(detector.detect(render_turn(image, mesh3d, yaw, pitch, roll))[0].mesh3d)
        return meshes
    finally:
        detector.close()


def test_pose_fit_matches_the_reference(footage):
    yaws = []
    meshes = [face.mesh3d for name in footage for _, face in _faces(footage, name)] + _turned_meshes()
    mirrored = meshes[-1] * np.array([-1.0, 1.0, 1.0])  # a reflection fits best: the fit must keep a rotation
    for mesh3d in meshes + [mirrored]:
        pose, expected = fit_pose(mesh3d), _reference_pose(mesh3d)
        for field in ("yaw", "pitch", "roll", "scale", "residual"):
            assert getattr(pose, field) == pytest.approx(expected[field], rel=1e-12, abs=1e-12), field
        for field in ("rotation", "translation"):
            np.testing.assert_allclose(getattr(pose, field), expected[field], rtol=1e-12, atol=1e-9)
        yaws.append(pose.yaw)
    assert np.ptp(yaws) > 30  # the heads turned: the fit had work to do


def test_face_colours_match_the_reference(footage):
    for name in footage:
        for frame, face in _faces(footage, name)[::4]:
            expected = _reference_appearance(frame, face.mesh)
            np.testing.assert_allclose(face_appearance(frame, face.mesh), expected, rtol=0, atol=1e-4)
            # A view of the frame (not one block of memory) is read the other way, to the same colours.
            view = np.pad(frame, ((0, 0), (0, 2), (0, 0)))[:, :frame.shape[1]]
            np.testing.assert_allclose(face_appearance(view, face.mesh), expected, rtol=0, atol=1e-4)
    # A frame too small for the blocks: each block's pixels are clamped to the frame.
    frame, face = _faces(footage, "hand")[0]
    tiny = np.ascontiguousarray(frame[:2, :5])
    np.testing.assert_allclose(face_appearance(tiny, face.mesh), _reference_appearance(tiny, face.mesh), atol=1e-4)


def _region_scores(values: np.ndarray, neutral: np.ndarray) -> dict[str, float]:
    """Each region's score of one frame against the neutral, region by region and set by set (the clip's code)."""
    out, start = {}, 0
    for region, points in REGION_POINTS.items():
        part = slice(start, start + len(points))
        start += len(points)
        score = occlusion_score(values[part], neutral[part], region)
        if np.isfinite(score):
            out[region] = score
    return out


def test_live_occlusion_scores_match_the_region_by_region_scores(footage):
    tracker = OcclusionTracker(FPS)
    scored = []
    for frame, face in _faces(footage, "hand"):
        values = face_appearance(frame, face.mesh).astype(np.float64)
        if tracker._neutral is not None:
            scores, expected = tracker.scores(values), _region_scores(values, tracker._neutral)
            assert scores.keys() == expected.keys()
            for region, score in expected.items():
                assert scores[region] == pytest.approx(score, abs=1e-12), region
            flags = tracker.update(values)
            assert flags == {region: score > OCCLUDED_LEVEL for region, score in expected.items()}
            scored.append(scores.get("mouth", np.nan))
            # A point without a value leaves out the sets it belongs to, as it does region by region.
            holed = values.copy()
            holed[3] = np.nan
            assert tracker.scores(holed).keys() == _region_scores(holed, tracker._neutral).keys()
        else:
            tracker.update(values)
    # Both sides of the level were compared: the hand covered the mouth, and the mouth showed.
    assert np.nanmax(scored) > OCCLUDED_LEVEL > np.nanmin(scored)


def _crops(faces):
    """A rigid model from the first face and each frame's registered crop (with its reference version)."""
    mesh = faces[0][1].mesh3d
    x0, y0 = mesh[:, :2].min(axis=0)
    x1 = mesh[:, 0].max()
    scale = CROP / (x1 - x0) * 0.8
    matrix = np.array([[scale, 0, 10 - x0 * scale], [0, scale, 10 - y0 * scale]])
    model = rigid_model(mesh, matrix, CROP)
    return model, [(registered_patch(frame, face.mesh, model.points, CROP),
                    _reference_registration(frame, face.mesh, model.points)) for frame, face in faces]


def test_registration_and_rigid_flow_removal_match_the_reference(footage):
    faces = _faces(footage, "turn")
    model, crops = _crops(faces)
    for patch, expected in crops:
        np.testing.assert_array_equal(patch, expected)
    residuals = []
    for size, fitted in ((CROP, model), (64, model.scaled(64 / CROP, 64))):
        for (first, _), (current, _) in zip(crops[:-6:3], crops[6::3]):
            if size != CROP:
                first, current = (cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA) for c in (first, current))
            flow = face_flow(first, current)
            for given in (flow, flow.astype(np.float64)):
                result = compensate(given, fitted)
                expected, residual = _reference_compensation(given, fitted)
                assert result.flow.dtype == np.float32
                np.testing.assert_allclose(result.flow, expected, rtol=0, atol=1e-5)
                assert result.residual == pytest.approx(residual, rel=1e-9, abs=1e-12)
            residuals.append(residual)
    assert max(residuals) > 0.01  # the flows had something to remove


def _reference_warp(image: np.ndarray, matrix: np.ndarray, size: int, grey: bool) -> np.ndarray:
    """The crop from the whole frame: converted to grey and area-shrunk whole, then warped."""
    from larnet_core.face.align import _pixel_centre_matrix

    source = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if grey else image
    scale = math.hypot(matrix[0, 0], matrix[1, 0])
    if scale < 0.5:
        source = cv2.resize(source, None, fx=scale * 2, fy=scale * 2, interpolation=cv2.INTER_AREA)
        matrix = matrix.copy()
        matrix[:, :2] /= scale * 2
    return cv2.warpAffine(source, _pixel_centre_matrix(matrix), (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def test_model_and_motion_crops_match_the_whole_frame_shrink(footage):
    """warp_crop converts and shrinks only the frame up to the crop's far corner: the same crops as from the whole
    frame, for faces anywhere (half out of the frame too), of any size, turned or not."""
    from larnet_core.face.inputs import InputBuilder, InputConfig, warp_crop

    from larnet_core.face import sample_face_photos

    rng = np.random.default_rng(0)
    # Frames of the footage, the shipped photos, and sensor noise (every pixel its own: where a shrunk pixel that
    # read beyond the cut would show).
    frames = [frame for frame, _ in footage["turn"][::60]] + list(sample_face_photos().values())
    frames.append(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8))
    for frame in frames:
        height, width = frame.shape[:2]
        for _ in range(200):
            size = int(rng.choice([64, 96, 112, 224]))
            scale = float(np.exp(rng.uniform(np.log(0.04), np.log(1.5))))  # mostly shrinking, by up to 25
            angle = rng.uniform(-0.5, 0.5)
            centre = rng.uniform(-0.2, 1.2, 2) * (width, height)
            linear = scale * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
            matrix = np.hstack([linear, (size / 2 - linear @ centre)[:, None]])
            for grey in (False, True):
                np.testing.assert_array_equal(warp_crop(frame, matrix, size, grey=grey),
                                              _reference_warp(frame, matrix, size, grey))
    # The crops the pipeline cuts of the tracked face: the model's and the motion's.
    config = InputConfig(size=112)
    builder = InputBuilder(config, FPS)
    for frame, face in _faces(footage, "turn")[::5]:
        matrix, _ = builder.matrix(face)
        np.testing.assert_array_equal(builder.build(frame, face, 0, matrix=(matrix, True)).crop,
                                      _reference_warp(frame, matrix, 112, grey=False))
        motion = matrix * (config.motion_size / config.size)
        np.testing.assert_array_equal(builder.motion_patch(frame, matrix),
                                      _reference_warp(frame, motion, config.motion_size, grey=True))


def test_live_stream_converts_frames_as_pyav_does(tmp_path):
    """The stream's one converter gives each decoded frame the pixels VideoFrame.to_ndarray gives it."""
    import av

    from larnet_core.video.stream import LiveStream

    clip = make_footage("expressions", seconds=4.0, seed=5, size=(320, 240))
    path = write_footage(tmp_path / "clip.mp4", clip.frames, FPS)
    stream = LiveStream(analyzer=None)
    with av.open(str(path)) as container:
        decoded = list(container.decode(video=0))[:30]
    assert decoded[0].format.name == "yuv420p"
    for frame in decoded + [decoded[3].reformat(width=160, height=120)]:  # a camera that changes its size
        np.testing.assert_array_equal(stream._to_rgb(frame), frame.to_ndarray(format="rgb24"))


def _reference_spot_expressions(micro, macro, fps, params, segments):
    """Both scales spotted as DataFrames, micro intervals inside macro ones dropped, joined in onset order."""
    import dataclasses

    import pandas as pd

    from larnet_core.video.spotting import spot_intervals

    found_micro = spot_intervals(micro, fps, params, segments)
    found_micro = found_micro[found_micro["kind"] == "micro"]
    found_macro = spot_intervals(macro, fps, dataclasses.replace(params, min_s=params.micro_max_s), segments)
    found_macro = found_macro[found_macro["kind"] == "macro"]
    if len(found_macro) and len(found_micro):
        inside = [any(m.onset_frame <= row.offset_frame and row.onset_frame <= m.offset_frame
                      for m in found_macro.itertuples()) for row in found_micro.itertuples()]
        found_micro = found_micro[~np.asarray(inside, dtype=bool)]
    parts = [part for part in (found_micro, found_macro) if len(part)]
    if not parts:
        return None
    return pd.concat(parts, ignore_index=True).sort_values("onset_frame", kind="stable").reset_index(drop=True)


def test_two_scale_spotting_rows_match_the_dataframe_formula():
    """The stream's plain rows and the clip's table of both scales equal what the DataFrames gave, on signals with
    micro and macro movements, gaps (NaN), face segments and frames without a face."""
    import pandas as pd

    from larnet_core.video.spotting import SpottingParams, spot_expression_rows, spot_expressions

    rng = np.random.default_rng(1)
    found = 0
    for _ in range(150):
        n = int(rng.integers(3, 700))
        micro, macro = np.abs(rng.normal(0, 0.03, n)), np.abs(rng.normal(0, 0.03, n))
        for _ in range(int(rng.integers(0, 8))):  # movements: short ones on the micro signal, long on both
            at, width, height = int(rng.integers(0, n)), float(rng.uniform(0.5, 30)), float(rng.uniform(0.05, 1.5))
            bump = height * np.exp(-0.5 * ((np.arange(n) - at) / width) ** 2)
            micro += bump * (1.0 if width < 4 else rng.uniform(0, 1))
            macro += bump * (width >= 4)
        micro[rng.integers(0, n, int(rng.integers(0, 10)))] = np.nan
        segments = np.where(np.arange(n) < n * rng.uniform(0.3, 1.0), 0, 1)
        segments[:int(n * rng.uniform(0, 0.2))] = -1
        params = SpottingParams(p=float(rng.uniform(0.1, 0.5)))
        expected = _reference_spot_expressions(micro, macro, FPS, params, segments)
        table = spot_expressions(micro, macro, FPS, params, segments)
        rows = spot_expression_rows(micro, macro, FPS, params, segments)
        if expected is None:
            assert table.empty and rows == []
            continue
        found += 1
        pd.testing.assert_frame_equal(table, expected)
        assert rows == expected.to_dict("records")
    assert found > 50


def test_the_live_ring_keeps_the_crop_the_frame_was_cut_to(tmp_path):
    """A flow checkpoint's crop is cut on every frame (a possible flow reference), the model runs on every other
    one: the ring of recent frames keeps that crop instead of cutting it again, and it is the frame's crop."""
    from larnet_core.face.inputs import ModelInput, warp_crop
    from larnet_core.inference import Predictor
    from larnet_core.models import ModelCard, load_checkpoint, save_checkpoint
    from larnet_core.video import LiveAnalyzer
    from tests.live_feed import stream_file

    card = ModelCard.for_preset("larnet-lite", ["happiness", "surprise", "others"], sample_mode="flow")
    checkpoint = save_checkpoint(card.build(), card, tmp_path / "flow.pt")
    analyzer = LiveAnalyzer(Predictor(load_checkpoint(checkpoint), backend="torch"), fps_hint=FPS, async_model=False)
    assert analyzer.stream.builder.flow and analyzer.max_infer_fps < FPS
    clip = make_footage("expressions", seconds=4.0, seed=5, size=(320, 240))
    path = write_footage(tmp_path / "clip.mp4", clip.frames, FPS)
    stream_file(analyzer, path, FPS)
    frames = _read(path)
    kept = [analyzer.ring.get(index) for index in range(len(frames))]
    kept = [frame for frame in kept if frame is not None]
    assert len(kept) > 60
    for frame in kept:
        matrix = ModelInput.matrix_from_record(frame.record)
        np.testing.assert_array_equal(frame.crop, warp_crop(frames[frame.index], matrix, analyzer.input_config.size))
