"""The onset -> apex flow images of flow samples: made in :mod:`larnet_core.face.flow`, with the other model
inputs (clip analysis and live make them too); named here for ``from larnet_core.data import compute_flow_image``."""

from larnet_core.face.flow import FLOW_METHODS, compute_flow, compute_flow_image, tvl1_available

__all__ = ["FLOW_METHODS", "compute_flow", "compute_flow_image", "tvl1_available"]
