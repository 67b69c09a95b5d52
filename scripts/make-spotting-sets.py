"""Write the long-video sets behind the spotting figures of README.md and docs/clip-analysis.md.

* tuning: the development set the spotting settings were chosen on (`larnet synth OUT --long --photos --seed 100`).
* earlier: the set the earlier README figure came from (`--seed 1`), same generator settings as the tuning set.
* test: a set that shares no seed and no scenario mix with the other two: three micro- and two
  macro-expressions per 30 s video (not two and one in 20 s), blinks, a smaller face (30 % of the frame height,
  not 36 %), more camera noise (2.5 grey levels, not 1.5), and seed 7001. The faces are the same two sample
  photographs (Grace Hopper, Eileen Collins): no other face photograph ships with the installed packages.

Usage: python scripts/make-spotting-sets.py OUT   (writes OUT/tuning, OUT/earlier, OUT/test)
"""

from __future__ import annotations

import sys
from pathlib import Path

from larnet_core.synth.photo_long_videos import generate_photo_long_videos

SETS = {
    "tuning": dict(seed=100),
    "earlier": dict(seed=1),
    "test": dict(seed=7001, seconds=30.0, micro_per_video=3, macro_per_video=2, blinks=True, face_px=144,
                 noise=2.5),
}


def main(out: str) -> None:
    for name, options in SETS.items():
        manifest = generate_photo_long_videos(Path(out) / name, n_videos=4, write_video=False, overwrite=True,
                                              **options)
        print(name, options, manifest.root if hasattr(manifest, "root") else "")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python scripts/make-spotting-sets.py OUT")
    main(sys.argv[1])
