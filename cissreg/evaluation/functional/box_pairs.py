"""Grouping boxes by (image, category) and the IoU of every detection with its group's GTs.

Shared by the COCO matching (:mod:`.coco_matching`) and the VOC mAP (:mod:`.voc_map`).
"""
from typing import NamedTuple, Tuple

import numpy as np

from .det_inputs import FlatDetections


def iou_xywh(det: np.ndarray, gt: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """Element-wise IoU of paired boxes, the arithmetic of pycocotools' C ``bbIou``.

    Args:
        det (np.ndarray): [P, 4] detection boxes ``xywh``.
        gt (np.ndarray): [P, 4] ground-truth boxes ``xywh``.
        crowd (np.ndarray): [P] bool; where True the union is the detection's area.

    Returns:
        np.ndarray: [P] IoU, 0 for boxes that do not overlap.
    """
    w = np.minimum(det[:, 2] + det[:, 0], gt[:, 2] + gt[:, 0]) - np.maximum(det[:, 0], gt[:, 0])
    h = np.minimum(det[:, 3] + det[:, 1], gt[:, 3] + gt[:, 1]) - np.maximum(det[:, 1], gt[:, 1])
    overlap = (w > 0) & (h > 0)
    inter = w * h
    det_area = det[:, 2] * det[:, 3]
    union = np.where(crowd, det_area, det_area + gt[:, 2] * gt[:, 3] - inter)
    iou = np.zeros(len(det))
    np.divide(inter, union, out=iou, where=overlap)
    return iou


def segment_starts(keys: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Start index of every run of equal values in sorted ``keys`` and each element's run."""
    first = np.ones(len(keys), dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    starts = np.flatnonzero(first)
    return starts, np.cumsum(first) - 1


def expand_segments(counts: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """For segments of sizes ``counts``: each element's segment and its offset inside it."""
    seg = np.repeat(np.arange(len(counts)), counts)
    offsets = np.cumsum(counts) - counts
    return seg, np.arange(len(seg)) - offsets[seg]


class GroupOrder(NamedTuple):
    """Detections and GTs sorted by their (image, category) group."""
    det_order: np.ndarray  # [D] detections by group, score descending, ties in input order
    det_key: np.ndarray  # [D] group key of each sorted detection
    gt_order: np.ndarray  # [N] GTs by group, input order inside a group
    gt_key: np.ndarray  # [N] group key of each sorted GT


def group_order(flat: FlatDetections, num_classes: int) -> GroupOrder:
    """Sort detections and GTs by (image, category); detections by score inside a group."""
    det_key = flat.det_img * num_classes + flat.det_label
    det_order = np.lexsort((np.arange(len(det_key)), -flat.det_score, det_key))
    gt_key = flat.gt_img * num_classes + flat.gt_label
    gt_order = np.argsort(gt_key, kind='stable')
    return GroupOrder(det_order, det_key[det_order], gt_order, gt_key[gt_order])


class GroupPairs(NamedTuple):
    """(detection, ground truth) pairs of equal (image, category), grouped by detection."""
    gt_start: np.ndarray  # [D] index of the detection's first GT in the sorted GT arrays
    gt_count: np.ndarray  # [D] number of GTs of the detection's (image, category)
    offset: np.ndarray  # [D] index of the detection's first pair (valid where gt_count > 0)
    iou: np.ndarray  # [P] IoU of each pair


def pair_ious(det_key: np.ndarray, det_xywh: np.ndarray, gt_key: np.ndarray,
              gt_xywh: np.ndarray, gt_crowd: np.ndarray) -> GroupPairs:
    """IoUs of every detection with every GT of the same group (``gt_key`` sorted)."""
    gt_start = np.searchsorted(gt_key, det_key, side='left')
    gt_count = np.searchsorted(gt_key, det_key, side='right') - gt_start
    pair_det, pair_j = expand_segments(gt_count)
    pair_gt = gt_start[pair_det] + pair_j
    iou = iou_xywh(det_xywh[pair_det], gt_xywh[pair_gt], gt_crowd[pair_gt])
    return GroupPairs(gt_start, gt_count, np.cumsum(gt_count) - gt_count, iou)
