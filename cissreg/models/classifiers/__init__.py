from .clip_data_preprocessor import CLIPDataPreprocessor
from .clip_prompt_classifier import CLIPPromptClassifier

__all__ = ['CLIPDataPreprocessor', 'CLIPPromptClassifier']
