"""The one loss scale of the detection recipes: per-image means times the global batch size.

ultralytics' ``v8DetectionLoss`` returns ``loss.sum() * batch_size`` and its trainer multiplies
by ``world_size`` under DDP; DDP then averages the gradients over the ranks. The gradient is
therefore that of a *sum over the images of the global batch* of per-image mean losses, and
ultralytics' lr, weight decay and gains (7.5 / 0.5 / 1.5) are tuned for that scale.
``YOLOv8Head`` scales its losses this way; every other term added to them (distillation, ...)
must be scaled the same way, or its weight would mean something else at every batch size and
GPU count.
"""
from typing import Optional

from mmengine.dist import get_world_size


def global_batch_scale(num_imgs: int, world_size: Optional[int] = None) -> int:
    """Images in the global batch: the factor that turns a batch-mean loss into the
    recipe's scale.

    Args:
        num_imgs (int): Images in this process's batch.
        world_size (int, optional): Processes of the job. Defaults to None (mmengine's
            ``get_world_size()``, 1 without a process group).

    Returns:
        int: ``num_imgs * world_size``.
    """
    return num_imgs * (get_world_size() if world_size is None else world_size)
