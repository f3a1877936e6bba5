"""Export the student of a ``DetectionDistiller`` checkpoint as a plain detector checkpoint.

Usage::

    python tools/model_converters/export_student.py SRC DST [--student-config CONFIG]

``SRC`` is a checkpoint written while training a distillation config (its ``state_dict`` holds
``student.*`` and ``connectors.*``; with the EMA hook these are the averaged weights, the ones
validation used). ``DST`` receives ``{'state_dict': <student weights, unprefixed>, 'meta':
{...}}``, which the plain student config loads (``tools/test.py STUDENT_CONFIG DST``,
``load_from = DST``). The connectors and the teacher are not exported. With
``--student-config`` the exported weights are checked against that config's model first
(keys and shapes; a mismatch is reported and nothing is written). The file is written
atomically.
"""
import argparse
import io
import os.path as osp
import sys
from typing import Optional

import torch
from mmengine.config import Config

from cissreg.models.distillers import strip_ddp_prefix, student_state_dict
from cissreg.registry import MODELS
from cissreg.utils import CheckpointMismatchError, atomic_write_bytes, compare_state_dict
from cissreg.utils.safe_load import safe_torch_load


def export_student(src: str, dst: str, student_config: Optional[str] = None) -> dict:
    """Write the student of the distiller checkpoint ``src`` to ``dst``.

    Args:
        src (str): Distiller checkpoint.
        dst (str): Output checkpoint path.
        student_config (str, optional): Config whose ``model`` must accept the weights.

    Returns:
        dict: The written checkpoint.

    Raises:
        KeyError: ``src`` is not a distiller checkpoint.
        CheckpointMismatchError: The weights do not fit ``student_config``'s model.
    """
    checkpoint = safe_torch_load(src, map_location='cpu')
    try:
        student = student_state_dict(strip_ddp_prefix(checkpoint.get('state_dict', checkpoint)))
    except KeyError as err:
        raise KeyError(f'{src}: {err.args[0]}') from err
    if student_config is not None:
        model = MODELS.build(Config.fromfile(student_config).model)
        mismatch = compare_state_dict(model, student)
        if mismatch:
            raise CheckpointMismatchError(
                f'the student of {src} does not fit the model of {student_config}:\n'
                f'{mismatch.describe()}')
    meta = {k: v for k, v in checkpoint.get('meta', {}).items() if k != 'cfg'}
    meta['exported_from'] = osp.abspath(src)
    exported = dict(meta=meta, state_dict=student)
    buffer = io.BytesIO()
    torch.save(exported, buffer)
    atomic_write_bytes(dst, buffer.getvalue())
    return exported


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Export the student of a DetectionDistiller checkpoint')
    parser.add_argument('src', help='distillation checkpoint')
    parser.add_argument('dst', help='output student checkpoint')
    parser.add_argument('--student-config',
                        help='check the weights against this config\'s model before writing')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    exported = export_student(args.src, args.dst, args.student_config)
    print(f'wrote {len(exported["state_dict"])} student tensors to {args.dst}'
          + (f' (checked against {args.student_config})' if args.student_config else ''),
          file=sys.stdout)


if __name__ == '__main__':
    main()
