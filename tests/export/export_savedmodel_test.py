"""Tests of the SavedModel export: fresh-process load, signatures, warmup, bad requests."""

import json
import os
import subprocess
import sys
import tempfile

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from tests import tiny_run
from tf_explainer import export_lib
from tf_explainer import performers
from tf_explainer.models import io as model_io
from tf_explainer.train import explainer_lib

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Runs in a fresh interpreter that imports TensorFlow and nothing of this project.
FRESH_PROCESS = r"""
import json, sys
from absl.testing import parameterized
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
size = images.shape[1]
bad_images = {"rank3": tf.zeros([size, size, 3]), "small": tf.zeros([1, 64, 64, 3]),
              "large": tf.zeros([1, 300, 300, 3]), "channels": tf.zeros([2, size, size, 4]),
              "empty": tf.zeros([0, size, size, 3]),
              "dtype": tf.zeros([1, size, size, 3], tf.int32)}
bad_bytes = {"bytes": tf.constant([b"definitely not an image"]),
             "bytes_rank2": tf.constant([[data]]), "bytes_empty": tf.zeros([0], tf.string)}
errors = {}
for name, value in list(bad_images.items()) + list(bad_bytes.items()):
    signature = "serving_bytes" if name.startswith("bytes") else "serving_default"
    key = "image_bytes" if name.startswith("bytes") else "images"
    try:
        loaded.signatures[signature](**{key: value})
        errors[name] = "no error"
    except Exception as e:
        errors[name] = f"{type(e).__name__}: {e}"

# The same requests as TF Serving runs them: the SavedModel's signature in a
# TF1 session, fed by tensor name, with no Python-side check of the shape.
session_errors = {}
with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
    meta = tf.compat.v1.saved_model.loader.load(sess, ["serve"], path)
    session_out = {}
    for signature, value in (("serving_default", images), ("serving_bytes", np.array([data]))):
        sig = meta.signature_def[signature]
        fetches = {k: v.name for k, v in sig.outputs.items()}
        session_out[signature] = {k: v.tolist() for k, v in sess.run(
            fetches, {next(iter(sig.inputs.values())).name: value}).items()}
    for name, value in list(bad_images.items()) + list(bad_bytes.items()):
        sig = meta.signature_def["serving_bytes" if name.startswith("bytes") else "serving_default"]
        feed = {next(iter(sig.inputs.values())).name: value.numpy()}
        try:
            sess.run(sig.outputs["fc7"].name, feed)
            session_errors[name] = "no error"
        except Exception as e:
            session_errors[name] = f"{type(e).__name__}: {e}"
with open(out_file, "w") as f:
    json.dump({"default": out, "bytes": out_bytes, "errors": errors,
               "session": session_out, "session_errors": session_errors}, f)
"""


def _xla_and_python_functions(path):
  """Functions or nodes of a SavedModel that need XLA (`_XlaMustCompile`) or Python."""
  from tensorflow.core.protobuf import saved_model_pb2  # pylint: disable=import-outside-toplevel

  saved = saved_model_pb2.SavedModel()
  with open(os.path.join(path, "saved_model.pb"), "rb") as f:
    saved.ParseFromString(f.read())
  found = []
  for meta_graph in saved.meta_graphs:
    graph = meta_graph.graph_def
    functions = list(graph.library.function)
    self_check = [("", node) for node in graph.node]
    for function in functions:
      if function.attr["_XlaMustCompile"].b:
        found.append(function.signature.name)
      self_check += [(function.signature.name, node) for node in function.node_def]
    for where, node in self_check:
      if node.attr["_XlaMustCompile"].b or node.op in ("PyFunc", "PyFuncStateless", "EagerPyFunc"):
        found.append(f"{where}/{node.name} ({node.op})")
  return found


class ExportTest(tf.test.TestCase):
  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    p = tiny_run.paths()
    cls.base = os.path.join(tempfile.mkdtemp(), "explainer")
    cls.path = export_lib.run(explainer_dir=p["explainer"], export_base=cls.base, version=3)
    explainer, model, spec, _ = model_io.load_explainer(p["explainer"])
    cls.module = export_lib.ServingModule(model, spec, explainer)
    cls.size = spec.image_size

  def test_version_folder_and_no_leftovers(self):
    self.assertEqual(self.path, os.path.join(self.base, "3"))
    self.assertEqual(sorted(os.listdir(self.base)), ["3"])
    with self.assertRaisesRegex(ValueError, r"3 exists already"):
      export_lib.export(self.module, self.base, 3)

  def test_export_holds_no_training_state(self):
    """Only what serving reads: no lambda_f, gradient norms or category statistics."""
    names = [v.name for v in tf.saved_model.load(self.path).variables]
    # The explainer's own variables are there (under whatever name Keras gave the network:
    # `explainer`, or `explainer_1` when another test of the process loaded one first).
    self.assertTrue([n for n in names if "/conv_interp_1/" in n], names)
    for state in (
      "lambda_f",
      "lambda_l",
      "rec_grad_norms",
      "filter_grad_norms",
      "category_sums",
      "category_counts",
      "grad_norm_count",
    ):
      self.assertFalse([n for n in names if state in n], state)

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
      [
        sys.executable,
        script,
        self.path,
        os.path.join(tmp, "images.npy"),
        os.path.join(tmp, "image.png"),
        out_file,
      ],
      capture_output=True,
      text=True,
      cwd=tmp,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=""),
    )
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    with open(out_file) as f:
      got = json.load(f)
    expected = self.module.serve(tf.constant(images))
    self.assertEqual(set(got["default"]), {"fc6", "fc7", "part_maps", "p", "class_scores"})
    for key, value in expected.items():
      self.assertAllClose(np.array(got["default"][key]), value.numpy(), rtol=1e-4, atol=1e-4)
    expected_bytes = self.module.serve_bytes(tf.constant([png, png]))
    for key, value in expected_bytes.items():
      self.assertAllClose(np.array(got["bytes"][key]), value.numpy(), rtol=1e-4, atol=1e-4)
    # TF Serving's way in: a TF1 session restores the variables and runs the signature.
    for key, value in expected.items():
      self.assertAllClose(
        np.array(got["session"]["serving_default"][key]), value.numpy(), rtol=1e-4, atol=1e-4
      )
      self.assertAllClose(
        np.array(got["session"]["serving_bytes"][key][0]),
        expected_bytes[key][0].numpy(),
        rtol=1e-4,
        atol=1e-4,
      )
    # A PNG of the same pixels gives the same answer as the float input.
    self.assertAllClose(
      np.array(got["bytes"]["fc7"][0]), expected["fc7"][0].numpy(), rtol=1e-3, atol=1e-3
    )
    # Every bad request fails inside the graph with the graph's own message, before any
    # convolution runs (so no kernel's text, which differs between CPUs, is asserted).
    expected = (
      rf"InvalidArgumentError: .*images must be float32 \[batch >= 1, {self.size}, "
      rf"{self.size}, 3\], RGB 0-255; got shape\] \["
    )
    declared = (
      rf"Cannot feed value of shape .* which has shape \(None, {self.size}, {self.size}, 3\)"
    )
    for way in ("errors", "session_errors"):
      errors = {name: text.replace("\n", " ") for name, text in got[way].items()}
      for name in ("rank3", "small", "large", "channels", "empty"):
        # A TF1 session checks the declared [None, S, S, 3] itself before it feeds; TF
        # Serving feeds past it, as the TF2 loader does here, and meets the graph's checks.
        declared_only = way == "session_errors" and name != "empty"
        self.assertRegex(errors[name], declared if declared_only else expected, name)
      for name in ("bytes_rank2", "bytes_empty"):
        self.assertRegex(
          errors[name], r"InvalidArgumentError: .*image_bytes must be string \[batch >= 1\]", name
        )
      self.assertRegex(errors["bytes"], r"InvalidArgumentError: .*neither JPEG nor PNG")
    # A wrong dtype is refused by the signature's typed input, before any op runs. (A TF1
    # session converts a fed value to the placeholder's dtype itself.)
    self.assertRegex(got["errors"]["dtype"], r"InvalidArgumentError: .*expected to be a float")

  def test_metadata_signature_names_classes_and_parts(self):
    loaded = tf.saved_model.load(self.path)
    meta = {k: v.numpy() for k, v in loaded.signatures["metadata"]().items()}
    data = tiny_run.paths()["data"]
    with open(os.path.join(data, "parts", "parts.txt")) as f:
      parts = [line.split(None, 1)[1].strip() for line in f if line.strip()]
    self.assertEqual([c.decode() for c in meta["class_names"]], list(self.module.class_names))
    self.assertEqual([p.decode() for p in meta["part_names"]], parts)
    self.assertEqual(int(meta["image_size"]), self.size)

  def test_export_graph_needs_no_xla_and_no_python(self):
    self.assertEqual(_xla_and_python_functions(self.path), [])

  def test_stale_temporary_folders_removed(self):
    base = os.path.join(tempfile.mkdtemp(), "explainer")
    dead = subprocess.run(
      [sys.executable, "-c", "import os; print(os.getpid())"],
      capture_output=True,
      text=True,
      check=True,
    )
    stale = os.path.join(base, f".tmp-1-{int(dead.stdout)}")
    running = os.path.join(base, f".tmp-1-{os.getpid()}")
    other = os.path.join(base, ".tmp-notes")
    for folder in (stale, running, other):
      os.makedirs(os.path.join(folder, "variables"))
    export_lib.export(self.module, base, 2)
    self.assertEqual(
      sorted(os.listdir(base)), sorted(["2", os.path.basename(running), os.path.basename(other)])
    )

  def test_saved_model_cli_lists_both_signatures(self):
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    result = subprocess.run(
      [cli, "show", "--all", "--dir", self.path],
      capture_output=True,
      text=True,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    self.assertEqual(result.returncode, 0, result.stderr[-2000:])
    for text in (
      "signature_def['serving_default']",
      "signature_def['serving_bytes']",
      "signature_def['metadata']",
      "outputs['class_names']",
      "inputs['images']",
      "inputs['image_bytes']",
      "outputs['part_maps']",
      "outputs['fc7']",
      "outputs['p']",
      "outputs['class_scores']",
    ):
      self.assertIn(text, result.stdout)
    # `run` loads the model through a TF1 session, as TF Serving does.
    images = os.path.join(tempfile.mkdtemp(), "images.npy")
    np.save(images, np.zeros((2, self.size, self.size, 3), np.float32))
    result = subprocess.run(
      [
        cli,
        "run",
        "--dir",
        self.path,
        "--tag_set",
        "serve",
        "--signature_def",
        "serving_default",
        "--inputs",
        f"images={images}",
      ],
      capture_output=True,
      text=True,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    self.assertEqual(result.returncode, 0, result.stderr[-2000:])
    self.assertIn("Result for output key fc7", result.stdout)

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
    # export/client.py stands alone (it imports nothing of the package): load it by path.
    import importlib.util  # pylint: disable=import-outside-toplevel

    spec = importlib.util.spec_from_file_location(
      "client", os.path.join(REPO, "export", "client.py")
    )
    client = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(client)
    body = client.rest_request(b"\x89PNG....")
    self.assertEqual(body["signature_name"], "serving_bytes")
    self.assertEqual(body["instances"][0]["image_bytes"]["b64"], "iVBORy4uLi4=")
    request = client.grpc_request(b"abc", "explainer")
    self.assertEqual(request.model_spec.signature_name, "serving_bytes")
    self.assertEqual(tf.make_ndarray(request.inputs["image_bytes"]).tolist(), [b"abc"])


class PlainGraphTest(tf.test.TestCase, parameterized.TestCase):
  """Every architecture exports without XLA-only functions or Python ops."""

  @parameterized.parameters("alexnet", "vgg16", "vgg_m", "vgg_s")
  def test_no_xla_and_no_python(self, arch):
    size = performers.min_input_size(arch)
    model, spec = performers.build_performer(arch, 2, size, width=0.125, fc_units=8)
    explainer = explainer_lib.build_for_performer(model, spec)
    module = export_lib.ServingModule(model, spec, explainer)
    path = export_lib.export(module, os.path.join(tempfile.mkdtemp(), arch), 1)
    self.assertEqual(_xla_and_python_functions(path), [])
    images = np.random.default_rng(0).uniform(0, 255, (2, size, size, 3)).astype(np.float32)
    loaded = tf.saved_model.load(path).signatures["serving_default"](images=tf.constant(images))
    self.assertAllClose(
      loaded["fc7"], module.serve(tf.constant(images))["fc7"], rtol=1e-4, atol=1e-4
    )


if __name__ == "__main__":
  tf.test.main()
