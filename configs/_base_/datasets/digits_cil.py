# scikit-learn's bundled 8x8 digits (offline), upsampled to the tiny CLIP's 32 px.
_base_ = './cil_classification.py'

pipeline = [
    dict(type='Resize', scale=(32, 32), interpolation='bicubic'),
    dict(type='PackCILInputs'),
]
train_dataloader = dict(batch_size=32, num_workers=0,
                        dataset=dict(type='DigitsCILDataset', pipeline=pipeline))
val_dataloader = dict(num_workers=0, dataset=dict(type='DigitsCILDataset', pipeline=pipeline))
test_dataloader = val_dataloader
