# One CIFAR-100 superclass with a ResNet-18 from scratch at 32 px (no pretrained weights).
_base_ = './gcd_vit-b16-dino_cifar100-superclass.py'

model = dict(backbone=dict(_delete_=True, type='TorchvisionResNet', depth=18, out_stride=32),
             feat_dim=512)
train_dataloader = dict(dataset=dict(dataset=dict(pipeline=[dict(type='PackCILInputs')])))
val_dataloader = dict(dataset=dict(dataset=dict(pipeline=[dict(type='PackCILInputs')])))
test_dataloader = dict(dataset=dict(dataset=dict(pipeline=[dict(type='PackCILInputs')])))
