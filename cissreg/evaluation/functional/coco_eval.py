"""COCO-style bounding-box evaluation, vectorised with numpy.

:func:`coco_bbox_eval` reproduces pycocotools' ``COCOeval`` (``iouType='bbox'``:
``evaluate()`` + ``accumulate()`` + ``summarize()``) number for number, without building a COCO
index and without pycocotools' Python loops over images x categories x area ranges x IoU
thresholds x detections x ground truths:

* IoUs are computed for every (detection, ground truth) pair of the same image and category
  in one vectorised pass, with the formula of pycocotools' C ``bbIou`` (boxes as ``xywh``,
  no ``+1``; for a crowd ground truth the union is the detection's area).
* :mod:`.det_inputs` checks and flattens the per-image inputs; :mod:`.box_pairs` groups
  boxes by (image, category) and computes IoUs; :mod:`.coco_matching` does the greedy
  matching (``evaluate()``), all groups, area ranges and IoU thresholds advancing together;
  :mod:`.coco_accumulate` the precision / recall arrays (``accumulate()``);
  :mod:`.coco_summary` the 12 stats (``summarize()``).

Conventions (identical to pycocotools on a GT json built as mmdet's ``CocoMetric`` builds it):

* A ground truth's area (for the small / medium / large buckets only) is ``gt_areas`` when
  given (a real COCO json's ``area``: the segmentation area, what pycocotools reads), else
  its box area ``w * h`` (what mmdet's ``gt_to_coco_json`` writes). A detection's area is
  ``w * h`` (pycocotools' ``loadRes``).
* ``ignore_flag = 1`` on a ground truth means COCO's ``iscrowd = 1``: it is ignored, its IoU
  with a detection is ``intersection / detection area`` and it can absorb several detections.
* Detections of one (image, category) are ranked by score, highest first, ties in input
  order (stable mergesort), and cut to ``max_dets[-1]``. Ground truths keep their input order;
  within a group the non-ignored ones are tried first.
* A detection takes the free GT of highest IoU with ``IoU >= min(thr, 1 - 1e-10)``, the last
  such GT on equal IoUs (pycocotools' scan); an ignored GT only when no regular one
  qualifies. Unmatched detections outside an area range are ignored for that range.
* Images are evaluated in the order given (pycocotools sorts by image id: callers sort
  first); this order breaks score ties between images.
* Categories are ``0 .. num_classes - 1``; a category without (non-ignored) ground truth gives
  ``-1`` in ``precision`` / ``recall`` and is left out of the means, as in pycocotools.

:func:`.voc_map.voc_map` is the VOC-style (mmdet ``eval_map``) mean AP.
"""
from typing import NamedTuple, Optional, Sequence, Tuple

import numpy as np

from .coco_accumulate import accumulate, count_gts
from .coco_matching import match_detections
from .coco_summary import COCO_STAT_NAMES, per_class_ap, summarize
from .det_inputs import ArrayList, flatten_detections

__all__ = ['COCO_AREA_RANGES', 'COCO_STAT_NAMES', 'CocoEvalResult', 'coco_bbox_eval']

#: pycocotools' area ranges (``Params.areaRng``), both ends inclusive.
COCO_AREA_RANGES: Tuple[Tuple[str, float, float], ...] = (
    ('all', 0.0, 1e5**2),
    ('small', 0.0, 32.0**2),
    ('medium', 32.0**2, 96.0**2),
    ('large', 96.0**2, 1e5**2),
)


class CocoEvalResult(NamedTuple):
    """Output of :func:`coco_bbox_eval`.

    Attributes:
        stats (np.ndarray): [12] the numbers of ``COCOeval.stats`` (see ``COCO_STAT_NAMES``),
            ``-1`` where pycocotools gives ``-1``.
        precision (np.ndarray): [T, R, K, A, M] interpolated precision at the 101 recall
            thresholds (``COCOeval.eval['precision']``), ``-1`` for a category without GT.
        recall (np.ndarray): [T, K, A, M] final recall (``COCOeval.eval['recall']``).
        classwise_ap (np.ndarray): [K] AP@[iou_thrs] per category (area 'all', the largest
            maxDets), ``-1`` for a category without GT.
        iou_thrs (np.ndarray): [T] the IoU thresholds used.
        num_gts (np.ndarray): [K] number of non-ignored ground truths per category.
        num_dets (np.ndarray): [K] number of evaluated detections per category (after the
            per-image ``max_dets[-1]`` cut).
    """
    stats: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    classwise_ap: np.ndarray
    iou_thrs: np.ndarray
    num_gts: np.ndarray
    num_dets: np.ndarray


def coco_bbox_eval(gt_bboxes: ArrayList,
                   gt_labels: ArrayList,
                   det_bboxes: ArrayList,
                   det_scores: ArrayList,
                   det_labels: ArrayList,
                   num_classes: int,
                   gt_ignore_flags: Optional[ArrayList] = None,
                   iou_thrs: Optional[Sequence[float]] = None,
                   max_dets: Sequence[int] = (1, 10, 100),
                   gt_areas: Optional[ArrayList] = None) -> CocoEvalResult:
    """COCO bbox evaluation, equal to pycocotools' ``COCOeval`` (see the module docstring).

    Every argument holding per-image data is a sequence with one entry per image, in the
    order in which pycocotools would see the images (ascending image id).

    Args:
        gt_bboxes (Sequence[np.ndarray]): per image [N_i, 4] ground-truth boxes ``xyxy``.
        gt_labels (Sequence[np.ndarray]): per image [N_i] category indices.
        det_bboxes (Sequence[np.ndarray]): per image [K_i, 4] detected boxes ``xyxy``.
        det_scores (Sequence[np.ndarray]): per image [K_i] scores.
        det_labels (Sequence[np.ndarray]): per image [K_i] category indices.
        num_classes (int): number of categories K; labels lie in ``[0, K)``.
        gt_ignore_flags (Sequence[np.ndarray], optional): per image [N_i] crowd / ignore
            flags (COCO ``iscrowd``). Defaults to None (no ignored GT).
        iou_thrs (Sequence[float], optional): IoU thresholds. Defaults to None:
            pycocotools' ``np.linspace(.5, .95, 10)``. ``AP50`` / ``AP75`` are ``-1`` unless
            0.5 / 0.75 is one of them (exact match, as in pycocotools).
        max_dets (Sequence[int]): three increasing maxDets values. Defaults to (1, 10, 100).
        gt_areas (Sequence[np.ndarray], optional): per image [N_i] ground-truth areas for
            the size buckets. Defaults to None (box areas).

    Returns:
        CocoEvalResult: the 12 stats, precision / recall arrays and per-category AP.
    """
    max_dets = [int(m) for m in max_dets]
    if len(max_dets) != 3 or sorted(set(max_dets)) != max_dets or max_dets[0] < 1:
        raise ValueError(f'max_dets must be three increasing positive ints, got {max_dets}')
    if iou_thrs is None:
        iou_thrs = np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)
    iou_thrs = np.asarray(iou_thrs, dtype=np.float64).reshape(-1)
    if iou_thrs.size == 0 or iou_thrs.min() < 0 or iou_thrs.max() > 1:
        raise ValueError(f'iou_thrs must be a non-empty list of values in [0, 1], got {iou_thrs}')
    rec_thrs = np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)
    area_rngs = np.array([[lo, hi] for _, lo, hi in COCO_AREA_RANGES])
    flat = flatten_detections(gt_bboxes, gt_labels, gt_ignore_flags, det_bboxes, det_scores,
                              det_labels, num_classes, gt_areas)

    matches = match_detections(flat, num_classes, max_dets[-1], np.minimum(iou_thrs, 1 - 1e-10),
                               area_rngs)
    npig = count_gts(flat, num_classes, area_rngs)
    precision, recall = accumulate(matches, npig, max_dets, rec_thrs)
    stats = summarize(precision, recall, iou_thrs, max_dets)
    num_dets = np.bincount(matches.label, minlength=num_classes)
    return CocoEvalResult(stats, precision, recall, per_class_ap(precision), iou_thrs, npig[:, 0],
                          num_dets)
