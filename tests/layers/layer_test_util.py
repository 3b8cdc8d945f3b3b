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
