"""Class-specific learnable text prompts, one group per incremental task (the prompt pool)."""
from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from cissreg.registry import MODELS


class PromptGroup(nn.Module):
    """Prompts of one task: ``n_ctx`` learnable vectors per class + the prompt token ids.

    Args:
        num_classes (int): Classes of the task.
        n_ctx (int): Context vectors per class.
        ctx_dim (int): Text transformer width.
        context_length (int): Token id row length.
        ctx_std (float): Std of the random normal initialisation.
    """

    def __init__(self, num_classes: int, n_ctx: int, ctx_dim: int, context_length: int,
                 ctx_std: float) -> None:
        super().__init__()
        self.ctx = nn.Parameter(torch.randn(num_classes, n_ctx, ctx_dim) * ctx_std)
        self.register_buffer('token_ids', torch.zeros(num_classes, context_length,
                                                      dtype=torch.long))

    @property
    def named(self) -> bool:
        """Whether the class names (token ids) have been set."""
        return bool(self.token_ids[:, 0].any())


@MODELS.register_module()
class PromptLearner(nn.Module):
    """Prompt pool of class-specific context vectors (CoOp-style, one group per task).

    The prompt of class ``c`` of task ``t`` is ``[SOT] ctx_c,1 ... ctx_c,n_ctx <name tokens> .
    [EOT]``: the token embeddings of ``"<placeholder> <name>."`` with the ``n_ctx`` placeholder
    positions replaced by the class's learnable vectors. All groups are allocated up front
    from ``task_sizes`` so checkpoints of any task load strictly into a fresh model.

    Args:
        task_sizes (Sequence[int]): Classes per task, e.g. ``[10] * 10``.
        ctx_dim (int): Text transformer width (filled in by the classifier).
        n_ctx (int): Context vectors per class; replaced by the number of ``ctx_init``
            tokens when that is given. Defaults to 4.
        ctx_init (str, optional): Words whose token embeddings initialise every class's
            context (e.g. ``'a photo of a'``). Defaults to None (random normal).
        ctx_std (float): Std of the random initialisation. Defaults to 0.02.
        update_old_text_prompts (bool): Whether earlier tasks' prompts keep training in
            stage 1 of later tasks. Defaults to False.
        context_length (int): Token row length. Defaults to 77.
    """

    def __init__(self,
                 task_sizes: Sequence[int],
                 ctx_dim: int,
                 n_ctx: int = 4,
                 ctx_init: Optional[str] = None,
                 ctx_std: float = 0.02,
                 update_old_text_prompts: bool = False,
                 context_length: int = 77) -> None:
        super().__init__()
        if ctx_init is not None:
            n_ctx = len(ctx_init.split())
        self.task_sizes = [int(n) for n in task_sizes]
        self.n_ctx = n_ctx
        self.ctx_init = ctx_init
        self.update_old_text_prompts = update_old_text_prompts
        self.context_length = context_length
        self.pool = nn.ModuleList(
            PromptGroup(n, n_ctx, ctx_dim, context_length, ctx_std) for n in self.task_sizes)

    @property
    def placeholder(self) -> str:
        return self.ctx_init if self.ctx_init is not None else ' '.join(['X'] * self.n_ctx)

    def set_class_names(self, task_id: int, class_names: Sequence[str], tokenizer,
                        token_embedding: nn.Embedding) -> None:
        """Tokenize the prompts of ``task_id``'s classes (and apply ``ctx_init`` once).

        Args:
            task_id (int): Task index.
            class_names (Sequence[str]): Names of that task's classes, in label order.
            tokenizer (CLIPTokenizer): Tokenizer.
            token_embedding (nn.Embedding): CLIP's token embedding (for ``ctx_init``).
        """
        group = self.pool[task_id]
        if len(class_names) != group.ctx.shape[0]:
            raise ValueError(f'PromptLearner: task {task_id} has {group.ctx.shape[0]} classes, '
                             f'got {len(class_names)} names')
        ids = tokenizer([f'{self.placeholder} {name.replace("_", " ")}.'
                         for name in class_names], self.context_length)
        ctx_tokens = tokenizer.encode(self.placeholder)
        if len(ctx_tokens) != self.n_ctx:
            raise ValueError(f'PromptLearner: the placeholder {self.placeholder!r} is '
                             f'{len(ctx_tokens)} tokens, n_ctx is {self.n_ctx}')
        first_time = not group.named
        group.token_ids.copy_(ids.to(group.token_ids.device))
        if first_time and self.ctx_init is not None:
            with torch.no_grad():
                init = token_embedding(group.token_ids[:, 1:1 + self.n_ctx])
                group.ctx.copy_(init)

    def set_trainable(self, task_id: int, stage: int) -> None:
        """Stage 1 trains task ``task_id``'s prompts (and older ones if configured)."""
        for g, group in enumerate(self.pool):
            trainable = stage == 1 and (g == task_id or
                                        (self.update_old_text_prompts and g < task_id))
            group.ctx.requires_grad_(trainable)

    def forward(self, task_id: int, token_embedding: nn.Embedding) -> Tuple[Tensor, Tensor]:
        """Prompt token embeddings of one task.

        Args:
            task_id (int): Task index.
            token_embedding (nn.Embedding): CLIP's token embedding.

        Returns:
            tuple[Tensor, Tensor]: embeddings [n_cls, L, width] and end-of-text positions
            [n_cls] (int64).
        """
        group = self.pool[task_id]
        if not group.named:
            raise RuntimeError(f'PromptLearner: task {task_id} has no class names yet')
        ids = group.token_ids
        embeds = token_embedding(ids)
        embeds = torch.cat([embeds[:, :1], group.ctx.to(embeds.dtype),
                            embeds[:, 1 + self.n_ctx:]], dim=1)
        return embeds, ids.argmax(dim=-1)

    def trainable_groups(self) -> List[int]:
        """Indices of groups whose context vectors currently require grad."""
        return [g for g, group in enumerate(self.pool) if group.ctx.requires_grad]
