# Pascal VOC 2012 + SBD (train_aug 10,582 / val 1,449) for class-incremental segmentation.
data_root = 'data/VOCdevkit/VOC2012'
task, setting = '15-1', 'overlap'
crop_size = 512
dkd_eval_crop = False  # True: DKD's resize-512 + centre-crop evaluation (its tables)

train_pipeline = [
    dict(type='LoadSegSample'),
    dict(type='SegRandomResizedCrop', size=crop_size, scale=(0.5, 2.0)),
    dict(type='SegRandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
val_pipeline = [dict(type='LoadSegSample'), dict(type='PackSegInputs')]
dkd_val_pipeline = [
    dict(type='LoadSegSample'),
    dict(type='SegResizeCenterCrop', size=crop_size),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=32, num_workers=4, persistent_workers=False, drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='VOCSegDataset', data_root=data_root, split='train_aug',
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='VOCSegDataset', data_root=data_root, split='val',
                 pipeline=dkd_val_pipeline if dkd_eval_crop else val_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='CISSMetric')
test_evaluator = val_evaluator
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
