"""Base model that refuses to train on a non-finite loss (SPEC.md §9)."""
import math
from typing import Dict, List, Union

import torch
from mmengine.logging import MessageHub, print_log
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper


class FiniteLossModel(BaseModel):
    """``BaseModel`` whose ``train_step`` checks every loss term before the optimizer step.

    A NaN / inf term raises ``FloatingPointError`` naming the iteration, the term and the
    batch's image files; with ``skip_nonfinite=True`` the step is skipped (and counted in the
    log) instead.

    Args:
        skip_nonfinite (bool): Skip the step instead of raising. Defaults to False.
        **kwargs: Passed to ``BaseModel`` (``data_preprocessor``, ``init_cfg``).
    """

    def __init__(self, skip_nonfinite: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.skip_nonfinite = skip_nonfinite
        self.num_skipped_steps = 0

    def train_step(self, data: Union[dict, tuple, list],
                   optim_wrapper: OptimWrapper) -> Dict[str, torch.Tensor]:
        with optim_wrapper.optim_context(self):
            data = self.data_preprocessor(data, True)
            losses = self._run_forward(data, mode='loss')
        parsed_losses, log_vars = self.parse_losses(losses)
        bad = [k for k, v in log_vars.items() if not math.isfinite(float(v.detach()))]
        if bad:
            message_hub = MessageHub.get_current_instance()
            it = message_hub.get_info('iter')
            files = self._batch_files(data)
            msg = (f'non-finite loss at iteration {it}: '
                   + ', '.join(f"{k}={float(log_vars[k].detach())}" for k in bad)
                   + f'; batch images: {files}')
            if not self.skip_nonfinite:
                raise FloatingPointError(msg)
            self.num_skipped_steps += 1
            print_log(f'{msg}; step skipped ({self.num_skipped_steps} skipped so far)',
                      logger='current', level=30)
            optim_wrapper.zero_grad()
            return {k: v for k, v in log_vars.items() if k not in bad}
        optim_wrapper.update_params(parsed_losses)
        return log_vars

    @staticmethod
    def _batch_files(data: Union[dict, tuple, list]) -> List[str]:
        samples = data.get('data_samples') if isinstance(data, dict) else None
        if not samples:
            return []
        return [s.metainfo.get('img_path', '?') if hasattr(s, 'metainfo') else '?'
                for s in samples]
