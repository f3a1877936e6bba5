"""Matching detections to ground truth and painting both on an image (pure numpy + cv2).

Colours (RGB): ground truth purple ``(128, 0, 128)``, a prediction matched to a ground-truth box
green ``(0, 255, 0)``, an unmatched prediction yellow ``(255, 255, 0)``. Boxes and labels are
drawn without anti-aliasing, so these exact values appear in the image.
"""
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

__all__ = [
    'GT_COLOR', 'MATCHED_COLOR', 'UNMATCHED_COLOR', 'bbox_iou_matrix', 'match_predictions',
    'draw_det_result'
]

GT_COLOR: Tuple[int, int, int] = (128, 0, 128)
MATCHED_COLOR: Tuple[int, int, int] = (0, 255, 0)
UNMATCHED_COLOR: Tuple[int, int, int] = (255, 255, 0)


def bbox_iou_matrix(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """Pairwise IoU of xyxy boxes (continuous coordinates, area = (x2 - x1) * (y2 - y1)).

    Args:
        boxes1 (np.ndarray): Boxes of shape [N, 4].
        boxes2 (np.ndarray): Boxes of shape [M, 4].

    Returns:
        np.ndarray: IoU of shape [N, M], float64; 0 where the union is empty.
    """
    b1 = np.asarray(boxes1, dtype=np.float64).reshape(-1, 4)
    b2 = np.asarray(boxes2, dtype=np.float64).reshape(-1, 4)
    area1 = (b1[:, 2] - b1[:, 0]).clip(min=0) * (b1[:, 3] - b1[:, 1]).clip(min=0)
    area2 = (b2[:, 2] - b2[:, 0]).clip(min=0) * (b2[:, 3] - b2[:, 1]).clip(min=0)
    wh = (np.minimum(b1[:, None, 2:], b2[None, :, 2:]) -
          np.maximum(b1[:, None, :2], b2[None, :, :2])).clip(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = area1[:, None] + area2[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def match_predictions(pred_bboxes: np.ndarray, pred_scores: np.ndarray,
                      pred_labels: np.ndarray, gt_bboxes: np.ndarray, gt_labels: np.ndarray,
                      iou_thr: float) -> np.ndarray:
    """Greedy matching of predictions to ground truth, highest score first (COCO style).

    Each prediction takes the not yet matched ground-truth box of its class with the highest
    IoU, if that IoU is >= ``iou_thr``; each ground-truth box is matched at most once.

    Args:
        pred_bboxes (np.ndarray): Predicted boxes [K, 4], xyxy.
        pred_scores (np.ndarray): Scores [K].
        pred_labels (np.ndarray): Class indices [K].
        gt_bboxes (np.ndarray): Ground-truth boxes [N, 4], xyxy, same coordinates.
        gt_labels (np.ndarray): Class indices [N].
        iou_thr (float): Minimum IoU for a match.

    Returns:
        np.ndarray: Bool [K], True for the predictions matched to a ground-truth box.
    """
    pred_labels = np.asarray(pred_labels).reshape(-1)
    gt_labels = np.asarray(gt_labels).reshape(-1)
    matched = np.zeros(len(pred_labels), dtype=bool)
    if len(pred_labels) == 0 or len(gt_labels) == 0:
        return matched
    ious = bbox_iou_matrix(pred_bboxes, gt_bboxes)
    ious[pred_labels[:, None] != gt_labels[None, :]] = -1.0
    gt_taken = np.zeros(len(gt_labels), dtype=bool)
    for k in np.argsort(-np.asarray(pred_scores).reshape(-1), kind='stable'):
        candidates = np.where(gt_taken, -1.0, ious[k])
        best = int(candidates.argmax())
        if candidates[best] >= iou_thr:
            matched[k] = True
            gt_taken[best] = True
    return matched


def _draw_box(image: np.ndarray, box: Sequence[float], color: Tuple[int, int, int], text: str,
              line_width: int) -> None:
    """Draw one box and its label (filled background in ``color``) on ``image`` in place."""
    x1, y1, x2, y2 = (int(round(float(v))) for v in box)
    cv2.rectangle(image, (x1, y1), (x2, y2), color, line_width, lineType=cv2.LINE_8)
    font_thickness = max(line_width - 1, 1)
    font_scale = line_width / 3
    (tw, th), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                                         font_thickness)
    # Label above the box when it fits, else inside its top; kept inside the image width.
    top = y1 - th - baseline - 2 if y1 - th - baseline - 2 >= 0 else y1
    left = max(min(x1, image.shape[1] - tw - 3), 0)
    cv2.rectangle(image, (left, top), (left + tw + 2, top + th + baseline + 2), color, -1,
                  lineType=cv2.LINE_8)
    luminance = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
    text_color = (0, 0, 0) if luminance > 128 else (255, 255, 255)
    cv2.putText(image, text, (left + 1, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                text_color, font_thickness, lineType=cv2.LINE_8)


def draw_det_result(image: np.ndarray,
                    gt_bboxes: np.ndarray,
                    gt_labels: np.ndarray,
                    pred_bboxes: np.ndarray,
                    pred_scores: np.ndarray,
                    pred_labels: np.ndarray,
                    classes: Optional[Sequence[str]] = None,
                    score_thr: float = 0.3,
                    iou_thr: float = 0.5,
                    line_width: Optional[int] = None,
                    draw_gt: bool = True) -> np.ndarray:
    """Paint ground truth (purple), matched (green) and unmatched (yellow) predictions.

    Predictions with score < ``score_thr`` are not drawn and not matched. Ground truth is drawn
    first, then predictions by ascending score, each box with its class name (and score).

    Args:
        image (np.ndarray): RGB image [H, W, 3], uint8; not modified.
        gt_bboxes (np.ndarray): Ground-truth boxes [N, 4], xyxy in image pixels.
        gt_labels (np.ndarray): Ground-truth class indices [N].
        pred_bboxes (np.ndarray): Predicted boxes [K, 4], xyxy in image pixels.
        pred_scores (np.ndarray): Scores [K].
        pred_labels (np.ndarray): Predicted class indices [K].
        classes (Sequence[str], optional): Class names; indices are printed when None.
        score_thr (float): Minimum score of a drawn prediction. Defaults to 0.3.
        iou_thr (float): Minimum IoU with a same-class ground-truth box for a match.
            Defaults to 0.5.
        line_width (int, optional): Box line width in pixels; by default
            ``max(round(mean(H, W, 3) * 0.003), 2)`` (ultralytics' annotator rule).
        draw_gt (bool): Paint the ground-truth boxes; predictions are matched against them
            either way. Defaults to True.

    Returns:
        np.ndarray: The painted RGB image [H, W, 3], uint8.
    """
    canvas = np.ascontiguousarray(image, dtype=np.uint8).copy()
    if line_width is None:
        line_width = max(round(sum(canvas.shape) / 2 * 0.003), 2)

    def name(label: int) -> str:
        return str(classes[label]) if classes is not None and label < len(classes) else str(label)

    gt_bboxes = np.asarray(gt_bboxes, dtype=np.float64).reshape(-1, 4)
    gt_labels = np.asarray(gt_labels, dtype=np.int64).reshape(-1)
    pred_bboxes = np.asarray(pred_bboxes, dtype=np.float64).reshape(-1, 4)
    pred_scores = np.asarray(pred_scores, dtype=np.float64).reshape(-1)
    pred_labels = np.asarray(pred_labels, dtype=np.int64).reshape(-1)

    keep = pred_scores >= score_thr
    pred_bboxes, pred_scores, pred_labels = pred_bboxes[keep], pred_scores[keep], pred_labels[keep]
    matched = match_predictions(pred_bboxes, pred_scores, pred_labels, gt_bboxes, gt_labels,
                                iou_thr)

    if draw_gt:
        for box, label in zip(gt_bboxes, gt_labels):
            _draw_box(canvas, box, GT_COLOR, name(int(label)), line_width)
    for k in np.argsort(pred_scores, kind='stable'):
        color = MATCHED_COLOR if matched[k] else UNMATCHED_COLOR
        _draw_box(canvas, pred_bboxes[k], color,
                  f'{name(int(pred_labels[k]))} {pred_scores[k]:.2f}', line_width)
    return canvas
