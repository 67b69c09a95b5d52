"""Per-AU precision, recall and F1 of the action-unit estimates on generated renderings of a sample photo the
calibration did not use (astronaut; calibration: grace_hopper): each unit alone and the EMFACS combinations the
generator can draw, at a micro-expression's and a macro-expression's intensity, plain and mirrored, at two face
sizes, scored without and with the open-mouth combinations (a laugh, surprise and fear with the jaw dropped:
``OPEN_MOUTH_COMBINATIONS``, added later, so the figures measured before stay comparable), read from the skin's
movement between the neutral photo and the rendering (the interval channel) and from the mesh alone against the
neutral (the per-frame channel).

With ``--diagnose`` it also prints, for each unit rendered alone at the macro intensity, the mean intensity the
two channels give every unit (the strongest three); for each unit rendered alone (both intensities), the units
read present beside or instead of it and in how many of its renderings (the confusion); and, for the units that
move the jaw and lips, how far the chin and the lower lip move (eye distances, down positive) with the lower face
in the head's fitted movement (what the calibration uses) and without it.

``--shift`` renders the mouth's key points moved by that many eye distances (several values: several
placements): on the calibration photo (``--photo grace_hopper``), at placements the calibration did not render,
this is the set the choices are made on, never the held-out photo.

``--shapes check`` measures on the identities derived from the photo that the calibration never renders
(:data:`larnet_core.synth.face_variants.CHECK_SHAPES`: other jaws, chins and lips, from the tuning photo with
``--photo grace_hopper``), instead of the photo itself; ``--shapes tuning`` on the ones it renders, ``--shapes
photo`` (the default) on the photo alone. ``--mesh-lips`` places the generator's lip points from the face mesh
rather than as the mouth corners guess them (the calibration must have been made the same way to compare).

Usage: python scripts/au_figures.py [--photo astronaut] [--shapes photo|check|tuning] [--diagnose]
    [--shift -0.15 0 0.15] [--mesh-lips]
"""

import argparse
import dataclasses
from collections import Counter

import numpy as np

from larnet_core.aus.estimate import active_units, intensities, measure_mesh
from larnet_core.aus.evaluate import score_sets
from larnet_core.aus.flow import expression_intensities, point_displacements
from larnet_core.aus.names import AU_NUMBERS
from larnet_core.aus.rules import au_numbers
from larnet_core.face.mesh import MeshFaceDetector
from larnet_core.synth.action_units import apply_action_units
from larnet_core.synth.au_calibration import EMFACS_COMBINATIONS, OPEN_MOUTH_COMBINATIONS, _mouth_shifted
from larnet_core.synth.face_variants import CHECK_SHAPES, TUNING_SHAPES, derived_layer
from larnet_core.synth.photo_faces import head_layer

_JAW_UNITS = (17, 24, 25, 26)
_CHIN, _LOWER_LIP = 152, 17
# The cases: the EMFACS combinations scored since the first figures, and the open-mouth ones, scored apart too so
# the figures measured before they were added stay comparable (the per-frame calibration renders the same sets on
# the tuning photo).
COMBINATIONS = EMFACS_COMBINATIONS


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photo", default="astronaut")
    parser.add_argument("--diagnose", action="store_true", help="print what each unit alone is read as")
    parser.add_argument("--shift", type=float, nargs="+", default=[0.0],
                        help="move the mouth's key points by these eye distances (one placement each)")
    parser.add_argument("--shapes", choices=("photo", "check", "tuning"), default="photo",
                        help="the photo itself, or the identities derived from it (never or always calibrated on)")
    parser.add_argument("--mesh-lips", action="store_true",
                        help="lip points measured by the face mesh instead of guessed from the mouth corners")
    args = parser.parse_args()
    shapes = {"photo": (), "check": CHECK_SHAPES, "tuning": TUNING_SHAPES}[args.shapes]
    alone: dict[tuple[str, int], list[np.ndarray]] = {}
    confused: dict[tuple[str, int], Counter] = {}
    counts: Counter = Counter()
    jaw: dict[tuple[int, bool], list[np.ndarray]] = {}
    detector = MeshFaceDetector(max_faces=1)
    cases = [(n,) for n in AU_NUMBERS if n != 43] + COMBINATIONS + OPEN_MOUTH_COMBINATIONS
    results = {"flow": ([], [], []), "mesh": ([], [], [])}
    for size in (160, 220):
        base = head_layer(args.photo, size, mesh_lips=args.mesh_lips)
        faces = [derived_layer(base, shape) for shape in shapes] if shapes else [base]
        for plain in (layer for face in faces for layer in (face, face.mirrored())):
            neutral_mesh = detector.detect(plain.image)[0].mesh3d
            neutral_features = measure_mesh(neutral_mesh).features
            placements = [dataclasses.replace(plain, landmarks=_mouth_shifted(plain.landmarks, shift))
                          if shift else plain for shift in args.shift]
            for layer, units in ((layer, units) for layer in placements for units in cases):
                for strength in (1.3, 2.5):
                    shown = apply_action_units(layer.image, layer.landmarks, {u: strength for u in units})
                    faces = detector.detect(shown)
                    if not faces:
                        continue
                    mesh = faces[0].mesh3d
                    truth = set(units)
                    flow = expression_intensities(layer.image, neutral_mesh, shown, mesh)
                    geometry = intensities(measure_mesh(mesh).features - neutral_features)
                    for channel, values in (("flow", flow), ("mesh", geometry)):
                        if len(units) == 1 and strength == 2.5:
                            alone.setdefault((channel, units[0]), []).append(values)
                        if len(units) == 1:
                            counts[(channel, units[0])] += 1
                            confused.setdefault((channel, units[0]), Counter()).update(
                                au_numbers(active_units(values)) - truth)
                        results[channel][0].append(truth)
                        results[channel][1].append(au_numbers(active_units(values)))
                        results[channel][2].append(units not in OPEN_MOUTH_COMBINATIONS)
                    if args.diagnose and len(units) == 1 and units[0] in _JAW_UNITS and strength == 2.5:
                        for in_fit in (True, False):
                            moved = point_displacements(layer.image, neutral_mesh, shown, mesh, jaw_in_fit=in_fit)
                            jaw.setdefault((units[0], in_fit), []).append(moved[[_CHIN, _LOWER_LIP], 1])
    for channel, (coded, estimated, old) in results.items():
        for cases_name, keep in (("old cases", old), ("with the open-mouth combinations", [True] * len(old))):
            kept = [(c, e) for c, e, k in zip(coded, estimated, keep) if k]
            table, micro, macro = score_sets([c for c, _ in kept], [e for _, e in kept])
            print(f"\n{channel} channel on {args.photo} ({args.shapes}, {cases_name}, {len(kept)} renderings): "
                  f"micro F1 {micro:.2f}, macro F1 {macro:.2f}")
            print("| AU | support | precision | recall | F1 |\n|---|---|---|---|---|")
            for row in table[table["support"] > 0].itertuples():
                print(f"| {row.au} | {row.support} | {row.precision:.2f} | {row.recall:.2f} | {row.f1:.2f} |")
    if args.diagnose:
        print("\nEach unit alone at 2.5, mean intensities read (strongest three), flow channel | mesh channel:")
        for number in AU_NUMBERS:
            if ("flow", number) not in alone:
                continue
            cells = []
            for channel in ("flow", "mesh"):
                mean = np.mean(alone[(channel, number)], axis=0)
                top = np.argsort(-mean)[:3]
                cells.append(" ".join(f"AU{AU_NUMBERS[i]} {mean[i]:.2f}" for i in top))
            print(f"AU{number}: " + " | ".join(cells))
        print("\nEach unit alone (both intensities): units read beside or instead of it, share of its renderings, "
              "flow channel | mesh channel:")
        for number in AU_NUMBERS:
            if ("flow", number) not in counts:
                continue
            cells = []
            for channel in ("flow", "mesh"):
                total = counts[(channel, number)]
                cells.append(" ".join(f"AU{n} {k / total:.2f}" for n, k in confused[(channel, number)].most_common(3))
                             or "none")
            print(f"AU{number}: " + " | ".join(cells))
        print("\nChin (point 152) and lower lip (point 17) vertical movement at 2.5, eye distances (down positive), "
              "lower face in the head's fit | left out of it:")
        for number in _JAW_UNITS:
            cells = [" ".join(f"{v:+.3f}" for v in np.mean(jaw[(number, in_fit)], axis=0)) for in_fit in (True, False)]
            print(f"AU{number}: " + " | ".join(cells))


if __name__ == "__main__":
    np.set_printoptions(precision=2)
    main()
