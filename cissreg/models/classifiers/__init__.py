from .clip_data_preprocessor import CLIPDataPreprocessor
from .clip_prompt_classifier import CLIPPromptClassifier
from .contrastive_gcd import ContrastiveGCD, projection_head

__all__ = ['CLIPDataPreprocessor', 'CLIPPromptClassifier', 'ContrastiveGCD', 'projection_head']
