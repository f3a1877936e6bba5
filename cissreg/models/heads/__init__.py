from .aspp_head import ASPPHead
from .yolov8_head import YOLOv8Head
from .yolov8_head_module import YOLOv8HeadModule

__all__ = ['ASPPHead', 'YOLOv8Head', 'YOLOv8HeadModule']
