# YOLOv8-s on COCO: the n recipe at ultralytics' s scale (deepen, widen, last stage =
# 0.33, 0.5, 1024) with s-size augmentation (affine scale 0.5, no mixup).
_base_ = './yolov8_n_8xb16-500e_coco.py'

model = _base_.model_scales['s']
