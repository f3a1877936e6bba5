"""COCO json detection dataset, parsed with the standard ``json`` module.

(``pycocotools`` is only a test dependency: the tests use it as the reference reader.)
"""
import json
import os.path as osp
from typing import List

from cissreg.registry import DATASETS

from .base_det_dataset import BaseDetDataset


@DATASETS.register_module()
class CocoDetDataset(BaseDetDataset):
    """Detection dataset from a COCO ``instances_*.json`` file.

    The vocabulary is ``metainfo['classes']`` when given (category names of the json, in the
    label order wanted), otherwise the json's categories sorted by category id; category ids
    are mapped to contiguous labels in that order (then to positions in ``classes=`` when a
    subset is set). ``bbox`` ``[x, y, w, h]`` becomes ``[x, y, x + w, y + h]``; ``iscrowd=1``
    (or ``ignore=1``) annotations get ``ignore_flag=1``; the json ``area`` (the segmentation
    area, which COCO's small / medium / large buckets use) is kept as ``area``, polygon
    ``segmentation`` (a list of flat ``[x1, y1, x2, y2, ...]`` lists; crowd RLEs are not kept)
    as ``segmentation`` (for ``LoadDetAnnotations(with_segments=True)``). ``img_id`` is
    the COCO image id;
    images without annotations are kept (background) unless ``filter_cfg`` removes them.

    Args:
        ann_file (str): The json file, relative to ``data_root``.
        data_prefix (dict): ``img_path``: folder that ``file_name`` is relative to. Defaults
            to ``dict(img_path='')``.
        **kwargs: :class:`BaseDetDataset` arguments.

    Errors name the json file and, for a bad annotation, its ``id``.
    """

    def __init__(self, ann_file: str = '', data_prefix: dict = dict(img_path=''),
                 **kwargs) -> None:
        super().__init__(ann_file=ann_file, data_prefix=data_prefix, **kwargs)

    def _read_json(self) -> dict:
        try:
            with open(self.ann_file, encoding='utf-8') as f:
                coco = json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f"malformed COCO json '{self.ann_file}', line {err.lineno}, column "
                             f'{err.colno}: {err.msg}') from err
        missing = [k for k in ('images', 'annotations', 'categories')
                   if not isinstance(coco, dict) or k not in coco]
        if missing:
            raise ValueError(f"COCO json '{self.ann_file}' has no {missing} key(s)")
        return coco

    def load_raw_data_list(self) -> List[dict]:
        """Read images, categories and annotations from the json file."""
        self.check_paths(need_ann_file=True)
        coco = self._read_json()
        where = f"COCO json '{self.ann_file}'"
        categories = {c['id']: c['name'] for c in coco['categories']}
        if not self.vocabulary:
            self.set_vocabulary([categories[i] for i in sorted(categories)])
        images, data_list = {}, []
        for img in coco['images']:
            try:
                info = dict(img_path=osp.join(self.data_prefix['img_path'], img['file_name']),
                            img_id=int(img['id']), height=int(img['height']),
                            width=int(img['width']), instances=[])
            except (KeyError, TypeError, ValueError) as err:
                raise ValueError(f'{where}: image entry {img!r} lacks a valid id / file_name / '
                                 f'width / height ({err!r})') from None
            images[info['img_id']] = info
            data_list.append(info)
        for ann in coco['annotations']:
            ann_where = f"{where}, annotation id {ann.get('id')!r}"
            image = images.get(ann.get('image_id'))
            if image is None:
                raise ValueError(f"{ann_where}: image_id {ann.get('image_id')!r} is not in "
                                 '`images`')
            name = categories.get(ann.get('category_id'))
            if name is None:
                raise ValueError(f"{ann_where}: category_id {ann.get('category_id')!r} is not "
                                 'in `categories`')
            if name not in self.vocabulary:
                raise ValueError(f'{ann_where}: {self.unknown_class_message(name)}')
            bbox = ann.get('bbox')
            try:
                x, y, w, h = (float(v) for v in bbox)
            except (TypeError, ValueError):
                raise ValueError(f'{ann_where}: bbox must be 4 numbers [x, y, w, h], got '
                                 f'{bbox!r}') from None
            if w < 0 or h < 0:
                raise ValueError(f'{ann_where}: negative bbox size in {bbox!r}')
            instance = dict(
                bbox=[x, y, x + w, y + h], bbox_label=self.vocabulary.index(name),
                ignore_flag=int(bool(ann.get('iscrowd', 0)) or bool(ann.get('ignore', 0))))
            if 'area' in ann:  # COCO's size buckets use this (segmentation) area
                instance['area'] = float(ann['area'])
            if isinstance(ann.get('segmentation'), list) and ann['segmentation']:
                instance['segmentation'] = ann['segmentation']  # polygons, not crowd RLE
            image['instances'].append(instance)
        return data_list
