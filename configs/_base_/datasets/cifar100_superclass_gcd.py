# CIFAR-100 (python pickles under data/cifar100) restricted to one superclass: its 5 fine
# classes, the first 3 old (half of their images labelled), the last 2 new; images to 224 px.
_base_ = './gcd_loaders.py'
superclass = 0
num_old_classes = 3
data_root = 'data/cifar100'

pipeline = [dict(type='Resize', scale=(224, 224), interpolation='bicubic'),
            dict(type='PackCILInputs')]
cifar_train = dict(type='CIFAR100SuperclassDataset', data_root=data_root, split='train',
                   superclass=superclass, pipeline=pipeline)
gcd_train = dict(type='GCDDatasetWrapper', dataset=cifar_train, num_old_classes=num_old_classes)
train_dataloader = dict(num_workers=4, dataset=gcd_train)
val_dataloader = dict(num_workers=4, dataset=gcd_train)
test_dataloader = dict(num_workers=4, dataset=dict(gcd_train, dataset=dict(cifar_train,
                                                                           split='test')))
