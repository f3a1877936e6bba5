"""When to train the gradient learner (the ``GradLearner`` module decides what it computes)."""
import copy
from typing import Dict, Optional

import torch
from mmengine.dist import all_reduce, get_dist_info
from mmengine.model import is_model_wrapper
from torch.nn.parallel import DistributedDataParallel

from cissreg.models.layers.grad_learner import GradLearner, grow_optimizer_state
from cissreg.registry import HOOKS, MODELS

from .incremental_hook import IncrementalHook


@HOOKS.register_module()
class GradLearnerHook(IncrementalHook):
    """Train the trusted-foreground gradient learner ``h_w`` after every main-model update.

    The segmentor leaves the step's logits and trusted labels in ``model.train_cache``
    (``logits`` ``[N, 1 + C, H, W]`` detached, ``trusted`` ``[N, H, W]``). After the
    optimizer step (``after_train_iter``), this hook takes the pixels whose trusted label is
    neither 0 nor 255, samples at most ``samples`` of them, and with ``z`` = their foreground
    logits ``[M, C]`` and ``y`` = label - 1 takes one Adam step of ``w`` on
    ``FitnessLoss(GradLearner.simulated_logits(z, y))``. The main model's parameters, grads
    and graph are not touched, and pixel sampling uses the hook's own generator, so a run
    with the hook trains the same main model as one without it.

    Skipped (and counted in ``train/grad_skipped``) during the first ``warmup`` epochs of each
    task and when no rank has a trusted pixel; ``train/loss_grad`` is logged otherwise. The
    learner grows with the number of seen foreground classes (old rows / columns and Adam
    moments kept, new moments zero); it and its optimizer state are saved in every
    checkpoint (``checkpoint['grad_learner']``) and restored on ``--resume``. In a
    distributed run it is wrapped in ``DistributedDataParallel`` (gradients averaged; a rank
    without trusted pixels contributes a zero gradient).

    Args:
        learner (dict): ``GradLearner`` config without ``num_classes``. Defaults to
            ``dict(type='GradLearner', hidden=64, layers=2)``.
        loss_fit (dict): Fitness loss config (``loss_weight`` = lambda). Defaults to
            ``dict(type='FitnessLoss', loss_weight=1.0)``.
        samples (int): Pixels sampled per batch at most. Defaults to 512.
        alpha (float): Scale of the normalised prediction. Defaults to 0.5.
        eta (float): Simulated step size. Defaults to 1.0.
        eps (float): Added to the prediction's norm. Defaults to 1e-6.
        lr (float): Adam learning rate of ``w``. Defaults to 1e-3.
        warmup (int): Epochs per task with the main model only. Defaults to 0.
        seed (int): Seed of the sampling generator. Defaults to 0.
    """

    priority = 'NORMAL'

    def __init__(self,
                 learner: Optional[dict] = None,
                 loss_fit: Optional[dict] = None,
                 samples: int = 512,
                 alpha: float = 0.5,
                 eta: float = 1.0,
                 eps: float = 1e-6,
                 lr: float = 1e-3,
                 warmup: int = 0,
                 seed: int = 0) -> None:
        self.learner_cfg = dict(learner or dict(type='GradLearner', hidden=64, layers=2))
        self.loss_fit = MODELS.build(loss_fit or dict(type='FitnessLoss', loss_weight=1.0))
        self.samples, self.alpha, self.eta, self.eps = samples, alpha, eta, eps
        self.lr, self.warmup = lr, warmup
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)
        self.learner: Optional[GradLearner] = None
        self.optimizer: Optional[torch.optim.Adam] = None
        self._ddp: Optional[DistributedDataParallel] = None
        self.skipped, self.steps = 0, 0
        self._task_start: Dict[int, int] = {}

    # ------------------------------------------------------------------ building / growing
    def _build(self, num_classes: int, device: torch.device) -> None:
        cfg = copy.deepcopy(self.learner_cfg)
        cfg['num_classes'] = num_classes
        self.learner = MODELS.build(cfg).to(device)
        self.optimizer = torch.optim.Adam(self.learner.parameters(), lr=self.lr)
        self._wrap()

    def _wrap(self) -> None:
        _, world_size = get_dist_info()
        self._ddp = DistributedDataParallel(self.learner) if world_size > 1 else None

    def ensure_classes(self, num_classes: int, device: torch.device) -> None:
        """Build the learner, or grow it (and its Adam state) to ``num_classes``.

        The new layers are initialised from a seed of ``(seed, num_classes)`` inside a forked
        CPU random state, so building the learner during training leaves the main model's
        random stream (augmentation, dropout, sampling) as it would be without the hook.
        """
        if self.learner is not None and num_classes <= self.learner.num_classes:
            return
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed * 1_000_003 + num_classes)
            if self.learner is None:
                self._build(num_classes, device)
            else:
                grow_optimizer_state(self.optimizer, self.learner.grow(num_classes))
                self._wrap()

    # ------------------------------------------------------------------ events
    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        model.cache_train_outputs = True  # the segmentor keeps the step's logits for us

    def before_train_task(self, runner, task_id: int) -> None:
        self._task_start.setdefault(int(task_id), runner.epoch)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        cache = getattr(model, 'train_cache', None)
        if not cache:
            return
        logits, trusted = cache['logits'], cache['trusted']
        self.ensure_classes(logits.shape[1] - 1, logits.device)
        start = self._task_start.get(getattr(runner.train_loop, 'task', 0), 0)
        loss = None
        if runner.epoch - start >= self.warmup:
            loss = self.step(logits, trusted)
        if loss is None:
            self.skipped += 1
        else:
            runner.message_hub.update_scalar('train/loss_grad', float(loss))
        runner.message_hub.update_scalar('train/grad_skipped', self.skipped)

    def step(self, logits: torch.Tensor, trusted: torch.Tensor) -> Optional[torch.Tensor]:
        """One learner update from a batch; ``None`` when skipped (no trusted pixel anywhere).

        Args:
            logits (Tensor): ``[N, 1 + C, H, W]`` logits (channel 0 is the auxiliary one).
            trusted (Tensor): ``[N, H, W]`` trusted labels (0 background, 255 ignore).

        Returns:
            Tensor | None: The fitness loss (detached).
        """
        z_all = logits.detach()[:, 1:].permute(0, 2, 3, 1).reshape(-1, logits.shape[1] - 1)
        labels = trusted.reshape(-1)
        idx = ((labels != 0) & (labels != 255)).nonzero().squeeze(1)
        count = torch.tensor([float(idx.numel())], device=logits.device)
        if self._ddp is not None:
            all_reduce(count)
        if float(count) == 0:
            return None
        if idx.numel() > self.samples:
            pick = torch.randperm(idx.numel(), generator=self.generator)[:self.samples]
            idx = idx[pick.to(idx.device)]
        net = self._ddp if self._ddp is not None else self.learner
        z, y = z_all[idx], (labels[idx] - 1).long()
        self.optimizer.zero_grad(set_to_none=True)
        if idx.numel() == 0:  # this rank has no trusted pixel: a zero gradient for DDP
            loss = net(z_all[:1]).sum() * 0.0
        else:
            z_prime = self._simulate(net, z, y)
            loss = self.loss_fit(z_prime, y)
        loss.backward()
        self.optimizer.step()
        self.steps += 1
        return loss.detach()

    def _simulate(self, net, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if net is self.learner:
            return self.learner.simulated_logits(z, y, self.alpha, self.eta, self.eps)
        # through the DDP wrapper so gradients are averaged: same formula, forward via net
        tau = (z.softmax(1) - torch.nn.functional.one_hot(y, z.shape[1]).to(z.dtype)).norm(
            dim=1, keepdim=True)
        g_hat = net(z)
        return z - self.eta * self.alpha * tau * g_hat / (g_hat.norm(dim=1, keepdim=True)
                                                          + self.eps)

    # ------------------------------------------------------------------ checkpoints
    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['grad_learner'] = self.state_dict()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('grad_learner')
        if state is not None:
            self.load_state_dict(state)

    def state_dict(self) -> dict:
        """Learner weights, Adam state, sampler RNG, counters and task start epochs."""
        if self.learner is None:
            return dict(num_classes=0, skipped=self.skipped, steps=self.steps,
                        generator=self.generator.get_state(), task_start=dict(self._task_start))
        return dict(num_classes=self.learner.num_classes, learner=self.learner.state_dict(),
                    optimizer=self.optimizer.state_dict(), skipped=self.skipped,
                    steps=self.steps, generator=self.generator.get_state(),
                    task_start=dict(self._task_start))

    def load_state_dict(self, state: dict) -> None:
        """Rebuild the learner at the saved size and load weights and optimizer state."""
        self.skipped, self.steps = int(state['skipped']), int(state['steps'])
        self.generator.set_state(state['generator'])
        self._task_start = {int(k): int(v) for k, v in state['task_start'].items()}
        if not state['num_classes']:
            return
        device = next(iter(state['learner'].values())).device
        self.learner = None
        self._build(int(state['num_classes']), device)
        self.learner.load_state_dict(state['learner'])
        self.optimizer.load_state_dict(state['optimizer'])
