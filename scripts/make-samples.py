"""Make the dashboard's sample clips: public-domain face photos animated with synthetic micro-expressions.

Writes ``assets/samples/<name>.mp4`` (H.264) and ``<name>.truth.json`` (expressions, blinks, provenance) for:

* ``grace_hopper_happiness`` - Grace Hopper (US Navy photograph, public domain; shipped with matplotlib),
  30 fps, one happiness micro-expression and a blink;
* ``astronaut_surprise_disgust`` - Eileen Collins (NASA photograph, public domain; shipped with
  scikit-image, a test dependency), 60 fps, a surprise and a disgust micro-expression and a blink.

The expressions are action-unit deformations from ``larnet_core.synth``, placed with the MTCNN (else Haar)
face landmarks of each photo; nobody made these expressions. Run from the repository root:

    .venv/bin/python scripts/make-samples.py [--out assets/samples]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from larnet_core.face import sample_face_photos
from larnet_core.synth import photo_landmarks, sample_action_units
from larnet_core.video.writer import export_clip_video
from larnet_core.synth.render import Expression, render_frames
from larnet_core.synth.timing import blink_curve, head_motion

NOTICE = ("Synthetic animation of a public-domain photograph: the micro-expressions are generated action-unit "
          "deformations (larnet_core.synth), not expressions the person made. For demonstrating the software only.")

PHOTOS = {
    "grace_hopper": "Grace Hopper, US Navy photograph (public domain), from matplotlib's sample data",
    "astronaut": "Eileen Collins, NASA photograph (public domain), from scikit-image's sample data",
}


@dataclass(frozen=True)
class Planned:
    """One expression on a sample's timeline, in seconds."""

    emotion: str
    onset_s: float
    apex_s: float
    offset_s: float


@dataclass(frozen=True)
class Sample:
    name: str
    photo: str
    fps: float
    seconds: float
    expressions: tuple[Planned, ...]
    blink_s: float
    seed: int


SAMPLES = (
    Sample("grace_hopper_happiness", "grace_hopper", 30.0, 2.5, (Planned("happiness", 0.70, 0.83, 1.00),), 1.75, 1),
    Sample("astronaut_surprise_disgust", "astronaut", 60.0, 2.5,
           (Planned("surprise", 0.50, 0.62, 0.80), Planned("disgust", 1.60, 1.75, 1.95)), 1.15, 2),
)


def make_sample(sample: Sample, photo: np.ndarray, out: Path) -> dict:
    marks, _box, detector = photo_landmarks(photo)  # MTCNN's five points when available, else Haar
    rng = np.random.default_rng(sample.seed)
    n = int(round(sample.seconds * sample.fps))
    expressions, truth = [], []
    for planned in sample.expressions:
        onset, apex, offset = (int(round(t * sample.fps)) for t in (planned.onset_s, planned.apex_s, planned.offset_s))
        aus = sample_action_units(planned.emotion, rng, peak=(0.85, 1.0))
        expressions.append(Expression(aus, onset, apex, offset, 1.3))
        truth.append({
            "kind": "micro", "emotion": planned.emotion,
            "action_units": "+".join(str(k) for k in aus), "onset_frame": onset, "apex_frame": apex,
            "offset_frame": offset, "onset_s": onset / sample.fps, "apex_s": apex / sample.fps,
            "offset_s": offset / sample.fps, "duration_s": (offset - onset) / sample.fps,
        })
    blink_start = sample.blink_s * sample.fps
    close, reopen = 0.08 * sample.fps, 0.15 * sample.fps
    eyelids = blink_curve(n, blink_start, close, reopen, depth=0.9)
    motion = head_motion(rng, n, sample.fps, 0.3, 0.05)
    frames = render_frames(photo, marks, n, expressions, eyelids=eyelids, motion=motion, noise_sigma=1.0, rng=rng)
    video = export_clip_video(frames, out / f"{sample.name}.mp4", fps=sample.fps)
    record = {
        "name": sample.name,
        "video": video.name,
        "notice": NOTICE,
        "photo": PHOTOS[sample.photo],
        "fps": sample.fps,
        "frame_count": n,
        "width": int(photo.shape[1]),
        "height": int(photo.shape[0]),
        "frame_positions": "0-based, inclusive",
        "expressions": truth,
        "blinks": [{"start_frame": int(blink_start), "end_frame": int(blink_start + close + reopen),
                    "start_s": blink_start / sample.fps, "duration_s": (close + reopen) / sample.fps}],
        "landmarks_from": detector,
        "generator": "scripts/make-samples.py (larnet_core.synth action units)",
        "seed": sample.seed,
    }
    (out / f"{sample.name}.truth.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="assets/samples", help="output folder (default assets/samples)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    photos = sample_face_photos()
    for sample in SAMPLES:
        if sample.photo not in photos:
            print(f"skipping {sample.name}: the {sample.photo} photo needs scikit-image (pip install -r "
                  "requirements-test.txt)")
            continue
        record = make_sample(sample, photos[sample.photo], out)
        size = (out / record["video"]).stat().st_size
        print(f"wrote {record['video']} ({record['frame_count']} frames at {record['fps']:g} fps, {size / 1024:.0f} kB) "
              f"and {sample.name}.truth.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
