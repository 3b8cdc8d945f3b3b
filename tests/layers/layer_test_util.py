"""Checks every custom layer must pass: full config and a `.keras` round trip."""

import inspect
import os
import tempfile

import keras
import numpy as np


def assert_config_holds_init_args(test, layer):
  config = layer.get_config()
  params = inspect.signature(type(layer).__init__).parameters
  for name, param in params.items():
    if name in ("self",) or param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
      continue
    test.assertIn(name, config)
    test.assertEqual(config[name], getattr(layer, name))
  clone = type(layer).from_config(config)
  test.assertEqual(clone.get_config(), config)


def assert_keras_round_trip(test, model, inputs):
  expected = model(inputs)
  with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
  got = loaded(inputs)
  if isinstance(expected, (list, tuple)):
    for a, b in zip(expected, got):
      test.assertAllClose(np.asarray(a), np.asarray(b))
  else:
    test.assertAllClose(np.asarray(expected), np.asarray(got))


POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")


def _inputs(shapes, seed=0, scale=1.0):
  rng = np.random.default_rng(seed)
  arrays = [(rng.random((2,) + tuple(s)) * scale).astype(np.float32) for s in shapes]
  return arrays if len(arrays) > 1 else arrays[0]


def _symbolic(shapes):
  tensors = [keras.Input(shape=tuple(s)) for s in shapes]
  return tensors if len(tensors) > 1 else tensors[0]


def _model(layer, shapes):
  """`inputs -> layer -> flatten -> Dense(1)`: a model that trains through the layer."""
  inputs = _symbolic(shapes)
  x = keras.layers.Flatten()(layer(inputs))
  return keras.Model(inputs, keras.layers.Dense(1, dtype="float32")(x))


def run_layer_test(
  test,
  layer_cls,
  init_kwargs,
  input_shapes,
  expected_output_shape,
  expected_trainable_weights,
  expected_non_trainable_weights,
  scale=1.0,
):
  """The checks every custom layer passes, in the manner of keras-hub's `run_layer_test`.

  * config round trip: `from_config(get_config())` gives the same config;
  * weight counts once built;
  * symbolic and eager calls give `expected_output_shape` (batch left out);
  * one `fit` step of a small model through the layer changes its trainable
    weights, with finite loss;
  * float32, mixed_float16 and mixed_bfloat16 policies: variables stay
    float32, outputs come in the compute dtype and are finite;
  * a `.keras` round trip of the model gives the same outputs.

  Args:
    input_shapes: one shape per input, without the batch.
    scale: inputs are uniform in `[0, scale)`.
  """
  layer = layer_cls(**init_kwargs)
  config = layer.get_config()
  test.assertEqual(layer_cls.from_config(config).get_config(), config)

  symbolic = layer_cls(**init_kwargs)(_symbolic(input_shapes))
  test.assertEqual(tuple(symbolic.shape[1:]), tuple(expected_output_shape))
  eager_layer = layer_cls(**init_kwargs)
  eager = eager_layer(_inputs(input_shapes, scale=scale))
  test.assertEqual(tuple(eager.shape), (2,) + tuple(expected_output_shape))
  test.assertLen(eager_layer.trainable_weights, expected_trainable_weights)
  test.assertLen(eager_layer.non_trainable_weights, expected_non_trainable_weights)

  keras.utils.set_random_seed(0)
  fitted = layer_cls(**init_kwargs)
  model = _model(fitted, input_shapes)
  model.compile(optimizer=keras.optimizers.SGD(1e-2), loss="mse")
  before = [w.numpy().copy() for w in fitted.trainable_weights]
  x, y = _inputs(input_shapes, seed=1, scale=scale), np.ones((2, 1), np.float32)
  history = model.fit(x, y, epochs=1, batch_size=2, verbose=0)
  test.assertTrue(np.isfinite(history.history["loss"][0]))
  for old, new in zip(before, fitted.trainable_weights):
    test.assertNotAllClose(old, new.numpy(), msg=f"{new.path} did not train")

  for policy in POLICIES:
    mixed = layer_cls(**init_kwargs, dtype=policy)
    out = mixed(_inputs(input_shapes, seed=2, scale=scale))
    test.assertEqual(out.dtype, keras.DTypePolicy(policy).compute_dtype, policy)
    test.assertTrue(np.all(np.isfinite(np.asarray(keras.ops.cast(out, "float32")))), policy)
    for w in mixed.weights:
      test.assertEqual(w.dtype, "float32", f"{policy}: {w.path}")

  assert_keras_round_trip(test, model, _inputs(input_shapes, seed=3, scale=scale))
