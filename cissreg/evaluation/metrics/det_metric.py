"""``DetMetric``: COCO-style bbox mAP (equal to pycocotools) and VOC-style mAP50."""
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmengine.structures import BaseDataElement

from cissreg.registry import METRICS

from ..functional import CocoEvalResult, coco_bbox_eval, voc_map

#: Metric names of the 12 COCO stats, in ``COCOeval.stats`` order (keys get ``coco/``).
COCO_METRIC_NAMES = ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75', 'bbox_mAP_s', 'bbox_mAP_m',
                     'bbox_mAP_l', 'bbox_AR@1', 'bbox_AR@10', 'bbox_AR@100', 'bbox_AR_s@100',
                     'bbox_AR_m@100', 'bbox_AR_l@100')


def _to_numpy(value: Any, dtype: type, shape: tuple) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    return np.asarray(value).astype(dtype).reshape(shape)


def _class_ap_at(result: CocoEvalResult, iou_thr: float) -> np.ndarray:
    """[K] per-class AP at one IoU threshold (area 'all', largest maxDets), -1 if undefined."""
    t = np.flatnonzero(result.iou_thrs == iou_thr)
    prec = result.precision[t][:, :, :, 0, -1]  # [t, R, K]
    out = -np.ones(prec.shape[2])
    for k in range(prec.shape[2]):
        p = prec[:, :, k]
        if (p > -1).any():
            out[k] = p[p > -1].mean()
    return out


@METRICS.register_module()
class DetMetric(BaseMetric):
    """COCO-style bbox mAP and VOC-style mAP50 for detection.

    The COCO numbers equal pycocotools' ``COCOeval`` (``iouType='bbox'``) run on a GT json built
    the way mmdet's ``CocoMetric`` builds it from the annotations (``bbox`` as ``xywh``,
    ``iscrowd = ignore_flag``, ``area`` the instance's ``area`` where the dataset keeps one, as
    ``CocoDetDataset`` keeps the json's segmentation area, else ``w * h``) and on the
    predictions as a results list; the size buckets of a COCO val set thus match pycocotools
    on the original ``instances_val2017.json``. See
    :mod:`cissreg.evaluation.functional.coco_eval` for the algorithm and conventions. The VOC
    number follows mmdet's ``eval_map`` (``ignore_flag`` GTs are "difficult").

    Ground truth comes from each sample's ``instances`` meta key (original-image coordinates),
    predictions from ``pred_instances`` (original-image coordinates, as ``predict(...,
    rescale=True)`` returns them); images are evaluated in ascending ``img_id``. Class names
    come from ``dataset_meta['classes']`` (the Runner sets it from the dataset).

    Returned keys (``prefix``, when given, is prepended as ``{prefix}/``):

    * ``coco/bbox_mAP`` (AP@[.5:.95]), ``coco/bbox_mAP_50``, ``coco/bbox_mAP_75``,
      ``coco/bbox_mAP_s``, ``coco/bbox_mAP_m``, ``coco/bbox_mAP_l``, ``coco/bbox_AR@1``,
      ``coco/bbox_AR@10``, ``coco/bbox_AR@100``, ``coco/bbox_AR_s@100``,
      ``coco/bbox_AR_m@100``, ``coco/bbox_AR_l@100``: the 12 ``COCOeval.stats``, ``-1`` where
      pycocotools gives ``-1`` (e.g. no GT of that size);
    * ``voc/mAP50``: VOC-style mAP at IoU 0.5 over the classes with GT (``voc_mode``);
    * with ``classwise=True``, ``coco/{class}_AP`` per class (AP@[.5:.95], ``-1`` for a
      class without GT), and a per-class table (GT count, detections, AP, AP50, AP75, VOC AP50)
      in the log.

    Args:
        iou_thrs (Sequence[float], optional): COCO IoU thresholds. Defaults to None
            (``.50:.05:.95``).
        classwise (bool): Return per-class AP and log the per-class table. Defaults to True.
        voc_mode (str): ``'area'`` (area under the monotone precision envelope) or
            ``'11points'`` (VOC2007). Defaults to ``'area'``.
        collect_device (str): Device for collecting results across ranks, ``'cpu'`` or
            ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Prefix of every key, e.g. ``'val'`` gives
            ``val/coco/bbox_mAP``. Defaults to None (keys as listed above).
        collect_dir (str, optional): Directory for collecting results with
            ``collect_device='cpu'``. Defaults to None.
    """

    default_prefix: Optional[str] = ''

    def __init__(self,
                 iou_thrs: Optional[Sequence[float]] = None,
                 classwise: bool = True,
                 voc_mode: str = 'area',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        if voc_mode not in ('area', '11points'):
            raise ValueError(f"voc_mode must be 'area' or '11points', got {voc_mode!r}")
        self.iou_thrs = None if iou_thrs is None else [float(t) for t in iou_thrs]
        self.classwise = classwise
        self.voc_mode = voc_mode

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Store one batch's GT and predictions as numpy arrays.

        Args:
            data_batch (Any): The batch from the dataloader (unused).
            data_samples (Sequence[dict]): The model's outputs: ``DetDataSample.to_dict()``
                dicts (what mmengine's ``Evaluator`` passes) or ``DetDataSample`` objects, with
                ``img_id``, ``instances`` (list of dicts with ``bbox`` [x1, y1, x2, y2],
                ``bbox_label``, ``ignore_flag`` and optionally ``area``) and
                ``pred_instances`` (``bboxes`` [K, 4] xyxy, ``scores`` [K], ``labels`` [K]).
        """
        for sample in data_samples:
            if isinstance(sample, BaseDataElement):
                sample = sample.to_dict()
            img_id = sample.get('img_id')
            if 'instances' not in sample:
                raise KeyError("DetMetric needs the 'instances' meta key (annotations in "
                               f'original-image coordinates) on every sample; image {img_id} '
                               f"({sample.get('img_path', '?')}) has none")
            if 'pred_instances' not in sample:
                raise KeyError(f'DetMetric got no pred_instances for image {img_id} '
                               f"({sample.get('img_path', '?')})")
            instances = sample['instances']
            pred = sample['pred_instances']
            gt_bboxes = _to_numpy([i['bbox'] for i in instances], np.float64, (-1, 4))
            box_areas = (gt_bboxes[:, 2] - gt_bboxes[:, 0]) * (gt_bboxes[:, 3] - gt_bboxes[:, 1])
            self.results.append(
                dict(
                    img_id=img_id,
                    gt_bboxes=gt_bboxes,
                    gt_areas=np.array([float(i.get('area', a)) for i, a in
                                       zip(instances, box_areas)], np.float64),
                    gt_labels=_to_numpy([i['bbox_label'] for i in instances], np.int64, (-1, )),
                    gt_ignore_flags=_to_numpy([i.get('ignore_flag', 0) for i in instances],
                                              bool, (-1, )),
                    det_bboxes=_to_numpy(pred['bboxes'], np.float64, (-1, 4)),
                    det_scores=_to_numpy(pred['scores'], np.float64, (-1, )),
                    det_labels=_to_numpy(pred['labels'], np.int64, (-1, ))))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Evaluate all images' results.

        Args:
            results (list[dict]): The dicts stored by :meth:`process`, from all ranks.

        Returns:
            dict[str, float]: The metrics listed in the class docstring.
        """
        if not self.dataset_meta or 'classes' not in self.dataset_meta:
            raise ValueError("DetMetric needs dataset_meta['classes'] (the Runner sets it from "
                             "the dataset's metainfo)")
        classes = list(self.dataset_meta['classes'])
        results = sorted(results, key=lambda r: r['img_id'])
        arrays = {k: [r[k] for r in results] for k in (
            'gt_bboxes', 'gt_labels', 'gt_ignore_flags', 'det_bboxes', 'det_scores',
            'det_labels')}
        coco = coco_bbox_eval(num_classes=len(classes), iou_thrs=self.iou_thrs,
                              gt_areas=[r['gt_areas'] for r in results], **arrays)
        voc = voc_map(num_classes=len(classes), mode=self.voc_mode, **arrays)

        metrics = {f'coco/{name}': float(v) for name, v in zip(COCO_METRIC_NAMES, coco.stats)}
        metrics['voc/mAP50'] = voc.mean_ap
        print_log(
            f'DetMetric on {len(results)} images: '
            + ', '.join(f'{k}={v:.4f}' for k, v in metrics.items()),
            logger='current')
        if self.classwise:
            for name, ap in zip(classes, coco.classwise_ap):
                metrics[f'coco/{name}_AP'] = float(ap)
            print_log('DetMetric per class:\n' + self._class_table(classes, coco, voc.ap),
                      logger='current')
        return metrics

    @staticmethod
    def _class_table(classes: List[str], coco: CocoEvalResult, voc_ap: np.ndarray) -> str:
        columns = [('AP', coco.classwise_ap), ('AP50', _class_ap_at(coco, 0.5)),
                   ('AP75', _class_ap_at(coco, 0.75)), ('VOC AP50', voc_ap)]
        width = max([len('class')] + [len(str(c)) for c in classes])
        header = (f"{'class':<{width}} {'gts':>6} {'dets':>7} "
                  + ' '.join(f'{name:>8}' for name, _ in columns))
        lines = [header, '-' * len(header)]
        for k, name in enumerate(classes):
            cells = ' '.join(f'{values[k]:>8.3f}' if values[k] > -1 else f"{'-':>8}"
                             for _, values in columns)
            lines.append(f'{str(name):<{width}} {coco.num_gts[k]:>6d} '
                         f'{coco.num_dets[k]:>7d} {cells}')
        return '\n'.join(lines)
