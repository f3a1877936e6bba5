# Loaders and metric of the detection dataset bases. A dataset base inherits this file and adds
# the datasets and pipelines (and batch sizes / workers where they differ from these);
# `pre_transform` / `last_transform` open and close every training pipeline of ultralytics'
# recipe (load -> ... -> HSV -> flip -> pack).
train_batch_size_per_gpu = 16
train_num_workers = 2
val_batch_size_per_gpu = 16
val_num_workers = 2
# Training loads keep each worker's last 8 x batch decoded images (ultralytics' buffer,
# min(n, 8 x batch, 1000)): one cache per process, shared with the MixUp partners' loads.
pre_transform = [dict(type='LoadImageFromFile', cache_size=8 * train_batch_size_per_gpu),
                 dict(type='LoadDetAnnotations')]
test_pre_transform = [dict(type='LoadImageFromFile'), dict(type='LoadDetAnnotations')]
last_transform = [dict(type='HSVRandomAug'), dict(type='RandomFlip', prob=0.5),
                  dict(type='PackDetInputs')]

train_dataloader = dict(
    batch_size=train_batch_size_per_gpu, num_workers=train_num_workers,
    persistent_workers=False,  # True breaks bit-exact resume
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='cissreg.stack_det_collate'))  # one image tensor a batch (mmyolo)
val_dataloader = dict(
    batch_size=val_batch_size_per_gpu, num_workers=val_num_workers,
    persistent_workers=False, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'))
test_dataloader = val_dataloader
val_evaluator = dict(type='DetMetric')
test_evaluator = val_evaluator
