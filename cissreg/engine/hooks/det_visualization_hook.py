"""A hook that writes test images painted with ground truth and predictions."""
import os.path as osp
from typing import Optional, Sequence

import mmcv
from mmengine.hooks import Hook
from mmengine.utils import mkdir_or_exist

from cissreg.registry import HOOKS
from cissreg.visualization import DetLocalVisualizer

__all__ = ['DetVisualizationHook']


@HOOKS.register_module()
class DetVisualizationHook(Hook):
    """Paint test predictions and ground truth on the original images and write them to disk.

    After every ``interval``-th test iteration, each sample's original image (``img_path``) gets
    its ground truth (``instances`` meta key, original pixels) in purple ``(128, 0, 128)``, its
    predictions with score >= ``score_thr`` that match a same-class ground-truth box with
    IoU >= ``iou_thr`` (greedy by score, each box matched once) in green ``(0, 255, 0)`` and the
    other predictions in yellow ``(255, 255, 0)`` (RGB), with class names from the test
    dataset's ``metainfo['classes']`` and scores. The image is written to
    ``show_dir/<image file name>``. ``tools/test.py --show-dir DIR`` sets ``draw=True`` and
    ``show_dir=DIR``.

    The runner's visualizer paints the image when it is a :class:`DetLocalVisualizer`
    (``visualizer = dict(type='DetLocalVisualizer', ...)`` in the config); otherwise the hook
    uses its own one.

    Args:
        draw (bool): Paint and write images; False disables the hook. Defaults to False.
        show_dir (str, optional): Output folder. A relative path is taken under
            ``<work_dir>/<timestamp>/`` of the run (as mmdet's ``test_out_dir``); None means
            ``<work_dir>/<timestamp>/vis``. Defaults to None.
        score_thr (float): Minimum score of a painted prediction. Defaults to 0.3.
        iou_thr (float): Minimum IoU of a correct (green) prediction. Defaults to 0.5.
        interval (int): Paint the samples of every ``interval``-th test batch. Defaults to 1.
    """

    priority = 'NORMAL'

    def __init__(self,
                 draw: bool = False,
                 show_dir: Optional[str] = None,
                 score_thr: float = 0.3,
                 iou_thr: float = 0.5,
                 interval: int = 1) -> None:
        if interval < 1:
            raise ValueError(f'DetVisualizationHook: interval must be >= 1, got {interval}')
        self.draw = draw
        self.show_dir = show_dir
        self.score_thr = score_thr
        self.iou_thr = iou_thr
        self.interval = interval
        self._out_dir: Optional[str] = None
        self._visualizer: Optional[DetLocalVisualizer] = None

    def before_test(self, runner) -> None:
        """Resolve the output folder and the visualizer, with the test dataset's classes."""
        if not self.draw:
            return
        show_dir = self.show_dir if self.show_dir is not None else 'vis'
        self._out_dir = (show_dir if osp.isabs(show_dir) else
                         osp.join(runner.work_dir, runner.timestamp, show_dir))
        mkdir_or_exist(self._out_dir)
        if isinstance(runner.visualizer, DetLocalVisualizer):
            self._visualizer = runner.visualizer
        else:
            self._visualizer = DetLocalVisualizer(name=f'det_visualization_hook_{id(self)}')
        metainfo = getattr(runner.test_dataloader.dataset, 'metainfo', None)
        if metainfo:
            self._visualizer.dataset_meta = metainfo

    def after_test_iter(self,
                        runner,
                        batch_idx: int,
                        data_batch: Optional[dict] = None,
                        outputs: Optional[Sequence] = None) -> None:
        """Paint and write every sample of the batch (on every ``interval``-th batch).

        Args:
            runner (Runner): The runner.
            batch_idx (int): Index of the batch in the test loop.
            data_batch (dict, optional): The batch from the dataloader (unused).
            outputs (Sequence[DetDataSample], optional): The model's predictions.
        """
        if not self.draw or outputs is None or batch_idx % self.interval != 0:
            return
        for data_sample in outputs:
            img_path = data_sample.img_path
            image = mmcv.imread(img_path, channel_order='rgb')
            if image is None:
                raise FileNotFoundError(f'DetVisualizationHook: cannot read image {img_path}')
            # PNG whatever the input format: JPEG would shift the exact box colours.
            file_name = osp.splitext(osp.basename(img_path))[0] + '.png'
            self._visualizer.add_datasample(
                file_name,
                image,
                data_sample,
                out_file=osp.join(self._out_dir, file_name),
                score_thr=self.score_thr,
                iou_thr=self.iou_thr)
