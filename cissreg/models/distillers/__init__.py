from .connectors import ConvConnector
from .detection_distiller import DEFAULT_DISTILL_LOSSES, DetectionDistiller, DistillTerm
from .export import DDP_PREFIX, STUDENT_PREFIX, strip_ddp_prefix, student_state_dict
from .recorder import RECORD_ALIASES, OutputRecorder, RecordSpec, as_levels
from .teacher import build_teacher, resolve_checkpoint, teacher_state_dict

__all__ = [
    'ConvConnector', 'DEFAULT_DISTILL_LOSSES', 'DetectionDistiller', 'DistillTerm',
    'DDP_PREFIX', 'STUDENT_PREFIX', 'strip_ddp_prefix', 'student_state_dict',
    'RECORD_ALIASES', 'OutputRecorder', 'RecordSpec', 'as_levels', 'build_teacher',
    'resolve_checkpoint', 'teacher_state_dict'
]
