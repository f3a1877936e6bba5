# Teacher of the distillation recipe: YOLOv8-n trained on the first half of the shapes classes
# (the reference recipe's 10-class MAR20 teacher, scaled to the 6-class shapes default). The
# datasets keep only these classes' boxes and number them 0..2 (`classes=` subset).
_base_ = '../yolov8/yolov8_n_shapes.py'

# ---- frequently changed ----
teacher_classes = ('circle', 'square', 'triangle')
num_classes = len(teacher_classes)

model = dict(bbox_head=dict(head_module=dict(num_classes=num_classes)))
# train, val and test sets keep the teacher's classes (each merged into its own base loader)
train_dataloader = val_dataloader = test_dataloader = dict(dataset=dict(classes=teacher_classes))
