"""VOC-style (mmdet ``eval_map``) mean AP at one IoU threshold, vectorised with numpy."""
from typing import NamedTuple, Optional

import numpy as np

from .box_pairs import group_order, pair_ious
from .det_inputs import ArrayList, flatten_detections

__all__ = ['VocMapResult', 'voc_map']


class VocMapResult(NamedTuple):
    """Output of :func:`voc_map`.

    Attributes:
        mean_ap (float): mean of ``ap`` over the categories with ground truth; ``-1`` when
            no category has any.
        ap (np.ndarray): [K] AP per category, ``-1`` for a category without GT.
        num_gts (np.ndarray): [K] number of non-ignored ground truths per category.
    """
    mean_ap: float
    ap: np.ndarray
    num_gts: np.ndarray


def _voc_ap(recall: np.ndarray, precision: np.ndarray, mode: str) -> float:
    """AP from one category's recall / precision curve (mmdet ``average_precision``)."""
    if mode == 'area':
        mrec = np.concatenate([[0.0], recall, [1.0]])
        mpre = np.concatenate([[0.0], precision, [0.0]])
        mpre = np.maximum.accumulate(mpre[::-1])[::-1]
        idx = np.flatnonzero(mrec[1:] != mrec[:-1])
        return float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]))
    ap = 0.0
    for thr in np.arange(11) / 10:  # exactly 0.3 etc., not np.arange(0, 1.1, .1)'s 0.3000...04
        prec = precision[recall >= thr]
        ap += prec.max() if prec.size else 0.0
    return float(ap / 11)


def voc_map(gt_bboxes: ArrayList,
            gt_labels: ArrayList,
            det_bboxes: ArrayList,
            det_scores: ArrayList,
            det_labels: ArrayList,
            num_classes: int,
            gt_ignore_flags: Optional[ArrayList] = None,
            iou_thr: float = 0.5,
            mode: str = 'area') -> VocMapResult:
    """VOC-style mean AP at one IoU threshold (the semantics of mmdet's ``eval_map``).

    Per image and category, detections are taken by score (highest first, ties in input
    order); each is assigned to the GT of highest IoU (plain IoU, no ``+1``; first GT on
    ties), already-matched GTs included. With IoU >= ``iou_thr``: an ignored GT ("difficult")
    makes the detection neither TP nor FP; otherwise the first detection on a GT is a TP and
    later ones are FPs. Below ``iou_thr`` it is a FP. All detections count (no maxDets cut).
    Per category the detections of all images are ranked by score (ties: image order, then
    the order above); recall = TP / #non-ignored GT, precision = TP / (TP + FP).

    Args:
        gt_bboxes, gt_labels, det_bboxes, det_scores, det_labels, num_classes,
            gt_ignore_flags: as in :func:`coco_bbox_eval`.
        iou_thr (float): IoU threshold. Defaults to 0.5.
        mode (str): ``'area'`` (area under the monotone precision envelope, VOC2010+) or
            ``'11points'`` (mean of the best precision at recall >= 0, 0.1, ..., 1;
            VOC2007; the thresholds are ``i / 10``, so a recall of exactly 0.3 reaches 0.3,
            unlike with mmdet's ``np.arange(0, 1.1, 0.1)``). Defaults to ``'area'``.

    Returns:
        VocMapResult: mean AP over categories with GT, per-category AP and GT counts.
    """
    if mode not in ('area', '11points'):
        raise ValueError(f"mode must be 'area' or '11points', got {mode!r}")
    flat = flatten_detections(gt_bboxes, gt_labels, gt_ignore_flags, det_bboxes, det_scores,
                              det_labels, num_classes)
    groups = group_order(flat, num_classes)
    order, det_key, gt_order = groups.det_order, groups.det_key, groups.gt_order
    score, label, img = flat.det_score[order], flat.det_label[order], flat.det_img[order]
    gt_ignore = flat.gt_ignore[gt_order]
    pairs = pair_ious(det_key, flat.det_xywh[order], groups.gt_key, flat.gt_xywh[gt_order],
                      np.zeros(len(gt_order), dtype=bool))

    tp = np.zeros(len(det_key), dtype=bool)
    skip = np.zeros(len(det_key), dtype=bool)
    has_gt = np.flatnonzero(pairs.gt_count > 0)
    if len(has_gt):
        starts = pairs.offset[has_gt]
        best = np.maximum.reduceat(pairs.iou, starts)
        pos = np.where(pairs.iou == np.repeat(best, pairs.gt_count[has_gt]),
                       np.arange(len(pairs.iou)), len(pairs.iou))
        first_best = np.minimum.reduceat(pos, starts)  # first GT among the ties
        hit = best >= iou_thr
        gt_idx = pairs.gt_start[has_gt] + first_best - starts
        skip[has_gt[hit]] = gt_ignore[gt_idx[hit]]
        reg = hit & ~gt_ignore[gt_idx]
        # The first detection (in score order) on each regular GT is its TP.
        _, first = np.unique(gt_idx[reg], return_index=True)
        tp[has_gt[reg][first]] = True
    fp = ~tp & ~skip

    num_gts = np.bincount(flat.gt_label[~flat.gt_ignore], minlength=num_classes)
    ap = -np.ones(num_classes)
    cat_order = np.lexsort((np.arange(len(score)), img, -score, label))
    bounds = np.searchsorted(label[cat_order], np.arange(num_classes + 1))
    eps = np.finfo(np.float32).eps
    for k in np.flatnonzero(num_gts > 0):
        seg = cat_order[bounds[k]:bounds[k + 1]]
        tp_cum = np.cumsum(tp[seg]).astype(np.float64)
        fp_cum = np.cumsum(fp[seg]).astype(np.float64)
        recall = tp_cum / max(num_gts[k], eps)
        precision = tp_cum / np.maximum(tp_cum + fp_cum, eps)
        ap[k] = _voc_ap(recall, precision, mode)
    valid = ap[num_gts > 0]
    return VocMapResult(float(valid.mean()) if valid.size else -1.0, ap, num_gts)
