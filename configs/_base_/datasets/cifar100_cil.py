# CIFAR-100 from its python pickle files (data_root holds cifar-100-python/), resized to
# CLIP's 224 px.
_base_ = './cil_classification.py'
cil_dataset = dict(type='CIFAR100CILDataset', data_root='data/cifar100')

train_pipeline = [
    dict(type='Resize', scale=(224, 224), interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),  # no effect on epochs trained on cached features
    dict(type='PackCILInputs'),
]
test_pipeline = [
    dict(type='Resize', scale=(224, 224), interpolation='bicubic'),
    dict(type='PackCILInputs'),
]
train_dataloader = dict(dataset=dict(cil_dataset, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(cil_dataset, pipeline=test_pipeline))
test_dataloader = val_dataloader
