from .task_aligned_assigner import TaskAlignedAssigner, TaskAlignedAssignResult

__all__ = ['TaskAlignedAssigner', 'TaskAlignedAssignResult']
