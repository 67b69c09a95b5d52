"""Face pipeline: detect faces, crop and align them, and keep one box per clip or a smoothed box per stream.

Typical use::

    from larnet_core.face import build_detector, largest_face, align_face

    detector = build_detector("mtcnn")              # or "haar" (fast, no landmarks)
    face = largest_face(frame_rgb, detector, what="photo.jpg")
    crop = align_face(frame_rgb, face, output_size=(224, 224))
    frame_points = crop.to_source(crop_points)     # results on the crop, drawn on the frame

The MTCNN detector imports torch and facenet-pytorch only when built.
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
from larnet_core.face.haar import HaarFaceDetector
from larnet_core.face.mtcnn import MTCNNFaceDetector
from larnet_core.face.registry import DETECTORS, available_detectors, build_detector, largest_face
from larnet_core.face.samples import sample_face_photos
from larnet_core.face.track import ClipFaceBox, FaceTrack

__all__ = [
    "AlignedFace",
    "Box",
    "ClipFaceBox",
    "DETECTORS",
    "FaceDetection",
    "FaceDetector",
    "FaceTrack",
    "HaarFaceDetector",
    "LANDMARK_NAMES",
    "MTCNNFaceDetector",
    "align_face",
    "as_rgb_uint8",
    "available_detectors",
    "box_iou",
    "build_detector",
    "crop_face",
    "detections_frame",
    "eye_angle",
    "largest_face",
    "sample_face_photos",
]
