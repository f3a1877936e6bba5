from .clip_model import (build_clip_config, build_clip_model, encode_image, encode_text_embeds,
                         encode_text_ids)
from .gaussian_sampler import GaussianFeatureSampler
from .image_adapter import ResidualMLPAdapter
from .openai_convert import (convert_openai_clip_state_dict, is_openai_clip_state_dict,
                             load_openai_clip_state_dict, openai_clip_config)
from .prompt_learner import PromptGroup, PromptLearner
from .tokenizer import CLIPTokenizer

__all__ = [
    'build_clip_config', 'build_clip_model', 'encode_image', 'encode_text_embeds',
    'encode_text_ids', 'GaussianFeatureSampler', 'ResidualMLPAdapter',
    'convert_openai_clip_state_dict',
    'is_openai_clip_state_dict', 'load_openai_clip_state_dict', 'openai_clip_config',
    'PromptGroup', 'PromptLearner', 'CLIPTokenizer'
]
