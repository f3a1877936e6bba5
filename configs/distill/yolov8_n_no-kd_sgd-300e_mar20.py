# The student of ./cwd-kl_yolov8_n_sgd-300e_mar20.py (YOLOv8-n, all 20 MAR20 classes) trained
# without a teacher: the baseline of the distillation recipe.
_base_ = '../yolov8/yolov8_n_sgd-300e_mar20.py'

# ---- frequently changed ----
data_root = 'data/MAR20/'  # local copy of MAR20 in its VOC layout

train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
