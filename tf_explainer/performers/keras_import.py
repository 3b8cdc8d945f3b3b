"""Any Keras CNN as a performer: `from_keras` describes an existing model.

The built-in performers are built by this package and described by their
`PerformerSpec`. `from_keras` writes that description for a model someone
already has (a `keras.applications` base with their own head, a Sequential
CNN from a tutorial, ...), inferring what it can from the layers and saying
in one line what it inferred:

* the top conv layer: the last `Conv2D` after the target layer (without one,
  the target layer itself stands in for the top-conv baseline);
* the reconstructed feature layers: the `Dense` layers between the last
  pooling and the classifier (each read after its activation); with a
  global-pooling head and no such layer, the pooled vector itself;
* the classifier: the last `Dense` layer;
* the last pooling before the feature layers (`MaxPooling2D`), if any;
* the input size, from the model's input shape;
* the class names, from a dataset folder's `classes.txt`, or `class_0..`.

Every inference can be overridden by argument. The images the rest of the
package feeds are RGB 0-255; `preprocessing` names what the model expects
(`caffe`, `torch`, `tf`, or `none` when a preprocessing layer is already
inside the model), and every probe of the model applies it
(`base.image_probe`).
"""

import keras

from tf_explainer.configs import ImportSettings
from tf_explainer.performers import base

GLOBAL_POOLS = (keras.layers.GlobalAveragePooling2D, keras.layers.GlobalMaxPooling2D)
POOLS = (keras.layers.MaxPooling2D,) + GLOBAL_POOLS
ACTIVATIONS = (keras.layers.ReLU, keras.layers.Activation, keras.layers.LeakyReLU)


def _names(layers):
  return ", ".join(layer.name for layer in layers) or "none"


def _layer(model, name, what):
  try:
    return model.get_layer(name)
  except ValueError:
    raise ValueError(
      f"{what}={name}: the model has no such layer; candidates: {_names(model.layers)}."
    ) from None


def _output_shape(layer):
  return tuple(layer.output.shape)


def _activated(layers, index):
  """The layer whose output is `layers[index]`'s after its activation."""
  layer = layers[index]
  nxt = layers[index + 1] if index + 1 < len(layers) else None
  if isinstance(nxt, ACTIVATIONS):
    return nxt.name
  return layer.name


def _description(name, spec, target_shape, last_pool, notes):
  """The one line that says what was imported and inferred."""
  return (
    f"Imported {name}: target {spec.target_layer} {target_shape[1:]}, top conv "
    f"{spec.top_conv_layer}, features {', '.join(spec.fc_layers)} {spec.fc_widths}, classifier "
    f"{spec.classifier_layer} ({spec.num_classes} classes), last pool "
    f"{last_pool.name if last_pool is not None else 'none'}, input {spec.image_size} px, "
    f"preprocessing {spec.preprocessing}" + "".join(f"; {n}" for n in notes) + "."
  )


def _target(model, layers, target_layer):
  """`(output shape of the target layer, the layers after it)`; the target must give a
  square map."""
  target_shape = base.square_map(model, target_layer)
  target = model.get_layer(target_layer)
  return target_shape, layers[layers.index(target) + 1 :]


def _input_side(model, image_size, preprocessing):
  """The model's square input side (or `image_size` where it has none), after the checks."""
  if preprocessing not in base.PREPROCESSING_MODES:
    raise ValueError(
      f"preprocessing={preprocessing}: expected one of {', '.join(base.PREPROCESSING_MODES)}."
    )
  inputs = getattr(model, "inputs", None)
  if not inputs or len(inputs) != 1:
    raise ValueError("model: expected a built Keras model with one image input.")
  shape = tuple(inputs[0].shape)
  if len(shape) != 4 or shape[-1] != 3:
    raise ValueError(f"model: input shape {shape} is not an image batch (batch, H, W, 3).")
  size = image_size or shape[1]
  if size is None or (shape[1] is not None and shape[1] != shape[2]):
    raise ValueError(
      f"model: input shape {shape} has no fixed square size; pass image_size (e.g. 224)."
    )
  if shape[1] is not None and image_size and image_size != shape[1]:
    raise ValueError(f"image_size={image_size} differs from the model's input side {shape[1]}.")
  return size


def _classifier(model, after, classifier_layer, class_names):
  """`(name, class names)` of the classifier: `classifier_layer`, or the last Dense layer;
  the names default to `class_0`, ... ."""
  dense = [layer for layer in after if isinstance(layer, keras.layers.Dense)]
  if classifier_layer is None:
    if not dense:
      raise ValueError("model: no Dense layer after the target to serve as the classifier.")
    classifier_layer = dense[-1].name
  classifier = _layer(model, classifier_layer, "classifier_layer")
  num_classes = int(classifier.units) if hasattr(classifier, "units") else None
  if not num_classes:
    raise ValueError(f"classifier_layer={classifier_layer}: expected a Dense layer.")
  if class_names is None:
    class_names = tuple(f"class_{i}" for i in range(num_classes))
  elif len(class_names) != num_classes:
    raise ValueError(
      f"class_names: {len(class_names)} names for a classifier of {num_classes} outputs."
    )
  return classifier_layer, tuple(class_names)


def _feature_layers(model, layers, after, classifier, last_pool, fc_layers):
  """`(feature layers, their Dense layers)`: `fc_layers` checked, or the Dense layers
  between the last pooling and the classifier (after their activations), or the
  global pooling."""
  if fc_layers is None:
    start = after.index(last_pool) + 1 if last_pool is not None else 0
    features = [
      layer
      for layer in after[start : after.index(classifier)]
      if isinstance(layer, keras.layers.Dense)
    ]
    if features:
      fc_layers = [_activated(layers, layers.index(layer)) for layer in features]
      fc_dense = [layer.name for layer in features]
    elif last_pool is not None and isinstance(last_pool, GLOBAL_POOLS):
      fc_layers, fc_dense = [last_pool.name], []
    else:
      raise ValueError(
        "model: no Dense layer between the last pooling and the classifier, and no global "
        "pooling: pass fc_layers."
      )
  else:
    fc_layers = list(fc_layers)
    for name in fc_layers:
      _layer(model, name, "fc_layers")
    fc_dense = [name for name in fc_layers if isinstance(model.get_layer(name), keras.layers.Dense)]
    if len(fc_dense) != len(fc_layers):
      fc_dense = []
  for name in fc_layers:
    if len(_output_shape(model.get_layer(name))) != 2:
      raise ValueError(
        f"fc_layers: {name} gives {_output_shape(model.get_layer(name))}, not a "
        f"feature vector (batch, units)."
      )
  return fc_layers, fc_dense


def from_keras(
  model,
  target_layer,
  top_conv_layer=None,
  fc_layers=None,
  classifier_layer=None,
  image_size=None,
  class_names=None,
  preprocessing="none",
  task="multi",
  verbose=1,
):
  """A `PerformerSpec` for an existing Keras classifier.

  Args:
    model: a built Keras functional or Sequential model from images to class
      scores (logits preferred: a softmax output works, but Grad-CAM then
      follows probabilities).
    target_layer: the layer whose output the explainer disentangles: a
      square map `(batch, L, L, D)`.
    top_conv_layer, fc_layers, classifier_layer: override the inferred layer
      names (`fc_layers`: a sequence of layer names whose outputs are the
      reconstructed features, in order).
    image_size: the input side when the model's input has no fixed size.
    class_names: names of the classifier's outputs.
    preprocessing: what the model expects of RGB 0-255 images: one of
      `base.PREPROCESSING_MODES`.
    task: `"multi"`, or `"single"` for a two-class (rest, target) model.
    verbose: print the one line of what was inferred.

  Returns:
    The `PerformerSpec`.

  Raises:
    ValueError: one line naming the argument and what was expected.
  """
  size = _input_side(model, image_size, preprocessing)
  layers = list(model.layers)
  target_shape, after = _target(model, layers, target_layer)
  notes = []
  if top_conv_layer is None:
    convs = [layer for layer in after if isinstance(layer, keras.layers.Conv2D)]
    top_conv_layer = convs[-1].name if convs else target_layer
    if not convs:
      notes.append("no conv layer after the target: the top-conv baseline is the target itself")
  else:
    _layer(model, top_conv_layer, "top_conv_layer")
  classifier_layer, class_names = _classifier(model, after, classifier_layer, class_names)
  num_classes = len(class_names)
  classifier = model.get_layer(classifier_layer)
  pools = [layer for layer in after[: after.index(classifier)] if isinstance(layer, POOLS)]
  last_pool = pools[-1] if pools else None
  fc_layers, fc_dense = _feature_layers(model, layers, after, classifier, last_pool, fc_layers)
  widths = tuple(int(_output_shape(model.get_layer(name))[-1]) for name in fc_layers)
  pool = base.pool_config(last_pool) if isinstance(last_pool, keras.layers.MaxPooling2D) else None
  # The explainer's first decoder layer starts as the performer's first feature layer
  # only where that layer reads the pooled top conv, as in the paper's networks.
  reads_top_conv = bool(fc_dense) and pool is not None
  spec = base.PerformerSpec(
    arch="keras",
    num_classes=num_classes,
    image_size=int(size),
    fc_units=widths[0],
    task=task,
    class_names=tuple(class_names),
    target_layer=target_layer,
    top_conv_layer=top_conv_layer,
    fc_layers=tuple(fc_layers),
    fc_dense_layers=tuple(fc_dense),
    fc_widths=widths,
    classifier_layer=classifier_layer,
    last_pool=pool,
    grouped=False,
    weights="imported",
    preprocessing=preprocessing,
    fc_reads_top_conv=reads_top_conv,
  )
  if verbose:
    print(_description(model.name, spec, target_shape, last_pool, notes), flush=True)
  return spec


def load_user_model(path):
  """A Keras 3 model from a `.keras`/`.h5` file or a Keras SavedModel folder.

  Keras 3 loads a SavedModel only as one opaque layer. A SavedModel written by
  `tf.keras` (Keras 2, with its `keras_metadata.pb`) still holds the layers:
  it is read with the `tf-keras` package (`pip install tf_explainer[savedmodel]`)
  and passed to Keras 3 through the legacy H5 format, which Keras 3 reads.

  Raises:
    ValueError: one line naming `model` and what was expected.
  """
  import os
  import tempfile

  from tf_explainer import io_utils

  if io_utils.isdir(path):
    if not io_utils.exists(os.path.join(path, "saved_model.pb")):
      raise ValueError(
        f"model={path} is a folder without saved_model.pb: expected a .keras "
        f"file or a SavedModel folder."
      )
    if not io_utils.exists(os.path.join(path, "keras_metadata.pb")):
      raise ValueError(
        f"model={path} is a SavedModel without Keras layers (written by Keras 3's "
        f"model.export or tf.saved_model.save): no layer can be read from it. Save the model "
        f"as .keras where it was built (model.save('model.keras')) and import that."
      )
    try:
      import tf_keras
    except ImportError:
      raise ValueError(
        f"model={path} is a tf.keras SavedModel: reading it needs the tf-keras package "
        f"(pip install 'tf_explainer[savedmodel]')."
      ) from None
    try:
      legacy = tf_keras.models.load_model(path, compile=False)
    except (ValueError, OSError, TypeError, KeyError) as e:
      message = " ".join(str(e).split())[:300]
      raise ValueError(f"model={path}: tf.keras cannot load the SavedModel ({message}).") from None
    with tempfile.TemporaryDirectory() as tmp:
      h5 = os.path.join(tmp, "model.h5")
      legacy.save(h5)
      return keras.saving.load_model(h5, compile=False)
  if not io_utils.exists(path):
    raise ValueError(f"model={path}: no such file.")
  try:
    return keras.saving.load_model(path, compile=False)
  except (ValueError, OSError, TypeError) as e:
    message = " ".join(str(e).split())[:300]
    raise ValueError(f"model={path}: Keras cannot load it ({message}).") from None


def run(**settings):
  """Loads `model`, describes it (`from_keras`) and writes a performer folder.

  The folder is what `train_explainer.py`, `evaluate.py` and
  `export_savedmodel.py` read for the built-in performers.

  Args:
    **settings: the fields of `ImportSettings`, by keyword.

  Returns:
    `(model, spec)`.
  """
  from tf_explainer import io_utils
  from tf_explainer.data import cub
  from tf_explainer.performers import storage

  s = ImportSettings(**settings)
  model = load_user_model(s.model)
  class_names = None
  if s.dataset_dir:
    class_names = tuple(str(c) for c in cub.read_part_dataset(s.dataset_dir).class_names)
  fc_layers = [n.strip() for n in s.fc_layers.split(",") if n.strip()] if s.fc_layers else None
  spec = from_keras(
    model,
    s.target_layer,
    top_conv_layer=s.top_conv_layer,
    fc_layers=fc_layers,
    classifier_layer=s.classifier_layer,
    image_size=s.image_size,
    class_names=class_names,
    preprocessing=s.preprocessing,
    verbose=s.verbose,
  )
  io_utils.claim_dir(s.model_dir, "performer", "model_dir", s.overwrite)
  storage.save_performer(model, spec, s.model_dir)
  if s.verbose:
    print(f"Performer written to {s.model_dir}.")
  return model, spec
