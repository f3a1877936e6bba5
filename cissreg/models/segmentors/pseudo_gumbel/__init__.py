from .ema_teacher import EMATeacher
from .mask_decoder import ConvGroundingEncoder, PromptMaskDecoder
from .pseudo_gumbel_segmentor import PseudoGumbelSegmentor
from .region_mllm import RegionMLLM
from .sam2_grounding import Sam2GroundingEncoder, Sam2PromptMaskDecoder
from .token_masking import RandomTokenMasker, random_mask_tokens
from .topk_gumbel_softmax import TopKGumbelSoftmax, dense_topk_mix, gumbel_noise, sparse_topk_mix

__all__ = [
    'EMATeacher', 'ConvGroundingEncoder', 'PromptMaskDecoder', 'PseudoGumbelSegmentor',
    'RegionMLLM', 'Sam2GroundingEncoder', 'Sam2PromptMaskDecoder', 'RandomTokenMasker',
    'random_mask_tokens', 'TopKGumbelSoftmax', 'dense_topk_mix', 'gumbel_noise',
    'sparse_topk_mix'
]
