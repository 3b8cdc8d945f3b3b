"""The embedded synthetic part dataset: procedurally drawn articulated animals.

Six categories share named parts (head, neck, torso, tail, front_leg,
back_leg) but differ in proportions, posture and per-part colour and texture
(stripes, spots, noise), with overlapping colour palettes so that a CNN has to
use shape and texture, not one colour. Every image has a random position,
scale (object 40-100% of the frame), rotation (+-30 degrees) and flip, a
cluttered textured background and, sometimes, an occluder. Landmarks are the
part centres; a landmark that is occluded or out of frame is written with
visibility 0.

A third, `corpus="demo_shapes"`, draws the six categories with one shared
palette and texture set, so that only their shapes tell them apart;
`corpus="pretrain_shapes"` does the same to the 24 pretraining species.

A second corpus, `corpus="pretrain"`, holds 24 further species drawn from
the same part vocabulary, with their own proportions, postures, palettes,
textures (two more kinds), pose ranges and clutter. It pretrains the
performers shipped with the package (`tf_explainer.performers.zoo`); no
species lies near any of the six demo categories (`pretraining_categories`).

The output is in the CUB-200-2011 layout (SPEC section 3), so the same reader
serves this data and the real download:

    python -m tf_explainer.data.synthetic --out_dir=/tmp/parts --num_images=600
    python -m tf_explainer.data.synthetic --out_dir=/tmp/corpus --corpus=pretrain \
        --num_images=12000
"""

import functools
import math
import multiprocessing
import os
import shutil
import tempfile
import time

import numpy as np

from tf_explainer import configs
from tf_explainer.configs import GeneratorSettings
from tf_explainer import io_utils

PART_NAMES = ("head", "neck", "torso", "tail", "front_leg", "back_leg")

# Proportions in units of the torso half-length; colours as RGB 0-1 centres.
CATEGORIES = {
  "bird": dict(
    torso=(1.0, 0.55),
    neck=0.5,
    head=0.42,
    legs=0.9,
    leg_w=0.08,
    tail=0.9,
    tail_up=0.5,
    neck_up=1.1,
    palette=[(0.8, 0.3, 0.2), (0.3, 0.5, 0.8)],
    textures=("stripes", "noise"),
  ),
  "cat": dict(
    torso=(1.0, 0.42),
    neck=0.25,
    head=0.45,
    legs=0.8,
    leg_w=0.14,
    tail=1.3,
    tail_up=1.0,
    neck_up=0.6,
    palette=[(0.6, 0.45, 0.3), (0.3, 0.3, 0.3)],
    textures=("stripes", "spots"),
  ),
  "cow": dict(
    torso=(1.0, 0.6),
    neck=0.35,
    head=0.38,
    legs=0.85,
    leg_w=0.18,
    tail=0.6,
    tail_up=-1.2,
    neck_up=0.3,
    palette=[(0.9, 0.9, 0.85), (0.35, 0.25, 0.2)],
    textures=("spots", "noise"),
  ),
  "dog": dict(
    torso=(1.0, 0.45),
    neck=0.45,
    head=0.4,
    legs=1.0,
    leg_w=0.15,
    tail=0.7,
    tail_up=0.7,
    neck_up=0.8,
    palette=[(0.6, 0.45, 0.3), (0.85, 0.75, 0.5)],
    textures=("noise", "spots"),
  ),
  "horse": dict(
    torso=(1.0, 0.45),
    neck=0.8,
    head=0.35,
    legs=1.4,
    leg_w=0.12,
    tail=0.9,
    tail_up=-0.9,
    neck_up=1.0,
    palette=[(0.45, 0.3, 0.2), (0.3, 0.3, 0.3)],
    textures=("noise", "stripes"),
  ),
  "sheep": dict(
    torso=(1.0, 0.7),
    neck=0.2,
    head=0.33,
    legs=0.6,
    leg_w=0.12,
    tail=0.3,
    tail_up=-0.5,
    neck_up=0.2,
    palette=[(0.9, 0.9, 0.85), (0.85, 0.75, 0.5)],
    textures=("spots", "noise"),
  ),
}
CATEGORY_NAMES = tuple(CATEGORIES)
DEFAULT_IMAGE_SIZE = configs.SYNTHETIC_IMAGE_SIZE

# The shape parameters that make a species, with the range the pretraining
# species are drawn from (the demo's six lie inside these ranges).
SHAPE_RANGES = {
  "torso_w": (0.3, 0.8),
  "neck": (0.1, 1.0),
  "head": (0.25, 0.55),
  "legs": (0.4, 1.6),
  "leg_w": (0.06, 0.22),
  "tail": (0.2, 1.5),
  "tail_up": (-1.3, 1.2),
  "neck_up": (0.1, 1.3),
}
TEXTURES = ("stripes", "spots", "noise", "checker", "rings")
PRETRAIN_SEED = 2026
NUM_PRETRAIN_CATEGORIES = configs.NUM_PRETRAIN_CATEGORIES
# Least distance, in the shape space scaled to [0, 1] per parameter, between
# a pretraining species and any demo category or earlier species.
MIN_SHAPE_DISTANCE = 0.25


def _shape_vector(spec):
  values = dict(spec, torso_w=spec["torso"][1])
  return np.array([(values[k] - lo) / (hi - lo) for k, (lo, hi) in SHAPE_RANGES.items()])


def pretraining_categories(count=NUM_PRETRAIN_CATEGORIES, seed=PRETRAIN_SEED):
  """`count` species for pretraining, none within `MIN_SHAPE_DISTANCE` of a demo category.

  Drawn deterministically from `seed`: the same call always gives the same
  species. Besides shape, each has its own palette, two textures, pose
  ranges (`lean`, `swing`) and background clutter (`blobs`).
  """
  rng = np.random.default_rng(seed)
  taken = [_shape_vector(spec) for spec in CATEGORIES.values()]
  species = {}
  rejected = 0
  while len(species) < count:
    if rejected > 10_000:
      raise ValueError(
        f"count={count}: no room for more than {len(species)} species "
        f"{MIN_SHAPE_DISTANCE} apart in the shape space."
      )
    shape = {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in SHAPE_RANGES.items()}
    spec = dict(
      torso=(1.0, shape.pop("torso_w")),
      **shape,
      palette=[tuple(float(c) for c in rng.uniform(0.1, 0.95, 3)) for _ in range(2)],
      textures=tuple(str(t) for t in rng.choice(TEXTURES, 2, replace=False)),
      lean=float(rng.uniform(0.05, 0.4)),
      swing=float(rng.uniform(0.1, 0.5)),
      blobs=(int(rng.integers(1, 4)), int(rng.integers(5, 10))),
    )
    vector = _shape_vector(spec)
    if min(float(np.linalg.norm(vector - t)) for t in taken) < MIN_SHAPE_DISTANCE:
      rejected += 1
      continue
    rejected = 0
    taken.append(vector)
    species[f"species{len(species) + 1:02d}"] = spec
  return species


def shape_only_categories(categories=CATEGORIES):
  """`categories` with one shared appearance: every category draws its parts'
  colours from all the table's palettes and its textures from all its kinds, so
  only shape (proportions and posture, that is the parts) tells the categories
  apart. A control for the question whether performers learn part detectors when
  colour and texture cannot do the job (docs/research-log.md)."""
  palette = [colour for spec in categories.values() for colour in spec["palette"]]
  textures = tuple(dict.fromkeys(t for spec in categories.values() for t in spec["textures"]))
  return {
    name: dict(spec, palette=list(palette), textures=textures) for name, spec in categories.items()
  }


CORPORA = {
  "demo": CATEGORIES,
  "pretrain": pretraining_categories(),
  "demo_shapes": shape_only_categories(),
}
CORPORA["pretrain_shapes"] = shape_only_categories(CORPORA["pretrain"])
PRETRAIN_CORPORA = ("pretrain", "pretrain_shapes")
assert tuple(CORPORA) == configs.CORPORA, "configs.CORPORA names these corpora"


@functools.lru_cache(maxsize=8)
def corpus_categories(corpus, species=None):
  """The category table of `corpus` (a key of `CORPORA`).

  `species` sets how many species the pretraining corpora draw (default
  `NUM_PRETRAIN_CATEGORIES`); the first 24 of a larger draw are the default
  corpus's, since `pretraining_categories` draws them in order from one seed.
  """
  if corpus not in CORPORA:
    raise ValueError(f"corpus={corpus} is not a corpus: expected one of {sorted(CORPORA)}.")
  if species is None or (species == NUM_PRETRAIN_CATEGORIES and corpus in PRETRAIN_CORPORA):
    return CORPORA[corpus]
  if corpus not in PRETRAIN_CORPORA:
    raise ValueError(
      f"species={species} applies only to corpus={' or '.join(PRETRAIN_CORPORA)}, "
      f"not corpus={corpus}."
    )
  if species < 2:
    raise ValueError(f"species={species}: expected at least 2.")
  table = pretraining_categories(species)
  return shape_only_categories(table) if corpus == "pretrain_shapes" else table


def _texture(rng, kind, u, v, base, scale):
  """RGB texture `(n, 3)` at object-frame coordinates `u, v` of shape `(n,)`."""
  other = np.clip(base + rng.uniform(-0.35, 0.35, 3), 0, 1)
  if kind == "stripes":
    freq = rng.uniform(4.0, 8.0) / scale
    angle = rng.uniform(0, math.pi)
    w = 0.5 + 0.5 * np.sin(freq * (u * math.cos(angle) + v * math.sin(angle)))
  elif kind == "spots":
    freq = rng.uniform(5.0, 9.0) / scale
    w = ((np.sin(freq * u) * np.sin(freq * v)) > 0.5).astype(np.float32)
  elif kind == "checker":
    freq = rng.uniform(3.0, 6.0) / scale
    w = ((np.floor(freq * u) + np.floor(freq * v)) % 2).astype(np.float32)
  elif kind == "rings":
    freq = rng.uniform(6.0, 12.0) / scale
    w = 0.5 + 0.5 * np.sin(freq * np.hypot(u, v))
  else:
    w = rng.random(u.shape) * 0.6
  return base[None, :] * (1 - w[:, None]) + other[None, :] * w[:, None]


def _segment_distance(px, py, a, b):
  """Distance of points to the segment a-b (object frame)."""
  ab = np.subtract(b, a)
  t = ((px - a[0]) * ab[0] + (py - a[1]) * ab[1]) / max(float(ab @ ab), 1e-9)
  t = np.clip(t, 0.0, 1.0)
  return np.hypot(px - (a[0] + t * ab[0]), py - (a[1] + t * ab[1]))


def _background(rng, size, blobs=(3, 7)):
  """Cluttered background: low-frequency colour noise, stripes and distractor blobs."""
  # Bilinear upsampling of a 4 x 4 grid of random colours: interp @ grid @ interp^T.
  coarse = rng.random((4, 4, 3), dtype=np.float32)
  pos = np.linspace(0, 3, size, dtype=np.float32)
  lo = np.minimum(pos.astype(int), 2)
  interp = np.zeros((size, 4), np.float32)
  interp[np.arange(size), lo] = 1 - (pos - lo)
  interp[np.arange(size), lo + 1] = pos - lo
  img = np.einsum("ia,abc,jb->ijc", interp, coarse, interp, optimize=True)
  yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
  freq = np.float32(rng.uniform(10, 30))
  angle = rng.uniform(0, math.pi)
  stripes = 0.5 + 0.5 * np.sin(
    freq * (xx * np.float32(math.cos(angle)) + yy * np.float32(math.sin(angle)))
  )
  img = img * (0.7 + 0.3 * stripes[..., None])
  for _ in range(rng.integers(*blobs)):
    cx, cy, r = rng.random(), rng.random(), rng.uniform(0.04, 0.15)
    blob = ((xx - cx) ** 2 + (yy - cy) ** 2) < r * r
    img[blob] = rng.random(3)
  img += 0.04 * rng.standard_normal((size, size, 1), dtype=np.float32)
  return img


def draw_animal(rng, category, size=DEFAULT_IMAGE_SIZE, categories=CATEGORIES):
  """Draws one image of `category`, a key of `categories` (a table of `CORPORA`).

  Returns:
    `(image uint8 (size, size, 3), bbox (x, y, w, h), parts (P, 3) of
    x, y, visible)`, parts in `PART_NAMES` order, pixel coordinates.
  """
  spec = categories[category]
  img = _background(rng, size, spec.get("blobs", (3, 7)))
  tl, tw = spec["torso"]
  neck_base, neck_top, head_c, tail_base, tail_tip, legs = _skeleton(rng, spec)
  points = np.array(
    [
      head_c + spec["head"] * np.array([1, 1]),
      head_c - spec["head"],
      tail_tip,
      legs["front_leg"][1],
      legs["back_leg"][1],
      [tl, tw],
      [-tl, -tw],
    ]
  )
  to_pixels, pu, pv = _placement(rng, size, np.max(np.abs(points)))
  part_masks = {
    "tail": _segment_distance(pu, pv, tail_base, tail_tip) < 0.09 * tl,
    "back_leg": _segment_distance(pu, pv, *legs["back_leg"]) < spec["leg_w"],
    "front_leg": _segment_distance(pu, pv, *legs["front_leg"]) < spec["leg_w"],
    "torso": (pu / tl) ** 2 + (pv / tw) ** 2 < 1.0,
    "neck": _segment_distance(pu, pv, neck_base, neck_top) < 0.16,
    "head": ((pu - head_c[0]) ** 2 + (pv - head_c[1]) ** 2) < spec["head"] ** 2,
  }
  object_mask = _paint(rng, img, spec, part_masks, pu, pv)
  # Eye: a small dark dot that makes the head a distinct part.
  eye = head_c + np.array([0.35, 0.3]) * spec["head"]
  img[((pu - eye[0]) ** 2 + (pv - eye[1]) ** 2) < (0.12 * spec["head"]) ** 2] = 0.05
  centres = {
    "head": head_c,
    "neck": (neck_base + neck_top) / 2,
    "torso": np.zeros(2),
    "tail": (tail_base + tail_tip) / 2,
    "front_leg": sum(legs["front_leg"]) / 2,
    "back_leg": sum(legs["back_leg"]) / 2,
  }
  parts = np.zeros((len(PART_NAMES), 3))
  for k, name in enumerate(PART_NAMES):
    x, y = to_pixels(centres[name])
    parts[k] = (x, y, float(0 <= x < size and 0 <= y < size))
  if rng.random() < 0.3:  # sometimes an occluder
    _occlude(rng, img, spec, object_mask, parts, size)
  image = (np.clip(img, 0, 1) * 255).astype(np.uint8)
  return image, _bbox(object_mask, size), parts


def _skeleton(rng, spec):
  """The animal's joints in its own frame (torso centred at the origin, head towards +u,
  up is +v): `(neck base, neck top, head centre, tail base, tail tip, legs)`."""
  tl, tw = spec["torso"]
  lean = rng.uniform(-spec.get("lean", 0.15), spec.get("lean", 0.15))
  neck_base = np.array([0.85 * tl, 0.3 * tw])
  neck_dir = np.array([math.cos(spec["neck_up"] + lean), math.sin(spec["neck_up"] + lean)])
  neck_top = neck_base + spec["neck"] * neck_dir
  head_c = neck_top + 0.7 * spec["head"] * neck_dir
  tail_base = np.array([-0.95 * tl, 0.2 * tw])
  tail_dir = np.array([-math.cos(spec["tail_up"]), math.sin(spec["tail_up"])])
  tail_tip = tail_base + spec["tail"] * tail_dir * rng.uniform(0.8, 1.1)
  swing = rng.uniform(-spec.get("swing", 0.3), spec.get("swing", 0.3))
  legs = {
    "front_leg": (
      np.array([0.6 * tl, -0.6 * tw]),
      np.array([0.6 * tl + swing, -0.6 * tw - spec["legs"]]),
    ),
    "back_leg": (
      np.array([-0.6 * tl, -0.6 * tw]),
      np.array([-0.6 * tl - swing, -0.6 * tw - spec["legs"]]),
    ),
  }
  return neck_base, neck_top, head_c, tail_base, tail_tip, legs


def _placement(rng, size, extent):
  """A random scale, rotation, flip and place for an object within `[-extent, extent]^2`:
  `(to_pixels(point), u, v)`, `u` and `v` the object coordinates of every pixel."""
  frac = rng.uniform(0.4, 1.0)
  scale = frac * size / (2.0 * extent)  # pixels per object unit
  theta = math.radians(rng.uniform(-30, 30))
  flip = -1.0 if rng.random() < 0.5 else 1.0
  margin = (1 - frac) * size / 2
  cx = size / 2 + rng.uniform(-margin - 0.15 * size, margin + 0.15 * size)
  cy = size / 2 + rng.uniform(-margin - 0.15 * size, margin + 0.15 * size)
  cos_t, sin_t = math.cos(theta), math.sin(theta)

  def to_pixels(p):
    u, v = flip * p[0], p[1]
    x = cx + scale * (u * cos_t - v * sin_t)
    y = cy - scale * (u * sin_t + v * cos_t)
    return np.array([x, y])

  yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
  dx, dy = (xx - cx) / scale, -(yy - cy) / scale
  pu = flip * (dx * cos_t + dy * sin_t)
  pv = -dx * sin_t + dy * cos_t
  return to_pixels, pu, pv


def _paint(rng, img, spec, part_masks, pu, pv):
  """Paints each part, back to front, with a colour and texture of `spec`; returns the
  object's mask."""
  colours = spec["palette"]
  object_mask = np.zeros(img.shape[:2], bool)
  for name, mask in part_masks.items():  # back to front
    base = np.clip(np.array(colours[rng.integers(len(colours))]) + rng.normal(0, 0.08, 3), 0, 1)
    kind = spec["textures"][rng.integers(len(spec["textures"]))]
    if name in ("head", "neck"):
      base = np.clip(base * rng.uniform(0.6, 1.2), 0, 1)
    img[mask] = _texture(rng, kind, pu[mask], pv[mask], base, 1.0)
    object_mask |= mask
  return object_mask


def _occlude(rng, img, spec, object_mask, parts, size):
  """A background-textured box over part of the object; the parts under it become hidden."""
  ys, xs = np.nonzero(object_mask)
  if not len(xs):
    return
  ox, oy = xs[rng.integers(len(xs))], ys[rng.integers(len(ys))]
  half = int(size * rng.uniform(0.08, 0.18))
  x0, x1, y0, y1 = (
    max(ox - half, 0),
    min(ox + half, size),
    max(oy - half, 0),
    min(oy + half, size),
  )
  img[y0:y1, x0:x1] = _background(rng, size, spec.get("blobs", (3, 7)))[y0:y1, x0:x1]
  for k in range(len(PART_NAMES)):
    x, y, vis = parts[k]
    if vis and x0 <= x < x1 and y0 <= y < y1:
      parts[k, 2] = 0.0


def _bbox(object_mask, size):
  """`(x, y, w, h)` of the object's pixels."""
  ys, xs = np.nonzero(object_mask)
  if not len(xs):  # object entirely out of frame: cannot happen with the placement's margins
    return (0.0, 0.0, float(size), float(size))
  return (
    float(xs.min()),
    float(ys.min()),
    float(xs.max() - xs.min() + 1),
    float(ys.max() - ys.min() + 1),
  )


def _write_text(path, lines):
  with open(path, "w") as f:
    f.write("".join(line + "\n" for line in lines))


def _draw_one(job):
  """Draws and saves image `index`; its own seed makes the result independent of workers."""
  from PIL import Image

  root, index, seed, image_size, train_fraction, corpus, species = job
  rng = np.random.default_rng([seed, index])
  categories = corpus_categories(corpus, species)
  names = tuple(categories)
  cls = index % len(names)
  image, bbox, parts = draw_animal(rng, names[cls], image_size, categories)
  rel = f"{cls + 1:03d}.{names[cls]}/{names[cls]}_{index + 1:06d}.jpg"
  Image.fromarray(image).save(os.path.join(root, "images", rel), quality=92)
  return rel, cls, bbox, parts, rng.random() < train_fraction


def _sibling_folder(out_dir):
  """A new temporary folder beside `out_dir`, with the user's umask (not mkdtemp's 0700)."""
  parent = os.path.dirname(out_dir)
  os.makedirs(parent, exist_ok=True)
  tmp = tempfile.mkdtemp(prefix=".synthetic-", dir=parent)
  umask = os.umask(0)
  os.umask(umask)
  os.chmod(tmp, 0o777 & ~umask)
  return tmp


def _draw_all(jobs, num_workers, bar):
  """Draws and writes every image of `jobs`, in worker processes where there are many;
  returns the annotation lines (`_annotation_lines`)."""
  workers = max(1, min(num_workers or os.cpu_count() or 1, len(jobs) // 50 + 1))
  if workers == 1:
    return _annotation_lines(map(_draw_one, jobs), bar)
  pool = multiprocessing.get_context("fork").Pool(workers)
  try:
    return _annotation_lines(pool.imap(_draw_one, jobs, chunksize=16), bar)
  finally:
    pool.close()
    pool.join()


def _annotation_lines(results, bar):
  """The lines of the CUB annotation files of the drawn images, `{file name: lines}`."""
  images, labels, boxes, split, part_locs = [], [], [], [], []
  for i, (rel, cls, bbox, parts, is_train) in enumerate(results):
    image_id = i + 1
    images.append(f"{image_id} {rel}")
    labels.append(f"{image_id} {cls + 1}")
    boxes.append(f"{image_id} {bbox[0]:.1f} {bbox[1]:.1f} {bbox[2]:.1f} {bbox[3]:.1f}")
    split.append(f"{image_id} {int(is_train)}")
    for k, (x, y, vis) in enumerate(parts):
      if not vis:
        x = y = 0.0
      part_locs.append(f"{image_id} {k + 1} {x:.1f} {y:.1f} {int(vis)}")
    if bar:
      bar.update(i + 1)
  return {
    "images.txt": images,
    "image_class_labels.txt": labels,
    "bounding_boxes.txt": boxes,
    "train_test_split.txt": split,
    os.path.join("parts", "part_locs.txt"): part_locs,
  }


def generate(
  out_dir,
  num_images,
  image_size=DEFAULT_IMAGE_SIZE,
  seed=0,
  train_fraction=0.7,
  progress=True,
  num_workers=None,
  corpus="demo",
  overwrite=False,
  species=None,
):
  """Writes the synthetic dataset in the CUB layout, atomically.

  The dataset is built in a temporary sibling folder and renamed into place,
  so an interrupted run never leaves a half-written `out_dir`. An existing
  `out_dir` is replaced only after the new one is complete, and only when it
  is empty or an earlier output of this generator: anything else is refused
  unless `overwrite`.

  Args:
    out_dir: destination root.
    num_images: number of images, spread evenly over the categories.
    image_size: side of the square images in pixels.
    seed: random seed; the same seed gives the same dataset.
    train_fraction: share of images marked as training images.
    progress: show a Keras progress bar.
    num_workers: processes that draw images; defaults to the CPU count.
    corpus: `"demo"` (the six categories), `"pretrain"` (the 24 species of
      `pretraining_categories`), `"demo_shapes"` or `"pretrain_shapes"` (the
      six or the 24 with one shared appearance, `shape_only_categories`).
    overwrite: replace a non-empty `out_dir` that this generator did not write.
    species: with `corpus="pretrain"` or `"pretrain_shapes"`, how many species
      (default 24; `corpus_categories`).

  Returns:
    `out_dir`.
  """
  import keras  # only for its progress bar

  names = tuple(corpus_categories(corpus, species))
  if num_images < len(names):
    raise ValueError(
      f"num_images={num_images} is too small: need at least one image per category ({len(names)})."
    )
  if image_size < 32:
    raise ValueError(f"image_size={image_size} is too small: need at least 32 pixels.")
  if os.path.exists(out_dir):  # never replace what the user or another step wrote
    io_utils.claim_dir(out_dir, "dataset", "out_dir", overwrite, "replace it")
  out_dir = os.path.abspath(out_dir)
  tmp = _sibling_folder(out_dir)
  try:
    class_dirs = [f"{i + 1:03d}.{name}" for i, name in enumerate(names)]
    for d in class_dirs:
      os.makedirs(os.path.join(tmp, "images", d))
    os.makedirs(os.path.join(tmp, "parts"))
    bar = (
      keras.utils.Progbar(num_images, unit_name="image", verbose=io_utils.progress_verbosity(1))
      if progress
      else None
    )
    jobs = [(tmp, i, seed, image_size, train_fraction, corpus, species) for i in range(num_images)]
    tables = _draw_all(jobs, num_workers, bar)
    tables["classes.txt"] = [f"{i + 1} {d}" for i, d in enumerate(class_dirs)]
    tables[os.path.join("parts", "parts.txt")] = [
      f"{k + 1} {name}" for k, name in enumerate(PART_NAMES)
    ]
    for name, lines in tables.items():
      _write_text(os.path.join(tmp, name), lines)
    record = {"kind": "dataset", "corpus": corpus}
    if corpus in PRETRAIN_CORPORA:
      record["species"] = len(names)
    io_utils.write_json(os.path.join(tmp, io_utils.OWNER_FILE), record)
    io_utils.replace_dir(tmp, out_dir)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  return out_dir


def run(**settings):
  """Generates the dataset the settings describe and says how fast."""
  s = GeneratorSettings(**settings)
  start = time.time()
  generate(
    s.out_dir,
    s.num_images,
    s.image_size,
    s.seed,
    train_fraction=s.train_fraction,
    corpus=s.corpus,
    overwrite=s.overwrite,
    species=s.species,
  )
  elapsed = time.time() - start
  print(
    f"Wrote {s.num_images} images to {s.out_dir} in {elapsed:.1f} s "
    f"({s.num_images / elapsed:.0f} images/s)."
  )
