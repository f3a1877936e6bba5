"""Pascal VOC layout detection dataset (``Annotations/*.xml``, ``JPEGImages/``, ``ImageSets``).

MAR20 ships in this layout (its horizontal boxes live in ``Annotations/Horizontal Bounding
Boxes``: set ``data_prefix=dict(img_path='JPEGImages', ann_path='Annotations/Horizontal Bounding
Boxes')``).

Coordinates: VOC stores 1-based *inclusive pixel indices*; a box covering pixel columns
``xmin..xmax`` spans the continuous interval ``[xmin - 1, xmax]``. cissreg therefore reads
``x1 = xmin - 1, y1 = ymin - 1, x2 = xmax, y2 = ymax`` (floats, no truncation), and
:class:`ShapesDetDataset` writes the inverse, so a written tight box reads back exactly.
(mmdet and ultralytics subtract 1 from all four values, which makes every box one pixel
narrower and shorter.)
"""
import os.path as osp
from typing import List, Optional, Tuple
from xml.parsers import expat

from mmengine.logging import print_log

from cissreg.registry import DATASETS

from .base_det_dataset import BaseDetDataset, read_image_size

VOC_CLASSES = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair',
               'cow', 'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant',
               'sheep', 'sofa', 'train', 'tvmonitor')


class XMLNode:
    """An XML element with the line it starts on (ElementTree does not keep lines).

    Attributes:
        tag (str): Element name.
        line (int): 1-based line of the start tag.
        children (list[XMLNode]): Child elements in document order.
        text (str): Concatenated character data directly inside the element, stripped.
    """

    __slots__ = ('tag', 'line', 'children', 'text')

    def __init__(self, tag: str, line: int) -> None:
        self.tag = tag
        self.line = line
        self.children: List['XMLNode'] = []
        self.text = ''

    def find(self, tag: str) -> Optional['XMLNode']:
        """First child named ``tag`` or None."""
        return next((c for c in self.children if c.tag == tag), None)

    def findall(self, tag: str) -> List['XMLNode']:
        """All children named ``tag``."""
        return [c for c in self.children if c.tag == tag]


def parse_xml_with_lines(path: str) -> XMLNode:
    """Parse an XML file into :class:`XMLNode` s that remember their line numbers.

    Args:
        path (str): XML file.

    Returns:
        XMLNode: The root element.

    Raises:
        ValueError: Malformed XML, naming the file, line and column.
    """
    parser = expat.ParserCreate()
    stack: List[XMLNode] = []
    texts: List[List[str]] = []
    root: List[XMLNode] = []

    def start(tag: str, _attrs: dict) -> None:
        node = XMLNode(tag, parser.CurrentLineNumber)
        if stack:
            stack[-1].children.append(node)
        else:
            root.append(node)
        stack.append(node)
        texts.append([])

    def end(_tag: str) -> None:
        stack.pop().text = ''.join(texts.pop()).strip()

    def chars(data: str) -> None:
        texts[-1].append(data)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    with open(path, 'rb') as f:
        data = f.read()
    try:
        parser.Parse(data, True)
    except expat.ExpatError as err:
        raise ValueError(f"malformed XML in '{path}', line {err.lineno}, column "
                         f'{err.offset + 1}: {expat.ErrorString(err.code)}') from err
    return root[0]


@DATASETS.register_module()
class VOCDetDataset(BaseDetDataset):
    """Detection dataset in the Pascal VOC layout.

    ``ann_file`` lists one image id per line (``ImageSets/Main/train.txt``); each id has
    ``{ann_path}/{id}.xml`` and ``{img_path}/{id}{img_suffix}``. Objects with
    ``<difficult>1</difficult>`` get ``ignore_flag=1`` (kept for the metric, excluded from the
    training targets). The image size is read from the image file header (the XML ``<size>``
    is often wrong or missing in real datasets); a disagreement is counted in the log.
    ``img_id`` is the position in ``ann_file``.

    Args:
        ann_file (str): Split file, relative to ``data_root``.
        data_prefix (dict): ``img_path`` (images) and ``ann_path`` (XML) folders. Defaults to
            ``dict(img_path='JPEGImages', ann_path='Annotations')``.
        img_suffix (str): Image file extension. Defaults to ``'.jpg'``.
        **kwargs: :class:`BaseDetDataset` arguments (``data_root``, ``metainfo``,
            ``classes``, ``filter_cfg``, ``pipeline``, ``test_mode``...).

    Errors: malformed XML names the file, line and column; a missing or non-numeric box field
    or an unknown class name names the file, the object index and the element's line.
    """

    METAINFO: dict = dict(classes=VOC_CLASSES)

    def __init__(self,
                 ann_file: str = '',
                 data_prefix: dict = dict(img_path='JPEGImages', ann_path='Annotations'),
                 img_suffix: str = '.jpg',
                 **kwargs) -> None:
        self.img_suffix = img_suffix
        super().__init__(ann_file=ann_file, data_prefix=data_prefix, **kwargs)

    def load_raw_data_list(self) -> List[dict]:
        """Read the split file and one XML per image id."""
        self.check_paths(need_ann_file=True)
        if 'ann_path' not in self.data_prefix:
            raise ValueError(f'{self._name}: data_prefix needs `ann_path` (the XML folder), '
                             f'got {dict(self.data_prefix)}')
        with open(self.ann_file, encoding='utf-8') as f:
            ids = [line.split()[0] for line in f if line.strip()]
        data_list, size_mismatch = [], 0
        for img_id, name in enumerate(ids):
            xml_path = osp.join(self.data_prefix['ann_path'], f'{name}.xml')
            img_path = osp.join(self.data_prefix['img_path'], f'{name}{self.img_suffix}')
            if not osp.isfile(xml_path):
                raise self.path_error(f'annotation of image id {name!r}', xml_path,
                                      'data_prefix.ann_path')
            instances, xml_size = self._parse_xml(xml_path)
            height, width = (read_image_size(img_path) if osp.isfile(img_path) else xml_size)
            size_mismatch += xml_size not in ((height, width), (0, 0))
            data_list.append(dict(img_path=img_path, img_id=img_id, height=height,
                                  width=width, instances=instances))
        if size_mismatch:
            print_log(f'{self._name}: {size_mismatch} XML <size> entries disagree with their '
                      'image files; the image file sizes were used', logger='current')
        return data_list

    def _parse_xml(self, path: str) -> Tuple[List[dict], Tuple[int, int]]:
        """Instances (labels index the vocabulary) and the XML's (height, width) or (0, 0)."""
        root = parse_xml_with_lines(path)
        size = root.find('size')
        xml_size = (0, 0)
        if size is not None:
            try:
                xml_size = (int(float(size.find('height').text)),
                            int(float(size.find('width').text)))
            except (AttributeError, ValueError):
                xml_size = (0, 0)
        instances = []
        for index, obj in enumerate(root.findall('object')):
            where = f"'{path}', object {index} (line {obj.line})"
            name_node = obj.find('name')
            if name_node is None or not name_node.text:
                raise ValueError(f'VOC XML {where}: missing <name>')
            if name_node.text not in self.vocabulary:
                raise ValueError(f'VOC XML {where}, line {name_node.line}: '
                                 + self.unknown_class_message(name_node.text))
            box = obj.find('bndbox')
            if box is None:
                raise ValueError(f'VOC XML {where}: missing <bndbox>')
            coords = []
            for key in ('xmin', 'ymin', 'xmax', 'ymax'):
                node = box.find(key)
                if node is None:
                    raise ValueError(f'VOC XML {where}: <bndbox> (line {box.line}) has no '
                                     f'<{key}>')
                try:
                    coords.append(float(node.text))
                except ValueError:
                    raise ValueError(f'VOC XML {where}, line {node.line}: <{key}> is not a '
                                     f'number: {node.text!r}') from None
            inverted = [f'<{a}max> {coords[i + 2]:g} < <{a}min> {coords[i]:g}'
                        for i, a in enumerate('xy') if coords[i + 2] < coords[i]]
            if inverted:
                raise ValueError(f'VOC XML {where}: inverted box, {" and ".join(inverted)} '
                                 f'(<bndbox> line {box.line}); fix the annotation (corners '
                                 'swapped?)')
            difficult = obj.find('difficult')
            try:
                ignore = int(float(difficult.text)) if difficult is not None and \
                    difficult.text else 0
            except ValueError:
                raise ValueError(f'VOC XML {where}, line {difficult.line}: <difficult> is not '
                                 f'0 or 1: {difficult.text!r}') from None
            instances.append(dict(
                bbox=[coords[0] - 1.0, coords[1] - 1.0, coords[2], coords[3]],
                bbox_label=self.vocabulary.index(name_node.text),
                ignore_flag=int(bool(ignore))))
        return instances, xml_size
