"""Helpers shared by the config adapters: session-wide tiny data, generic config rewrites."""
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

# Set once per session by tests/test_configs/conftest.py (a tmp_path_factory directory).
DATA_ROOT: Optional[Path] = None

LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def shared_data(name: str, write: Callable[[Path], None]) -> Path:
    """``DATA_ROOT / name``, filled by ``write(directory)`` the first time in a test run."""
    if DATA_ROOT is None:
        raise RuntimeError('tiny._shared.DATA_ROOT is unset: run through pytest '
                           '(tests/test_configs/conftest.py sets it once per session)')
    directory = DATA_ROOT / name
    if not directory.exists():
        partial = DATA_ROOT / f'{name}.partial'
        partial.mkdir(parents=True)
        write(partial)
        partial.rename(directory)
    return directory


def dicts(node: Any) -> Iterator[dict]:
    """Every dict inside ``node`` (itself included), depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from dicts(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from dicts(value)


def datasets(cfg) -> Iterator[dict]:
    """Dataset configs of every data loader, wrapped datasets (``dataset``/``datasets``) too."""
    for key in LOADERS:
        loader = cfg.get(key)
        if loader:
            yield from (d for d in dicts(loader.get('dataset')) if 'type' in d and (
                'data_root' in d or 'ann_file' in d or 'pipeline' in d))


def shrink_loaders(cfg, batch_size: int = 2) -> None:
    """Small batches, no worker processes."""
    for key in LOADERS:
        loader = cfg.get(key)
        if loader:
            loader.update(batch_size=batch_size, num_workers=0, persistent_workers=False)
    optim_wrapper = cfg.get('optim_wrapper') or {}
    if 'batch_size_per_gpu' in optim_wrapper or 'nominal_batch_size' in optim_wrapper:
        optim_wrapper['batch_size_per_gpu'] = batch_size  # accumulation follows the batch


def shrink_image_sizes(cfg, size: int) -> None:
    """Every transform's ``scale`` / ``img_scale`` (pipelines, hooks' switch pipelines) -> size."""
    for node in dicts([cfg[key] for key in cfg]):
        if 'type' in node:
            for key in ('scale', 'img_scale'):
                if key in node and _is_pixel_size(node[key]):
                    node[key] = (size, size)


def _is_pixel_size(value: Any) -> bool:
    """An int or (w, h) of ints (not a range of ratios such as RandomResizedCrop's scale)."""
    values = value if isinstance(value, (list, tuple)) else [value]
    return all(isinstance(v, int) and not isinstance(v, bool) for v in values)


def one_epoch(cfg, work_dir: Path) -> None:
    """Train one epoch (or two iterations), validate after it, write under ``work_dir``."""
    train_cfg = cfg.get('train_cfg') or {}
    if 'max_iters' in train_cfg:
        train_cfg.update(max_iters=2)
    elif 'max_epochs' in train_cfg or train_cfg.get('by_epoch'):
        train_cfg.update(max_epochs=1)
    if 'val_interval' in train_cfg:
        train_cfg.update(val_interval=1)
    cfg.work_dir = str(work_dir)
