"""Tests of the SavedModel export: fresh-process load, signatures, warmup, bad requests."""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import tensorflow as tf

from tests import tiny_run
from tf_explainer import export_lib
from tf_explainer.train import explainer_lib

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Runs in a fresh interpreter that imports TensorFlow and nothing of this project.
FRESH_PROCESS = r"""
import json, sys
import numpy as np
import tensorflow as tf
path, images_file, bytes_file, out_file = sys.argv[1:5]
assert not any(m.startswith("tf_explainer") for m in sys.modules)
loaded = tf.saved_model.load(path)
images = np.load(images_file)
out = {k: v.numpy().tolist() for k, v in loaded.signatures["serving_default"](
    images=tf.constant(images)).items()}
with open(bytes_file, "rb") as f:
    data = f.read()
out_bytes = {k: v.numpy().tolist() for k, v in loaded.signatures["serving_bytes"](
    image_bytes=tf.constant([data, data])).items()}
errors = {}
try:
    loaded.signatures["serving_default"](images=tf.zeros([1, 7, 7, 3]))
except Exception as e:
    errors["shape"] = f"{type(e).__name__}: {e}"
try:
    loaded.signatures["serving_default"](images=tf.zeros([1] + list(images.shape[1:]), tf.int32))
except Exception as e:
    errors["dtype"] = f"{type(e).__name__}: {e}"
try:
    loaded.signatures["serving_bytes"](image_bytes=tf.constant([b"definitely not an image"]))
except Exception as e:
    errors["bytes"] = f"{type(e).__name__}: {e}"
with open(out_file, "w") as f:
    json.dump({"default": out, "bytes": out_bytes, "errors": errors}, f)
"""


class ExportTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    p = tiny_run.paths()
    cls.base = os.path.join(tempfile.mkdtemp(), "explainer")
    cls.path = export_lib.run(p["explainer"], cls.base, version=3)
    explainer, model, spec, _ = explainer_lib.load_explainer(p["explainer"])
    cls.module = export_lib.ServingModule(model, spec, explainer)
    cls.size = spec.image_size

  def test_version_folder_and_no_leftovers(self):
    self.assertEqual(self.path, os.path.join(self.base, "3"))
    self.assertEqual(sorted(os.listdir(self.base)), ["3"])
    with self.assertRaisesRegex(ValueError, r"3 exists already"):
      export_lib.export(self.module, self.base, 3)

  def test_fresh_process_matches_in_process(self):
    tmp = tempfile.mkdtemp()
    images = np.random.default_rng(0).integers(0, 256, (3, self.size, self.size, 3))
    images = images.astype(np.float32)  # whole values, so a PNG holds exactly the same pixels
    np.save(os.path.join(tmp, "images.npy"), images)
    png = tf.io.encode_png(tf.cast(images[0], tf.uint8)).numpy()
    with open(os.path.join(tmp, "image.png"), "wb") as f:
      f.write(png)
    script = os.path.join(tmp, "fresh.py")
    with open(script, "w") as f:
      f.write(FRESH_PROCESS)
    out_file = os.path.join(tmp, "out.json")
    result = subprocess.run(
        [sys.executable, script, self.path, os.path.join(tmp, "images.npy"),
         os.path.join(tmp, "image.png"), out_file], capture_output=True, text=True, cwd=tmp,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=""))
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    with open(out_file) as f:
      got = json.load(f)
    expected = self.module.serve(tf.constant(images))
    self.assertEqual(set(got["default"]), {"fc7", "part_maps", "p", "class_scores"})
    for key, value in expected.items():
      self.assertAllClose(np.array(got["default"][key]), value.numpy(), rtol=1e-4, atol=1e-4)
    expected_bytes = self.module.serve_bytes(tf.constant([png, png]))
    for key, value in expected_bytes.items():
      self.assertAllClose(np.array(got["bytes"][key]), value.numpy(), rtol=1e-4, atol=1e-4)
    # A PNG of the same pixels gives the same answer as the float input.
    self.assertAllClose(np.array(got["bytes"]["fc7"][0]), expected["fc7"][0].numpy(),
                        rtol=1e-3, atol=1e-3)
    errors = got["errors"]
    self.assertRegex(errors["shape"], r"(?s)shape|Shape")
    self.assertRegex(errors["dtype"], r"(?s)int32|dtype|float")
    self.assertIn("neither JPEG nor PNG", errors["bytes"])

  def test_saved_model_cli_lists_both_signatures(self):
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    result = subprocess.run([cli, "show", "--all", "--dir", self.path], capture_output=True,
                            text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    self.assertEqual(result.returncode, 0, result.stderr[-2000:])
    for text in ("signature_def['serving_default']", "signature_def['serving_bytes']",
                 "inputs['images']", "inputs['image_bytes']", "outputs['part_maps']",
                 "outputs['fc7']", "outputs['p']", "outputs['class_scores']"):
      self.assertIn(text, result.stdout)

  def test_warmup_requests_run(self):
    from tensorflow_serving.apis import prediction_log_pb2
    path = os.path.join(self.path, "assets.extra", export_lib.WARMUP_FILE)
    loaded = tf.saved_model.load(self.path)
    count = 0
    for record in tf.data.TFRecordDataset(path):
      log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
      request = log.predict_log.request
      signature = loaded.signatures[request.model_spec.signature_name]
      inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
      outputs = signature(**inputs)
      self.assertEqual(outputs["fc7"].shape[0], 1)
      count += 1
    self.assertEqual(count, 2)

  def test_client_builds_requests(self):
    sys.path.insert(0, os.path.join(REPO, "export"))
    try:
      import client  # pylint: disable=import-outside-toplevel
    finally:
      sys.path.pop(0)
    body = client.rest_request(b"\x89PNG....")
    self.assertEqual(body["signature_name"], "serving_bytes")
    self.assertEqual(body["instances"][0]["image_bytes"]["b64"], "iVBORy4uLi4=")
    request = client.grpc_request(b"abc", "explainer")
    self.assertEqual(request.model_spec.signature_name, "serving_bytes")
    self.assertEqual(tf.make_ndarray(request.inputs["image_bytes"]).tolist(), [b"abc"])


if __name__ == "__main__":
  tf.test.main()
