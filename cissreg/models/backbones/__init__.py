from .resnet import TorchvisionResNet, dilate_stage
from .yolov8_csp_darknet import YOLOv8CSPDarknet

__all__ = ['TorchvisionResNet', 'dilate_stage', 'YOLOv8CSPDarknet']
