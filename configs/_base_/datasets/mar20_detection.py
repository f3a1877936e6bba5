# MAR20 (military aircraft, 20 classes) in its shipped Pascal VOC layout:
#   data_root/JPEGImages/*.jpg
#   data_root/Annotations/Horizontal Bounding Boxes/*.xml
#   data_root/ImageSets/Main/{train,test}.txt
data_root = 'data/MAR20/'
img_scale = (640, 640)  # (w, h)
train_batch_size_per_gpu = 16
train_num_workers = 4
val_batch_size_per_gpu = 8
val_num_workers = 2
mar20_classes = tuple(f'A{i}' for i in range(1, 21))
train_classes = None  # a subset such as mar20_classes[:10] trains on those classes only

pre_transform = [dict(type='LoadImageFromFile'), dict(type='LoadDetAnnotations')]
train_pipeline = [
    *pre_transform,
    dict(type='Mosaic', img_scale=img_scale, pad_val=114.0, pre_transform=pre_transform),
    dict(type='RandomAffine', max_rotate_degree=0.0, max_shear_degree=0.0,
         scaling_ratio_range=(0.5, 1.5), max_aspect_ratio=100, border_val=(114, 114, 114)),
    dict(type='HSVRandomAug'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    *pre_transform,
    dict(type='KeepRatioResize', scale=img_scale),
    dict(type='LetterResize', scale=img_scale, allow_scale_up=False),
    dict(type='PackDetInputs'),
]

dataset_type = 'VOCDetDataset'
data_prefix = dict(img_path='JPEGImages', ann_path='Annotations/Horizontal Bounding Boxes')
train_dataloader = dict(
    batch_size=train_batch_size_per_gpu,
    num_workers=train_num_workers,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/Main/train.txt',
        data_prefix=data_prefix,
        metainfo=dict(classes=mar20_classes),
        classes=train_classes,
        filter_cfg=dict(filter_empty_gt=True),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=val_batch_size_per_gpu,
    num_workers=val_num_workers,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/Main/test.txt',
        data_prefix=data_prefix,
        metainfo=dict(classes=mar20_classes),
        classes=train_classes,
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='DetMetric')
test_evaluator = val_evaluator
