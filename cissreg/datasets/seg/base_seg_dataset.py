"""Base of the semantic-segmentation datasets: an image list with label-map paths."""
import os.path as osp
from typing import List, Optional, Sequence

from mmengine.dataset import BaseDataset


class BaseSegDataset(BaseDataset):
    """``data_list`` entries: ``img_path``, ``seg_path``, ``img_id``; ``metainfo['classes']``
    lists the foreground classes (label ``i + 1`` is ``classes[i]``; 0 is background, 255
    ignore). Subclasses implement :meth:`load_data_list` for their folder layout and raise
    a ``FileNotFoundError`` naming the missing path and the config key that set it.
    """

    METAINFO: dict = dict(classes=())

    def __init__(self, data_root: str, pipeline: Sequence = (), test_mode: bool = False,
                 classes: Optional[Sequence[str]] = None, **kwargs) -> None:
        metainfo = dict(classes=tuple(classes)) if classes is not None else None
        super().__init__(data_root=data_root, pipeline=list(pipeline), test_mode=test_mode,
                         metainfo=metainfo, serialize_data=False, **kwargs)

    @staticmethod
    def _require(path: str, key: str) -> str:
        if not osp.exists(path):
            raise FileNotFoundError(f'{path} does not exist (set by the dataset config key '
                                    f'{key!r})')
        return path

    def seg_paths(self) -> List[str]:
        """Label-map paths in dataset order."""
        return [self.get_data_info(i)['seg_path'] for i in range(len(self))]
