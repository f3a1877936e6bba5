"""RefCOCO-style referring expressions (``refs`` json + COCO instances) from a local path."""
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence

from mmengine.dataset import BaseDataset

from cissreg.registry import DATASETS

from . import region_pair_transforms  # noqa: F401  (registers the pipeline transforms)


@DATASETS.register_module()
class RefCocoRegionDataset(BaseDataset):
    """One sample per (ref, sentence) of a split: the image, the object's mask, the sentence.

    ``refs_file`` is the RefCOCO ``refs`` list saved as json (each ref: ``ref_id``,
    ``ann_id``, ``image_id``, ``split``, ``sentences: [{'sent': ...}]``);
    ``instances_file`` is the COCO instances json whose ``annotations`` hold the masks
    (polygons or RLE). Samples carry no second image: ``LoadRegionPair`` uses the same image
    and mask as region prompt and target.

    Args:
        data_root (str): Dataset folder.
        refs_file (str): Refs json, relative to ``data_root``.
        instances_file (str): COCO instances json, relative to ``data_root``.
        img_dir (str): Image folder, relative to ``data_root``. Defaults to ``'images'``.
        split (str): Ref split (``'train'``, ``'val'``, ``'testA'`` ...). Defaults to ``'val'``.
        pipeline (list[dict]): Transforms.
        max_samples (int, optional): Keep the first ones only.
        **kwargs: ``BaseDataset`` arguments.
    """

    def __init__(self, data_root: str, refs_file: str, instances_file: str,
                 img_dir: str = 'images', split: str = 'val', pipeline: Sequence = (),
                 max_samples: Optional[int] = None, **kwargs) -> None:
        self.refs_file = osp.join(data_root, refs_file)
        self.img_dir = osp.join(data_root, img_dir)
        self.split = split
        self.max_samples = max_samples
        for key, path in (('refs_file', self.refs_file),
                          ('instances_file', osp.join(data_root, instances_file))):
            if not osp.isfile(path):
                raise FileNotFoundError(f'{key}: {path!r} not found (data_root + {key})')
        super().__init__(ann_file=instances_file, data_root=data_root,
                         pipeline=list(pipeline), **kwargs)

    def load_data_list(self) -> List[Dict]:
        """Samples of ``split``."""
        with open(self.refs_file) as f:
            refs = json.load(f)
        with open(self.ann_file) as f:
            coco = json.load(f)
        images = {im['id']: im for im in coco['images']}
        anns = {a['id']: a for a in coco['annotations']}
        data = []
        for ref in refs:
            if ref['split'] != self.split:
                continue
            ann = anns[ref['ann_id']]
            im = images[ref['image_id']]
            for k, sent in enumerate(ref['sentences']):
                data.append(dict(
                    sample_id=f"{ref['ref_id']}_{k}", caption=sent['sent'],
                    img1_path=osp.join(self.img_dir, im['file_name']), img2_path=None,
                    segm1=ann['segmentation'], segm2=ann['segmentation']))
        return data[:self.max_samples] if self.max_samples else data
