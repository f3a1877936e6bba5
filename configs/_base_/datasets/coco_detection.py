# COCO 2017 detection (json annotations), 640 px, ultralytics' YOLOv8 augmentation:
#   data_root/annotations/instances_{train,val}2017.json, data_root/{train,val}2017/*.jpg
# Training: mosaic (partners from a buffer of 8 x batch recent images) -> copy-paste -> random
# affine (translate 0.1, scale +-affine_scale) -> mixup -> HSV (0.015, 0.7, 0.4) -> horizontal
# flip. The instances' polygons are loaded (ultralytics' COCO labels are segments, which its
# detection training reads): the affine takes each box from its transformed polygon, and
# copy-paste (ultralytics' `copy_paste`, 0.0 in its default.yaml; mmyolo's mask-refine l / x
# configs use 0.3) pastes mirrored instances.
# `close_mosaic_pipelines` (the last epochs, PipelineSwitchHook): letterbox -> affine -> HSV
# -> flip. Per size (mmyolo's YOLOv8 configs, the hyper-parameters of ultralytics' released
# m / l / x weights; ultralytics' default.yaml has scale 0.5 and mixup 0.0 for every size):
# n, s: affine scale 0.5, no mixup; m: 0.9, mixup 0.1; l, x: 0.9, mixup 0.15.
# Differs from ultralytics: validation letterboxes every image to 640 x 640 (ultralytics
# validates with rectangular batches), Albumentations blur / CLAHE are not applied
# (ultralytics applies them only when the albumentations package is installed), an instance
# with several polygons has them concatenated (ultralytics' converter bridges them).
_base_ = './det_loaders.py'
data_root = 'data/coco/'
img_scale = (640, 640)  # (w, h)
train_batch_size_per_gpu = 16
train_num_workers = 8
val_batch_size_per_gpu = 32
val_num_workers = 2
# (affine scale, mixup, copy_paste) per size; s as n, x as l
size_augment = dict(n=(0.5, 0.0, 0.0), m=(0.9, 0.1, 0.0), l=(0.9, 0.15, 0.0))

pre_transform = [_base_.pre_transform[0], dict(type='LoadDetAnnotations', with_segments=True)]
last_transform = _base_.last_transform


def _affine(affine_scale):
    return dict(type='RandomAffine',
                scaling_ratio_range=(round(1 - affine_scale, 3), round(1 + affine_scale, 3)))


def _train_pipeline(affine_scale, mixup_prob, copy_paste):
    mosaic_affine = [
        dict(type='Mosaic', img_scale=img_scale, buffer_size=8 * train_batch_size_per_gpu),
        dict(type='CopyPaste', prob=copy_paste), _affine(affine_scale)]
    mixup = dict(type='MixUp', prob=mixup_prob, pre_transform=pre_transform + mosaic_affine)
    return pre_transform + mosaic_affine + [mixup] + last_transform


def _close_mosaic_pipeline(affine_scale, *_):  # ultralytics: no mosaic, mixup, copy-paste
    return pre_transform + [dict(type='KeepRatioResize', scale=img_scale),
                            dict(type='LetterResize', scale=img_scale),
                            _affine(affine_scale)] + last_transform


train_pipelines = {k: _train_pipeline(*v) for k, v in size_augment.items()}
close_mosaic_pipelines = {k: _close_mosaic_pipeline(*v) for k, v in size_augment.items()}
test_pipeline = _base_.test_pre_transform + [
    dict(type='KeepRatioResize', scale=img_scale),
    dict(type='LetterResize', scale=img_scale, allow_scale_up=False),
    dict(type='PackDetInputs')]

coco_dataset = dict(type='CocoDetDataset', data_root=data_root)
train_dataloader = dict(
    batch_size=train_batch_size_per_gpu, num_workers=train_num_workers,
    dataset=dict(coco_dataset, ann_file='annotations/instances_train2017.json',
                 data_prefix=dict(img_path='train2017/'),
                 filter_cfg=dict(filter_empty_gt=False), pipeline=train_pipelines['n']))
val_dataloader = dict(
    batch_size=val_batch_size_per_gpu, num_workers=val_num_workers,
    dataset=dict(coco_dataset, ann_file='annotations/instances_val2017.json',
                 data_prefix=dict(img_path='val2017/'), test_mode=True,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
