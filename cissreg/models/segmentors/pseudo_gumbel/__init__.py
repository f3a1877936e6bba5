from .token_masking import RandomTokenMasker, random_mask_tokens
from .topk_gumbel_softmax import (TopKGumbelSoftmax, dense_topk_mix, gumbel_noise,
                                  sparse_topk_mix)

__all__ = [
    'RandomTokenMasker', 'random_mask_tokens', 'TopKGumbelSoftmax', 'dense_topk_mix',
    'gumbel_noise', 'sparse_topk_mix'
]
