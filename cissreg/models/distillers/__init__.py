from .connectors import ConvConnector
from .detection_distiller import DEFAULT_DISTILL_LOSSES, DetectionDistiller, DistillTerm
from .export import DDP_PREFIX, STUDENT_PREFIX, strip_ddp_prefix, student_state_dict
from .incremental_init import IncrementalPretrainedInit, expand_class_rows
from .recorder import (RECORD_ALIASES, ConcatSpec, OutputRecorder, RecordSpec, as_levels,
                       parse_records)
from .teacher import build_teacher, resolve_checkpoint, teacher_state_dict

__all__ = [
    'ConvConnector', 'DEFAULT_DISTILL_LOSSES', 'DetectionDistiller', 'DistillTerm',
    'DDP_PREFIX', 'STUDENT_PREFIX', 'strip_ddp_prefix', 'student_state_dict',
    'IncrementalPretrainedInit', 'expand_class_rows', 'RECORD_ALIASES', 'ConcatSpec',
    'OutputRecorder', 'RecordSpec', 'as_levels', 'parse_records', 'build_teacher',
    'resolve_checkpoint', 'teacher_state_dict'
]
