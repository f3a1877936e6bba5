# MAR20 (military aircraft, 20 classes) in its shipped Pascal VOC layout, with the COCO
# base's 640 px ultralytics augmentation (train_pipelines / close_mosaic_pipelines per size):
#   data_root/JPEGImages/*.jpg
#   data_root/Annotations/Horizontal Bounding Boxes/*.xml
#   data_root/ImageSets/Main/{train,test}.txt
_base_ = './coco_detection.py'

data_root = 'data/MAR20/'
mar20_classes = tuple(f'A{i}' for i in range(1, 21))
train_classes = None  # a subset such as mar20_classes[:10] trains on those classes only


def _box_only(pipeline):
    """MAR20 has boxes only: load no segments (ultralytics' box labels take the box path)."""
    return [dict(t, with_segments=False) if t['type'] == 'LoadDetAnnotations' else
            dict(t, pre_transform=_box_only(t['pre_transform'])) if 'pre_transform' in t else t
            for t in pipeline]


train_pipelines = {k: _box_only(v) for k, v in _base_.train_pipelines.items()}
close_mosaic_pipelines = {k: _box_only(v) for k, v in _base_.close_mosaic_pipelines.items()}

voc_dataset = dict(
    type='VOCDetDataset',
    data_root=data_root,
    data_prefix=dict(img_path='JPEGImages', ann_path='Annotations/Horizontal Bounding Boxes'),
    metainfo=dict(classes=mar20_classes),
    classes=train_classes)
train_dataloader = dict(
    num_workers=4,
    dataset=dict(ann_file='ImageSets/Main/train.txt', filter_cfg=dict(filter_empty_gt=True),
                 pipeline=train_pipelines['n'], **voc_dataset))
val_dataloader = dict(batch_size=8, dataset=dict(ann_file='ImageSets/Main/test.txt',
                                                 **voc_dataset))
test_dataloader = val_dataloader
