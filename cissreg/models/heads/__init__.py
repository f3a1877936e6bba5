from .yolov8_head import YOLOv8Head
from .yolov8_head_module import YOLOv8HeadModule

__all__ = ['YOLOv8Head', 'YOLOv8HeadModule']
