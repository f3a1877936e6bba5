"""When to select DKD-M's exemplar memory (``class_balanced_memory`` decides which)."""
import copy
from typing import Dict, List, Tuple

import numpy as np
import torch
from mmengine.dataset import pseudo_collate
from mmengine.dist import broadcast_object_list, get_dist_info
from mmengine.model import is_model_wrapper
from torch.utils.data import DataLoader

from cissreg.datasets.seg import class_balanced_memory
from cissreg.models.segmentors.ciss.prediction import sigmoid_argmax_prediction
from cissreg.registry import HOOKS

from .incremental_hook import IncrementalHook


@HOOKS.register_module()
class ExemplarMemoryHook(IncrementalHook):
    """DKD-M: after step ``t`` pick ``mem_size`` exemplars that step ``t + 1`` trains with.

    After training step ``t`` (``after_train_task``), the *trained* model labels step
    ``t``'s training images: the labels present are the ground-truth ones plus its
    pseudo labels (sigmoid score >= ``pseudo_threshold`` on background pixels), as DKD's
    ``memory_sampling_balanced``; unlike DKD's code, which selects before loading the old
    weights, the pseudo labels come from the trained model. These candidates join the
    previous memory, and ``class_balanced_memory`` chooses the next memory over all seen
    classes; the split (``runner.train_loop.task_split.set_memory``) adds it to step
    ``t + 1``. The memory and candidates are saved in checkpoints and restored before the
    loop rebuilds a resumed step's data.

    Args:
        mem_size (int): Exemplars in total. Defaults to 100.
        pseudo_threshold (float): Defaults to 0.9.
        batch_size (int): Batch size of the labelling pass. Defaults to 8.
        seed (int): Selection seed (``+ step``). Defaults to 0.
    """

    priority = 'VERY_HIGH'  # restore the memory before the loop's own state hook

    def __init__(self, mem_size: int = 100, pseudo_threshold: float = 0.9, batch_size: int = 8,
                 seed: int = 0) -> None:
        self.mem_size, self.pseudo_threshold = mem_size, pseudo_threshold
        self.batch_size, self.seed = batch_size, seed
        self.memory: Dict[int, List[int]] = {}
        self.candidates: List[Tuple[int, List[int]]] = []

    @torch.no_grad()
    def _label_sets(self, runner, task_id: int) -> List[Tuple[int, List[int]]]:
        loop = runner.train_loop
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        pipeline = [dict(type='LoadSegSample'), dict(type='PackSegInputs')]
        subset = loop.task_split.train_subset(loop.dataset, task_id, pipeline=pipeline)
        subset.items = [it for it in subset.items if it[2] is None]  # not the old memory
        loader = DataLoader(subset, batch_size=self.batch_size, collate_fn=pseudo_collate)
        was_training = model.training
        model.eval()
        out, k = [], 0
        for batch in loader:
            data = model.data_preprocessor(batch, False)
            logits = model.seg_logits(data['inputs'])[1]
            pred = sigmoid_argmax_prediction(logits)
            score = logits[:, 1:].sigmoid().max(1)[0]
            labels = data['labels']
            pseudo = torch.where((labels == 0) & (score >= self.pseudo_threshold), pred, labels)
            for i in range(len(pseudo)):
                present = torch.unique(pseudo[i]).tolist()
                out.append((subset.items[k][0], [c for c in present if c not in (0, 255)]))
                k += 1
        model.train(was_training)
        return out

    def after_train_task(self, runner, task_id: int) -> None:
        loop = runner.train_loop
        if task_id + 1 >= loop.num_tasks or self.mem_size <= 0:
            return
        rank, world = get_dist_info()
        chosen = None
        if rank == 0:
            pool = self.candidates + self._label_sets(runner, task_id)
            seen = range(1, 1 + sum(loop.task_split.task_sizes(loop.dataset)[:task_id + 1]))
            rng = np.random.default_rng(self.seed + task_id)
            chosen = class_balanced_memory(pool, list(seen), self.mem_size, rng)
        if world > 1:
            box = [chosen]
            broadcast_object_list(box)
            chosen = box[0]
        self.candidates = [(int(i), list(c)) for i, c in chosen]
        self.memory[task_id + 1] = sorted(i for i, _ in chosen)
        loop.task_split.set_memory(task_id + 1, self.memory[task_id + 1])
        runner.logger.info(f'ExemplarMemoryHook: {len(chosen)} exemplars for step '
                           f'{task_id + 1}')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['exemplar_memory'] = dict(
            memory=[[t, m] for t, m in sorted(self.memory.items())],
            candidates=copy.deepcopy(self.candidates))

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('exemplar_memory')
        if state is None:
            return
        self.memory = {int(t): list(m) for t, m in state['memory']}
        self.candidates = [(int(i), list(c)) for i, c in state['candidates']]
        for t, m in self.memory.items():
            runner.train_loop.task_split.set_memory(t, m)
