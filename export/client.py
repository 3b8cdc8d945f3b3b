"""A small TF Serving client for the exported explainer, over REST or gRPC.

    python export/client.py --server=localhost:8501 --protocol=rest --image=cat.jpg
    python export/client.py --server=localhost:8500 --protocol=grpc --image=cat.jpg
    python export/client.py --protocol=rest --image=cat.jpg --dry_run

It sends the encoded image to the `serving_bytes` signature (so any image size
works) and prints p, the top class score and the strongest part maps.
"""

import base64
import json
import sys
import urllib.error
import urllib.request

from absl import app, flags

_SERVER = flags.DEFINE_string("server", "localhost:8501", "host:port of TF Serving.")
_PROTOCOL = flags.DEFINE_enum("protocol", "rest", ["rest", "grpc"], "Transport.")
_MODEL = flags.DEFINE_string("model_name", "explainer", "Model name in the server config.")
_IMAGE = flags.DEFINE_string("image", None, "A JPEG or PNG file.", required=True)
_DRY_RUN = flags.DEFINE_boolean("dry_run", False, "Print the request instead of sending it.")
_TIMEOUT = flags.DEFINE_float("timeout", 30.0, "Seconds to wait for the server.")


def rest_request(image_bytes):
  """The JSON body of a REST predict call on `serving_bytes`."""
  return {
    "signature_name": "serving_bytes",
    "instances": [{"image_bytes": {"b64": base64.b64encode(image_bytes).decode("ascii")}}],
  }


def grpc_request(image_bytes, model_name):
  """A `PredictRequest` proto on `serving_bytes`."""
  import tensorflow as tf
  from tensorflow_serving.apis import predict_pb2

  request = predict_pb2.PredictRequest()
  request.model_spec.name = model_name
  request.model_spec.signature_name = "serving_bytes"
  request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto([image_bytes], dtype=tf.string))
  return request


class ClientError(Exception):
  """A failed request, said in one line."""


def _one_line(text, limit=500):
  text = " ".join(str(text).split())
  return text if len(text) <= limit else text[:limit] + "..."


def post_rest(url, body, timeout):
  """POSTs the JSON `body` to `url` and returns the decoded answer.

  Raises:
    ClientError: on an HTTP error status (with the server's own message, which
      TF Serving puts under `"error"`), or when the server cannot be reached.
  """
  request = urllib.request.Request(
    url, json.dumps(body).encode(), {"Content-Type": "application/json"}
  )
  try:
    with urllib.request.urlopen(request, timeout=timeout) as response:
      return json.loads(response.read())
  except urllib.error.HTTPError as e:
    text = e.read().decode("utf-8", "replace")
    try:
      text = json.loads(text).get("error", text)
    except (ValueError, AttributeError):
      pass
    raise ClientError(f"{url}: HTTP {e.code} {e.reason}: {_one_line(text)}") from None
  except (urllib.error.URLError, OSError) as e:
    raise ClientError(
      f"{url}: cannot reach the server ({_one_line(getattr(e, 'reason', e))})."
    ) from None
  except ValueError as e:
    raise ClientError(f"{url}: the answer is not JSON ({_one_line(e)}).") from None


def predict_grpc(server, request, timeout):
  """Sends a `PredictRequest` over gRPC; returns the outputs of the first image.

  Raises:
    ClientError: with the gRPC status and the server's message.
  """
  import grpc
  import tensorflow as tf
  from tensorflow_serving.apis import prediction_service_pb2_grpc

  with grpc.insecure_channel(server) as channel:
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    try:
      result = stub.Predict(request, timeout)
    except grpc.RpcError as e:
      raise ClientError(f"{server}: gRPC {e.code().name}: {_one_line(e.details())}") from None
  return {k: tf.make_ndarray(v)[0] for k, v in result.outputs.items()}


def summarize(outputs):
  """One line per output of a single image."""
  import numpy as np

  scores = np.asarray(outputs["class_scores"])
  maps = np.asarray(outputs["part_maps"])
  strongest = np.argsort(-maps.max(axis=(0, 1)))[:5]
  return (
    f"p = {float(np.asarray(outputs['p']).ravel()[0]):.3f}; top class "
    f"{int(scores.argmax())} ({scores.max():.3f}); strongest part filters "
    f"{strongest.tolist()}"
  )


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  try:
    with open(_IMAGE.value, "rb") as f:
      data = f.read()
  except OSError as e:
    sys.exit(f"--image={_IMAGE.value}: cannot read ({e.strerror}).")
  if _PROTOCOL.value == "rest":
    body = rest_request(data)
    url = f"http://{_SERVER.value}/v1/models/{_MODEL.value}:predict"
    if _DRY_RUN.value:
      print(f"POST {url}\n{json.dumps(body)[:500]}")
      return
    try:
      prediction = post_rest(url, body, _TIMEOUT.value)["predictions"][0]
    except ClientError as e:
      sys.exit(f"client.py: {e}")
    except (KeyError, IndexError, TypeError):
      sys.exit(f"client.py: {url}: the answer holds no predictions.")
    print(summarize(prediction))
  else:
    request = grpc_request(data, _MODEL.value)
    if _DRY_RUN.value:
      print(request)
      return
    try:
      outputs = predict_grpc(_SERVER.value, request, _TIMEOUT.value)
    except ClientError as e:
      sys.exit(f"client.py: {e}")
    print(summarize(outputs))


if __name__ == "__main__":
  app.run(main)
