"""Convert an ultralytics YOLOv8 (P5) state dict into cissreg ``YOLODetector`` keys.

Usage::

    python tools/model_converters/ultralytics2cissreg.py SRC DST [--trust-pickle]

``SRC`` is either a plain state dict (``torch.save(model.state_dict(), SRC)``, read with
``torch.load(weights_only=True)``) or an ultralytics checkpoint such as ``yolov8n.pt``
(``{'model': DetectionModel, 'ema': ...}``), which can only be read by unpickling arbitrary
Python objects: that needs the ``ultralytics`` package and the explicit ``--trust-pickle`` flag.
``DST`` receives ``{'state_dict': ..., 'meta': {...}}`` (loadable with ``weights_only=True``).

Key mapping (``yolov8.yaml`` layer index -> cissreg module)::

    model.0            backbone.stem                   ConvModule
    model.1 / 2        backbone.stage1.0 / .1          ConvModule / C2f
    model.3 / 4        backbone.stage2.0 / .1
    model.5 / 6        backbone.stage3.0 / .1
    model.7 / 8 / 9    backbone.stage4.0 / .1 / .2     ConvModule / C2f / SPPF
    model.12, 15       neck.top_down_layers.0, 1       C2f
    model.16, 19       neck.downsample_layers.0, 1     ConvModule
    model.18, 21       neck.bottom_up_layers.0, 1      C2f
    model.22.cv2.i.j   bbox_head.head_module.reg_preds.i.j
    model.22.cv3.i.j   bbox_head.head_module.cls_preds.i.j
    model.22.dfl       dropped (fixed arange(reg_max) projection)

Inside a C2f ``cv1 -> main_conv``, ``cv2 -> final_conv``, ``m.k.cv1/cv2 ->
blocks.k.conv1/conv2``; inside SPPF ``cv1/cv2 -> conv1/conv2``; ``conv``/``bn`` keep their names.
"""
import argparse
import os
import os.path as osp
import pickle
import re
import sys
import tempfile
from typing import Dict, List, Mapping, Tuple

import torch

CONV_PARAMS = ('conv.weight', 'bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var',
               'bn.num_batches_tracked')
DFL_KEY = 'model.22.dfl.conv.weight'
HEAD_INDEX = 22
NUM_LEVELS = 3
# yolov8.yaml layer index -> (cissreg prefix, kind); layers 10, 11, 13, 14, 17, 20 hold no weights.
LAYERS = {
    0: ('backbone.stem', 'conv'),
    1: ('backbone.stage1.0', 'conv'),
    2: ('backbone.stage1.1', 'c2f'),
    3: ('backbone.stage2.0', 'conv'),
    4: ('backbone.stage2.1', 'c2f'),
    5: ('backbone.stage3.0', 'conv'),
    6: ('backbone.stage3.1', 'c2f'),
    7: ('backbone.stage4.0', 'conv'),
    8: ('backbone.stage4.1', 'c2f'),
    9: ('backbone.stage4.2', 'sppf'),
    12: ('neck.top_down_layers.0', 'c2f'),
    15: ('neck.top_down_layers.1', 'c2f'),
    16: ('neck.downsample_layers.0', 'conv'),
    18: ('neck.bottom_up_layers.0', 'c2f'),
    19: ('neck.downsample_layers.1', 'conv'),
    21: ('neck.bottom_up_layers.1', 'c2f'),
    HEAD_INDEX: ('bbox_head.head_module', 'detect'),
}


def _conv_units(kind: str, index: int, keys: List[str]) -> List[Tuple[str, str]]:
    """(ultralytics sub-prefix, cissreg sub-prefix) of every ConvModule of one layer."""
    if kind == 'conv':
        return [('', '')]
    if kind == 'sppf':
        return [('cv1.', 'conv1.'), ('cv2.', 'conv2.')]
    pattern = re.compile(rf'^model\.{index}\.m\.(\d+)\.')
    found = [int(m.group(1)) for m in map(pattern.match, keys) if m]
    num_blocks = max(found) + 1 if found else 1
    units = [('cv1.', 'main_conv.'), ('cv2.', 'final_conv.')]
    for k in range(num_blocks):
        units += [(f'm.{k}.cv1.', f'blocks.{k}.conv1.'), (f'm.{k}.cv2.', f'blocks.{k}.conv2.')]
    return units


def _key_map(keys: List[str]) -> Dict[str, str]:
    """Every ultralytics key a YOLOv8 P5 model must have (block counts read from ``keys``)."""
    mapping = {}
    for index, (prefix, kind) in LAYERS.items():
        if kind == 'detect':
            for src, dst in (('cv2', 'reg_preds'), ('cv3', 'cls_preds')):
                for level in range(NUM_LEVELS):
                    for j in (0, 1):
                        for param in CONV_PARAMS:
                            mapping[f'model.{index}.{src}.{level}.{j}.{param}'] = \
                                f'{prefix}.{dst}.{level}.{j}.{param}'
                    for param in ('weight', 'bias'):
                        mapping[f'model.{index}.{src}.{level}.2.{param}'] = \
                            f'{prefix}.{dst}.{level}.2.{param}'
            continue
        for src_unit, dst_unit in _conv_units(kind, index, keys):
            for param in CONV_PARAMS:
                mapping[f'model.{index}.{src_unit}{param}'] = f'{prefix}.{dst_unit}{param}'
    return mapping


def _format_keys(keys: List[str], limit: int = 20) -> str:
    shown = ', '.join(keys[:limit])
    return shown + (f', ... ({len(keys) - limit} more)' if len(keys) > limit else '')


def convert(ultralytics_state_dict: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Rename an ultralytics YOLOv8 state dict (``model.N.*``) to cissreg ``YOLODetector`` keys.

    Floating-point tensors become float32 (released checkpoints are float16); integer buffers
    (``num_batches_tracked``) are kept. The fixed DFL projection ``model.22.dfl.conv.weight``
    is dropped.

    Args:
        ultralytics_state_dict (Mapping[str, Tensor]): ``DetectionModel.state_dict()`` of a
            ``yolov8{n,s,m,l,x}.yaml`` model, any number of classes.

    Returns:
        dict[str, Tensor]: State dict with ``backbone.*``, ``neck.*`` and
        ``bbox_head.head_module.*`` keys.

    Raises:
        ValueError: If keys are unexpected (another architecture, e.g. YOLOv8-P6, YOLO11,
            a segmentation model) or missing; the message lists them.
    """
    keys = list(ultralytics_state_dict)
    mapping = _key_map(keys)
    unexpected = sorted(k for k in keys if k not in mapping and k != DFL_KEY)
    missing = sorted(k for k in mapping if k not in ultralytics_state_dict)
    if unexpected or missing:
        problems = []
        if unexpected:
            problems.append(f'unexpected keys ({len(unexpected)}): {_format_keys(unexpected)}')
        if missing:
            problems.append(f'missing keys ({len(missing)}): {_format_keys(missing)}')
        raise ValueError('not an ultralytics YOLOv8 (P5 detection) state dict: '
                         + '; '.join(problems))
    converted = {}
    for key in keys:
        if key == DFL_KEY:
            continue
        value = ultralytics_state_dict[key]
        converted[mapping[key]] = value.float() if value.is_floating_point() else value
    return converted


def load_ultralytics_state_dict(path: str, trust_pickle: bool = False
                                ) -> Tuple[Dict[str, torch.Tensor], dict]:
    """Read a plain state dict, or (with ``trust_pickle``) an ultralytics checkpoint.

    Args:
        path (str): File to read.
        trust_pickle (bool): Allow unpickling an ultralytics checkpoint (runs arbitrary code
            from the file; needs the ``ultralytics`` package). Defaults to False.

    Returns:
        tuple: The ``model.N.*`` state dict and extra meta (``class_names`` when the
        checkpoint has them).
    """
    try:
        obj = torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as err:
        if not trust_pickle:
            raise ValueError(
                f'{path} is not a plain state dict: safe (weights_only) loading refused it. '
                'An ultralytics checkpoint such as yolov8n.pt is a pickled DetectionModel '
                'that can only be read by running code from the file: pass --trust-pickle '
                'if you trust it (needs the ultralytics package), or save a plain state dict '
                'with torch.save(YOLO(path).model.state_dict(), out).') from err
        try:
            import ultralytics  # noqa: F401  (needed to unpickle DetectionModel)
        except ImportError as import_err:
            raise ValueError(f'{path} is a pickled checkpoint; reading it needs the '
                             'ultralytics package (pip install ultralytics)') from import_err
        try:
            ckpt = torch.load(path, map_location='cpu', weights_only=False)
        except ModuleNotFoundError as module_err:
            raise ValueError(f'{path} was pickled by an ultralytics version whose modules are '
                             f'not installed here ({module_err})') from module_err
        # a finished run stores the EMA weights under 'model' (ema=None), a running one
        # under 'ema' (model=None); ultralytics itself prefers 'ema'
        model = None
        if isinstance(ckpt, dict):
            model = ckpt.get('ema') if ckpt.get('ema') is not None else ckpt.get('model')
        if not isinstance(model, torch.nn.Module):
            raise ValueError(f"{path}: expected an ultralytics checkpoint dict with a model "
                             f"under 'ema' or 'model', got {type(ckpt).__name__}")
        names = getattr(model, 'names', None)
        extra = {}
        if ckpt.get('version') is not None:
            extra['ultralytics_version'] = str(ckpt['version'])
        if names:
            names = names.values() if isinstance(names, dict) else names
            extra['class_names'] = [str(n) for n in names]
        return model.float().state_dict(), extra
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a state dict (a dict of 'model.N.*' tensors), got "
                         f'{type(obj).__name__}')
    not_tensors = [str(k) for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise ValueError(f"{path}: expected a state dict (a dict of 'model.N.*' tensors), but "
                         f'these entries are not tensors: {_format_keys(not_tensors)}')
    return obj, {}


def save_converted(path: str, state_dict: Dict[str, torch.Tensor], meta: dict) -> None:
    """Write ``{'state_dict': ..., 'meta': ...}`` atomically (temp file + rename)."""
    out_dir = osp.dirname(osp.abspath(path))
    os.makedirs(out_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_dir, suffix='.tmp')
    os.close(fd)
    try:
        torch.save({'state_dict': state_dict, 'meta': meta}, tmp)
        os.replace(tmp, path)
    except BaseException:
        os.remove(tmp)
        raise


def main(argv: List[str] = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='ultralytics state dict or checkpoint (.pt)')
    parser.add_argument('dst', help='output cissreg checkpoint')
    parser.add_argument('--trust-pickle', action='store_true',
                        help='allow unpickling an ultralytics checkpoint (runs code from the '
                        'file; needs the ultralytics package)')
    args = parser.parse_args(argv)
    try:
        src_state, extra = load_ultralytics_state_dict(args.src, args.trust_pickle)
        converted = convert(src_state)
    except ValueError as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    meta = dict(converter='ultralytics2cissreg', source=osp.basename(args.src),
                num_classes=int(converted['bbox_head.head_module.cls_preds.0.2.weight'].shape[0]),
                reg_max=int(converted['bbox_head.head_module.reg_preds.0.2.weight'].shape[0]) // 4,
                **extra)
    save_converted(args.dst, converted, meta)
    print(f'converted {len(converted)} tensors ({meta["num_classes"]} classes) to {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
