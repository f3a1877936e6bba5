"""Phase replay of the gradient learner: trusted pixels' logits or whole images kept from
finished steps."""
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor


class PixelReplay:
    """A logit-space buffer of trusted ``(z, y)`` pixels, ``per_step`` per finished step.

    During a step, :meth:`observe` keeps a uniform sample (without replacement) of the pixels
    seen since the last :meth:`start_epoch` (each pixel gets a random key from ``generator``;
    the ``per_step`` largest keys stay). :meth:`finish_step` moves that sample into the
    buffer. :meth:`draw` samples from every finished step; logits of classes added after a
    pixel's step are filled with its auxiliary logit (channel 0), the value DKD's new
    classifiers start from.

    Args:
        per_step (int): Pixels kept per finished step (0: nothing is kept).
        generator (torch.Generator): CPU generator of the keys and draws.
    """

    def __init__(self, per_step: int, generator: torch.Generator) -> None:
        if per_step < 0:
            raise ValueError(f'PixelReplay: per_step must be >= 0, got {per_step}')
        self.per_step, self.generator = per_step, generator
        self.buffer: Dict[int, Tuple[Tensor, Tensor]] = {}
        self._current: Optional[Tuple[Tensor, Tensor, Tensor]] = None

    def __len__(self) -> int:
        return sum(y.shape[0] for _, y in self.buffer.values())

    def start_epoch(self) -> None:
        """Forget the pixels observed so far in this step (keep the last epoch's)."""
        self._current = None

    def observe(self, logits: Tensor, labels: Tensor) -> None:
        """Offer trusted pixels to the current step's sample.

        Args:
            logits (Tensor): ``[M, 1 + C]`` logits with the auxiliary one first.
            labels (Tensor): ``[M]`` foreground labels in ``[0, C)``.
        """
        if self.per_step == 0 or labels.shape[0] == 0:
            return
        z, y = logits.detach().float().cpu(), labels.detach().long().cpu()
        keys = torch.rand(y.shape[0], generator=self.generator)
        if self._current is not None:
            cz, cy, ck = self._current
            if cz.shape[1:] == z.shape[1:]:
                z, y, keys = torch.cat([cz, z]), torch.cat([cy, y]), torch.cat([ck, keys])
        if keys.numel() > self.per_step:
            keep = keys.topk(self.per_step).indices
            z, y, keys = z[keep], y[keep], keys[keep]
        self._current = (z, y, keys)

    def finish_step(self, task: int) -> None:
        """Move the current sample into the buffer as step ``task``'s pixels."""
        if self._current is not None:
            self.buffer[task] = (self._current[0], self._current[1])
        self._current = None

    def draw(self, count: int, num_classes: int, device: torch.device) -> Tuple[Tensor, Tensor]:
        """``count`` buffer pixels (at most all), without replacement.

        Args:
            count (int): Pixels to draw.
            num_classes (int): Foreground classes ``C`` of the current step.
            device (torch.device): Where the result goes.

        Returns:
            tuple[Tensor, Tensor]: Foreground logits ``[K, C]`` and labels ``[K]``.
        """
        zs = []
        for z, _ in self.buffer.values():
            pad = z[:, :1].expand(-1, 1 + num_classes - z.shape[1])
            zs.append(torch.cat([z, pad], dim=1)[:, 1:])
        z = torch.cat(zs)
        y = torch.cat([y for _, y in self.buffer.values()])
        pick = torch.randperm(y.numel(), generator=self.generator)[:count]
        return z[pick].to(device), y[pick].to(device)

    def state_dict(self) -> dict:
        """The buffer and the current step's sample."""
        return dict(buffer={k: (z.clone(), y.clone()) for k, (z, y) in self.buffer.items()},
                    current=None if self._current is None else tuple(
                        t.clone() for t in self._current))

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`'s output."""
        self.buffer = {int(k): (z.cpu(), y.cpu()) for k, (z, y) in state['buffer'].items()}
        current = state['current']
        self._current = None if current is None else tuple(t.cpu() for t in current)


class ImageReplay(PixelReplay):
    """:class:`PixelReplay` of whole training images: ``per_step`` images ``[3, H, W]`` with
    their trusted labels ``[H, W]`` kept per finished step (same sampling), drawn unchanged.

    The images are forwarded through the *current* model when drawn, so their logits are the
    ones the learner is applied to (a stored logit of a class added later cannot be).
    """

    def draw(self, count: int, device: torch.device) -> Tuple[Tensor, Tensor]:
        """``count`` buffer images (at most all), without replacement.

        Returns:
            tuple[Tensor, Tensor]: Images ``[K, 3, H, W]`` and trusted labels ``[K, H, W]``.
        """
        x = torch.cat([x for x, _ in self.buffer.values()])
        y = torch.cat([y for _, y in self.buffer.values()])
        pick = torch.randperm(y.shape[0], generator=self.generator)[:count]
        return x[pick].to(device), y[pick].to(device)
