# CIFAR-100 from its python pickle files (data_root holds cifar-100-python/), resized to
# CLIP's 224 px. Class order: PyCIL's permutation for `class_order_seed` (1993).
dataset_type = 'CIFAR100CILDataset'
data_root = 'data/cifar100'
class_order_seed = 1993

train_pipeline = [
    dict(type='Resize', scale=(224, 224), interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackCILInputs'),
]
test_pipeline = [
    dict(type='Resize', scale=(224, 224), interpolation='bicubic'),
    dict(type='PackCILInputs'),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=4,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='train',
                 class_order_seed=class_order_seed, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=128,
    num_workers=4,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='test',
                 class_order_seed=class_order_seed, pipeline=test_pipeline))
test_dataloader = val_dataloader
