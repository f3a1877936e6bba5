# scikit-learn's bundled 8x8 digits (offline), upsampled to the tiny CLIP's 32 px.
dataset_type = 'DigitsCILDataset'
class_order_seed = 1993

train_pipeline = [
    dict(type='Resize', scale=(32, 32), interpolation='bicubic'),
    dict(type='PackCILInputs'),
]
test_pipeline = [
    dict(type='Resize', scale=(32, 32), interpolation='bicubic'),
    dict(type='PackCILInputs'),
]

train_dataloader = dict(
    batch_size=32,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type=dataset_type, split='train', class_order_seed=class_order_seed,
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=128,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type=dataset_type, split='test', class_order_seed=class_order_seed,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
