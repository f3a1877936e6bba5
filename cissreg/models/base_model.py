"""Base model that refuses to train on a non-finite loss."""
from typing import Dict, List, Tuple, Union

import torch
import torch.distributed as torch_dist
from mmengine.dist import all_gather_object, get_rank, is_distributed
from mmengine.logging import MessageHub, print_log
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper
from mmengine.structures import BaseDataElement


class NonFiniteLossError(FloatingPointError):
    """A loss term is NaN or infinite; the message names the iteration, terms and files."""


class FiniteLossModel(BaseModel):
    """``BaseModel`` that checks the loss terms before every optimizer step.

    The check sits in :meth:`parse_losses`, which both this class's ``train_step`` and
    ``MMDistributedDataParallel.train_step`` call, so it guards wrapped and unwrapped models
    alike. It is one stacked ``isfinite`` over the terms (one host sync per step; under DDP
    the flag is all-reduced in the same sync, so every rank stops at the same iteration).
    A NaN / inf term raises :class:`NonFiniteLossError` naming the iteration (counted from 1,
    like the log), the terms and the files of the batch on every rank. With
    ``skip_nonfinite=True`` the step is skipped instead (:meth:`skip_step`; counted in the
    log), unwrapped or under DDP (``FiniteLossDistributedDataParallel``, the wrapper
    ``CissRunner`` uses, skips on every rank at once).

    The batch's files are read from the ``data_samples`` metainfo (``img_path``) or from an
    ``img_paths`` list in the batch (feature-cache batches), as passed to ``forward``.

    Args:
        skip_nonfinite (bool): Skip the step instead of raising. Defaults to False.
        **kwargs: Passed to ``BaseModel`` (``data_preprocessor``, ``init_cfg``).
    """

    def __init__(self, skip_nonfinite: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.skip_nonfinite = skip_nonfinite
        self.num_skipped_steps = 0
        self._batch_files: List[str] = []
        self.register_forward_pre_hook(self._remember_batch_files, with_kwargs=True)

    def train_step(self, data: Union[dict, tuple, list],
                   optim_wrapper: OptimWrapper) -> Dict[str, torch.Tensor]:
        with optim_wrapper.optim_context(self):
            data = self.data_preprocessor(data, True)
            losses = self._run_forward(data, mode='loss')
        try:
            parsed_losses, log_vars = self.parse_losses(losses)
        except NonFiniteLossError as err:
            if not self.skip_nonfinite:
                raise
            return self.skip_step(err, optim_wrapper)
        optim_wrapper.update_params(parsed_losses)
        return log_vars

    def skip_step(self, err: NonFiniteLossError,
                  optim_wrapper: OptimWrapper) -> Dict[str, torch.Tensor]:
        """Skip this step (no backward, no optimizer step, gradients zeroed) and count it.

        Returns:
            dict: The finite terms of the step, for the log.
        """
        self.num_skipped_steps += 1
        print_log(f'{err}; step skipped ({self.num_skipped_steps} skipped so far)',
                  logger='current', level=30)
        optim_wrapper.zero_grad()
        return {k: v for k, v in self._last_log_vars.items() if k not in err.terms}

    def parse_losses(
            self, losses: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """mmengine's ``parse_losses``, then the finiteness check.

        Raises:
            NonFiniteLossError: A term whose name contains ``loss`` (or the total) is not
                finite on this or (under DDP) another rank.
        """
        loss, log_vars = super().parse_losses(losses)
        names = [k for k in log_vars if 'loss' in k]
        values = torch.stack([log_vars[k].detach().float().reshape(()) for k in names])
        bad_here = (~torch.isfinite(values)).any().float()
        if is_distributed():
            torch_dist.all_reduce(bad_here, op=torch_dist.ReduceOp.MAX)
        if not bad_here.item():
            return loss, log_vars
        self._last_log_vars = log_vars
        raise self._nonfinite_error(names, values.cpu().tolist())

    def _nonfinite_error(self, names: List[str], values: List[float]) -> NonFiniteLossError:
        bad = {k: v for k, v in zip(names, values) if not torch.isfinite(torch.tensor(v))}
        reports = [(get_rank(), bad, self._batch_files)]
        if is_distributed():
            reports = all_gather_object(reports[0])
        message_hub = MessageHub.get_current_instance()
        it = message_hub.get_info('iter', -1) + 1
        lines = [f'non-finite loss at iteration {it} (counted from 1, as in the log):']
        for rank, terms, files in reports:
            where = f'rank {rank}: ' if len(reports) > 1 else ''
            if terms:
                lines.append(f'  {where}' + ', '.join(f'{k}={v}' for k, v in terms.items())
                             + f'; batch files: {files}')
            else:
                lines.append(f'  {where}all terms finite; batch files: {files}')
        lines.append('  Lower the learning rate, add gradient clipping (optim_wrapper.clip_grad) '
                     'or check these files; the last checkpoint is still finite.')
        err = NonFiniteLossError('\n'.join(lines))
        err.terms = set(bad)
        return err

    def _remember_batch_files(self, module, args: tuple, kwargs: dict) -> None:
        """Forward pre-hook: keep the file names of a ``mode='loss'`` batch."""
        if kwargs.get('mode', args[-1] if args and isinstance(args[-1], str) else None) != 'loss':
            return
        paths = kwargs.get('img_paths')
        if paths is None:
            samples = kwargs.get('data_samples', args[1] if len(args) > 1 else None)
            paths = [s.metainfo.get('img_path', '?') if isinstance(s, BaseDataElement) else '?'
                     for s in (samples if isinstance(samples, (list, tuple)) else [])]
        self._batch_files = [str(p) for p in paths]
