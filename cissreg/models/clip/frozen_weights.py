"""Leave a frozen pretrained backbone out of a module's state dict (and checkpoints).

The backbone is rebuilt from the config's weights; a float64 checksum of it is saved
instead, and loading refuses a checkpoint whose backbone checksum differs from the one
built now (another ``pretrained`` file would silently change every score).
"""
from typing import Sequence

import torch
from torch import nn


def frozen_checksum(module: nn.Module, prefix: str, keep: Sequence[str]) -> torch.Tensor:
    """float64 [2]: sum and sum of squares of the frozen tensors under ``prefix``."""
    total = torch.zeros(2, dtype=torch.float64)
    tensors = list(module.named_parameters()) + list(module.named_buffers())
    for name, tensor in tensors:
        if _frozen(name, prefix, keep) and not tensor.is_meta and name != 'frozen_checksum':
            t = tensor.detach().double()
            total += torch.stack([t.sum(), t.square().sum()]).cpu()
    return total


def _frozen(name: str, prefix: str, keep: Sequence[str]) -> bool:
    return name.startswith(prefix) and not any(k in name for k in keep)


def exclude_frozen_weights(module: nn.Module, prefix: str, keep: Sequence[str] = ()) -> None:
    """Drop ``prefix*`` keys (except names containing a ``keep`` string) from
    ``module.state_dict()``, accept their absence in ``load_state_dict(strict=True)``, and
    check the backbone against the ``frozen_checksum`` buffer on load.

    Args:
        module (nn.Module): Module holding the backbone (gets a ``frozen_checksum`` buffer).
        prefix (str): Key prefix of the backbone, e.g. ``'clip.'``.
        keep (Sequence[str]): Substrings of backbone keys that are saved (``'lora_'``).
    """
    module.register_buffer('frozen_checksum', frozen_checksum(module, prefix, keep))

    def drop(mod, state_dict, state_prefix, local_metadata) -> None:
        for key in [k for k in state_dict if k.startswith(state_prefix)]:
            if _frozen(key[len(state_prefix):], prefix, keep):
                del state_dict[key]

    def accept_missing(mod, incompatible_keys):
        missing = incompatible_keys.missing_keys
        frozen = [k for k in missing if _frozen(k, prefix, keep)]
        for key in frozen:
            missing.remove(key)
        now = frozen_checksum(mod, prefix, keep)
        saved = mod.frozen_checksum.cpu()
        if not bool(now.eq(0).all()) and not torch.allclose(now, saved, rtol=1e-9, atol=0):
            raise ValueError(
                f'the checkpoint was trained with other frozen {prefix.rstrip(".")} weights '
                f'(checksum {saved.tolist()} vs {now.tolist()} built from the config): '
                'use the pretrained weights it was trained with')

    module.register_state_dict_post_hook(drop)
    module.register_load_state_dict_post_hook(accept_missing)
