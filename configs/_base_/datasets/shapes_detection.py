# Procedural shapes (6 classes, 256 px), generated under `data_root` on first use, VOC layout.
data_root = 'data/shapes/'
img_scale = (256, 256)  # (w, h)
train_batch_size_per_gpu = 16
train_num_workers = 2
val_batch_size_per_gpu = 16
val_num_workers = 2
shapes_cfg = dict(seed=0, num_train=1000, num_val=200, img_size=256)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDetAnnotations'),
    dict(type='HSVRandomAug'),
    dict(type='LetterResize', scale=img_scale),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
# ultralytics' augmentation at 256 px for yolov8_n_ultralytics-recipe_shapes.py (mixup 0.0 as
# in its default.yaml): mosaic -> affine -> HSV -> flip; letterbox -> affine in the last epochs.
pre_transform = [dict(type='LoadImageFromFile'), dict(type='LoadDetAnnotations')]
last_transform = [dict(type='HSVRandomAug'), dict(type='RandomFlip', prob=0.5),
                  dict(type='PackDetInputs')]
ultralytics_train_pipeline = pre_transform + [
    dict(type='Mosaic', img_scale=img_scale, buffer_size=8 * train_batch_size_per_gpu),
    dict(type='RandomAffine', scaling_ratio_range=(0.5, 1.5))] + last_transform
ultralytics_close_mosaic_pipeline = pre_transform + [
    dict(type='LetterResize', scale=img_scale),
    dict(type='RandomAffine', scaling_ratio_range=(0.5, 1.5))] + last_transform
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDetAnnotations'),
    dict(type='LetterResize', scale=img_scale, allow_scale_up=False),
    dict(type='PackDetInputs'),
]

train_dataloader = dict(
    batch_size=train_batch_size_per_gpu,
    num_workers=train_num_workers,
    persistent_workers=False,  # True breaks bit-exact resume
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='ShapesDetDataset', data_root=data_root,
                 ann_file='ImageSets/Main/train.txt', filter_cfg=dict(filter_empty_gt=True),
                 pipeline=train_pipeline, **shapes_cfg))
val_dataloader = dict(
    train_dataloader, batch_size=val_batch_size_per_gpu, num_workers=val_num_workers,
    drop_last=False, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='ShapesDetDataset', data_root=data_root, ann_file='ImageSets/Main/val.txt',
                 test_mode=True, pipeline=test_pipeline, **shapes_cfg))
test_dataloader = val_dataloader

val_evaluator = dict(type='DetMetric')
test_evaluator = val_evaluator
