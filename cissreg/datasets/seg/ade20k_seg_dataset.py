"""ADE20K (SceneParsing, 150 classes) in its release layout."""
import os
import os.path as osp
from typing import List

from cissreg.registry import DATASETS

from .base_seg_dataset import BaseSegDataset


@DATASETS.register_module()
class ADE20KSegDataset(BaseSegDataset):
    """``images/{training,validation}/*.jpg`` and ``annotations/{...}/*.png``.

    Annotation values are used as they are: 0 ("other", DKD's background) and the classes
    1-150; unlike mmseg, label 0 is not turned into ignore (as in DKD).

    Args:
        data_root (str): The ADEChallengeData2016 folder.
        split (str): ``'training'`` or ``'validation'``. Defaults to ``'training'``.
        classes (Sequence[str], optional): Names of the 150 classes; defaults to
            ``class1`` .. ``class150``.
    """

    METAINFO = dict(classes=tuple(f'class{i}' for i in range(1, 151)))

    def __init__(self, data_root: str, split: str = 'training', **kwargs) -> None:
        self.split = split
        super().__init__(data_root=data_root, **kwargs)

    def load_data_list(self) -> List[dict]:
        img_dir = self._require(osp.join(self.data_root, 'images', self.split), 'split')
        ann_dir = self._require(osp.join(self.data_root, 'annotations', self.split), 'split')
        data_list = []
        for name in sorted(os.listdir(img_dir)):
            stem, ext = osp.splitext(name)
            if ext.lower() not in ('.jpg', '.jpeg', '.png'):
                continue
            data_list.append(dict(img_path=osp.join(img_dir, name),
                                  seg_path=osp.join(ann_dir, stem + '.png'), img_id=stem))
        return data_list
