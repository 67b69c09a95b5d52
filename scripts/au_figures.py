"""Per-AU precision, recall and F1 of the action-unit estimates on generated renderings of a sample photo the
calibration did not use (astronaut; calibration: grace_hopper): each unit alone and the EMFACS combinations the
generator can draw, at a micro-expression's and a macro-expression's intensity, plain and mirrored, at two face
sizes, read from the skin's movement between the neutral photo and the rendering (the interval channel) and from
the mesh alone against the neutral (the per-frame channel).

With ``--diagnose`` it also prints, for each unit rendered alone at the macro intensity, the mean intensity the
two channels give every unit (the strongest three): which units a unit is mistaken for.

Usage: python scripts/au_figures.py [--photo astronaut] [--diagnose]
"""

import argparse

import numpy as np

from larnet_core.aus.estimate import active_units, intensities, measure_mesh
from larnet_core.aus.evaluate import score_sets
from larnet_core.aus.flow import expression_intensities
from larnet_core.aus.names import AU_NUMBERS
from larnet_core.aus.rules import au_numbers
from larnet_core.face.mesh import MeshFaceDetector
from larnet_core.synth.action_units import apply_action_units
from larnet_core.synth.photo_faces import head_layer

COMBINATIONS = [(6, 12), (1, 2), (1, 2, 5), (1, 4, 15), (4, 7), (4, 9), (1, 2, 4, 20), (15, 17), (9, 15)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photo", default="astronaut")
    parser.add_argument("--diagnose", action="store_true", help="print what each unit alone is read as")
    args = parser.parse_args()
    alone: dict[tuple[str, int], list[np.ndarray]] = {}
    detector = MeshFaceDetector(max_faces=1)
    cases = [(n,) for n in AU_NUMBERS if n != 43] + COMBINATIONS
    results = {"flow": ([], []), "mesh": ([], [])}
    for size in (160, 220):
        base = head_layer(args.photo, size)
        for layer in (base, base.mirrored()):
            neutral_mesh = detector.detect(layer.image)[0].mesh3d
            neutral_features = measure_mesh(neutral_mesh).features
            for units in cases:
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
                        results[channel][0].append(truth)
                        results[channel][1].append(au_numbers(active_units(values)))
    for channel, (coded, estimated) in results.items():
        table, micro, macro = score_sets(coded, estimated)
        print(f"\n{channel} channel on {args.photo} ({len(coded)} renderings): micro F1 {micro:.2f}, macro F1 "
              f"{macro:.2f}")
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


if __name__ == "__main__":
    np.set_printoptions(precision=2)
    main()
