"""Data sample passed between a detection pipeline, model and metric."""
from mmengine.structures import BaseDataElement, InstanceData


class DetDataSample(BaseDataElement):
    """One image's detection annotations and predictions.

    Fields (all optional):
        gt_instances (InstanceData): ``bboxes`` (Tensor [N, 4], xyxy, pixels of the
            network input image after the pipeline's resize / letterbox) and ``labels``
            (Tensor [N], int64).
        pred_instances (InstanceData): ``bboxes`` (Tensor [K, 4], xyxy, pixels of the
            *original* image), ``scores`` (Tensor [K]) and ``labels`` (Tensor [K]).

    Meta keys set by the pipeline: ``img_id``, ``img_path``, ``ori_shape`` (h, w),
    ``img_shape`` (h, w), ``scale_factor`` (w_scale, h_scale), ``pad_param``
    (top, bottom, left, right), ``flip``, ``flip_direction`` and ``instances`` (the dataset's
    cleaned annotations in original-image coordinates, used by ``DetMetric``); the data
    preprocessor adds ``batch_input_shape`` (h, w).
    """

    @property
    def gt_instances(self) -> InstanceData:
        return self._gt_instances

    @gt_instances.setter
    def gt_instances(self, value: InstanceData) -> None:
        self.set_field(value, '_gt_instances', dtype=InstanceData)

    @gt_instances.deleter
    def gt_instances(self) -> None:
        del self._gt_instances

    @property
    def pred_instances(self) -> InstanceData:
        return self._pred_instances

    @pred_instances.setter
    def pred_instances(self, value: InstanceData) -> None:
        self.set_field(value, '_pred_instances', dtype=InstanceData)

    @pred_instances.deleter
    def pred_instances(self) -> None:
        del self._pred_instances
