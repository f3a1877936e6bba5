"""Data sample passed between a detection pipeline, model and metric."""
from mmengine.structures import BaseDataElement, InstanceData


def _typed_field(name: str, dtype: type) -> property:
    """A data field stored as ``_<name>`` whose values must be ``dtype`` (mmdet's
    getter / setter / deleter triple, written once)."""
    private = f'_{name}'

    def fget(self) -> dtype:
        return getattr(self, private)

    def fset(self, value: dtype) -> None:
        self.set_field(value, private, dtype=dtype)

    def fdel(self) -> None:
        delattr(self, private)

    return property(fget, fset, fdel, doc=f'``{name}`` ({dtype.__name__}).')


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

    gt_instances = _typed_field('gt_instances', InstanceData)
    pred_instances = _typed_field('pred_instances', InstanceData)
