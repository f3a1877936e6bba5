# The student of ./cwd-kl_yolov8_n_sgd-300e_mar20.py (YOLOv8-n, all 20 MAR20 classes) trained
# without a teacher: the baseline of the distillation recipe. MAR20's location: `data_root` in
# configs/_base_/datasets/mar20_detection.py.
_base_ = '../yolov8/yolov8_n_sgd-300e_mar20.py'
