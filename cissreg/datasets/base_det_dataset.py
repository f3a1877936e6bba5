"""Common base of cissreg's detection datasets: class subsets, box cleaning, path errors.

Every detection dataset (VOC XML, YOLO txt, COCO json, the procedural shapes) reads its own
format into mmdet-style ``data_list`` entries and leaves the rest to :class:`BaseDetDataset`:

* **Class vocabulary and subset.** ``metainfo['classes']`` (or the class's ``METAINFO``) is the
  *vocabulary*: every class name that may appear in the annotation files. A name outside it is
  an error naming the file (it catches typos and wrong datasets). ``classes=(...)`` selects an
  ordered *subset* of the vocabulary: boxes of other classes are dropped and labels are
  re-numbered to positions in ``classes``; ``dataset.metainfo['classes']`` then reports the
  subset, so ``num_classes = len(classes)``. The distillation recipe's 10-class
  teacher is ``classes=('A1', ..., 'A10')`` on the 20-class MAR20 vocabulary. mmdet uses
  ``metainfo=dict(classes=subset)`` for this and silently drops other names; here that raises
  with a message pointing to ``classes=``.
* **Cleaning.** A box stored inverted (VOC ``xmax < xmin`` or ``ymax < ymin``; YOLO / COCO
  negative width or height) is an annotation error naming the file and object (and line).
  Other boxes are clipped to the image and boxes of zero area after clipping are dropped;
  both are counted (clipping by more than 0.01 px) and logged once per dataset,
  e.g. ``VOCDetDataset: clipped 3 boxes, dropped 2 zero-area boxes in 2 images``.
* **Filtering** (training only, ``test_mode=False``): ``filter_cfg=dict(filter_empty_gt=True)``
  drops images without any non-ignored box; ``min_size=N`` drops images whose shorter side is
  below N pixels (mmdet's meaning of the key).
* **Paths.** A missing ``data_root``, ``ann_file``, ``data_prefix`` folder or image file raises
  ``FileNotFoundError`` naming the path and the config key that set it.
"""
import colorsys
import difflib
import os.path as osp
from abc import ABCMeta, abstractmethod
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

from mmengine.dataset import BaseDataset
from mmengine.logging import print_log
from PIL import Image

_FILTER_KEYS = ('filter_empty_gt', 'min_size')
_EXIF_ORIENTATION = 0x0112
_MAX_LISTED = 5
_CLIP_TOLERANCE = 1e-2  # px; float rounding of normalised YOLO boxes is not counted


def read_image_size(path: str) -> Tuple[int, int]:
    """Read an image's (height, width) from its header, as OpenCV will decode it.

    OpenCV's ``imread``/``imdecode`` apply the EXIF orientation, so orientations 5-8 (90 degree
    rotations) swap the stored width and height.

    Args:
        path (str): Image file.

    Returns:
        tuple[int, int]: ``(height, width)`` in pixels.

    Raises:
        OSError: The file cannot be opened or is not an image; the message names the file.
    """
    try:
        with Image.open(path) as img:
            width, height = img.size
            orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
    except OSError as err:
        raise OSError(f"cannot read the image size of '{path}': {err}") from err
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return height, width


def default_palette(num_classes: int) -> List[Tuple[int, int, int]]:
    """Deterministic, well separated RGB colours (golden-ratio hue steps), one per class."""
    palette = []
    for i in range(num_classes):
        r, g, b = colorsys.hsv_to_rgb((i * 0.618033988749895) % 1.0, 0.75, 0.95)
        palette.append((int(r * 255), int(g * 255), int(b * 255)))
    return palette


class BaseDetDataset(BaseDataset, metaclass=ABCMeta):
    """Base of detection datasets producing mmdet-style ``data_list`` entries.

    Each entry is ``dict(img_path=str, img_id=int, height=int, width=int, instances=[dict(
    bbox=[x1, y1, x2, y2], bbox_label=int, ignore_flag=0|1[, area=float][,
    segmentation=[[x1, y1, x2, y2, ...], ...]]), ...])`` with boxes (and ``area`` / polygon
    ``segmentation`` where the format stores them, e.g. COCO json or YOLO segment labels) in
    continuous pixel coordinates of the original image (boxes clipped to
    ``0 <= x1 < x2 <= width``; polygons as stored) after cleaning.

    Subclasses implement :meth:`load_raw_data_list`, returning entries whose ``bbox_label``
    indexes the vocabulary ``self.vocabulary``; the base class applies the class subset, cleans
    boxes and checks that every image file exists.

    Args:
        ann_file (str): Annotation file, relative to ``data_root`` unless absolute.
        metainfo (dict, optional): ``classes`` is the vocabulary (all class names in the
            annotation files, in label order); ``palette`` optional RGB colours per class.
        data_root (str): Root folder that relative paths are joined to.
        data_prefix (dict): Folders of the data (``img_path`` for images), relative to
            ``data_root`` unless absolute.
        classes (Sequence[str], optional): Ordered subset of the vocabulary to keep; boxes of
            other classes are dropped and labels are positions in this tuple. Defaults to None
            (all classes).
        filter_cfg (dict, optional): ``filter_empty_gt`` (bool) and ``min_size`` (int), used
            when ``test_mode=False``. Defaults to None (no filtering).
        indices, serialize_data, pipeline, test_mode, lazy_init, max_refetch: As in
            :class:`mmengine.dataset.BaseDataset`.
    """

    METAINFO: dict = dict(classes=())

    def __init__(self,
                 ann_file: str = '',
                 metainfo: Optional[dict] = None,
                 data_root: str = '',
                 data_prefix: dict = dict(img_path=''),
                 classes: Optional[Sequence[str]] = None,
                 filter_cfg: Optional[dict] = None,
                 indices: Optional[Union[int, Sequence[int]]] = None,
                 serialize_data: bool = True,
                 pipeline: Sequence[Union[dict, Callable]] = (),
                 test_mode: bool = False,
                 lazy_init: bool = False,
                 max_refetch: int = 1000) -> None:
        self._name = type(self).__name__
        if classes is not None and (isinstance(classes, str) or not len(classes)):
            raise ValueError(f'{self._name}: `classes` must be a non-empty sequence of class '
                             f'names, got {classes!r}')
        unknown = sorted(set(filter_cfg or {}) - set(_FILTER_KEYS))
        if unknown:
            raise ValueError(f'{self._name}: unknown filter_cfg key(s) {unknown}; '
                             f'supported: {list(_FILTER_KEYS)}')
        self._config_paths = dict(ann_file=ann_file, data_root=data_root,
                                  data_prefix=dict(data_prefix))
        self._subset = tuple(classes) if classes is not None else None
        super().__init__(
            ann_file=ann_file, metainfo=metainfo, data_root=data_root,
            data_prefix=dict(data_prefix), filter_cfg=filter_cfg, indices=indices,
            serialize_data=serialize_data, pipeline=list(pipeline), test_mode=test_mode,
            lazy_init=True, max_refetch=max_refetch)
        self.vocabulary: Tuple[str, ...] = tuple(self._metainfo.get('classes') or ())
        self._vocabulary_palette = self._metainfo.get('palette')
        if self.vocabulary:
            self._set_class_metainfo()
        if not lazy_init:
            self.full_init()

    # ------------------------------------------------------------------ classes
    def set_vocabulary(self, names: Sequence[str]) -> None:
        """Set the vocabulary when it comes from the annotation file (COCO categories)."""
        self.vocabulary = tuple(names)
        self._set_class_metainfo()

    def _set_class_metainfo(self) -> None:
        """Check the subset against the vocabulary; publish classes and palette."""
        if len(set(self.vocabulary)) != len(self.vocabulary):
            dup = sorted({c for c in self.vocabulary if self.vocabulary.count(c) > 1})
            raise ValueError(f'{self._name}: metainfo classes contain duplicates {dup}')
        if self._subset is None:
            selected = self.vocabulary
        else:
            if len(set(self._subset)) != len(self._subset):
                raise ValueError(f'{self._name}: `classes` contains duplicates: '
                                 f'{list(self._subset)}')
            missing = [c for c in self._subset if c not in self.vocabulary]
            if missing:
                hints = {c: difflib.get_close_matches(str(c), self.vocabulary, n=3)
                         for c in missing}
                raise ValueError(
                    f'{self._name}: `classes` names {missing} are not in the dataset classes '
                    f'{list(self.vocabulary)} (closest: {hints}); `classes` must be a subset '
                    'of metainfo classes')
            selected = self._subset
        palette = self._vocabulary_palette
        if palette is not None and len(palette) == len(self.vocabulary):
            palette = [palette[self.vocabulary.index(c)] for c in selected]
        else:
            palette = default_palette(len(selected))
        self._metainfo['classes'] = tuple(selected)
        self._metainfo['palette'] = palette

    def unknown_class_message(self, name: str) -> str:
        """Explain an annotation class name outside the vocabulary."""
        hints = difflib.get_close_matches(name, self.vocabulary, n=3)
        return (f'class {name!r} is not in the dataset classes {list(self.vocabulary)}'
                f'{f" (closest: {hints})" if hints else ""}; metainfo classes must list every '
                'class of the annotations, use `classes=(...)` to train on a subset')

    # ------------------------------------------------------------------ paths
    def path_error(self, what: str, path: str, key: str) -> FileNotFoundError:
        """A ``FileNotFoundError`` naming ``path`` and the config key that set it.

        Args:
            what (str): What the path is (``'ann_file'``, ``'image directory'``...).
            path (str): The path after joining with ``data_root``.
            key (str): Config key, ``'ann_file'`` or ``'data_prefix.img_path'``.
        """
        root = self._config_paths['data_root']
        if key == 'ann_file':
            raw = self._config_paths['ann_file']
        else:
            raw = self._config_paths['data_prefix'].get(key.split('.', 1)[1], '')
        where = f'config key `{key}`'
        if key != 'ann_file':
            where += f'={raw!r}'
        if root and not osp.isabs(raw):
            where += f', relative to `data_root`={root!r}'
        return FileNotFoundError(f"{self._name}: {what} '{path}' not found ({where})")

    def check_paths(self, need_ann_file: bool,
                    prefix_keys: Optional[Sequence[str]] = None) -> None:
        """Raise a clear error when ``data_root``, ``ann_file`` or a prefix folder is missing.

        Args:
            need_ann_file (bool): Whether this dataset requires ``ann_file``.
            prefix_keys (Sequence[str], optional): ``data_prefix`` keys whose folders must
                exist. Defaults to None (all of them).
        """
        root = self._config_paths['data_root']
        if root and not osp.isdir(root):
            raise FileNotFoundError(
                f"{self._name}: data_root '{root}' not found (config key `data_root`)")
        if need_ann_file and not self.ann_file:
            raise ValueError(f'{self._name}: config key `ann_file` is empty; it must name the '
                             'annotation file')
        if self.ann_file and not osp.isfile(self.ann_file):
            raise self.path_error('ann_file', self.ann_file, 'ann_file')
        for key, folder in self.data_prefix.items():
            if prefix_keys is not None and key not in prefix_keys:
                continue
            if folder and not osp.isdir(folder):
                kind = 'image directory' if key == 'img_path' else f'{key} directory'
                raise self.path_error(kind, folder, f'data_prefix.{key}')

    # ------------------------------------------------------------------ loading
    @abstractmethod
    def load_raw_data_list(self) -> List[dict]:
        """Read the annotation format; labels index ``self.vocabulary``.

        Returns:
            list[dict]: Entries as described in the class docstring, boxes not yet cleaned.
        """

    def load_data_list(self) -> List[dict]:
        """Load, subset, clean; check images exist. Logs counts once."""
        data_list = self.load_raw_data_list()
        if not self.vocabulary:
            raise ValueError(f'{self._name}: no class names: set metainfo=dict(classes=(...))')
        self._check_images(data_list)
        label_map = [self._metainfo['classes'].index(c) if c in self._metainfo['classes']
                     else -1 for c in self.vocabulary]
        stats = dict(clipped=0, dropped=0, images=0, kept=0, total=0)
        for info in data_list:
            info['instances'] = self._clean_instances(info, label_map, stats)
        if stats['clipped'] or stats['dropped']:
            print_log(f"{self._name}: clipped {stats['clipped']} boxes, dropped "
                      f"{stats['dropped']} zero-area boxes in {stats['images']} images",
                      logger='current')
        if self._subset is not None:
            print_log(f"{self._name}: classes subset {list(self._subset)} keeps "
                      f"{stats['kept']} of {stats['total']} boxes", logger='current')
        return data_list

    def _check_images(self, data_list: List[dict]) -> None:
        missing = [d['img_path'] for d in data_list if not osp.isfile(d['img_path'])]
        if missing:
            shown = ', '.join(f"'{p}'" for p in missing[:_MAX_LISTED])
            root = self._config_paths['data_root']
            raw = self._config_paths['data_prefix'].get('img_path', '')
            raise FileNotFoundError(
                f'{self._name}: {len(missing)} of {len(data_list)} image files not found: '
                f'{shown}{" ..." if len(missing) > _MAX_LISTED else ""} (images are looked up '
                f'under config key `data_prefix.img_path`={raw!r}'
                f'{f", relative to `data_root`={root!r}" if root and not osp.isabs(raw) else ""})')

    @staticmethod
    def _clean_instances(info: dict, label_map: List[int], stats: Dict[str, int]) -> List[dict]:
        """Relabel to the subset, clip boxes to the image, drop zero-area boxes."""
        width, height = info['width'], info['height']
        kept, touched = [], False
        for inst in info['instances']:
            stats['total'] += 1
            label = label_map[inst['bbox_label']]
            if label < 0:
                continue
            stats['kept'] += 1
            x1, y1, x2, y2 = (float(v) for v in inst['bbox'])
            clipped = [min(max(x1, 0.0), width), min(max(y1, 0.0), height),
                       min(max(x2, 0.0), width), min(max(y2, 0.0), height)]
            if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
                stats['dropped'] += 1
                touched = True
                continue
            if max(abs(a - b) for a, b in zip(clipped, (x1, y1, x2, y2))) > _CLIP_TOLERANCE:
                stats['clipped'] += 1
                touched = True
            kept.append(dict(bbox=clipped, bbox_label=label,
                             ignore_flag=int(inst.get('ignore_flag', 0))))
            kept[-1].update({k: inst[k] for k in ('area', 'segmentation') if k in inst})
        stats['images'] += touched
        return kept

    def filter_data(self) -> List[dict]:
        """Apply ``filter_cfg`` in training mode; log how many images were removed."""
        if self.test_mode or not self.filter_cfg:
            return self.data_list
        filter_empty = self.filter_cfg.get('filter_empty_gt', False)
        min_size = self.filter_cfg.get('min_size', 0)
        kept = [d for d in self.data_list
                if min(d['width'], d['height']) >= min_size and (
                    not filter_empty or any(not i['ignore_flag'] for i in d['instances']))]
        if len(kept) != len(self.data_list):
            print_log(f'{self._name}: filter_cfg {dict(self.filter_cfg)} removed '
                      f'{len(self.data_list) - len(kept)} of {len(self.data_list)} images',
                      logger='current')
        return kept

    def get_cat_ids(self, idx: int) -> List[int]:
        """Labels of the boxes of image ``idx`` (for ``ClassBalancedDataset``)."""
        return [inst['bbox_label'] for inst in self.get_data_info(idx)['instances']]

    def prepare_data(self, idx: int) -> dict:
        """Run the pipeline; in training the dataset rides along for mixing transforms.

        ``Mosaic`` takes ``results['dataset']`` to draw the other images (mmyolo's protocol).
        """
        data_info = self.get_data_info(idx)
        if not self.test_mode:
            data_info['dataset'] = self
        return self.pipeline(data_info)
