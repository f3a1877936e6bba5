from .atomic_checkpoint_hook import AtomicCheckpointHook
from .backbone_freeze_hook import BackboneFreezeHook
from .det_visualization_hook import DetVisualizationHook
from .ema_teacher_hook import EMATeacherHook
from .exemplar_memory_hook import ExemplarMemoryHook
from .feature_cache_hook import FeatureCacheHook
from .gaussian_replay_hook import GaussianReplayHook
from .gcd_feature_cache_hook import GCDFeatureCacheHook, extract_gcd_features
from .grad_learner_hook import GradLearnerHook
from .incremental_hook import IncrementalHook
from .old_model_resume_hook import OldModelResumeHook
from .optim_step_ema_hook import OptimStepEMAHook
from .pipeline_switch_hook import PipelineSwitchHook
from .pseudo_label_weight_hook import (PseudoLabelWeightHook, SelfSupervisedWarmupHook,
                                       pseudo_label_weight, ramped_pseudo_label_weight)
from .resumable_randomness_hook import ResumableRandomnessHook
from .stop_at_epoch_hook import StopAtEpochHook
from .text_sensitivity_hook import TextSensitivityHook, caption_mode_miou
from .train_mode_switch_hook import TrainModeSwitchHook
from .yolov8_param_scheduler_hook import YOLOv8ParamSchedulerHook

__all__ = [
    'ExemplarMemoryHook', 'GradLearnerHook', 'IncrementalHook', 'OldModelResumeHook',
    'AtomicCheckpointHook', 'BackboneFreezeHook', 'DetVisualizationHook', 'FeatureCacheHook',
    'GaussianReplayHook',
    'ResumableRandomnessHook', 'OptimStepEMAHook', 'PipelineSwitchHook',
    'YOLOv8ParamSchedulerHook', 'EMATeacherHook', 'TrainModeSwitchHook',
    'GCDFeatureCacheHook', 'extract_gcd_features', 'PseudoLabelWeightHook', 'pseudo_label_weight',
    'ramped_pseudo_label_weight', 'SelfSupervisedWarmupHook',
    'StopAtEpochHook', 'TextSensitivityHook', 'caption_mode_miou'
]
