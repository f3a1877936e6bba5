# Procedural shapes (6 classes, 256 px), generated under `data_root` on first use, VOC layout;
# det_loaders.py's batch sizes (16) and workers (2).
_base_ = './det_loaders.py'
data_root = 'data/shapes/'
img_scale = (256, 256)  # (w, h)
shapes_cfg = dict(seed=0, num_train=1000, num_val=200, img_size=256)

pre_transform = _base_.pre_transform
last_transform = _base_.last_transform
# The default (yolov8_n_shapes.py): HSV -> letterbox -> flip.
train_pipeline = pre_transform + [
    dict(type='HSVRandomAug'), dict(type='LetterResize', scale=img_scale),
    dict(type='RandomFlip', prob=0.5), dict(type='PackDetInputs')]
test_pipeline = _base_.test_pre_transform + [
    dict(type='LetterResize', scale=img_scale, allow_scale_up=False), dict(type='PackDetInputs')]
# ultralytics' augmentation at 256 px for yolov8_n_ultralytics-recipe_shapes.py (mixup 0.0 as
# in its default.yaml): mosaic -> affine -> HSV -> flip; letterbox -> affine in the last epochs.
ultralytics_train_pipeline = pre_transform + [
    dict(type='Mosaic', img_scale=img_scale, buffer_size=8 * _base_.train_batch_size_per_gpu),
    dict(type='RandomAffine', scaling_ratio_range=(0.5, 1.5))] + last_transform
ultralytics_close_mosaic_pipeline = pre_transform + [
    dict(type='LetterResize', scale=img_scale),
    dict(type='RandomAffine', scaling_ratio_range=(0.5, 1.5))] + last_transform

shapes_dataset = dict(type='ShapesDetDataset', data_root=data_root, **shapes_cfg)
train_dataloader = dict(
    dataset=dict(shapes_dataset, ann_file='ImageSets/Main/train.txt',
                 filter_cfg=dict(filter_empty_gt=True), pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(shapes_dataset, ann_file='ImageSets/Main/val.txt', test_mode=True,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
