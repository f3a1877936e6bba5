# Procedural colour-shape compositions held out of the tiny CLIP's pretraining: 16 classes
# ("red star", "red circle", "blue ring", ...), 60 train / 30 test images each, in memory.
_base_ = './cil_classification.py'

pipeline = [dict(type='PackCILInputs')]
train_dataloader = dict(batch_size=32, num_workers=0,
                        dataset=dict(type='CompositionalShapesCILDataset', pipeline=pipeline))
val_dataloader = dict(num_workers=0,
                      dataset=dict(type='CompositionalShapesCILDataset', pipeline=pipeline))
test_dataloader = val_dataloader
