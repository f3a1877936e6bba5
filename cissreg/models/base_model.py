"""Base model that refuses to train on a non-finite loss or gradient."""
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Tuple, Union

import torch
import torch.distributed as torch_dist
from mmengine.dist import all_gather_object, get_rank, is_distributed
from mmengine.logging import MessageHub, print_log
from mmengine.model import BaseModel
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from mmengine.structures import BaseDataElement

from cissreg.utils.safe_load import safe_torch_load


class NonFiniteLossError(FloatingPointError):
    """A loss term is NaN or infinite; the message names the iteration, terms and files."""


class NonFiniteGradientError(NonFiniteLossError):
    """The loss is finite but a gradient is NaN or infinite (named like the loss error)."""


class FiniteLossModel(BaseModel):
    """``BaseModel`` that checks the loss terms and the gradients before every optimizer step.

    The check sits in :meth:`parse_losses`, which both this class's ``train_step`` and
    ``MMDistributedDataParallel.train_step`` call, so it guards wrapped and unwrapped models
    alike. It is one stacked ``isfinite`` over the terms (one host sync per step; under DDP
    the flag is all-reduced in the same sync, so every rank stops at the same iteration).
    A NaN / inf term raises :class:`NonFiniteLossError` naming the iteration (counted from 1,
    like the log), the terms and the files of the batch on every rank. With
    ``skip_nonfinite=True`` the step is skipped instead (:meth:`skip_step`; counted in the
    log), unwrapped or under DDP (``FiniteLossDistributedDataParallel``, the wrapper
    ``CissRunner`` uses, skips on every rank at once).

    The gradients are checked after the backward pass, right before the optimizer steps
    (:meth:`gradient_guard`; a finite loss can still give a NaN gradient, e.g. ``sqrt`` at 0):
    a NaN / inf gradient raises :class:`NonFiniteGradientError` naming the current batch's
    files before any weight, optimizer state or EMA changes, or with ``skip_nonfinite=True``
    the step is skipped (the optimizer does not step and the wrapper's
    ``skipped_nonfinite`` flag tells ``CissRunner``'s EMA hooks to leave the EMA alone).
    Under DDP the gradients are all-reduced before the check, so every rank decides alike.
    Under AMP (``AmpOptimWrapper``) non-finite gradients are the ``GradScaler``'s: it skips
    the step and lowers the loss scale, as mixed-precision training expects.

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
        with self.gradient_guard(optim_wrapper):
            optim_wrapper.update_params(parsed_losses)
        return log_vars

    @contextmanager
    def gradient_guard(self, optim_wrapper: OptimWrapper) -> Iterator[None]:
        """Check the gradients whenever ``optim_wrapper`` steps inside this context.

        The wrapper's ``step`` is replaced for the duration of the context by one that first
        checks that every gradient of the optimizer's parameters is finite (after DDP's
        all-reduce, before clipping); ``optim_wrapper.skipped_nonfinite`` is set when a step
        is skipped. AMP wrappers are left to their ``GradScaler``.

        Raises:
            NonFiniteGradientError: A gradient is not finite and ``skip_nonfinite`` is off.
        """
        optim_wrapper.skipped_nonfinite = False
        if isinstance(optim_wrapper, AmpOptimWrapper) or 'step' in vars(optim_wrapper):
            yield
            return
        original_step = optim_wrapper.step

        def guarded_step(**kwargs) -> None:
            bad = self._nonfinite_gradients(optim_wrapper.optimizer)
            if not bad:
                return original_step(**kwargs)
            err = self._nonfinite_gradient_error(bad)
            if not self.skip_nonfinite:
                raise err
            self.num_skipped_steps += 1
            optim_wrapper.skipped_nonfinite = True
            if hasattr(optim_wrapper, 'stepped'):
                optim_wrapper.stepped = False
            print_log(f'{err}; step skipped ({self.num_skipped_steps} skipped so far)',
                      logger='current', level=30)

        optim_wrapper.step = guarded_step
        try:
            yield
        finally:
            del optim_wrapper.step

    def _nonfinite_gradients(self, optimizer) -> List[str]:
        """Names of the parameters whose gradient is not finite (one host sync)."""
        params = [p for group in optimizer.param_groups for p in group['params']
                  if p.grad is not None]
        if not params:
            return []
        finite = torch.stack([torch.isfinite(p.grad).all() for p in params])
        if bool(finite.all()):
            return []
        names = {id(p): name for name, p in self.named_parameters()}
        return [names.get(id(p), '?') for p, ok in zip(params, finite.tolist()) if not ok]

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
        optim_wrapper.skipped_nonfinite = True
        if hasattr(optim_wrapper, 'stepped'):
            optim_wrapper.stepped = False
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
        lines = [f'non-finite loss at iteration {_iteration()} (counted from 1, as in the log):']
        for rank, terms, files in reports:
            where = f'rank {rank}: ' if len(reports) > 1 else ''
            if terms:
                lines.append(f'  {where}' + ', '.join(f'{k}={v}' for k, v in terms.items())
                             + f'; batch files: {files}')
            else:
                lines.append(f'  {where}all terms finite; batch files: {files}')
        note = self._checkpoint_note()
        lines.append('  Lower the learning rate, add gradient clipping (optim_wrapper.clip_grad) '
                     'or check these files' + (f'; {note}' if note else ''))
        err = NonFiniteLossError('\n'.join(lines))
        err.terms = set(bad)
        return err

    def _nonfinite_gradient_error(self, params: List[str]) -> NonFiniteGradientError:
        """The error for non-finite gradients of ``params`` (every rank sees the same ones)."""
        reports = [(get_rank(), self._batch_files)]
        if is_distributed():
            reports = all_gather_object(reports[0])
        shown = ', '.join(params[:5]) + (f' and {len(params) - 5} more' if len(params) > 5
                                         else '')
        lines = [f'non-finite gradient at iteration {_iteration()} (counted from 1, as in the '
                 f'log) with a finite loss, in {len(params)} parameter(s): {shown}']
        for rank, files in reports:
            where = f'rank {rank}: ' if len(reports) > 1 else ''
            lines.append(f'  {where}batch files: {files}')
        note = self._checkpoint_note()
        lines.append('  The optimizer did not step. Check these files and operations whose '
                     'gradient is infinite where their value is finite (sqrt or log at 0, '
                     'division by a norm of 0)' + (f'; {note}' if note else ''))
        err = NonFiniteGradientError('\n'.join(lines))
        err.terms = set()
        return err

    def _checkpoint_note(self) -> str:
        """What the last checkpoint holds: checked, not assumed (only when raising)."""
        if self.skip_nonfinite:
            return ''
        path = MessageHub.get_current_instance().get_info('last_ckpt')
        if path is None:
            return 'no checkpoint has been saved yet.'
        bad = _nonfinite_tensors(path)
        if bad is None:
            return f'the last checkpoint {path} could not be read to check it.'
        if bad:
            return (f'the last checkpoint {path} holds {len(bad)} non-finite tensor(s) '
                    f'({", ".join(bad[:3])}); resume from an earlier checkpoint.')
        return f'the last checkpoint {path} is finite (checked).'

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


def _iteration() -> int:
    """The current iteration counted from 1 (as the log counts)."""
    return MessageHub.get_current_instance().get_info('iter', -1) + 1


def _nonfinite_tensors(path: str) -> Optional[List[str]]:
    """Keys of the non-finite floating tensors of a checkpoint (weights and EMA), or None."""
    try:
        checkpoint = safe_torch_load(path, map_location='cpu')
    except Exception:  # noqa: BLE001 (an unreadable file is reported as such)
        return None
    bad = []
    for section in ('state_dict', 'ema_state_dict'):
        for key, value in (checkpoint.get(section) or {}).items():
            if (isinstance(value, torch.Tensor) and value.is_floating_point()
                    and not bool(torch.isfinite(value).all())):
                bad.append(f'{section}.{key}')
    return bad
