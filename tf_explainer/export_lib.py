"""One SavedModel for TF Serving: performer to the target layer, explainer, classifier.

Signatures (SPEC section 4):

* `serving_default`: `images` float32 `[None, S, S, 3]`, RGB 0-255.
* `serving_bytes`: `image_bytes` string `[None]`, encoded JPEG or PNG images of
  any size, decoded and resized to `S x S` inside the graph.

Both return `fc7` (reconstructed, post-ReLU), `part_maps` (the last
interpretable layer after ReLU and mask), `p` (one value per image) and
`class_scores` (softmax of the performer's classifier on the reconstructed
fc7). The export is written into a hidden temporary folder and renamed to
`<export_base>/<version>` when complete, so TF Serving, which only loads
numeric folders, never sees a partial version.
"""

import os
import shutil

import keras
import numpy as np
import tensorflow as tf

from tf_explainer import io_utils

WARMUP_FILE = "tf_serving_warmup_requests"


class ServingModule(tf.Module):
  """The exported graph; also usable in-process for comparisons."""

  def __init__(self, model, spec, explainer=None):
    super().__init__(name="tf_explainer_serving")
    self.image_size = spec.image_size
    self.explain = explainer is not None
    if explainer is not None:
      self.probe = keras.Model(model.inputs[0], model.get_layer(spec.target_layer).output)
      self.explainer = explainer
      self.classifier = model.get_layer(spec.classifier_layer)
    else:  # performer only, the baseline of the serving benchmark
      self.probe = keras.Model(model.inputs[0], {
          "fc7": model.get_layer(spec.fc_layers[1]).output, "logits": model.output})
    size = spec.image_size
    self.serve = tf.function(
        self._serve, input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32,
                                                    name="images")])
    self.serve_bytes = tf.function(
        self._serve_bytes, input_signature=[tf.TensorSpec([None], tf.string,
                                                          name="image_bytes")])

  def _serve(self, images):
    tf.debugging.assert_all_finite(images, "images must be finite RGB values in 0-255")
    if not self.explain:
      out = self.probe(images, training=False)
      return {"fc7": tf.cast(out["fc7"], tf.float32),
              "class_scores": tf.nn.softmax(tf.cast(out["logits"], tf.float32))}
    maps = self.probe(images, training=False)
    out = self.explainer(maps, training=False)
    logits = tf.cast(self.classifier(out["fc7"]), tf.float32)
    batch = tf.shape(images)[0]
    return {"fc7": out["fc7"], "part_maps": out["part_maps"],
            "p": tf.fill([batch], tf.cast(out["p"], tf.float32)),
            "class_scores": tf.nn.softmax(logits)}

  def _serve_bytes(self, image_bytes):
    size = self.image_size

    def decode(data):
      header = tf.strings.substr(data, 0, 4)
      known = tf.logical_or(tf.equal(tf.strings.substr(header, 0, 3), b"\xff\xd8\xff"),
                            tf.equal(header, b"\x89PNG"))
      with tf.control_dependencies([tf.debugging.Assert(
          known, ["image_bytes holds an image that is neither JPEG nor PNG"])]):
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
      image.set_shape([None, None, 3])
      return tf.image.resize(tf.cast(image, tf.float32), [size, size])

    images = tf.map_fn(decode, image_bytes,
                       fn_output_signature=tf.TensorSpec([size, size, 3], tf.float32))
    return self._serve(images)


def signatures(module):
  return {"serving_default": module.serve.get_concrete_function(),
          "serving_bytes": module.serve_bytes.get_concrete_function()}


def warmup_records(image_size, model_name="explainer"):
  """PredictionLog records (serialized) for both signatures."""
  from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2
  records = []
  image = np.zeros((1, image_size, image_size, 3), np.float32)
  png = tf.io.encode_png(tf.zeros((image_size, image_size, 3), tf.uint8)).numpy()
  for signature, name, value in (("serving_default", "images", image),
                                 ("serving_bytes", "image_bytes", np.array([png], object))):
    request = predict_pb2.PredictRequest(
        model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature))
    request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    log = prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request))
    records.append(log.SerializeToString())
  return records


def export(module, export_base, version, model_name="explainer", overwrite=False):
  """Writes `module` as `<export_base>/<version>` atomically; returns that path."""
  if int(version) < 0:
    raise ValueError(f"--version must be a non-negative integer, got {version}.")
  final = os.path.join(export_base, str(int(version)))
  if os.path.exists(final) and not overwrite:
    raise ValueError(f"{final} exists already: choose another --version (TF Serving serves the "
                     f"highest) or pass --overwrite.")
  os.makedirs(export_base, exist_ok=True)
  tmp = os.path.join(export_base, f".tmp-{int(version)}-{os.getpid()}")
  shutil.rmtree(tmp, ignore_errors=True)
  try:
    tf.saved_model.save(module, tmp, signatures=signatures(module))
    extra = os.path.join(tmp, "assets.extra")
    os.makedirs(extra, exist_ok=True)
    with tf.io.TFRecordWriter(os.path.join(extra, WARMUP_FILE)) as writer:
      for record in warmup_records(module.image_size, model_name):
        writer.write(record)
    io_utils.replace_dir(tmp, final)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  return final


def run(explainer_dir, export_base, version=1, model_name="explainer", overwrite=False,
        performer_only=False):
  """Exports the explainer in `explainer_dir` (or only its performer)."""
  from tf_explainer.train import explainer_lib
  explainer, model, spec, _ = explainer_lib.load_explainer(explainer_dir)
  module = ServingModule(model, spec, None if performer_only else explainer)
  path = export(module, export_base, version, model_name, overwrite)
  print(f"SavedModel written to {path}")
  return path
