"""The parts of Locust (and geventhttpclient) loadkit uses beyond their documented API, checked directly, so a
new release that changes one fails here by name (docs/architecture.md lists them with the tests that guard
the behaviour built on them). Each check runs in a child process: importing locust monkey-patches it."""

from __future__ import annotations

from tests.helpers import run_child


def test_dropping_locusts_request_statistics_detaches_the_runners_listener() -> None:
    # loadkit.run.process.drop_locust_request_stats finds the runner's listener in EventHook._handlers by
    # its qualified name; when that stops matching, Locust's statistics would silently cost CPU again.
    out = run_child("""
import json
from locust import User, task
from locust.env import Environment
from loadkit.run.process import drop_locust_request_stats

class Idle(User):
    @task
    def nothing(self): pass

def fire(env):
    env.events.request.fire(request_type="GET", name="/", response_time=5.0, response_length=10,
                            exception=None, context={})
    return env.runner.stats.total.num_requests

counts = []
for drop in (False, True):
    env = Environment(user_classes=[Idle], host="http://127.0.0.1")
    env.create_local_runner()
    if drop:
        drop_locust_request_stats(env)
    counts.append(fire(env))
    env.runner.quit()
print(json.dumps({"kept": counts[0], "dropped": counts[1]}))
""")
    assert out == {"kept": 1, "dropped": 0}


def test_runner_states_worker_nodes_and_connect_settings() -> None:
    # The master watches runner.state, runner.worker_count and runner.clients (WorkerNode.state "missing"
    # marks a lost worker); the worker's error names CONNECT_TIMEOUT x (CONNECT_RETRY_COUNT + 1) seconds.
    out = run_child("""
import json, socket
from locust import User, runners, task
from locust.env import Environment

class Idle(User):
    @task
    def nothing(self): pass

with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
env = Environment(user_classes=[Idle], host="http://127.0.0.1")
master = env.create_master_runner(master_bind_host="127.0.0.1", master_bind_port=port)
node = runners.WorkerNode("w1")
master.clients["w1"] = node
result = {"states": [runners.STATE_STOPPED, runners.STATE_STOPPING, runners.STATE_MISSING],
          "node": [node.id, node.state], "got": master.clients.get("w1") is node,
          "listed": [c.id for c in master.clients.values()], "worker_count": master.worker_count,
          "state": master.state, "greenlet": hasattr(master, "greenlet"),
          "connect": [runners.CONNECT_TIMEOUT, runners.CONNECT_RETRY_COUNT]}
del master.clients["w1"]
master.quit()
print(json.dumps(result))
""")
    assert out["states"] == ["stopped", "stopping", "missing"]
    assert out["node"] == ["w1", "ready"] and out["got"] and out["listed"] == ["w1"]
    assert out["worker_count"] == 1 and out["state"] == "ready" and out["greenlet"]
    assert all(isinstance(v, (int, float)) and v > 0 for v in out["connect"])


def test_locustfile_users_tasksets_and_clients_as_loadkit_walks_them() -> None:
    # LocustfileVisitors walks user.tasks, TaskSet.tasks, TaskSet.execute_task and TaskSet.wait itself
    # (one pass per visit) and closes FastHttpSession's inner client (its `client` attribute).
    out = run_child("""
import json
from locust import FastHttpUser, SequentialTaskSet, TaskSet, constant, task
from locust.env import Environment

class Seq(SequentialTaskSet):
    wait_time = constant(0)
    @task
    def a(self): pass
    @task
    def b(self): pass

class Shopper(FastHttpUser):
    host = "http://127.0.0.1:9"
    tasks = [Seq]

env = Environment(user_classes=[Shopper], host="http://127.0.0.1:9")
user = Shopper(env)
seq = user.tasks[0](user)
print(json.dumps({"user_tasks": len(user.tasks), "seq_tasks": len(seq.tasks),
                  "execute_task": callable(getattr(seq, "execute_task", None)), "wait": callable(seq.wait),
                  "inner_close": callable(getattr(getattr(user.client, "client", None), "close", None))}))
""")
    assert out == {"user_tasks": 1, "seq_tasks": 2, "execute_task": True, "wait": True, "inner_close": True}


def test_geventhttpclient_response_headers_and_cookie_adapters() -> None:
    # run/client.py reads a response's headers from its private `_headers_index` (a Headers object, without
    # copying them), and feeds http.cookiejar through geventhttpclient.useragent's CompatRequest and
    # CompatResponse (cookies of shared-connection visitors: test_run_integration's cookie test).
    out = run_child("""
import http.cookiejar, http.server, json, threading
from geventhttpclient import HTTPClient
from geventhttpclient.header import Headers
from geventhttpclient.useragent import CompatRequest, CompatResponse

class Shop(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Set-Cookie", "sid=abc; Path=/")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args): pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Shop)
threading.Thread(target=server.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{server.server_address[1]}/cart"
client = HTTPClient("127.0.0.1", server.server_address[1])
answer = client.get("/cart")
headers = answer._headers_index
jar = http.cookiejar.CookieJar()
jar.extract_cookies(CompatResponse(answer), CompatRequest(url, "GET"))
body = answer.read()
answer.release()
request = CompatRequest(url, "GET", headers=Headers({}))
jar.add_cookie_header(request)
client.close()
server.shutdown()
print(json.dumps({"headers": isinstance(headers, Headers), "set_cookie": headers.get("set-cookie"),
                  "body": body.decode(), "cookie": request.headers.get("Cookie")}))
""")
    assert out == {"headers": True, "set_cookie": "sid=abc; Path=/", "body": "ok", "cookie": "sid=abc"}


def test_the_exceptions_locusts_clients_report_for_a_bad_status() -> None:
    # loadkit.run.kinds reads the status of a failed request from what Locust's clients report: HttpUser's
    # requests.HTTPError (its response), FastHttpUser's LocustBadStatusCode (a geventhttpclient ConnectionError
    # with the status as ``code``), a response's ``error`` when nothing came back. Were these to move, a
    # locustfile's 503 would be counted under an exception's name again.
    out = run_child("""
import json
from locust.clients import ResponseContextManager  # locust first: it monkey-patches before ssl is imported
from locust.contrib.fasthttp import ErrorResponse, LocustBadStatusCode
import requests
from geventhttpclient.useragent import ConnectionError as AgentConnectionError
from loadkit.run.kinds import failure_kind, failure_status

bad = LocustBadStatusCode("http://127.0.0.1/x", code=503)
answer = requests.Response()
answer.status_code = 500
http_error = requests.HTTPError("500 Server Error", response=answer)
refused = ConnectionRefusedError(111, "Connection refused")
print(json.dumps({"agent_error": isinstance(bad, AgentConnectionError), "code": bad.code,
                  "fast": failure_kind(bad), "fast_status": failure_status(bad),
                  "requests": failure_kind(http_error), "requests_status": failure_status(http_error),
                  "error_response": failure_kind(RuntimeError("check"), ErrorResponse(None, refused)),
                  "no_answer": failure_kind(RuntimeError("check"),
                                            ResponseContextManager(requests.ConnectionError(refused)))}))
""")
    assert out == {"agent_error": True, "code": 503, "fast": "http_503", "fast_status": 503,
                   "requests": "http_500", "requests_status": 500, "error_response": "connection_refused",
                   "no_answer": "connection_refused"}
