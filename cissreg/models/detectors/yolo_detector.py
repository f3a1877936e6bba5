"""Single-stage YOLO detector: backbone -> neck -> bbox head."""
import copy
from typing import List, Optional, Sequence, Tuple, Union

from torch import Tensor, nn

from cissreg.registry import MODELS
from cissreg.structures.det_data_sample import DetDataSample

from ..base_model import FiniteLossModel


@MODELS.register_module()
class YOLODetector(FiniteLossModel):
    """YOLO detector (mmyolo ``YOLODetector``) on top of :class:`FiniteLossModel`.

    Sub-modules are named ``backbone``, ``neck`` and ``bbox_head`` (whose layers are
    ``bbox_head.head_module``); checkpoints and the ultralytics converter rely on these names.

    Args:
        backbone (dict): Backbone config, e.g. ``YOLOv8CSPDarknet``.
        neck (dict, optional): Neck config, e.g. ``YOLOv8PAFPN``; None feeds the backbone
            outputs straight to the head.
        bbox_head (dict): Head config, e.g. ``YOLOv8Head``.
        train_cfg (dict, optional): Given to the head as its ``train_cfg`` (replacing the
            head's own) when not None. Defaults to None.
        test_cfg (dict, optional): Given to the head as its ``test_cfg`` when not None.
            Defaults to None.
        data_preprocessor (dict | nn.Module, optional): Defaults to
            ``YOLODetDataPreprocessor()`` (BGR -> RGB, /255, pad to 32).
        init_cfg (dict, optional): mmengine init config. Defaults to None.
        skip_nonfinite (bool): Skip (instead of raise on) a step with a NaN / inf loss term.
            Defaults to False.
    """

    def __init__(self,
                 backbone: dict,
                 neck: Optional[dict],
                 bbox_head: dict,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 init_cfg: Optional[dict] = None,
                 skip_nonfinite: bool = False) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='YOLODetDataPreprocessor')
        if isinstance(data_preprocessor, dict):
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(skip_nonfinite=skip_nonfinite, data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck) if neck is not None else None
        bbox_head = copy.deepcopy(bbox_head)
        if train_cfg is not None:
            bbox_head['train_cfg'] = train_cfg
        if test_cfg is not None:
            bbox_head['test_cfg'] = test_cfg
        self.bbox_head = MODELS.build(bbox_head)

    def extract_feat(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        """Multi-level features of a ``[B, 3, H, W]`` batch (neck outputs, P3..P5)."""
        feats = self.backbone(inputs)
        return self.neck(feats) if self.neck is not None else feats

    def forward(self, inputs: Tensor, data_samples: Optional[List[DetDataSample]] = None,
                mode: str = 'tensor'):
        """Dispatch on ``mode``.

        Args:
            inputs (Tensor): ``[B, 3, H, W]`` batch from the data preprocessor.
            data_samples (list[DetDataSample], optional): Needed by ``'loss'``; give the
                metas for ``'predict'``.
            mode (str): ``'loss'`` -> dict of losses, ``'predict'`` -> ``data_samples`` with
                ``pred_instances`` (boxes in original-image pixels), ``'tensor'`` -> raw head
                outputs ``(cls_scores, bbox_dist_preds)``.
        """
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.bbox_head(self.extract_feat(inputs))
        raise ValueError(f"YOLODetector: mode must be 'loss', 'predict' or 'tensor', "
                         f'got {mode!r}')

    def loss(self, inputs: Tensor, data_samples: Sequence[DetDataSample]) -> dict:
        """Losses of a batch: ``loss_cls``, ``loss_bbox``, ``loss_dfl``."""
        if data_samples is None:
            raise ValueError("YOLODetector: mode='loss' needs data_samples with gt_instances")
        return self.bbox_head.loss(self.extract_feat(inputs), data_samples)

    def predict(self, inputs: Tensor, data_samples: Optional[List[DetDataSample]] = None,
                rescale: bool = True) -> List[DetDataSample]:
        """Detect and write ``pred_instances`` into each data sample.

        Args:
            inputs (Tensor): ``[B, 3, H, W]`` batch.
            data_samples (list[DetDataSample], optional): Metas (``pad_param``,
                ``scale_factor``, ``ori_shape``); empty samples are created when None.
            rescale (bool): Boxes in original-image pixels. Defaults to True.

        Returns:
            list[DetDataSample]: The samples, each with ``pred_instances``.
        """
        if data_samples is None:
            data_samples = [DetDataSample() for _ in range(inputs.shape[0])]
        results = self.bbox_head.predict(self.extract_feat(inputs), data_samples,
                                         rescale=rescale)
        for sample, pred in zip(data_samples, results):
            sample.pred_instances = pred
        return data_samples
