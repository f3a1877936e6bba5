# Teacher of the MAR20 distillation recipe (the reference recipe's "c1.nano.teacher"): YOLOv8-n
# trained on the first 10 of the 20 MAR20 classes (A1..A10). The datasets keep only these
# classes' boxes and number them 0..9 (`classes=` subset).
_base_ = '../yolov8/yolov8_n_sgd-300e_mar20.py'

# ---- frequently changed ----
teacher_classes = tuple(f'A{i}' for i in range(1, 11))
num_classes = len(teacher_classes)

model = dict(bbox_head=dict(head_module=dict(num_classes=num_classes)))
# train, val and test sets keep the teacher's classes (each merged into its own base loader)
train_dataloader = val_dataloader = test_dataloader = dict(dataset=dict(classes=teacher_classes))
