"""Build a frozen teacher detector from its own config file and a checkpoint."""
import os
import os.path as osp
from typing import Dict, Mapping, Optional

from mmengine.config import Config
from torch import Tensor, nn

from cissreg.registry import MODELS
from cissreg.utils.safe_load import safe_torch_load
from cissreg.utils.state_dict_check import CheckpointMismatchError, compare_state_dict

from .export import STUDENT_PREFIX, strip_ddp_prefix, student_state_dict


def resolve_checkpoint(path: str, key: str = 'model.teacher_ckpt') -> str:
    """The checkpoint file that ``path`` names.

    Args:
        path (str): A checkpoint file, or a work dir holding mmengine's ``last_checkpoint``
            file (which names the latest checkpoint).
        key (str): The config key that set ``path``, for the error messages. Defaults to
            ``'model.teacher_ckpt'``.

    Returns:
        str: Path of the checkpoint file.

    Raises:
        FileNotFoundError: Naming the path and the config key ``model.teacher_ckpt``.
    """
    if osp.isdir(path):
        pointer = osp.join(path, 'last_checkpoint')
        if not osp.isfile(pointer):
            raise FileNotFoundError(
                f"checkpoint: the folder '{path}' (config key {key}) has "
                'no last_checkpoint file; train the teacher into it or name a .pth file')
        with open(pointer, encoding='utf-8') as f:
            path = f.read().strip()
    if not osp.isfile(path):
        raise FileNotFoundError(
            f"checkpoint '{path}' (config key {key}) does not exist (cwd: {os.getcwd()}); "
            'train the teacher first with tools/train.py <teacher config> and point '
            f'{key} to its checkpoint or work dir')
    return path


def teacher_state_dict(checkpoint: Mapping) -> Dict[str, Tensor]:
    """Model weights of a checkpoint, as the teacher model names them.

    Accepts an mmengine checkpoint (``state_dict`` key), a bare state dict, a checkpoint
    of a DDP-wrapped model (``module.`` prefixes) and a distiller checkpoint (whose student
    becomes the teacher).

    Args:
        checkpoint (Mapping): The loaded checkpoint.

    Returns:
        dict[str, Tensor]: The state dict.
    """
    state_dict = strip_ddp_prefix(checkpoint.get('state_dict', checkpoint))
    if any(k.startswith(STUDENT_PREFIX) for k in state_dict):
        state_dict = student_state_dict(state_dict)
    return state_dict


def build_teacher(config: str, checkpoint: str,
                  cfg_options: Optional[dict] = None) -> nn.Module:
    """Build the model of ``config``, load ``checkpoint`` strictly and freeze it.

    Args:
        config (str): Plain path of the teacher's config file (its ``model`` is built).
        checkpoint (str): Checkpoint file or work dir (see :func:`resolve_checkpoint`).
        cfg_options (dict, optional): Overrides merged into the teacher config, as with
            ``--cfg-options``. Defaults to None.

    Returns:
        nn.Module: The teacher, in eval mode, every parameter with ``requires_grad=False``.

    Raises:
        FileNotFoundError: The config or checkpoint does not exist.
        CheckpointMismatchError: The checkpoint's keys or shapes differ from the model's
            (another class count or architecture), naming them.
    """
    if not osp.isfile(config):
        raise FileNotFoundError(f"teacher config '{config}' (config key model.teacher_config) "
                                f'does not exist (cwd: {os.getcwd()})')
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if 'model' not in cfg:
        raise KeyError(f"teacher config '{config}' defines no `model`")
    teacher = MODELS.build(cfg.model)

    ckpt_path = resolve_checkpoint(checkpoint)
    state_dict = teacher_state_dict(safe_torch_load(ckpt_path, map_location='cpu'))
    mismatch = compare_state_dict(teacher, state_dict)
    if mismatch:
        raise CheckpointMismatchError(
            f"teacher checkpoint {ckpt_path} does not fit the teacher built from '{config}' "
            f'({type(teacher).__name__}): another class count or architecture?\n'
            f'{mismatch.describe()}')
    teacher.load_state_dict(state_dict, strict=False)  # only num_batches_tracked may be absent
    teacher.requires_grad_(False)
    teacher.eval()
    return teacher
