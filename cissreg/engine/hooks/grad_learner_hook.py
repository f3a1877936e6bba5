"""When to train the gradient learner (the ``GradLearner`` module decides what it computes)."""
import copy
from typing import Callable, Dict, Optional

import torch
from mmengine.dist import all_reduce, get_dist_info
from mmengine.model import is_model_wrapper
from torch.nn.parallel import DistributedDataParallel

from cissreg.models.layers.grad_learner import GradLearner, grow_optimizer_state
from cissreg.models.layers.pixel_replay import ImageReplay, PixelReplay
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
    and graph are not touched, and pixel sampling and the learner's initial weights use the
    hook's own generators (no global CPU or CUDA random state is read or changed), so a run
    with the hook trains the same main model as one without it.

    Skipped (and counted in ``train/grad_skipped``) during the first ``warmup`` epochs of each
    task, when no rank has a trusted pixel, when the main model skipped its step
    (``skip_nonfinite``) and when the cached logits are not finite; ``train/loss_grad`` is
    logged otherwise. The learner grows with the number of seen foreground classes (old rows
    / columns and Adam moments kept, new moments zero); it and its optimizer state are saved
    in every checkpoint (``checkpoint['grad_learner']``) and restored on ``--resume``. In a
    distributed run it is wrapped in ``DistributedDataParallel`` (gradients averaged; a rank
    without trusted pixels contributes a zero gradient).

    **Phase replay** (``replay_per_step > 0``, off by default): during the last epoch of every
    step a uniform sample of ``replay_per_step`` trusted pixels is kept (``(z, y)`` with the
    auxiliary logit, ``[K, 1 + C_t]``); when the step ends it joins the replay buffer. Every
    later learner step adds ``replay_samples`` pixels drawn from the buffer to its sampled
    pixels; a stored pixel's logits of classes added after its step are set to its auxiliary
    logit (DKD starts every new classifier as a copy of the auxiliary one).

    **Image replay** (``replay_images_per_step > 0``, off by default): the same sampling keeps
    ``replay_images_per_step`` training images of every step's last epoch (the segmentor's
    preprocessed inputs with their trusted labels). Every later learner step forwards
    ``replay_images`` of them through the *current* model (no gradient, every module in eval
    mode for the call, modes restored after it) and adds their trusted pixels to the batch's
    before sampling: the learner sees old classes with the logits the current classifiers
    give them, which the logit buffer above cannot provide.

    ``class_balanced=True`` weights every sampled pixel by ``1 / n_y`` (``n_y`` pixels of its
    class in the sample) and averages over the classes present, so the newest class's pixels,
    usually the majority of an overlap step's trusted pixels, do not decide the fit alone.

    The hook also hands the learner to the segmentor (``model.grad_predictor``, not a
    submodule) before every iteration, for its optional pseudo-gradient alignment loss.

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
        seed (int): Seed of the sampling generator and of the learner's initial weights.
            Defaults to 0.
        replay_per_step (int): Pixels kept per finished step for phase replay; 0 turns
            replay off. Defaults to 0.
        replay_samples (int, optional): Buffer pixels added to every learner step. Defaults
            to ``samples``.
        replay_images_per_step (int): Images kept per finished step for image replay; 0
            turns it off. Defaults to 0.
        replay_images (int): Buffer images forwarded in every learner step. Defaults to 8.
        class_balanced (bool): Weight pixels by the inverse of their class's count in the
            sample. Defaults to False.
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
                 seed: int = 0,
                 replay_per_step: int = 0,
                 replay_samples: Optional[int] = None,
                 replay_images_per_step: int = 0,
                 replay_images: int = 8,
                 class_balanced: bool = False) -> None:
        self.learner_cfg = dict(learner or dict(type='GradLearner', hidden=64, layers=2))
        self.loss_fit = MODELS.build(loss_fit or dict(type='FitnessLoss', loss_weight=1.0))
        self.samples, self.alpha, self.eta, self.eps = samples, alpha, eta, eps
        self.lr, self.warmup = lr, warmup
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)
        self.replay_per_step = int(replay_per_step)
        self.replay_samples = samples if replay_samples is None else int(replay_samples)
        self.replay = PixelReplay(self.replay_per_step, self.generator)
        self.image_replay = ImageReplay(int(replay_images_per_step), self.generator)
        self.replay_images, self.class_balanced = int(replay_images), class_balanced
        self.learner: Optional[GradLearner] = None
        self.optimizer: Optional[torch.optim.Adam] = None
        self._ddp: Optional[DistributedDataParallel] = None
        self.skipped, self.steps = 0, 0
        self._task_start: Dict[int, int] = {}
        self._main_skips = 0

    # ------------------------------------------------------------------ building / growing
    def _init_generator(self, num_classes: int) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed * 1_000_003 + num_classes)

    def _build(self, num_classes: int, device: torch.device) -> None:
        cfg = copy.deepcopy(self.learner_cfg)
        cfg['num_classes'] = num_classes
        cfg['generator'] = self._init_generator(num_classes)
        self.learner = MODELS.build(cfg).to(device)
        self.optimizer = torch.optim.Adam(self.learner.parameters(), lr=self.lr)
        self._wrap()

    def _wrap(self) -> None:
        _, world_size = get_dist_info()
        self._ddp = DistributedDataParallel(self.learner) if world_size > 1 else None

    def ensure_classes(self, num_classes: int, device: torch.device) -> None:
        """Build the learner, or grow it (and its Adam state) to ``num_classes``.

        The new layers are drawn from a private generator seeded with
        ``(seed, num_classes)``: no global random state (CPU or CUDA) is read or changed.
        """
        if self.learner is not None and num_classes <= self.learner.num_classes:
            return
        if self.learner is None:
            self._build(num_classes, device)
        else:
            grown = self.learner.grow(num_classes, self._init_generator(num_classes))
            grow_optimizer_state(self.optimizer, grown)
            self._wrap()

    # ------------------------------------------------------------------ events
    @staticmethod
    def _model(runner):
        return runner.model.module if is_model_wrapper(runner.model) else runner.model

    def before_train(self, runner) -> None:
        model = self._model(runner)
        model.cache_train_outputs = True  # the segmentor keeps the step's logits for us
        self._main_skips = getattr(model, 'num_skipped_steps', 0)

    def before_train_task(self, runner, task_id: int) -> None:
        self._task_start.setdefault(int(task_id), runner.epoch)

    def before_train_epoch(self, runner) -> None:
        self.replay.start_epoch()  # keep the last epoch's pixels (and images) of the step
        self.image_replay.start_epoch()

    def after_train_task(self, runner, task_id: int) -> None:
        self.replay.finish_step(int(task_id))
        self.image_replay.finish_step(int(task_id))

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        model = self._model(runner)
        num_seen = getattr(model, 'num_seen', None)
        if num_seen is None:
            return
        device = next(model.parameters()).device
        self.ensure_classes(int(num_seen), device)
        model.__dict__['grad_predictor'] = self.learner  # not a submodule of the segmentor

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        model = self._model(runner)
        cache = getattr(model, 'train_cache', None)
        main_skips = getattr(model, 'num_skipped_steps', 0)
        main_skipped = main_skips != self._main_skips
        self._main_skips = main_skips
        if not cache:
            return
        logits, trusted = cache['logits'], cache['trusted']
        model.train_cache = {}
        self.ensure_classes(logits.shape[1] - 1, logits.device)
        start = self._task_start.get(getattr(runner.train_loop, 'task', 0), 0)
        loss = None
        if runner.epoch - start >= self.warmup and not main_skipped:
            loss = self.step(logits, trusted, cache.get('inputs'),
                             lambda x: self._frozen_logits(model, x))
        if loss is None:
            self.skipped += 1
        else:
            runner.message_hub.update_scalar('train/loss_grad', float(loss))
        runner.message_hub.update_scalar('train/grad_skipped', self.skipped)

    @staticmethod
    @torch.no_grad()
    def _frozen_logits(model, inputs: torch.Tensor) -> torch.Tensor:
        """``model``'s logits ``[K, 1 + C, H, W]`` with every module in eval mode (no BN
        statistic or dropout draw), the modules' modes restored afterwards."""
        modes = [(m, m.training) for m in model.modules()]
        model.eval()
        try:
            return model.seg_logits(inputs)[1]
        finally:
            for m, training in modes:
                m.training = training

    def step(self, logits: torch.Tensor, trusted: torch.Tensor,
             inputs: Optional[torch.Tensor] = None,
             forward: Optional[Callable[[torch.Tensor], torch.Tensor]] = None
             ) -> Optional[torch.Tensor]:
        """One learner update from a batch; ``None`` when skipped (no trusted pixel on any
        rank, or non-finite logits on a rank).

        Args:
            logits (Tensor): ``[N, 1 + C, H, W]`` logits (channel 0 is the auxiliary one).
            trusted (Tensor): ``[N, H, W]`` trusted labels (0 background, 255 ignore).
            inputs (Tensor, optional): ``[N, 3, H, W]`` the batch's inputs (image replay
                keeps some of them).
            forward (callable, optional): The current model, ``[K, 3, H, W]`` ->
                ``[K, 1 + C, H, W]`` logits (image replay forwards buffer images with it).

        Returns:
            Tensor | None: The fitness loss (detached).
        """
        num_fg = logits.shape[1] - 1
        z_all = logits.detach().permute(0, 2, 3, 1).reshape(-1, num_fg + 1)
        labels = trusted.reshape(-1)
        fg = (labels != 0) & (labels != 255)
        idx = fg.nonzero().squeeze(1)
        stats = torch.stack([torch.tensor(float(idx.numel()), device=logits.device),
                             (~torch.isfinite(z_all)).any().float()])
        if self._ddp is not None:
            all_reduce(stats)
        if float(stats[0]) == 0 or float(stats[1]) > 0:
            return None
        self.replay.observe(z_all[idx], labels[idx] - 1)
        if inputs is not None:
            has_fg = fg.view(trusted.shape[0], -1).any(1)
            self.image_replay.observe(inputs[has_fg], trusted[has_fg])
        if len(self.image_replay) and forward is not None:
            x_rep, t_rep = self.image_replay.draw(self.replay_images, logits.device)
            z_rep = forward(x_rep).detach().permute(0, 2, 3, 1).reshape(-1, num_fg + 1)
            t_rep = t_rep.reshape(-1)
            idx_rep = ((t_rep != 0) & (t_rep != 255)).nonzero().squeeze(1) + labels.numel()
            z_all, labels = torch.cat([z_all, z_rep]), torch.cat([labels, t_rep])
            idx = torch.cat([idx, idx_rep])
        if idx.numel() > self.samples:
            pick = torch.randperm(idx.numel(), generator=self.generator)[:self.samples]
            idx = idx[pick.to(idx.device)]
        net = self._ddp if self._ddp is not None else self.learner
        z, y = z_all[idx, 1:], (labels[idx] - 1).long()
        if len(self.replay):
            z_rep, y_rep = self.replay.draw(self.replay_samples, num_fg, z.device)
            z, y = torch.cat([z, z_rep]), torch.cat([y, y_rep])
        self.optimizer.zero_grad(set_to_none=True)
        if z.shape[0] == 0:  # this rank has no trusted pixel: a zero gradient for DDP
            loss = net(z_all[:1, 1:]).sum() * 0.0
        else:
            z_prime = self._simulate(net, z, y)
            if self.class_balanced:
                counts = torch.bincount(y, minlength=num_fg).to(z_prime.dtype)
                loss = self.loss_fit(z_prime, y, weight=1.0 / counts[y],
                                     avg_factor=(counts > 0).sum())
            else:
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
        """Learner weights, Adam state, sampler RNG, counters, task start epochs and the
        replay buffers."""
        state = dict(num_classes=0, skipped=self.skipped, steps=self.steps,
                     generator=self.generator.get_state(), task_start=dict(self._task_start),
                     replay=self.replay.state_dict(),
                     image_replay=self.image_replay.state_dict())
        if self.learner is not None:
            state.update(num_classes=self.learner.num_classes,
                         learner=self.learner.state_dict(),
                         optimizer=self.optimizer.state_dict())
        return state

    def load_state_dict(self, state: dict) -> None:
        """Rebuild the learner at the saved size and load weights and optimizer state."""
        self.skipped, self.steps = int(state['skipped']), int(state['steps'])
        self.generator.set_state(state['generator'])
        self._task_start = {int(k): int(v) for k, v in state['task_start'].items()}
        if 'replay' in state:
            self.replay.load_state_dict(state['replay'])
        if 'image_replay' in state:
            self.image_replay.load_state_dict(state['image_replay'])
        if not state['num_classes']:
            return
        device = next(iter(state['learner'].values())).device
        self.learner = None
        self._build(int(state['num_classes']), device)
        self.learner.load_state_dict(state['learner'])
        self.optimizer.load_state_dict(state['optimizer'])
