"""Rebuild larnet_core/aus/data/calibration.json: each action unit's effect on the mesh measures, measured on
renderings of the grace_hopper sample photo (the astronaut photo is kept for measuring accuracy).

Usage: python scripts/calibrate_aus.py
"""

import numpy as np

from larnet_core.aus.calibration import AU_COLUMNS, CALIBRATION_PATH, FLOW_CALIBRATION_PATH
from larnet_core.synth.au_calibration import calibrate
from larnet_core.aus.features import FEATURE_NAMES


def main() -> None:
    calibration = calibrate()
    calibration.save()
    print(f"wrote {CALIBRATION_PATH} and {FLOW_CALIBRATION_PATH}")
    weighted = calibration.response / calibration.noise[:, None]
    for column, name in enumerate(AU_COLUMNS):
        top = np.argsort(-np.abs(weighted[:, column]))[:3]
        print(f"  {name}: " + ", ".join(f"{FEATURE_NAMES[i]} {weighted[i, column]:+.1f} sd" for i in top))


if __name__ == "__main__":
    main()
