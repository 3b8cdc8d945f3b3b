"""The Python API: explain a Keras CNN in a few calls, in the style of `keras.Model`.

    import tf_explainer as tfe

    explainer = tfe.Explainer.from_performer(model, target_layer="block5_conv2")
    explainer.fit(images, epochs=40)          # a folder, a numpy array or a tf.data.Dataset
    out = explainer.explain(batch)            # part maps, p, reconstructed fc layers, scores
    explainer.save("runs/my_explainer")       # the folder the programs write and read
    explainer = tfe.load_explainer("runs/my_explainer")
    metrics = explainer.evaluate("runs/parts")  # needs part locations: a CUB-layout root
    explainer.export("runs/serving/mine", version=1)

Each call runs the library function behind the matching program
(`train_explainer.py`, `evaluate.py`, `export_savedmodel.py`), so settings,
checks, files and results are the programs'. An `Explainer` works in a folder
(`work_dir`, a new temporary folder by default) that holds the performer it
explains, the images it was given as arrays and the explainer being trained; a
`fit` that stops resumes from there when called again with the same data and
settings.
"""

import hashlib
import os
import shutil
import tempfile

import numpy as np

PERFORMER_FOLDER = "performer"
EXPLAINER_FOLDER = "explainer"


class Explainer:
  """A performer and the explainer distilled from it.

  Make one with `Explainer.from_performer` (a Keras CNN or a performer folder)
  or `load_explainer` (a saved explainer folder).

  Example:

  >>> import keras, numpy as np, tf_explainer as tfe
  >>> inputs = keras.Input((64, 64, 3))
  >>> x = keras.layers.Conv2D(8, 3, activation="relu", name="conv1")(inputs)
  >>> x = keras.layers.MaxPooling2D(2)(x)
  >>> x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2")(x)
  >>> x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv3")(x)
  >>> x = keras.layers.MaxPooling2D(2, name="pool")(x)
  >>> x = keras.layers.Flatten()(x)
  >>> x = keras.layers.Dense(16, activation="relu", name="fc")(x)
  >>> model = keras.Model(inputs, keras.layers.Dense(2, name="logits")(x))
  >>> explainer = tfe.Explainer.from_performer(model, target_layer="conv2", verbose=0)
  >>> images = np.random.default_rng(0).uniform(0, 255, (16, 64, 64, 3))
  >>> _ = explainer.fit(images, epochs=1, batch_size=8, verbose=0)
  >>> out = explainer.explain(images[:2])
  >>> out["part_maps"].shape
  (2, 31, 31, 8)
  """

  def __init__(self, work_dir, explainer_dir=None, owns_performer=False, verbose=1):
    self.work_dir = work_dir
    self.performer_dir = os.path.join(work_dir, PERFORMER_FOLDER)
    self.explainer_dir = explainer_dir or os.path.join(work_dir, EXPLAINER_FOLDER)
    self._owns_performer = owns_performer
    self._verbose = verbose
    self._target_layer = None  # a performer folder's layer to read, where not its target
    self._loaded = None  # (network, performer model, spec, manifest) once trained or loaded
    self._serving = None

  @classmethod
  def from_performer(cls, performer, target_layer=None, work_dir=None, verbose=1, **describe):
    """An untrained explainer for `performer`.

    Args:
      performer: a Keras classifier (images to class scores), or the folder of a
        performer that `train_performer.py` or `import_performer.py` wrote.
      target_layer: the layer whose maps the explainer disentangles (square
        `(batch, L, L, D)`): required with a Keras model; with a performer folder,
        default the performer's own target layer.
      work_dir: the folder the explainer works in; default a new temporary one.
      verbose: 0 silent, 1 progress bars and what was inferred.
      **describe: with a Keras model, what `performers.keras_import.from_keras`
        cannot infer (`preprocessing`, `class_names`, `fc_layers`, ...).

    Returns:
      An `Explainer` to `fit`.
    """
    from tf_explainer import io_utils
    from tf_explainer.models import io as model_io
    from tf_explainer.performers import keras_import, storage

    work_dir = work_dir or tempfile.mkdtemp(prefix="tf_explainer_")
    io_utils.makedirs(work_dir)
    explainer = cls(work_dir, owns_performer=not isinstance(performer, str), verbose=verbose)
    if isinstance(performer, str):
      for name in (storage.PERFORMER_FILE, storage.PERFORMER_SPEC_FILE):  # fit loads it
        if not io_utils.exists(os.path.join(performer, name)):
          raise ValueError(
            f"performer={performer} holds no performer: {os.path.join(performer, name)} is missing."
          )
      explainer.performer_dir = performer
      explainer._target_layer = target_layer
      return explainer
    if target_layer is None:
      raise ValueError("target_layer: name the layer of the Keras model to explain.")
    spec = keras_import.from_keras(performer, target_layer, verbose=verbose, **describe)
    model_io.save_performer(performer, spec, explainer.performer_dir)
    return explainer

  def fit(self, data, epochs=None, batch_size=32, callbacks=(), verbose=None, **settings):
    """Distils the explainer from the performer's outputs on `data` (no labels used).

    Args:
      data: a folder (a plain folder of images, flat or one subfolder per
        class, or a CUB-layout root), a numpy array `(N, H, W, 3)` of RGB 0-255
        images, or a `tf.data.Dataset` of such images (batched or not) or of
        `(images, anything)` pairs.
      epochs: training epochs (the program's default when `None`).
      batch_size: global batch size.
      callbacks: Keras callbacks, called as by `keras.Model.fit`.
      verbose: 0 silent, 1 Keras's progress bar (default: the explainer's).
      **settings: any other setting of `train_explainer.py` (`learning_rate`,
        `strategy`, `mixed_precision`, `seed`, ...).

    Returns:
      The last epoch's metrics, a dict.
    """
    from tf_explainer.train import explainer_lib

    dataset_dir = data if isinstance(data, str) else self._write_images(data)
    if epochs is not None:
      settings["epochs"] = epochs
    if self._target_layer:
      settings.setdefault("target_layer", self._target_layer)
    _, metrics = explainer_lib.run(
      performer_dir=self.performer_dir,
      dataset_dir=dataset_dir,
      model_dir=self.explainer_dir,
      batch_size=batch_size,
      extra_callbacks=tuple(callbacks),
      verbose=self._verbose if verbose is None else verbose,
      **settings,
    )
    self._loaded = self._serving = None
    return metrics

  def explain(self, images):
    """The explainer's outputs for a batch of images.

    Args:
      images: `(batch, H, W, 3)` RGB 0-255 (numpy or tensor), resized to the
        performer's input side when they are of another size.

    Returns:
      A dict of numpy arrays: `part_maps` (the last interpretable layer after
      its ReLU and mask), `p` (per image), the reconstructed layers by name
      (`fc6`, `fc7`, ...) and `class_scores` (the performer's classifier on
      the reconstruction, softmax).
    """
    import tensorflow as tf

    module = self._serving_module()
    images = tf.convert_to_tensor(images, tf.float32)
    if images.shape.rank != 4 or images.shape[-1] != 3:
      raise ValueError(f"images: expected (batch, H, W, 3) RGB 0-255, got {images.shape}.")
    size = module.image_size
    if tuple(images.shape[1:3]) != (size, size):
      images = tf.image.resize(images, [size, size])
    return {name: value.numpy() for name, value in module.serve(images).items()}

  def save(self, path):
    """Writes the explainer folder `path` (as `train_explainer.py` writes), with its performer
    inside it when the performer lives only in the work folder. Returns `path`."""
    from tf_explainer import io_utils
    from tf_explainer.models import io as model_io

    network, _, _, manifest = self._load()
    io_utils.claim_dir(path, "explainer", "path")
    performer_dir = manifest["performer_dir"]
    if self._owns_performer:
      target = os.path.join(path, PERFORMER_FOLDER)
      if os.path.abspath(target) != os.path.abspath(performer_dir):
        shutil.copytree(performer_dir, target, dirs_exist_ok=True)
      performer_dir = target
    model_io.save_explainer(
      network,
      path,
      performer_dir,
      manifest.get("dataset_dir"),
      manifest.get("unlabeled_dir"),
      manifest.get("train_split", "train"),
      loss=manifest.get("loss"),
      target_layer=manifest.get("target_layer"),
    )
    return path

  def evaluate(self, dataset_dir, output_dir=None, split="test", **settings):
    """The paper's evaluation on a part-annotated dataset; returns `metrics.json`'s dict.

    Args:
      dataset_dir: a CUB-layout root with part locations (a plain folder is
        refused in one line).
      output_dir: where `metrics.json`, `report.md` and the figures go;
        default `<work_dir>/evaluation`.
      split: the split to measure on.
      **settings: any other setting of `evaluate.py`.
    """
    from tf_explainer import evaluate_lib

    self._load()
    return evaluate_lib.run(
      explainer_dir=self.explainer_dir,
      dataset_dir=dataset_dir,
      output_dir=output_dir or os.path.join(self.work_dir, "evaluation"),
      split=split,
      verbose=settings.pop("verbose", self._verbose),
      **settings,
    )

  def export(self, export_base, version=1, **settings):
    """Writes a SavedModel for TF Serving into `<export_base>/<version>`; returns that path."""
    from tf_explainer import export_lib

    self._load()
    return export_lib.run(
      explainer_dir=self.explainer_dir, export_base=export_base, version=version, **settings
    )

  def _load(self):
    from tf_explainer.models import io as model_io

    if self._loaded is None:
      if not os.path.exists(os.path.join(self.explainer_dir, model_io.EXPLAINER_FILE)):
        raise ValueError("This explainer is not trained yet: call fit first.")
      self._loaded = model_io.load_explainer(self.explainer_dir)
    return self._loaded

  def _serving_module(self):
    from tf_explainer import export_lib

    if self._serving is None:
      network, model, spec, _ = self._load()
      self._serving = export_lib.ServingModule(model, spec, network)
    return self._serving

  def _write_images(self, data):
    """Writes in-memory images as PNG files into `<work_dir>/images-<digest>`; returns it.

    The folder is named by the images' content, so the same images give the same
    folder (and a stopped `fit` resumes), and it is written once.
    """
    import tensorflow as tf

    batches = _image_batches(data)
    digest = hashlib.sha256()
    tmp = tempfile.mkdtemp(prefix=".images-", dir=self.work_dir)
    count = 0
    for batch in batches:
      for image in np.asarray(batch):
        pixels = np.clip(np.round(image), 0, 255).astype(np.uint8)
        digest.update(pixels.tobytes())
        tf.io.write_file(os.path.join(tmp, f"{count:06d}.png"), tf.io.encode_png(pixels))
        count += 1
    if count == 0:
      shutil.rmtree(tmp)
      raise ValueError("data holds no images.")
    folder = os.path.join(self.work_dir, f"images-{digest.hexdigest()[:16]}")
    if os.path.isdir(folder):
      shutil.rmtree(tmp)
    else:
      os.replace(tmp, folder)
    return folder


def _image_batches(data):
  """Batches of `(n, H, W, 3)` images from a numpy array or a `tf.data.Dataset`."""
  import tensorflow as tf

  if isinstance(data, tf.data.Dataset):
    for element in data.as_numpy_iterator():
      images = element[0] if isinstance(element, tuple) else element
      images = np.asarray(images)
      yield images[None] if images.ndim == 3 else images
    return
  images = np.asarray(data)
  if images.ndim != 4 or images.shape[-1] != 3:
    raise ValueError(
      f"data: expected a folder, a tf.data.Dataset or an array (N, H, W, 3) of RGB 0-255 "
      f"images, got an array of shape {images.shape}."
    )
  yield images


def load_explainer(path, work_dir=None, verbose=1):
  """The explainer saved in `path` (by `Explainer.save` or `train_explainer.py`)."""
  explainer = Explainer(
    work_dir or tempfile.mkdtemp(prefix="tf_explainer_"), explainer_dir=path, verbose=verbose
  )
  explainer._load()
  explainer.performer_dir = explainer._loaded[3]["performer_dir"]
  # A performer saved inside the folder travels with it on the next save.
  explainer._owns_performer = os.path.abspath(explainer.performer_dir).startswith(
    os.path.abspath(path) + os.sep
  )
  return explainer
