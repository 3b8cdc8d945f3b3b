"""Tests of export/client.py against a local HTTP server and closed ports (127.0.0.1 only)."""

import http.server
import json
import os
import socket
import tempfile
import threading

import tensorflow as tf

from tests import programs

CLIENT = os.path.join(programs.REPO, "export", "client.py")
# What TF Serving's REST API answers for a request its graph rejects.
SERVER_ERROR = (
  "assertion failed: [images must be float32 [batch >= 1, 115, 115, 3], RGB 0-255; "
  "got shape] [1 64 64 3]\n\t [[{{node Assert_1/Assert}}]]"
)
PREDICTION = {
  "p": 0.75,
  "class_scores": [0.1, 0.9],
  "part_maps": [[[0.0, 2.0], [1.0, 0.0]], [[0.0, 0.0], [0.0, 3.0]]],
}


class _Handler(http.server.BaseHTTPRequestHandler):
  def do_POST(self):  # noqa: N802 (the name http.server calls)
    self.rfile.read(int(self.headers["Content-Length"]))
    if "bad" in self.path:
      status, body = 400, {"error": SERVER_ERROR}
    else:
      status, body = 200, {"predictions": [PREDICTION]}
    data = json.dumps(body).encode()
    self.send_response(status)
    self.send_header("Content-Type", "application/json")
    self.send_header("Content-Length", str(len(data)))
    self.end_headers()
    self.wfile.write(data)

  def log_message(self, *args):
    pass


def _closed_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


class ClientTest(tf.test.TestCase):
  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.server = http.server.HTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=cls.server.serve_forever, daemon=True).start()
    cls.address = f"127.0.0.1:{cls.server.server_address[1]}"
    cls.image = os.path.join(tempfile.mkdtemp(), "image.png")
    with open(cls.image, "wb") as f:
      f.write(tf.io.encode_png(tf.zeros((4, 4, 3), tf.uint8)).numpy())

  @classmethod
  def tearDownClass(cls):
    cls.server.shutdown()
    cls.server.server_close()
    super().tearDownClass()

  def run_client(self, *flags):
    return programs.run(CLIENT, f"--image={self.image}", *flags, timeout=120)

  def assert_one_line_error(self, result, pattern):
    self.assertEqual(result.returncode, 1, result.stderr)
    self.assertNotIn("Traceback", result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.startswith("client.py:")]
    self.assertLen(lines, 1, result.stderr)
    self.assertRegex(lines[0], pattern)

  def test_rest_prediction(self):
    result = self.run_client(f"--server={self.address}", "--protocol=rest")
    self.assertEqual(result.returncode, 0, result.stderr)
    self.assertIn("p = 0.750; top class 1 (0.900); strongest part filters [1, 0]", result.stdout)

  def test_rest_server_error_is_one_line_with_its_message(self):
    result = self.run_client(f"--server={self.address}", "--protocol=rest", "--model_name=bad")
    self.assert_one_line_error(
      result,
      r"HTTP 400 .*: assertion failed: \[images must be float32 "
      r"\[batch >= 1, 115, 115, 3\].*\[1 64 64 3\]",
    )

  def test_rest_server_down(self):
    result = self.run_client(f"--server=127.0.0.1:{_closed_port()}", "--protocol=rest")
    self.assert_one_line_error(
      result,
      r"127\.0\.0\.1:\d+/v1/models/explainer:predict: cannot "
      r"reach the server",
    )

  def test_grpc_server_down(self):
    result = self.run_client(
      f"--server=127.0.0.1:{_closed_port()}", "--protocol=grpc", "--timeout=5"
    )
    self.assert_one_line_error(result, r"127\.0\.0\.1:\d+: gRPC (UNAVAILABLE|DEADLINE_EXCEEDED)")


if __name__ == "__main__":
  tf.test.main()
