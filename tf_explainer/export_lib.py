"""One SavedModel for TF Serving: performer to the target layer, explainer, classifier.

Signatures (SPEC section 4):

* `serving_default`: `images` float32 `[batch, S, S, 3]`, RGB 0-255.
* `serving_bytes`: `image_bytes` string `[batch]`, encoded JPEG or PNG images of
  any size, decoded and resized to `S x S` inside the graph.

The graph checks these shapes itself (see `ServingModule`), so the inputs are
declared without a fixed shape.

Both return every reconstructed layer under its name in the performer's spec
(`PerformerSpec.fc_names`: the paper's names for the built-in performers;
post-ReLU), `part_maps` (the last interpretable layer after ReLU and mask),
`p` (one value per image) and `class_scores` (softmax of the performer's
classifier on the last reconstruction). The performer-only export returns
the performer's own last layer under its name and `class_scores`.

The export is written into a hidden temporary folder and renamed to
`<export_base>/<version>` when complete, so TF Serving, which only loads
numeric folders, never sees a partial version.
"""

import os
import re

import keras
import numpy as np
import tensorflow as tf

from tf_explainer.configs import ExportSettings
from tf_explainer import io_utils
from tf_explainer import performers
from tf_explainer.models import io as model_io

WARMUP_FILE = "tf_serving_warmup_requests"
# The largest pixel magnitude a request may hold: 0-255 is the contract, some slack is
# allowed for clients that normalise differently, values like 1e30 are refused.
MAX_PIXEL = 1e6


class ServingModule:
  """The serving functions (written by `export_archive`); also run in-process.

  The graph needs no XLA (grouped convolutions run as split ones) and checks
  each request before any convolution: a wrong rank, size, channel count or an
  empty batch fails with an `InvalidArgumentError` that names the expected
  shape. `serving_default` also declares `images` as `[None, S, S, 3]`, which
  TensorFlow's own loaders check first; TF Serving feeds past the declaration,
  and the checks in the graph answer there.
  """

  def __init__(self, model, spec, explainer=None, part_names=()):
    model = performers.plain_graph_copy(model)
    self.image_size = spec.image_size
    self.class_names = tuple(str(c) for c in spec.class_names) or tuple(
      f"class_{c}" for c in range(spec.num_classes)
    )
    self.part_names = tuple(str(p) for p in part_names)
    self.fc_names = spec.fc_names
    self.explain = explainer is not None
    if explainer is not None:
      self.probe = performers.image_probe(model, spec, {"target": spec.target_layer})
      self.explainer = explainer
      self.classifier = model.get_layer(spec.classifier_layer)
      self.parts = (self.probe, self.explainer, self.classifier)
    else:  # performer only, the baseline of the serving benchmark
      self.probe = performers.image_probe(
        model, spec, {"fc": spec.fc_layers[-1], "logits": "logits"}
      )
      self.parts = (self.probe,)
    # The signature declares its input's shape, so a client reads the size from it; the
    # checks in the graph stay, for servers (TF Serving) that feed tensors past it.
    self.serve = tf.function(
      self._serve,
      input_signature=[
        tf.TensorSpec([None, spec.image_size, spec.image_size, 3], tf.float32, name="images")
      ],
    )
    self.serve_bytes = tf.function(
      self._serve_bytes, input_signature=[tf.TensorSpec(None, tf.string, name="image_bytes")]
    )
    self.metadata = tf.function(self._metadata, input_signature=[])

  def _metadata(self):
    """What a client needs to read the answers: class and part names, and the input side."""
    return {
      "class_names": tf.constant(self.class_names, tf.string, shape=[len(self.class_names)]),
      "part_names": tf.constant(self.part_names, tf.string, shape=[len(self.part_names)]),
      "image_size": tf.constant(self.image_size, tf.int32),
    }

  def _serve(self, images):
    size = self.image_size
    # Forget the declared shape inside the graph: a server that feeds a tensor past the
    # signature (TF Serving) must meet the checks below, which TensorFlow would otherwise
    # fold away as always true.
    images = tf.compat.v1.placeholder_with_default(images, shape=None)
    images = _checked(
      images,
      [None, size, size, 3],
      f"images must be float32 [batch >= 1, {size}, {size}, 3], RGB 0-255",
    )
    tf.debugging.assert_all_finite(images, "images must be finite RGB values in 0-255")
    with tf.control_dependencies(
      [
        tf.debugging.assert_less_equal(
          tf.reduce_max(tf.abs(images)),
          MAX_PIXEL,
          message=f"images must be RGB values in 0-255 (|value| <= {MAX_PIXEL:g} accepted)",
        )
      ]
    ):
      images = tf.identity(images)
    return self._outputs(images)

  def _outputs(self, images):
    if not self.explain:
      out = self.probe(images, training=False)
      return {
        self.fc_names[-1]: tf.cast(out["fc"], tf.float32),
        "class_scores": tf.nn.softmax(tf.cast(out["logits"], tf.float32)),
      }
    maps = self.probe(images, training=False)["target"]
    out = self.explainer(maps, training=False)
    logits = tf.cast(self.classifier(out[self.fc_names[-1]]), tf.float32)
    batch = tf.shape(images)[0]
    return {
      **{name: out[name] for name in self.fc_names},
      "part_maps": out["part_maps"],
      "p": tf.fill([batch], tf.cast(out["p"], tf.float32)),
      "class_scores": tf.nn.softmax(logits),
    }

  def _serve_bytes(self, image_bytes):
    size = self.image_size
    image_bytes = _checked(
      image_bytes, [None], "image_bytes must be string [batch >= 1] of encoded JPEG or PNG images"
    )

    def decode(data):
      header = tf.strings.substr(data, 0, 4)
      known = tf.logical_or(
        tf.equal(tf.strings.substr(header, 0, 3), b"\xff\xd8\xff"), tf.equal(header, b"\x89PNG")
      )
      with tf.control_dependencies(
        [tf.debugging.Assert(known, ["image_bytes holds an image that is neither JPEG nor PNG"])]
      ):
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
      image.set_shape([None, None, 3])
      return tf.image.resize(tf.cast(image, tf.float32), [size, size])

    images = tf.map_fn(
      decode, image_bytes, fn_output_signature=tf.TensorSpec([size, size, 3], tf.float32)
    )
    return self._outputs(images)


def _checked(tensor, dims, expected):
  """`tensor` once its shape fits `dims`, checked in the graph before any use.

  The rank is checked first, then the fixed sizes, then a batch of at least
  one, each only after the one before it passed (so no check can fail on an
  index). The first broken rule fails with
  `InvalidArgumentError: <expected>; got shape [...]`.

  Args:
    tensor: a request input of any shape.
    dims: the expected shape, batch first, `None` where any size is allowed.
    expected: what the message says a request must be.

  Returns:
    `tensor` with its static shape set to `dims`.
  """
  shape = tf.shape(tensor)
  fixed = [(axis, size) for axis, size in enumerate(dims) if size is not None]
  rules = [lambda: tf.equal(tf.size(shape), len(dims))]
  if fixed:
    rules.append(lambda: tf.reduce_all([tf.equal(shape[axis], size) for axis, size in fixed]))
  rules.append(lambda: shape[0] > 0)
  passed = []
  for rule in rules:
    with tf.control_dependencies(passed):
      passed = [tf.debugging.Assert(rule(), [f"{expected}; got shape", shape], summarize=8)]
  with tf.control_dependencies(passed):
    return tf.ensure_shape(tf.identity(tensor), dims)


def export_archive(module):
  """A `keras.export.ExportArchive` with both signatures of `module`.

  The archive tracks the TensorFlow variables under the Keras variables
  explicitly. A plain `tf.saved_model.save` of a module holding Keras 3 models
  writes functions that read variables the SavedModel's restore op never
  creates: TF2's loader hides this, but TF Serving's session-based loader (and
  `saved_model_cli run`) fail with "Could not find variable"
  (keras-team/keras#20095).
  """
  archive = keras.export.ExportArchive()
  for part in module.parts:
    archive.track(part)
  archive.add_endpoint("serving_default", module.serve)
  archive.add_endpoint("serving_bytes", module.serve_bytes)
  archive.add_endpoint("metadata", module.metadata)
  return archive


def warmup_records(image_size, model_name="explainer"):
  """PredictionLog records (serialized) for both signatures."""
  from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

  records = []
  image = np.zeros((1, image_size, image_size, 3), np.float32)
  png = tf.io.encode_png(tf.zeros((image_size, image_size, 3), tf.uint8)).numpy()
  for signature, name, value in (
    ("serving_default", "images", image),
    ("serving_bytes", "image_bytes", np.array([png], object)),
  ):
    request = predict_pb2.PredictRequest(
      model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature)
    )
    request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    log = prediction_log_pb2.PredictionLog(
      predict_log=prediction_log_pb2.PredictLog(request=request)
    )
    records.append(log.SerializeToString())
  return records


_TEMPORARY = re.compile(r"\.tmp-\d+-(\d+)")


def remove_stale_temporaries(export_base):
  """Removes the `.tmp-<version>-<pid>` folders of exports whose process has ended.

  An export killed before its rename leaves one behind; TF Serving ignores it,
  but it holds a whole model. Folders of running exports and anything not
  named like our own temporaries stay.

  Returns:
    The removed paths.
  """
  removed = []
  for name in sorted(io_utils.listdir(export_base)):
    match = _TEMPORARY.fullmatch(name)
    if match and not _process_alive(int(match.group(1))):
      path = os.path.join(export_base, name)
      io_utils.rmtree(path)
      removed.append(path)
  return removed


def _process_alive(pid):
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # alive, owned by another user
    return True
  return True


def export(module, export_base, version, model_name="explainer", overwrite=False):
  """Writes `module` as `<export_base>/<version>` atomically; returns that path."""
  if int(version) < 0:
    raise ValueError(f"`version` must be a non-negative integer, got {version}.")
  if io_utils.exists(export_base) and not io_utils.isdir(export_base):
    raise ValueError(f"export_base={export_base} is a file, not a folder.")
  final = os.path.join(export_base, str(int(version)))
  if io_utils.exists(final) and not overwrite:
    raise ValueError(
      f"{final} exists already: choose another `version` (TF Serving serves the "
      f"highest) or pass `overwrite`."
    )
  io_utils.makedirs(export_base)
  remove_stale_temporaries(export_base)
  tmp = os.path.join(export_base, f".tmp-{int(version)}-{os.getpid()}")
  if io_utils.is_url(export_base):
    # Object stores cannot rename a folder: write the version in place, as
    # TensorFlow's own exporters do there (the old version goes first).
    io_utils.rmtree(final)
    tmp = final
  try:
    export_archive(module).write_out(tmp, verbose=False)
    extra = os.path.join(tmp, "assets.extra")
    io_utils.makedirs(extra)
    with tf.io.TFRecordWriter(os.path.join(extra, WARMUP_FILE)) as writer:
      for record in warmup_records(module.image_size, model_name):
        writer.write(record)
    if tmp != final:
      io_utils.replace_dir(tmp, final)
  except BaseException:
    io_utils.rmtree(tmp)
    raise
  return final


def part_names(dataset_dir):
  """The part names of the dataset an explainer distilled on (none for a plain folder)."""
  path = os.path.join(dataset_dir, "parts", "parts.txt") if dataset_dir else None
  if not path or not io_utils.exists(path):
    return ()
  with io_utils.open_file(path) as f:
    rows = [line.split(None, 1) for line in f.read().splitlines() if line.strip()]
  return tuple(name.strip() for _, name in sorted(rows, key=lambda r: int(r[0])) if name)


def run(**settings):
  """Exports the explainer in `explainer_dir` (or only its performer); returns the version path.

  Args:
    **settings: the fields of `ExportSettings`, by keyword.
  """
  s = ExportSettings(**settings)
  explainer, model, spec, manifest = model_io.load_explainer(s.explainer_dir)
  module = ServingModule(
    model, spec, None if s.performer_only else explainer, part_names(manifest.get("dataset_dir"))
  )
  path = export(module, s.export_base, s.version, s.model_name, s.overwrite)
  print(f"SavedModel written to {path}")
  return path
