"""Visualizer that paints a detection data sample (ground truth + predictions)."""
from typing import Optional

import mmcv
import numpy as np
from mmengine.structures import BaseDataElement
from mmengine.visualization import Visualizer

from cissreg.registry import VISUALIZERS

from .det_drawing import draw_det_result

__all__ = ['DetLocalVisualizer', 'gt_from_instances']


def gt_from_instances(data_sample: BaseDataElement) -> tuple:
    """Ground truth of a data sample in original image coordinates.

    Reads the ``instances`` meta key (the dataset's annotations in original image pixels, see
    ``DetDataSample``); boxes with ``ignore_flag=1`` are left out. A sample without
    ``instances`` has no ground truth.

    Args:
        data_sample (BaseDataElement): A ``DetDataSample``.

    Returns:
        tuple[np.ndarray, np.ndarray]: Boxes [N, 4] float64 xyxy and labels [N] int64.
    """
    instances = [
        ins for ins in data_sample.metainfo.get('instances', []) if not ins.get('ignore_flag', 0)
    ]
    bboxes = np.array([ins['bbox'] for ins in instances], dtype=np.float64).reshape(-1, 4)
    labels = np.array([ins['bbox_label'] for ins in instances], dtype=np.int64)
    return bboxes, labels


@VISUALIZERS.register_module()
class DetLocalVisualizer(Visualizer):
    """Paints detection results: ground truth purple, matched predictions green, others yellow.

    Colours (RGB) and matching rules are those of
    :func:`cissreg.visualization.det_drawing.draw_det_result`; the drawing is done with cv2
    without anti-aliasing (headless, exact colours). Class names come from
    ``dataset_meta['classes']`` (set by the runner's loops from the dataset's metainfo).

    Args:
        name (str): Instance name. Defaults to ``'visualizer'``.
        line_width (int, optional): Box line width; None picks one from the image size.
        **kwargs: ``image``, ``vis_backends``, ``save_dir``, ... of mmengine's ``Visualizer``.
    """

    def __init__(self,
                 name: str = 'visualizer',
                 line_width: Optional[int] = None,
                 **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.line_width = line_width

    def add_datasample(self,
                       name: str,
                       image: np.ndarray,
                       data_sample: Optional[BaseDataElement] = None,
                       draw_gt: bool = True,
                       draw_pred: bool = True,
                       show: bool = False,
                       wait_time: float = 0,
                       out_file: Optional[str] = None,
                       score_thr: float = 0.3,
                       iou_thr: float = 0.5,
                       step: int = 0) -> np.ndarray:
        """Paint ``data_sample`` on ``image`` and write it to ``out_file`` or the vis backends.

        Predictions are always matched against the ground truth (``instances``); ``draw_gt``
        only decides whether the purple ground-truth boxes are painted.

        Args:
            name (str): Image identifier for the vis backends.
            image (np.ndarray): Original RGB image [H, W, 3], uint8.
            data_sample (BaseDataElement, optional): ``DetDataSample`` with ``pred_instances``
                (boxes in original pixels) and the ``instances`` meta key. None draws nothing.
            draw_gt (bool): Paint ground-truth boxes. Defaults to True.
            draw_pred (bool): Paint predictions. Defaults to True.
            show (bool): Show the result in a window. Defaults to False.
            wait_time (float): Seconds the window stays open when ``show``. Defaults to 0.
            out_file (str, optional): Write the painted image there (instead of adding it to the
                vis backends). Defaults to None.
            score_thr (float): Minimum score of a drawn prediction. Defaults to 0.3.
            iou_thr (float): Minimum IoU of a match with a same-class ground-truth box.
                Defaults to 0.5.
            step (int): Global step for the vis backends. Defaults to 0.

        Returns:
            np.ndarray: The painted RGB image [H, W, 3].
        """
        gt_bboxes, gt_labels = (gt_from_instances(data_sample) if data_sample is not None else
                                (np.zeros((0, 4)), np.zeros(0, dtype=np.int64)))
        pred = data_sample.get('pred_instances') if data_sample is not None else None
        if draw_pred and pred is not None:
            pred_bboxes = pred.bboxes.detach().cpu().numpy()
            pred_scores = pred.scores.detach().cpu().numpy()
            pred_labels = pred.labels.detach().cpu().numpy()
        else:
            pred_bboxes, pred_scores, pred_labels = np.zeros((0, 4)), np.zeros(0), np.zeros(0)
        classes = (self.dataset_meta or {}).get('classes')
        drawn = draw_det_result(
            image,
            gt_bboxes,
            gt_labels,
            pred_bboxes,
            pred_scores,
            pred_labels,
            classes=classes,
            score_thr=score_thr,
            iou_thr=iou_thr,
            line_width=self.line_width,
            draw_gt=draw_gt)
        if show:
            self.show(drawn, win_name=name, wait_time=wait_time)
        if out_file is not None:
            mmcv.imwrite(drawn[..., ::-1], out_file)
        else:
            self.add_image(name, drawn, step)
        return drawn
