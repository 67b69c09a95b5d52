"""User-facing errors. Each says what is wrong and what to do; the CLI prints it as one line."""

from __future__ import annotations

__all__ = [
    "LarnetError",
    "CheckpointError",
    "DatasetError",
    "VideoError",
    "ImageError",
    "NoFaceError",
    "BundleError",
    "SessionNotFound",
    "PermissionDenied",
    "Cancelled",
]


class LarnetError(Exception):
    """Base class for errors caused by user input (files, arguments), not by bugs."""


class CheckpointError(LarnetError):
    """A checkpoint file is missing, corrupt, truncated or not a LARNet checkpoint."""


class DatasetError(LarnetError):
    """A dataset tree or annotation file does not have the expected layout or content."""


class VideoError(LarnetError):
    """A video or frame archive cannot be read, or breaks a safety limit."""


class ImageError(LarnetError):
    """An image cannot be decoded, or declares more pixels than the limit allows."""


class NoFaceError(LarnetError):
    """No face was found where one was required."""


class BundleError(LarnetError):
    """A session bundle (.larnet.zip) failed validation; nothing was written."""


class SessionNotFound(LarnetError):
    """No saved session has the given id."""


class PermissionDenied(LarnetError):
    """The action needs the session's edit token."""


class Cancelled(LarnetError):
    """A long-running job was cancelled by its caller."""
