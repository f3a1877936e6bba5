"""Hard (old, new) class pairs and the hinge losses on them, for CLIPPromptClassifier."""
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cissreg.models.clip import encode_text_ids
from cissreg.registry import MODELS


class HardPairMixin:
    """Hard pairs from raw CLIP text (``'text'``) or class image means (``'image'``).

    Text pairs come from ``raw_text_template`` encoded by the *raw* CLIP text encoder
    (no learnable prompts), as the source does (``get_raw_text_features``): which classes
    are semantically close is a property of the pretrained model, not of prompts trained
    so far. Expects the host to define ``clip``, ``tokenizer``, ``prompt_learner``,
    ``replay_sampler``, ``class_names``, ``current_task``, ``class_range``,
    ``text_hinge_loss`` / ``image_hinge_loss``, ``raw_text_template``, ``adapt`` and the
    ``_hard_pairs`` / ``_new_class_means`` caches.
    """

    _hard_pairs: Dict[str, Tensor]
    _new_class_means: Optional[Tensor]

    @staticmethod
    def _build_hinge(cfg: Optional[dict], source: str) -> Optional[nn.Module]:
        if cfg is None:
            return None
        loss = MODELS.build(dict(cfg, pair_source=cfg.get('pair_source', source)))
        if loss.pair_source != source:
            raise ValueError(f'{source}_hinge_loss must have pair_source={source!r}')
        return loss

    def set_task_features(self, feats: Tensor, labels: Tensor) -> None:
        """Features of the current task's training set (for image hard pairs).

        Args:
            feats (Tensor): [N, D] image features.
            labels (Tensor): [N] int64 labels of the current task's classes.
        """
        start, end = self.class_range(self.current_task)
        means = torch.stack([feats[labels == c].mean(0) for c in range(start, end)])
        self._new_class_means = means
        self._hard_pairs.pop('image', None)

    @torch.no_grad()
    def raw_text_features(self, class_ids: Tensor) -> Tensor:
        """Normalised features of ``raw_text_template`` for ``class_ids`` (no prompts)."""
        texts = [self.raw_text_template.format(self.class_names[c].replace('_', ' '))
                 for c in class_ids.tolist()]
        ids = self.tokenizer(texts, self.prompt_learner.context_length)
        return F.normalize(encode_text_ids(self.clip, ids.to(self.head_ready.device)), dim=-1)

    def hard_pairs(self, source: str) -> Tensor:
        """[P, 2] (old, new) hard pairs of the current task for ``'text'`` / ``'image'``."""
        if source not in self._hard_pairs:
            loss = self.text_hinge_loss if source == 'text' else self.image_hinge_loss
            task = self.current_task
            start, end = self.class_range(task)
            device = self.head_ready.device
            old_ids = torch.arange(start, device=device)
            new_ids = torch.arange(start, end, device=device)
            if source == 'text':
                old_feats = self.raw_text_features(old_ids)
                new_feats = self.raw_text_features(new_ids)
            else:
                if self._new_class_means is None:
                    raise RuntimeError('image hinge loss: call set_task_features with the '
                                       "current task's features first")
                old_feats = self.replay_sampler.means[:start]
                new_feats = self._new_class_means.to(device)
            self._hard_pairs[source] = loss.select_pairs(old_feats, new_feats, old_ids,
                                                         new_ids)
        return self._hard_pairs[source]

    def _hinge(self, source: str, text: Tensor) -> Tensor:
        loss = self.text_hinge_loss if source == 'text' else self.image_hinge_loss
        pairs = self.hard_pairs(source)
        if not self.replay_sampler.has_classes(pairs[:, 0]):
            raise RuntimeError(f'{source} hinge loss: the old classes have no Gaussian '
                               'statistics; add GaussianReplayHook to default_hooks (it fits '
                               'them after every task)')
        samples, _ = self.replay_sampler.sample(pairs[:, 0], loss.samples_per_pair)
        samples = self.adapt(samples.to(text.dtype))  # through the image adapter, if any
        return loss(samples, text[pairs[:, 0]], text[pairs[:, 1]])
