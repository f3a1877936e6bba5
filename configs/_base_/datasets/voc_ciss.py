# Pascal VOC 2012 + SBD (train_aug 10,582 / val 1,449) for class-incremental segmentation.
_base_ = './ciss_segmentation.py'
data_root = 'data/VOCdevkit/VOC2012'
task, setting = '15-1', 'overlap'
crop_size = _base_.train_pipeline[1].size  # 512, the training crop
dkd_eval_crop = False  # True: DKD's resize-512 + centre-crop evaluation (its tables)

dkd_val_pipeline = [
    dict(type='LoadSegSample'),
    dict(type='SegResizeCenterCrop', size=crop_size),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=32, num_workers=4, persistent_workers=False,
    dataset=dict(type='VOCSegDataset', data_root=data_root, split='train_aug'))
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=False,
    dataset=dict(type='VOCSegDataset', data_root=data_root, split='val',
                 pipeline=dkd_val_pipeline if dkd_eval_crop else _base_.val_pipeline))
test_dataloader = val_dataloader
