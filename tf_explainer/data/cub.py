"""Reader of the CUB-200-2011 layout (SPEC section 3), no pixels.

The real CUB-200-2011 download and the embedded synthetic data share this
layout, so one reader serves both:

    <root>/images.txt               "<image_id> <relative/path.jpg>"
    <root>/image_class_labels.txt   "<image_id> <class_id>"
    <root>/classes.txt              "<class_id> <name>"
    <root>/bounding_boxes.txt       "<image_id> <x> <y> <width> <height>"
    <root>/train_test_split.txt     "<image_id> <1 train | 0 test>"
    <root>/parts/parts.txt          "<part_id> <part name>"
    <root>/parts/part_locs.txt      "<image_id> <part_id> <x> <y> <visible 0|1>"
"""

import dataclasses
import os
from typing import Optional

import numpy as np

from tf_explainer import io_utils

LAYOUT = (
  "images.txt",
  "image_class_labels.txt",
  "classes.txt",
  "bounding_boxes.txt",
  "train_test_split.txt",
  os.path.join("parts", "parts.txt"),
  os.path.join("parts", "part_locs.txt"),
)


class DatasetError(ValueError):
  """A dataset file that is missing or wrong; the message names file and line."""


@dataclasses.dataclass
class PartDataset:
  """Annotations of a part dataset; numpy fields, one row per image.

  Attributes:
    root: the dataset root.
    image_ids: `(N,)` ids from images.txt.
    image_paths: `(N,)` absolute image paths.
    labels: `(N,)` 0-based class index (order of classes.txt).
    class_names: `(C,)` class names.
    boxes: `(N, 4)` float32 `x, y, width, height` in pixels.
    landmarks: `(N, K, 2)` float32 `row, col` in original pixels, NaN where not visible.
    part_names: `(K,)` part names.
    is_train: `(N,)` bool.
    skipped: number of images dropped by `on_error="skip"`.
    class_ids: `(C,)` the ids of the classes in classes.txt (1-based in CUB),
      in the order of `class_names`; `None` where the source has no ids.
    layout: `"cub"`, or `"images"` for a plain folder of images (no boxes,
      parts or split: every image is a training image, labels from class
      subfolders where there are any).
  """

  root: str
  image_ids: np.ndarray
  image_paths: np.ndarray
  labels: np.ndarray
  class_names: np.ndarray
  boxes: np.ndarray
  landmarks: np.ndarray
  part_names: np.ndarray
  is_train: np.ndarray
  skipped: int = 0
  class_ids: Optional[np.ndarray] = None
  layout: str = "cub"

  def __len__(self):
    return len(self.image_ids)

  def subset(self, mask):
    """The images where `mask` is true (a boolean or index array)."""
    fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
    for name in ("image_ids", "image_paths", "labels", "boxes", "landmarks", "is_train"):
      fields[name] = fields[name][mask]
    return PartDataset(**fields)

  def concatenate(self, other):
    """These images followed by `other`'s, under these classes and parts (`other`'s
    landmarks are kept only where its parts are these)."""
    landmarks = other.landmarks
    if list(other.part_names) != list(self.part_names):
      landmarks = np.full((len(other),) + self.landmarks.shape[1:], np.nan, np.float32)
    fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
    for name in ("image_ids", "image_paths", "labels", "boxes", "is_train"):
      fields[name] = np.concatenate([getattr(self, name), getattr(other, name)])
    fields["landmarks"] = np.concatenate([self.landmarks, landmarks])
    fields["skipped"] = self.skipped + other.skipped
    return PartDataset(**fields)


def _rows(path, columns, numeric):
  """Yields `(line_number, fields)` of a whitespace table; the last column may hold spaces."""
  if not os.path.exists(path):
    raise DatasetError(f"{path}: missing file of the CUB layout.")
  with open(path, encoding="utf-8") as f:
    for number, line in enumerate(f, 1):
      line = line.strip()
      if not line:
        continue
      fields = line.split(None, columns - 1) if not numeric else line.split()
      if len(fields) != columns:
        raise DatasetError(f"{path}:{number}: expected {columns} fields, got {line!r}.")
      yield number, fields


def _number(path, number, text, kind=float):
  try:
    value = kind(text)
  except ValueError:
    raise DatasetError(f"{path}:{number}: {text!r} is not a number.") from None
  if kind is float and not np.isfinite(value):
    raise DatasetError(f"{path}:{number}: {text!r} is not finite.")
  return value


def _id_table(path, columns, numeric, convert):
  table = {}
  for number, fields in _rows(path, columns, numeric):
    key = _number(path, number, fields[0], int)
    if key in table:
      raise DatasetError(f"{path}:{number}: id {key} appears twice.")
    table[key] = (number, convert(number, fields[1:]))
  return table


_DECODED = {}  # (path, size, mtime_ns) -> (width, height) or an error text, per process


def _decode_one(path):
  """`(width, height)` of a fully decoded image, or the reason it cannot be decoded.

  Decoded by the decoder the pipeline uses (`tf.io.decode_image`, every pixel), so an
  image that passes here decodes in training: a TIFF named `.jpg` is caught here, not
  mid-training.
  """
  import tensorflow as tf

  try:
    status = os.stat(path)
  except OSError:
    return "image listed in images.txt does not exist"
  key = (path, status.st_size, status.st_mtime_ns)
  if key not in _DECODED:
    try:
      data = tf.io.read_file(path)
      image = tf.io.decode_image(data, channels=3, expand_animations=False)
      _DECODED[key] = (int(image.shape[1]), int(image.shape[0]))
    except (tf.errors.OpError, ValueError) as e:
      reason = str(getattr(e, "message", e)).strip().splitlines()[0]
      reason = io_utils.without_tf_wrapping(reason)[:200]
      _DECODED[key] = f"image cannot be decoded ({reason})"
  return _DECODED[key]


def _image_sizes(paths):
  """`(width, height)` or an error text for every image, decoding each once, in parallel.

  Results are remembered per file (path, size, modification time), so a
  process that reads the same dataset again does not decode it again.
  """
  import concurrent.futures

  workers = min(8, (os.cpu_count() or 1) + 1)
  with concurrent.futures.ThreadPoolExecutor(workers) as pool:  # PIL decodes without the GIL
    return list(pool.map(_decode_one, paths, chunksize=64))


IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")


def _image_files(folder):
  """Sorted image file names directly in `folder`."""
  return sorted(
    name
    for name in os.listdir(folder)
    if name.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(folder, name))
  )


def is_image_folder(root):
  """Whether `root` is a plain folder of images, not a CUB root: no CUB file, and images
  directly in it or in its subfolders (one per class, as in
  `keras.utils.image_dataset_from_directory`)."""
  if not os.path.isdir(root) or any(os.path.exists(os.path.join(root, f)) for f in LAYOUT):
    return False
  if _image_files(root):
    return True
  return any(
    os.path.isdir(os.path.join(root, d)) and _image_files(os.path.join(root, d))
    for d in os.listdir(root)
  )


def read_image_folder(root, check_images=True, on_error="raise"):
  """A plain folder of images as a `PartDataset` of layout `"images"`.

  Images directly in `root` form one class, named after the folder; otherwise
  each subfolder holding images is a class (sorted by name). Every image is a
  training image, its box the whole image, with no parts.
  """
  root = os.path.abspath(root)
  flat = _image_files(root)
  if flat:
    classes, paths = [os.path.basename(root)], [os.path.join(root, n) for n in flat]
    labels = [0] * len(paths)
  else:
    classes = sorted(
      d
      for d in os.listdir(root)
      if os.path.isdir(os.path.join(root, d)) and _image_files(os.path.join(root, d))
    )
    paths, labels = [], []
    for k, name in enumerate(classes):
      files = _image_files(os.path.join(root, name))
      paths += [os.path.join(root, name, f) for f in files]
      labels += [k] * len(files)
  sizes = _image_sizes(paths) if check_images else [_header_size(p) for p in paths]
  keep, boxes = [], []
  for path, size in zip(paths, sizes):
    if isinstance(size, str):
      if on_error == "raise":
        raise DatasetError(f"{path}: {size}.")
      keep.append(False)
      boxes.append((0.0, 0.0, 1.0, 1.0))
      continue
    keep.append(True)
    boxes.append((0.0, 0.0, float(size[0]), float(size[1])))
  n = len(paths)
  dataset = PartDataset(
    root=root,
    image_ids=np.arange(1, n + 1, dtype=np.int64),
    image_paths=np.array(paths, dtype=str).reshape(n),
    labels=np.array(labels, np.int32),
    class_names=np.array(classes),
    boxes=np.array(boxes, np.float32).reshape(n, 4),
    landmarks=np.zeros((n, 0, 2), np.float32),
    part_names=np.zeros((0,), str),
    is_train=np.ones(n, bool),
    layout="images",
  )
  keep = np.array(keep, bool)
  if not keep.all():
    dataset = dataset.subset(keep)
    dataset.skipped = int((~keep).sum())
  return dataset


def _header_size(path):
  """`(width, height)` from an image's header, or the reason it cannot be read."""
  from PIL import Image

  try:
    with Image.open(path) as image:
      return image.size
  except Exception as e:  # PIL raises many types for broken files
    return f"image cannot be read ({type(e).__name__}: {e})"


def fingerprint(dataset):
  """A digest of what a dataset holds: its annotation files, or a plain folder's images."""
  import hashlib

  digest = hashlib.sha256(dataset.layout.encode())
  if dataset.layout == "cub":
    names = [n for n in LAYOUT if os.path.exists(os.path.join(dataset.root, n))]
    paths = [os.path.join(dataset.root, n) for n in names]
  else:
    paths = list(dataset.image_paths)
  for path in paths:
    status = os.stat(path)
    digest.update(f"{path}:{status.st_size}:{status.st_mtime_ns}".encode())
  return digest.hexdigest()[:16]


def read_part_dataset(root, check_images=True, on_error="raise"):
  """Reads a CUB-layout root into a `PartDataset` (no pixels are loaded).

  A plain folder of images (see `is_image_folder`) is read by
  `read_image_folder` instead: distillation needs no annotation.

  Args:
    root: dataset root.
    check_images: decode every image once (in parallel; remembered per file
      for the process): a missing or undecodable image, or a part outside
      its image, is an error.
    on_error: `"raise"` for a `DatasetError` naming file and line, or `"skip"`
      to drop the images with problems (counted in `skipped`). Missing
      annotation files and malformed lines are always errors.

  Returns:
    `PartDataset`.
  """
  if on_error not in ("raise", "skip"):
    raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}.")
  root = os.path.abspath(root)
  if not os.path.isdir(root):
    raise DatasetError(f"{root}: dataset root does not exist.")
  if is_image_folder(root):
    return read_image_folder(root, check_images, on_error)
  path = lambda name: os.path.join(root, name)  # noqa: E731
  images, classes, labels, boxes, split, parts = _tables(path)
  part_ids = sorted(parts)
  class_ids = sorted(classes)
  class_index = {cid: k for k, cid in enumerate(class_ids)}
  ids = sorted(images)
  bad = set()

  def problem(message, image_id):
    if on_error == "raise":
      raise DatasetError(message)
    bad.add(image_id)

  _check_tables(path, ids, labels, boxes, split, class_index, problem)
  locs_path = path(os.path.join("parts", "part_locs.txt"))
  landmarks, loc_lines = _landmarks(locs_path, ids, part_ids)
  image_paths = np.array([os.path.join(root, "images", images[i][1]) for i in ids])
  if check_images:
    _check_images(image_paths, ids, part_ids, landmarks, locs_path, loc_lines, problem)
  keep = np.array([i not in bad for i in ids], bool)
  dataset = PartDataset(
    root=root,
    image_ids=np.array(ids, np.int64),
    image_paths=image_paths,
    labels=np.array([class_index[labels[i][1]] for i in ids], np.int32),
    class_names=np.array([classes[c][1] for c in class_ids]),
    boxes=np.array([boxes[i][1] for i in ids], np.float32).reshape(-1, 4),
    landmarks=landmarks,
    part_names=np.array([parts[p][1] for p in part_ids]),
    is_train=np.array([split[i][1] == 1 for i in ids], bool),
    class_ids=np.array(class_ids, np.int64),
  )
  if not keep.all():
    dataset = dataset.subset(keep)
    dataset.skipped = int((~keep).sum())
  return dataset


def _tables(path):
  """The id tables of a CUB root: images, classes, labels, boxes, split and parts."""
  images = _id_table(path("images.txt"), 2, False, lambda n, f: f[0])
  classes = _id_table(path("classes.txt"), 2, False, lambda n, f: f[0])
  labels = _id_table(
    path("image_class_labels.txt"),
    2,
    True,
    lambda n, f: _number(path("image_class_labels.txt"), n, f[0], int),
  )
  boxes = _id_table(
    path("bounding_boxes.txt"),
    5,
    True,
    lambda n, f: [_number(path("bounding_boxes.txt"), n, v) for v in f],
  )
  split = _id_table(
    path("train_test_split.txt"),
    2,
    True,
    lambda n, f: _number(path("train_test_split.txt"), n, f[0], int),
  )
  parts = _id_table(path(os.path.join("parts", "parts.txt")), 2, False, lambda n, f: f[0])
  return images, classes, labels, boxes, split, parts


def _check_tables(path, ids, labels, boxes, split, class_index, problem):
  """Every image has one label, box and split entry, each valid; `problem` for empty boxes."""
  for name, table in (
    ("image_class_labels.txt", labels),
    ("bounding_boxes.txt", boxes),
    ("train_test_split.txt", split),
  ):
    missing = sorted(set(ids) - set(table))
    if missing:
      raise DatasetError(
        f"{path(name)}: no entry for image id {missing[0]} of images.txt ({len(missing)} missing)."
      )
    extra = sorted(set(table) - set(ids))
    if extra:
      line = table[extra[0]][0]
      raise DatasetError(f"{path(name)}:{line}: image id {extra[0]} is not in images.txt.")
  for image_id in ids:
    line, cid = labels[image_id]
    if cid not in class_index:
      raise DatasetError(
        f"{path('image_class_labels.txt')}:{line}: class id {cid} is not in classes.txt."
      )
    line, flag = split[image_id]
    if flag not in (0, 1):
      raise DatasetError(
        f"{path('train_test_split.txt')}:{line}: split must be 0 or 1, got {flag}."
      )
    line, (x, y, w, h) = boxes[image_id]
    if w <= 0 or h <= 0:
      problem(
        f"{path('bounding_boxes.txt')}:{line}: box of image {image_id} has no area.", image_id
      )


def _landmarks(locs_path, ids, part_ids):
  """`(landmarks (N, K, 2) (row, col), NaN where not visible; {(image, part): line})`."""
  row_of = {image_id: i for i, image_id in enumerate(ids)}
  part_index = {pid: k for k, pid in enumerate(part_ids)}
  landmarks = np.full((len(ids), len(part_ids), 2), np.nan, np.float32)
  loc_lines = {}
  for number, fields in _rows(locs_path, 5, True):
    image_id, part_id = (_number(locs_path, number, v, int) for v in fields[:2])
    x, y = (_number(locs_path, number, v) for v in fields[2:4])
    visible = _number(locs_path, number, fields[4], int)
    if image_id not in row_of:
      raise DatasetError(f"{locs_path}:{number}: image id {image_id} is not in images.txt.")
    if part_id not in part_index:
      raise DatasetError(f"{locs_path}:{number}: part id {part_id} is not in parts/parts.txt.")
    if visible not in (0, 1):
      raise DatasetError(f"{locs_path}:{number}: visibility must be 0 or 1, got {visible}.")
    if visible:
      landmarks[row_of[image_id], part_index[part_id]] = (y, x)
      loc_lines[(image_id, part_id)] = number
  return landmarks, loc_lines


def _check_images(image_paths, ids, part_ids, landmarks, locs_path, loc_lines, problem):
  """Decodes every image once; `problem` for one that does not decode or a part outside it."""
  for i, (image_id, size) in enumerate(zip(ids, _image_sizes(image_paths))):
    if isinstance(size, str):
      problem(f"{image_paths[i]}: {size}.", image_id)
      continue
    width, height = size
    for k, part_id in enumerate(part_ids):
      row, col = landmarks[i, k]
      if np.isfinite(row) and not (0 <= col <= width and 0 <= row <= height):
        problem(
          f"{locs_path}:{loc_lines[(image_id, part_id)]}: part {part_id} at "
          f"x={col:g}, y={row:g} lies outside image {image_id} ({width} x {height}).",
          image_id,
        )
