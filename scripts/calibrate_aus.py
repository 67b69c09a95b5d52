"""Rebuild larnet_core/aus/data/calibration.json and flow_calibration.npz: each action unit's effect on the mesh
measures and on the skin's movement, measured on renderings of the grace_hopper sample photo (the astronaut photo is
kept for measuring accuracy).

The options reproduce calibrations that were tried and not adopted (docs/action-units.md, "Fourth look" and
"Fifth look"): they overwrite the stored files too (``git checkout larnet_core/aus/data`` restores them).
``--lips-apart`` rebuilds the per-frame channel alone (calibration.json; the flow channel's file is left as it
is) by least squares over every unit alone and the EMFACS combinations with and without the mouth open, with a
second model for faces whose lips are apart (``larnet_core.synth.au_calibration.calibrate_mesh``).

Usage: python scripts/calibrate_aus.py [--lips-apart] [--shapes] [--mesh-from-shapes] [--mesh-lips] [--no-shifts]
"""

import argparse

import numpy as np

from larnet_core.aus.calibration import AU_COLUMNS, CALIBRATION_PATH, FLOW_CALIBRATION_PATH
from larnet_core.synth.au_calibration import ANCHOR_SHIFTS, calibrate, calibrate_mesh
from larnet_core.synth.face_variants import TUNING_SHAPES
from larnet_core.aus.features import FEATURE_NAMES


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shapes", action="store_true",
                        help="also render the identities derived from the photo (face_variants.TUNING_SHAPES)")
    parser.add_argument("--mesh-from-shapes", action="store_true",
                        help="measure the per-frame channel on the derived identities too (with --shapes)")
    parser.add_argument("--mesh-lips", action="store_true", help="the generator's lip points from the face mesh")
    parser.add_argument("--no-shifts", action="store_true", help="no renderings with the mouth's key points moved")
    parser.add_argument("--lips-apart", action="store_true",
                        help="rebuild the per-frame channel alone, with a model for lips apart (not adopted)")
    args = parser.parse_args()
    shifts = () if args.no_shifts else ANCHOR_SHIFTS
    if args.lips_apart:
        calibration = calibrate_mesh(anchor_shifts=shifts)
        calibration.save()  # no flow response: flow_calibration.npz is left as it is
        print(f"wrote {CALIBRATION_PATH}")
        _print_leading_measures(calibration)
        return
    calibration = calibrate(anchor_shifts=shifts,
                            shapes=TUNING_SHAPES if args.shapes else (), mesh_from_shapes=args.mesh_from_shapes,
                            mesh_lips=args.mesh_lips)
    calibration.save()
    print(f"wrote {CALIBRATION_PATH} and {FLOW_CALIBRATION_PATH}")
    _print_leading_measures(calibration)


def _print_leading_measures(calibration) -> None:
    weighted = calibration.weighted()[0]  # lips together; each measure in units of its noise (and misfit)
    for column, name in enumerate(AU_COLUMNS):
        top = np.argsort(-np.abs(weighted[:, column]))[:3]
        print(f"  {name}: " + ", ".join(f"{FEATURE_NAMES[i]} {weighted[i, column]:+.1f} sd" for i in top))


if __name__ == "__main__":
    main()
