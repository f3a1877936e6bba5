"""Ultralytics / YOLO txt layout: ``images/{split}/*.jpg`` + ``labels/{split}/*.txt``.

Each label line is ``class cx cy w h`` with the centre and size normalised to [0, 1] by the
image width and height. The label file of an image is found with ultralytics' rule: the last
``/images/`` path component becomes ``/labels/`` and the extension becomes ``.txt``. An image
without a label file has no boxes (a background image).
"""
import os
import os.path as osp
from typing import List

from cissreg.registry import DATASETS

from .base_det_dataset import BaseDetDataset, read_image_size

IMG_EXTENSIONS = ('.bmp', '.jpeg', '.jpg', '.png', '.tif', '.tiff', '.webp')
_TOLERANCE = 1e-3


def image_to_label_path(img_path: str) -> str:
    """Ultralytics' ``img2label_paths`` for one path.

    Args:
        img_path (str): e.g. ``data/coco8/images/train/0001.jpg``.

    Returns:
        str: e.g. ``data/coco8/labels/train/0001.txt``.
    """
    images, labels = f'{os.sep}images{os.sep}', f'{os.sep}labels{os.sep}'
    return osp.splitext(labels.join(img_path.rsplit(images, 1)))[0] + '.txt'


def parse_yolo_label_file(path: str, num_classes: int, width: int,
                          height: int) -> List[dict]:
    """Read one YOLO txt label file into instances in pixel xyxy.

    A line is a box ``class cx cy w h`` or, as in ultralytics' segment labels (which its
    detection training reads too, e.g. COCO's), a polygon ``class x1 y1 x2 y2 ... xk yk``
    (k >= 3): its box is the polygon's extent (ultralytics ``segments2boxes``) and the polygon
    is kept as ``segmentation`` (COCO's format: a list of one flat ``[x1, y1, ...]`` list in
    pixels) for ``LoadDetAnnotations(with_segments=True)``.

    Args:
        path (str): Label file.
        num_classes (int): Size of the class vocabulary (valid ids are 0..num_classes-1).
        width (int): Image width in pixels.
        height (int): Image height in pixels.

    Returns:
        list[dict]: ``dict(bbox=[x1, y1, x2, y2], bbox_label=int, ignore_flag=0[,
        segmentation=[[x1, y1, ...]]])`` per line.

    Raises:
        ValueError: A malformed line (field count, non-numeric value, class id out of range,
            negative size, coordinates not normalised), naming the file and 1-based line.
    """
    instances = []
    with open(path, encoding='utf-8') as f:
        for lineno, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            where = f"YOLO label file '{path}', line {lineno}"
            if len(fields) != 5 and (len(fields) < 7 or len(fields) % 2 == 0):
                raise ValueError(f'{where}: expected 5 fields `class cx cy w h` or a polygon '
                                 f'`class x1 y1 ... xk yk` (k >= 3), got {len(fields)} fields: '
                                 f'{line.strip()!r}')
            try:
                cls, *values = (float(v) for v in fields)
            except ValueError:
                raise ValueError(f'{where}: non-numeric value in {line.strip()!r}') from None
            if cls != int(cls) or not 0 <= cls < num_classes:
                raise ValueError(f'{where}: class id {fields[0]} is not an integer in '
                                 f'[0, {num_classes - 1}] (the dataset has {num_classes} '
                                 'classes)')
            if len(values) > 4:
                if max(values) > 1 + _TOLERANCE or min(values) < -_TOLERANCE:
                    raise ValueError(f'{where}: polygon points are not normalised to [0, 1] '
                                     '(YOLO txt stores `x y` divided by the image size)')
                polygon = [v * (width if i % 2 == 0 else height) for i, v in enumerate(values)]
                xs, ys = polygon[0::2], polygon[1::2]
                instances.append(dict(bbox=[min(xs), min(ys), max(xs), max(ys)],
                                      bbox_label=int(cls), ignore_flag=0,
                                      segmentation=[polygon]))
                continue
            cx, cy, w, h = values
            if w < 0 or h < 0:
                raise ValueError(f'{where}: negative box size w={w}, h={h}')
            if max(cx, cy, w, h) > 1 + _TOLERANCE or min(cx, cy) < -_TOLERANCE:
                raise ValueError(f'{where}: values {fields[1:]} are not normalised to [0, 1] '
                                 '(YOLO txt stores `cx cy w h` divided by the image size)')
            instances.append(dict(
                bbox=[(cx - w / 2) * width, (cy - h / 2) * height,
                      (cx + w / 2) * width, (cy + h / 2) * height],
                bbox_label=int(cls), ignore_flag=0))
    return instances


@DATASETS.register_module()
class YOLOTxtDataset(BaseDetDataset):
    """Detection dataset in the ultralytics YOLO txt layout.

    Images come either from ``ann_file``, a split file listing one image path per line
    (relative paths, with or without a leading ``./``, are relative to the split file's
    folder, as ultralytics' ``train.txt``), or, when ``ann_file`` is empty, from every image in
    ``data_prefix['img_path']`` (recursive, sorted). Class names must be given in
    ``metainfo=dict(classes=(...))`` in label-id order (the ``names`` of ultralytics'
    ``data.yaml``). ``img_id`` is the position in the sorted image list; image sizes are read
    from the image headers.

    Args:
        ann_file (str): Optional split file. Defaults to ``''``.
        data_prefix (dict): ``img_path``: image folder used when ``ann_file`` is empty.
            Defaults to ``dict(img_path='images/train')``.
        **kwargs: :class:`BaseDetDataset` arguments.
    """

    def __init__(self,
                 ann_file: str = '',
                 data_prefix: dict = dict(img_path='images/train'),
                 **kwargs) -> None:
        super().__init__(ann_file=ann_file, data_prefix=data_prefix, **kwargs)

    def _image_paths(self) -> List[str]:
        if self.ann_file:
            base = osp.dirname(self.ann_file)
            with open(self.ann_file, encoding='utf-8') as f:
                lines = [ln.strip() for ln in f if ln.strip()]
            return [p if osp.isabs(p) else osp.normpath(osp.join(base, p)) for p in lines]
        paths = []
        for folder, _, files in os.walk(self.data_prefix['img_path']):
            paths += [osp.join(folder, n) for n in files if n.lower().endswith(IMG_EXTENSIONS)]
        return sorted(paths)

    def load_raw_data_list(self) -> List[dict]:
        """List images, read their sizes and label files."""
        if not self.vocabulary:
            raise ValueError(f'{self._name}: class names are required: set '
                             "metainfo=dict(classes=('name0', 'name1', ...)) in label-id order")
        # with a split file the images are named there and `data_prefix.img_path` is unused
        self.check_paths(need_ann_file=False, prefix_keys=() if self.ann_file else None)
        data_list = []
        for img_id, img_path in enumerate(self._image_paths()):
            if not osp.isfile(img_path):
                raise FileNotFoundError(f"{self._name}: image '{img_path}' listed in ann_file "
                                        f"'{self.ann_file}' (config key `ann_file`) not found")
            height, width = read_image_size(img_path)
            label_path = image_to_label_path(img_path)
            instances = (parse_yolo_label_file(label_path, len(self.vocabulary), width, height)
                         if osp.isfile(label_path) else [])
            data_list.append(dict(img_path=img_path, img_id=img_id, height=height,
                                  width=width, instances=instances))
        if not data_list:
            source = (f"ann_file '{self.ann_file}'" if self.ann_file else
                      f"image directory '{self.data_prefix['img_path']}'")
            raise ValueError(f'{self._name}: no images found in {source}')
        return data_list
