"""What the per-frame AU lanes show on generated footage of both sample photos (the tuning photo, grace_hopper,
and the held-out one, astronaut): on the frames with no expression, the share where any unit but AU43 reaches
``ACTIVE_LEVEL`` (and each unit's share above 2 %); at each rendered expression's apex (the median of the apex
frame and its two neighbours), the units read against the units rendered; for each rendered unit, the lane's peak
within the expression and its frame against the rendered apex, beside the spotted interval's reading (the lanes at
its apex frame, which are that reading); and the spotted intervals' units.

The scenarios are those of ``larnet_core.synth.footage``: a head that turns and nods, a hand over the mouth,
sunglasses, blinks, a face that enters, a shot cut, two faces (each face's lanes), two micro-expressions of a still
face, an expression while the head moves, and the story (a sadness through a turn, wide eyes under
a hand, a laugh through a nod). The model plays no part in the action units: an untrained larnet-lite stands in.

Usage: python scripts/au_lane_figures.py [--seed 5] [--scenarios head_turn_and_nod ...]
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np

from larnet_core.aus.estimate import ACTIVE_LEVEL
from larnet_core.aus.names import AU_COLUMNS
from larnet_core.inference import Predictor
from larnet_core.models import ModelCard, load_checkpoint, save_checkpoint
from larnet_core.synth.footage import make_footage, write_footage
from larnet_core.video.analysis import analyze_clip

SCENARIOS = ("head_turn_and_nod", "hand_over_mouth", "sunglasses", "blinking", "face_enters", "shot_cut",
             "two_faces", "expressions", "expression_while_moving", "crying_surprise_laugh")
_UNITS = [name for name in AU_COLUMNS if name != "AU43"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--scenarios", nargs="+", default=[s for s in SCENARIOS if s != "expressions"],
                        choices=SCENARIOS, help="footage to read (default: all but the micro-expressions)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        card = ModelCard.for_preset("larnet-lite", ["happiness", "surprise", "others"])
        predictor = Predictor(load_checkpoint(save_checkpoint(card.build(), card, work / "untrained.pt")))
        for name in args.scenarios:
            # Two faces are one of each photo at once.
            for photo in (("grace_hopper+astronaut",) if name == "two_faces" else ("grace_hopper", "astronaut")):
                options = {} if name == "two_faces" else {"photo": photo}
                footage = make_footage(name, seed=args.seed, **options)
                path = write_footage(work / f"{name}.mp4", footage.frames, footage.truth.fps)
                analysis = analyze_clip(path, predictor, max_infer_fps=10.0, all_faces=True)
                for face_id, frames in analysis.tables.items():
                    label = name if len(analysis.tables) == 1 else f"{name} (face {face_id})"
                    face_intervals = analysis.intervals[analysis.intervals["face_id"] == face_id]
                    _report(label, photo, footage.truth, frames,
                            analysis.intervals if len(analysis.tables) == 1 else face_intervals)
                print(f"  intervals: {', '.join(analysis.intervals['aus']) or 'none'}")


def _report(name: str, photo: str, truth, frames, intervals) -> None:
    number = frames["frame"].to_numpy()
    calm = frames["face_found"].to_numpy(dtype=bool).copy()
    for expression in truth.expressions:
        calm &= (number < expression.onset - 5) | (number > expression.offset + 5)
    hot = frames.loc[calm, _UNITS] >= ACTIVE_LEVEL
    shares = {unit: round(float(share), 2) for unit, share in hot.mean().items() if share > 0.02}
    print(f"{name}, {photo}: {int(calm.sum())} frames with no expression, any unit on "
          f"{hot.any(axis=1).mean():.0%} {shares or ''}")
    for expression in truth.expressions:
        around = frames.loc[np.abs(number - expression.apex) <= 1, _UNITS].median()
        read = "+".join(unit.replace("AU0", "AU") for unit, value in around.items() if value >= ACTIVE_LEVEL)
        rendered = "+".join(f"AU{n}" for n in sorted(expression.aus))
        print(f"  {expression.emotion} (rendered {rendered}): apex reads {read or 'nothing'}")
        print(f"    lanes: {_peaks(expression, frames, intervals)}")


def _peaks(expression, frames, intervals) -> str:
    """Each rendered unit's lane peak within the expression (value, frames from the rendered apex) and the reading
    of the spotted interval around the rendered apex (the lanes at the interval's apex frame)."""
    hit = [row for row in intervals.itertuples() if row.onset_frame <= expression.apex <= row.offset_frame]
    interval = min(hit, key=lambda row: abs(row.apex_frame - expression.apex)) if hit else None
    during = frames[(frames["frame"] >= expression.onset) & (frames["frame"] <= expression.offset)]
    parts = []
    for number in sorted({int("".join(c for c in str(unit) if c.isdigit())) for unit in expression.aus}):
        column = f"AU{number:02d}"
        lane = during[column].to_numpy(dtype=np.float64)
        if not np.isfinite(lane).any():
            parts.append(f"AU{number} no reading")
            continue
        peak = int(np.nanargmax(lane))
        text = f"AU{number} peak {lane[peak]:.2f} at {int(during['frame'].iloc[peak]) - expression.apex:+d}"
        if interval is not None:
            text += f" (interval {frames.loc[frames['frame'] == interval.apex_frame, column].iloc[0]:.2f})"
        parts.append(text)
    return ", ".join(parts) + ("" if interval is not None else "; not spotted")


if __name__ == "__main__":
    main()
