from .resnet import TorchvisionResNet, dilate_stage
from .small_convnet import SmallConvNet
from .torchvision_vit import TorchvisionViT, dino_to_torchvision
from .yolov8_csp_darknet import YOLOv8CSPDarknet

__all__ = ['TorchvisionResNet', 'dilate_stage', 'YOLOv8CSPDarknet', 'TorchvisionViT',
           'dino_to_torchvision', 'SmallConvNet']
