# ADE20K (SceneParsing 150 classes, label 0 kept as background as in DKD).
data_root = 'data/ADEChallengeData2016'
task, setting = '100-50', 'overlap'
crop_size = 512

train_pipeline = [
    dict(type='LoadSegSample'),
    dict(type='SegRandomResizedCrop', size=crop_size, scale=(0.5, 2.0)),
    dict(type='SegRandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
val_pipeline = [dict(type='LoadSegSample'), dict(type='PackSegInputs')]
train_dataloader = dict(
    batch_size=24, num_workers=4, persistent_workers=False, drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='ADE20KSegDataset', data_root=data_root, split='training',
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='ADE20KSegDataset', data_root=data_root, split='validation',
                 pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='CISSMetric')
test_evaluator = val_evaluator
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
