"""Rebuild larnet_core/face/data/canonical_face.npy from the meshes of the neutral frontal sample photos.

Usage: python scripts/build_canonical_face.py
"""

from larnet_core.face import sample_face_photos
from larnet_core.face.mesh import MeshFaceDetector
from larnet_core.face.pose import CANONICAL_FACE_PATH, build_canonical_face, fit_pose


def main() -> None:
    detector = MeshFaceDetector(max_faces=1)
    meshes = {}
    for name, photo in sorted(sample_face_photos().items()):
        faces = detector.detect(photo)
        if faces and faces[0].mesh3d is not None:
            meshes[name] = faces[0].mesh3d
    face = build_canonical_face(list(meshes.values()), CANONICAL_FACE_PATH)
    print(f"canonical face from {', '.join(meshes)}: {face.shape} -> {CANONICAL_FACE_PATH}")
    for name, mesh in meshes.items():
        pose = fit_pose(mesh, face)
        print(f"  {name}: yaw {pose.yaw:+.1f} pitch {pose.pitch:+.1f} roll {pose.roll:+.1f} "
              f"residual {pose.residual:.3f}")


if __name__ == "__main__":
    main()
