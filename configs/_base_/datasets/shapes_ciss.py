# Procedural shapes with masks (6 classes, 32 px, VOC layout), generated on first use.
_base_ = './ciss_segmentation.py'
data_root = 'data/shapes_seg'
task, setting = '4-1', 'overlap'
img_size = 32
shapes_args = dict(num_train=240, num_val=100, img_size=img_size, seed=0)

train_pipeline = [dict(t, size=img_size) if t.type == 'SegRandomResizedCrop' else t
                  for t in _base_.train_pipeline]  # crop to the whole 32 px image scale
train_dataloader = dict(
    batch_size=16, num_workers=0,
    dataset=dict(type='ShapesSegDataset', data_root=data_root, split='train_aug',
                 pipeline=train_pipeline, **shapes_args))
val_dataloader = dict(
    batch_size=16, num_workers=0,
    dataset=dict(type='ShapesSegDataset', data_root=data_root, split='val', **shapes_args))
test_dataloader = val_dataloader
