"""Checking per-image box inputs and flattening them into one array per field.

The COCO and VOC evaluations take per-image sequences (one array per image); both first turn
them into flat arrays with an image index per box, boxes converted to float64 ``xywh``.
"""
from typing import NamedTuple, Optional, Sequence, Tuple

import numpy as np

ArrayList = Sequence[np.ndarray]


class FlatDetections(NamedTuple):
    """All images' boxes in flat arrays (boxes as float64 ``xywh``)."""
    gt_xywh: np.ndarray  # [N, 4]
    gt_area: np.ndarray  # [N] float64: the given areas, else w * h
    gt_label: np.ndarray  # [N] int64
    gt_img: np.ndarray  # [N] int64
    gt_ignore: np.ndarray  # [N] bool
    det_xywh: np.ndarray  # [D, 4]
    det_score: np.ndarray  # [D] float64
    det_label: np.ndarray  # [D] int64
    det_img: np.ndarray  # [D] int64


def _xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    return np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)


def _cat_images(arrays: ArrayList, dtype: type, tail: Tuple[int, ...],
                what: str) -> Tuple[np.ndarray, np.ndarray]:
    parts = [np.asarray(a, dtype=dtype).reshape((-1, ) + tail) for a in arrays]
    counts = np.array([len(p) for p in parts], dtype=np.int64)
    if len(parts) == 0:
        return np.zeros((0, ) + tail, dtype=dtype), counts
    out = np.concatenate(parts, axis=0)
    if dtype is np.float64 and not np.isfinite(out).all():
        raise ValueError(f'{what} contain NaN or inf values')
    return out, counts


def flatten_detections(gt_bboxes: ArrayList, gt_labels: ArrayList,
                       gt_ignore_flags: Optional[ArrayList], det_bboxes: ArrayList,
                       det_scores: ArrayList, det_labels: ArrayList,
                       num_classes: int, gt_areas: Optional[ArrayList] = None) -> FlatDetections:
    """Check the per-image inputs of an evaluation and concatenate them.

    Args:
        gt_bboxes (Sequence[np.ndarray]): per image [N_i, 4] ground-truth boxes ``xyxy``.
        gt_labels (Sequence[np.ndarray]): per image [N_i] category indices.
        gt_ignore_flags (Sequence[np.ndarray], optional): per image [N_i] ignore flags;
            None means no ignored GT.
        det_bboxes (Sequence[np.ndarray]): per image [K_i, 4] detected boxes ``xyxy``.
        det_scores (Sequence[np.ndarray]): per image [K_i] scores.
        det_labels (Sequence[np.ndarray]): per image [K_i] category indices.
        num_classes (int): number of categories K; labels must lie in ``[0, K)``.
        gt_areas (Sequence[np.ndarray], optional): per image [N_i] ground-truth areas for
            COCO's size buckets (a COCO json's ``area``: the segmentation area). None means
            the box areas ``w * h``.

    Returns:
        FlatDetections: the boxes of all images, N = sum N_i, D = sum K_i.

    Raises:
        ValueError: on sequences of different lengths, per-image counts that disagree,
            NaN / inf boxes, scores or areas, or labels outside ``[0, K)``.
    """
    n_img = len(gt_bboxes)
    lengths = {len(gt_labels), len(det_bboxes), len(det_scores), len(det_labels)}
    for optional in (gt_ignore_flags, gt_areas):
        if optional is not None:
            lengths.add(len(optional))
    if lengths != {n_img}:
        raise ValueError('per-image sequences must all have one entry per image, got lengths '
                         f'{sorted(lengths | {n_img})}')
    gt_box, gt_cnt = _cat_images(gt_bboxes, np.float64, (4, ), 'gt_bboxes')
    gt_label, gt_lcnt = _cat_images(gt_labels, np.int64, (), 'gt_labels')
    if gt_ignore_flags is None:
        gt_ignore, gt_icnt = np.zeros(len(gt_box), dtype=bool), gt_cnt
    else:
        gt_ignore, gt_icnt = _cat_images(gt_ignore_flags, bool, (), 'gt_ignore_flags')
    gt_xywh = _xyxy_to_xywh(gt_box)
    if gt_areas is None:
        gt_area, gt_acnt = gt_xywh[:, 2] * gt_xywh[:, 3], gt_cnt
    else:
        gt_area, gt_acnt = _cat_images(gt_areas, np.float64, (), 'gt_areas')
    det_box, det_cnt = _cat_images(det_bboxes, np.float64, (4, ), 'det_bboxes')
    det_score, det_scnt = _cat_images(det_scores, np.float64, (), 'det_scores')
    det_label, det_lcnt = _cat_images(det_labels, np.int64, (), 'det_labels')
    if not all(np.array_equal(gt_cnt, c) for c in (gt_lcnt, gt_icnt, gt_acnt)):
        raise ValueError('gt_bboxes, gt_labels, gt_ignore_flags and gt_areas disagree on the '
                         'number of ground truths of some image')
    if not (np.array_equal(det_cnt, det_scnt) and np.array_equal(det_cnt, det_lcnt)):
        raise ValueError('det_bboxes, det_scores and det_labels disagree on the number of '
                         'detections of some image')
    for name, lab in (('gt_labels', gt_label), ('det_labels', det_label)):
        if lab.size and (lab.min() < 0 or lab.max() >= num_classes):
            raise ValueError(f'{name} must lie in [0, {num_classes}), got values in '
                             f'[{lab.min()}, {lab.max()}]')
    img = np.arange(n_img, dtype=np.int64)
    return FlatDetections(
        gt_xywh=gt_xywh,
        gt_area=gt_area,
        gt_label=gt_label,
        gt_img=np.repeat(img, gt_cnt),
        gt_ignore=gt_ignore,
        det_xywh=_xyxy_to_xywh(det_box),
        det_score=det_score,
        det_label=det_label,
        det_img=np.repeat(img, det_cnt))
