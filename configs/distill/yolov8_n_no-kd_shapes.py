# The student of ./cwd-kl_yolov8_n_shapes.py (YOLOv8-n, all 6 shapes classes) trained without a
# teacher: the baseline of the distillation table (docs/en/methods/distillation.md).
_base_ = '../yolov8/yolov8_n_shapes.py'
