# Pipelines, loaders, metric and loops shared by the class-incremental segmentation datasets.
# A dataset base inherits this file and adds its dataset (type, data_root, split), batch sizes
# and workers; training crops to 512 px (shapes_ciss.py replaces the crop for its 32 px images).
train_pipeline = [
    dict(type='LoadSegSample'),
    dict(type='SegRandomResizedCrop', size=512, scale=(0.5, 2.0)),
    dict(type='SegRandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
val_pipeline = [dict(type='LoadSegSample'), dict(type='PackSegInputs')]
train_dataloader = dict(
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='CISSMetric')
test_evaluator = val_evaluator
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
