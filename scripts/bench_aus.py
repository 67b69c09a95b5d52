"""Per-frame cost of what head pose and action units add to a frame: the pose fit and mesh measures of one face,
the AU intensities against its neutral (a non-negative least-squares fit), the colours the occlusion check reads
and its live update, the homography registration of its motion crop, the removal of the head's rigid flow
(one per flow computed), and a reading of the units from the skin's movement against a reference frame (ten a
second per face).

Usage: python scripts/bench_aus.py   (times are medians of 300 runs on one thread)
"""

import time

import cv2
import numpy as np

from larnet_core.aus.estimate import AuTracker, measure_mesh
from larnet_core.aus.flow import crop_intensities, face_crop, neutral_model
from larnet_core.aus.reference_flow import sample_stride
from larnet_core.face import sample_face_photos
from larnet_core.face.mesh import MeshFaceDetector
from larnet_core.face.occlusion import OcclusionTracker, face_appearance
from larnet_core.face.head_compensation import compensate, registered_patch, rigid_model


def _median_ms(run, repeats: int = 300) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def main() -> None:
    cv2.setNumThreads(1)
    photo = sample_face_photos()["grace_hopper"]
    mesh = MeshFaceDetector(max_faces=1).detect(photo)[0].mesh3d
    x0, y0 = mesh[:, :2].min(axis=0)
    x1, _ = mesh[:, :2].max(axis=0)
    scale = 96 / (x1 - x0) * 0.8
    matrix = np.array([[scale, 0, 10 - x0 * scale], [0, scale, 10 - y0 * scale]])
    model = rigid_model(mesh, matrix, 96)
    rng = np.random.default_rng(0)
    flow = rng.normal(0, 0.3, (96, 96, 2)).astype(np.float32)
    measure = _median_ms(lambda: measure_mesh(mesh))
    register = _median_ms(lambda: registered_patch(photo, mesh[:, :2], model.points, 96))
    remove = _median_ms(lambda: compensate(flow, model))
    tracker = AuTracker(30.0)
    tracker.update_measure(measure_mesh(mesh))  # the neutral
    moved = mesh + rng.normal(0, 0.004 * (x1 - x0), mesh.shape)  # a face that moved: the fit has work to do
    measured = measure_mesh(moved)
    units = _median_ms(lambda: tracker.update_measure(measured))
    occlusion = OcclusionTracker(30.0)
    appearance = face_appearance(photo, mesh)
    colours = _median_ms(lambda: face_appearance(photo, mesh))
    covered = _median_ms(lambda: occlusion.update(appearance))
    # The per-frame units read from the skin's movement (reference_flow): one reading every sample_stride frames.
    reference = face_crop(photo, mesh)
    current = face_crop(photo, moved)
    reference_model = neutral_model(reference)
    reading = _median_ms(lambda: crop_intensities(reference, current, reference_model), 100)
    new_reference = _median_ms(lambda: neutral_model(reference), 100)
    small = model.scaled(64 / 96, 64)
    remove_macro = _median_ms(lambda: compensate(flow[:64, :64].copy(), small))
    print(f"pose fit + mesh measures (per face and frame): {measure:.3f} ms")
    print(f"AU intensities, live tracker (per face/frame): {units:.3f} ms")
    print(f"occlusion colours + live check (per face/frame): {colours:.3f} + {covered:.3f} ms")
    print(f"motion crop registration (per face and frame): {register:.3f} ms")
    print(f"rigid flow removal, 96 px crop (per flow):      {remove:.3f} ms")
    print(f"rigid flow removal, 64 px crop (per flow):      {remove_macro:.3f} ms")
    print("a frame computes about one micro and one macro flow per face (two at a segment's end)")
    stride = sample_stride(30.0)
    print(f"AU reading from the skin's movement (per reading): {reading:.3f} ms, one every {stride} frames at 30 fps "
          f"({reading / stride:.3f} ms a frame); a new reference's rigid model {new_reference:.3f} ms")


if __name__ == "__main__":
    main()
