# Procedural shapes with masks (6 classes, 32 px, VOC layout), generated on first use.
data_root = 'data/shapes_seg'
task, setting = '4-1', 'overlap'
img_size = 32
shapes_args = dict(num_train=240, num_val=100, img_size=img_size, seed=0)

train_pipeline = [
    dict(type='LoadSegSample'),
    dict(type='SegRandomResizedCrop', size=img_size, scale=(0.5, 2.0)),
    dict(type='SegRandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
val_pipeline = [dict(type='LoadSegSample'), dict(type='PackSegInputs')]
train_dataloader = dict(
    batch_size=16, num_workers=0, drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='ShapesSegDataset', data_root=data_root, split='train_aug',
                 pipeline=train_pipeline, **shapes_args))
val_dataloader = dict(
    batch_size=16, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='ShapesSegDataset', data_root=data_root, split='val',
                 pipeline=val_pipeline, **shapes_args))
test_dataloader = val_dataloader
val_evaluator = dict(type='CISSMetric')
test_evaluator = val_evaluator
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
