"""Write the long-video sets behind the spotting figures of README.md and docs/clip-analysis.md.

Every set is photo long videos (`larnet_core.synth.generate_photo_long_videos`, four videos each) of the two
sample photographs (Grace Hopper, Eileen Collins): no other face photograph ships with the installed packages.
Each set has its own seed; what each one is for:

* tuning (seed 100): where the motion and spotting settings of the head-motion compensation were chosen
  (`larnet synth OUT --long --photos --seed 100`). No blinks, no head movement during an expression.
* development (seed 2207): where the blink rule and the macro scale's exclusions were chosen. 30 s videos
  with 3 micro- and 2 macro-expressions, blinks every 2-5 s, 2 of the 5 expressions with a head turn or nod
  across them, the expression-free turn and nod, a face 32 % of the frame height (154 px) and camera noise
  2.0: what real footage has and the tuning set lacks, without copying the test set's mix.
* earlier (seed 1): the set the earlier README figure came from, same generator settings as the tuning set.
* test (seed 7001): held out; scored once, after everything was chosen, and never used to choose anything:
  three micro- and two macro-expressions per 30 s video, blinks, a smaller face (30 % of the frame height,
  not 36 %), more camera noise (2.5 grey levels, not 1.5).

Usage: python scripts/make-spotting-sets.py OUT [SET ...]   (writes OUT/tuning, OUT/development, OUT/earlier,
OUT/test, or only the sets named)
"""

from __future__ import annotations

import sys
from pathlib import Path

from larnet_core.synth.photo_long_videos import generate_photo_long_videos

SETS = {
    "tuning": dict(seed=100),
    "development": dict(seed=2207, seconds=30.0, micro_per_video=3, macro_per_video=2, blinks=True,
                        moving_expressions=2, face_px=154, noise=2.0),
    "earlier": dict(seed=1),
    "test": dict(seed=7001, seconds=30.0, micro_per_video=3, macro_per_video=2, blinks=True, face_px=144,
                 noise=2.5),
}


def main(out: str, names: list[str]) -> None:
    unknown = [name for name in names if name not in SETS]
    if unknown:
        sys.exit(f"unknown set(s) {', '.join(unknown)}; choose from {', '.join(SETS)}")
    for name in names or list(SETS):
        options = SETS[name]
        manifest = generate_photo_long_videos(Path(out) / name, n_videos=4, write_video=False, overwrite=True,
                                              **options)
        print(name, options, manifest.root)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python scripts/make-spotting-sets.py OUT [SET ...]")
    main(sys.argv[1], sys.argv[2:])
