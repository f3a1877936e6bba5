"""configs/yolov8: tiny detection runs (see tiny/_detection.py)."""
from ._detection import check, make_tiny  # noqa: F401
