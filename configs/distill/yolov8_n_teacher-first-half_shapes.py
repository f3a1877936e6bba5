# Teacher of the shapes distillation recipe: YOLOv8-n trained from scratch on the base classes
# circle, square, triangle with every training image that has one of them (833 of 1000). The
# datasets keep only these classes' boxes and number them 0..2 (`classes=` subset).
_base_ = '../yolov8/yolov8_n_shapes.py'

# ---- frequently changed ----
teacher_classes = ('circle', 'square', 'triangle')
num_classes = len(teacher_classes)
max_epochs = 6

model = dict(bbox_head=dict(head_module=dict(num_classes=num_classes)))
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
# train, val and test sets keep the teacher's classes (each merged into its own base loader)
train_dataloader = val_dataloader = test_dataloader = dict(dataset=dict(classes=teacher_classes))
