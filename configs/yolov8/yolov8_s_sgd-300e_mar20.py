# YOLOv8-s on MAR20: the n recipe at ultralytics' s scale (deepen, widen, last stage =
# 0.33, 0.5, 1024) with s-size augmentation (affine scale 0.5, no mixup).
_base_ = './yolov8_n_sgd-300e_mar20.py'

model = _base_.model_scales['s']
