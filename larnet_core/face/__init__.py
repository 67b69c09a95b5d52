"""Face pipeline: detect and track faces, and make the model's input from them on one road.

Typical use::

    from larnet_core.face import build_detector, largest_face, InputConfig, photo_model_input

    detector = build_detector("mediapipe")          # or "mtcnn" (5 landmarks), "haar" (fast, boxes)
    face = largest_face(frame_rgb, detector, what="photo.jpg")
    model_input, face = photo_model_input(photo, InputConfig.for_card(card))   # aligned crop + its transform
    heat_on_frame = model_input.aligned_face.map_to_source(heat_map, (width, height))

Per-frame tracking of every face in a clip or stream (ids, boxes, dense landmarks, shot cuts)::

    tracker = FaceTracker("auto", fps=30.0)         # MediaPipe Face Mesh when installed
    for frame in frames:
        tracked = tracker.update(frame)             # TrackedFrame: .faces (sorted by face_id), .cut

The MTCNN detector imports torch and facenet-pytorch, and the MediaPipe ones mediapipe, only when built.
"""

from larnet_core.face.align import AlignedFace, align_face, crop_face, eye_angle
from larnet_core.face.base import (
    LANDMARK_NAMES,
    Box,
    FaceDetection,
    FaceDetector,
    as_rgb_uint8,
    box_iou,
    detections_frame,
)
from larnet_core.face.cuts import ShotCutDetector
from larnet_core.face.haar import HaarFaceDetector
from larnet_core.face.inputs import InputBuilder, InputConfig, ModelInput, build_photo_input, photo_model_input
from larnet_core.face.mesh import MESH_POINTS, MESH_REGIONS, MeshFaceDetector, landmarks_from_mesh, region_boxes
from larnet_core.face.mtcnn import MTCNNFaceDetector
from larnet_core.face.registry import DETECTORS, available_detectors, build_detector, largest_face
from larnet_core.face.samples import sample_face_photos
from larnet_core.face.tracking import (
    TRACKER_BACKENDS,
    FaceTracker,
    TrackedFace,
    TrackedFrame,
    main_face_id,
    summarize_tracks,
)

__all__ = [
    "AlignedFace",
    "Box",
    "DETECTORS",
    "FaceDetection",
    "FaceDetector",
    "HaarFaceDetector",
    "InputBuilder",
    "InputConfig",
    "ModelInput",
    "build_photo_input",
    "photo_model_input",
    "FaceTracker",
    "LANDMARK_NAMES",
    "MESH_POINTS",
    "MESH_REGIONS",
    "MTCNNFaceDetector",
    "MeshFaceDetector",
    "ShotCutDetector",
    "TRACKER_BACKENDS",
    "TrackedFace",
    "TrackedFrame",
    "align_face",
    "as_rgb_uint8",
    "available_detectors",
    "box_iou",
    "build_detector",
    "crop_face",
    "detections_frame",
    "eye_angle",
    "landmarks_from_mesh",
    "largest_face",
    "main_face_id",
    "region_boxes",
    "sample_face_photos",
    "summarize_tracks",
]
