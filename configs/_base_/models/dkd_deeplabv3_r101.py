# DKD's segmentor: ResNet-101 (output stride 16) + DeepLabV3 ASPP head, one 1x1 classifier
# per step, DKD's losses. task_sizes (the setting: classes per step) is set by the method
# config, the one place a CISS config states its split (the loop hands it to the split).
model = dict(
    type='IncrementalSegmentor',
    task_sizes=None,
    backbone=dict(type='TorchvisionResNet', depth=101, out_stride=16,
                  bn_momentum=0.01,  # DKD's backbone BN momentum (torchvision: 0.1)
                  # ImageNet weights from a local torchvision file (never downloaded):
                  # init_cfg=dict(type='Pretrained', checkpoint='data/resnet101-63fe2227.pth')
                  init_cfg=None),
    decode_head=dict(type='ASPPHead', in_channels=2048, channels=256, dilations=(6, 12, 18),
                     dropout=0.1),
    loss_mbce=dict(type='MultiLabelBCELoss', pos_weight=1.0, loss_weight=1.0),
    loss_ac=dict(type='AuxBackgroundLoss', loss_weight=1.0),
    loss_kd=dict(type='LogitKDLoss', loss_weight=5.0),
    loss_dkd=dict(type='DecomposedKDLoss', pos_weight=5.0, neg_weight=5.0),
    base_pos_weight=2.0,
    freeze_bn=True,
    data_preprocessor=dict(type='SegDataPreprocessor'))
