"""Pascal VOC 2012 segmentation (with the SBD ``SegmentationClassAug`` masks)."""
import os.path as osp
from typing import List

from cissreg.registry import DATASETS

from .base_seg_dataset import BaseSegDataset

VOC_SEG_CLASSES = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat',
                   'chair', 'cow', 'diningtable', 'dog', 'horse', 'motorbike', 'person',
                   'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor')


@DATASETS.register_module()
class VOCSegDataset(BaseSegDataset):
    """VOC layout: ``JPEGImages/{id}.jpg``, ``{seg_dir}/{id}.png`` (palette or grey PNGs of
    labels 0-20, 255 ignore), ``ImageSets/Segmentation/{split}.txt``.

    A split line is either an image id or two root-relative paths
    (``/JPEGImages/x.jpg /SegmentationClassAug/x.png``, the ``train_aug.txt`` of DKD / MiB).

    Args:
        data_root (str): The VOC2012 folder.
        split (str): ``'train_aug'`` (10,582 images) or ``'val'`` (1,449). Defaults to
            ``'train_aug'``.
        seg_dir (str): Mask folder. Defaults to ``'SegmentationClassAug'``.
        img_suffix (str): Defaults to ``'.jpg'``.
        pipeline (list[dict]): Transforms.
        classes (Sequence[str], optional): Foreground class names. Defaults to VOC's 20.
    """

    METAINFO = dict(classes=VOC_SEG_CLASSES)

    def __init__(self, data_root: str, split: str = 'train_aug',
                 seg_dir: str = 'SegmentationClassAug', img_suffix: str = '.jpg',
                 **kwargs) -> None:
        self.split, self.seg_dir, self.img_suffix = split, seg_dir, img_suffix
        super().__init__(data_root=data_root, **kwargs)

    def load_data_list(self) -> List[dict]:
        root = self._require(self.data_root, 'data_root')
        split_file = self._require(
            osp.join(root, 'ImageSets', 'Segmentation', f'{self.split}.txt'), 'split')
        data_list = []
        with open(split_file, encoding='utf-8') as f:
            lines = [line.split() for line in f if line.strip()]
        for parts in lines:
            if len(parts) == 2:
                img = osp.join(root, parts[0].lstrip('/'))
                seg = osp.join(root, parts[1].lstrip('/'))
                img_id = osp.splitext(osp.basename(img))[0]
            else:
                img_id = parts[0]
                img = osp.join(root, 'JPEGImages', img_id + self.img_suffix)
                seg = osp.join(root, self.seg_dir, img_id + '.png')
            data_list.append(dict(img_path=img, seg_path=seg, img_id=img_id))
        if data_list:
            self._require(data_list[0]['seg_path'], 'seg_dir')
        return data_list
