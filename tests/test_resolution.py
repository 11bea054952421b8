"""Name resolution in a load process: new visitors reuse an answer for a minute instead of each asking the
system's resolver, and a burst of new visitors asks once (through gevent's pool of ten resolver threads, a
slow resolver would cap the new visitors a process can start).

The checks run in a child process: the run stage's gevent stays out of the test process.
"""

from __future__ import annotations

import textwrap

from tests.helpers import run_child

CHILD = textwrap.dedent('''
    import json, socket
    import gevent
    from gevent.pywsgi import WSGIServer
    from loadkit.run.browser import CachingResolver, cache_dns
    from loadkit.run.client import Connections, VisitorClient

    out = {}

    # A real server on 127.0.0.1 and forty new visitors, each with its own connection: the hub's own
    # resolver (spied on, still answering) is asked once.
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]
    server = WSGIServer(("127.0.0.1", 0), app, log=None)
    server.start()
    asked = []
    hub_resolver = gevent.get_hub().resolver
    real = hub_resolver.getaddrinfo
    hub_resolver.getaddrinfo = lambda *args: asked.append(args[0]) or real(*args)
    cache_dns()  # as each load process does (run.context.build_context)
    connections = Connections(f"http://127.0.0.1:{server.server_port}", shared=False, verify_tls=True,
                              timeout=5, pool_size=1)
    event = type("Event", (), {"fire": staticmethod(lambda **kw: None)})()
    statuses = []
    def visitor(i):
        client = VisitorClient(connections, event)
        statuses.append(client.send("GET", "/").status_code)
        client.pool.close()
    gevent.joinall([gevent.spawn(visitor, i) for i in range(40)], timeout=20)
    out["statuses"] = sorted(set(statuses))
    out["visits"] = len(statuses)
    out["asked"] = len(asked)
    cache_dns()  # set up again in the same process: still one cache
    out["wrapped_once"] = (type(gevent.get_hub().resolver) is CachingResolver
                           and type(gevent.get_hub().resolver.inner) is not CachingResolver)
    server.stop()

    # The answer expires after ttl; a failure is not remembered.
    class Answers:
        def __init__(self):
            self.calls = 0
        def getaddrinfo(self, host, port, family=0, type=0, proto=0, flags=0):
            self.calls += 1
            if host == "down.example" and self.calls == 1:
                raise socket.gaierror(-3, "Temporary failure in name resolution")
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.2.1", port))]
    answers = Answers()
    cached = CachingResolver(answers, ttl=0.05)
    first = cached.getaddrinfo("shop.example", 443)
    cached.getaddrinfo("shop.example", 443)
    out["within_ttl_calls"] = answers.calls
    cached.getaddrinfo("shop.example", 80)  # another port is another question
    out["other_port_calls"] = answers.calls
    gevent.sleep(0.1)
    out["same_answer"] = cached.getaddrinfo("shop.example", 443) == first
    out["after_ttl_calls"] = answers.calls
    answers.calls = 0
    try:
        cached.getaddrinfo("down.example", 443)
        out["failure_raised"] = False
    except socket.gaierror:
        out["failure_raised"] = True
    cached.getaddrinfo("down.example", 443)
    out["after_failure_calls"] = answers.calls

    # Visitors asking at once while the question is out share its answer, or its failure.
    class Slow:
        calls = 0
        def getaddrinfo(self, host, port, family=0, type=0, proto=0, flags=0):
            Slow.calls += 1
            gevent.sleep(0.02)
            if host == "down.example":
                raise socket.gaierror(-2, "Name or service not known")
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.2.1", port))]
    cached = CachingResolver(Slow())
    ok = gevent.joinall([gevent.spawn(cached.getaddrinfo, "shop.example", 443) for _ in range(5)])
    bad = gevent.joinall([gevent.spawn(cached.getaddrinfo, "down.example", 443) for _ in range(5)])
    out["together_calls"] = Slow.calls
    out["together_ok"] = sum(g.successful() for g in ok)
    out["together_failed"] = sum(isinstance(g.exception, socket.gaierror) for g in bad)
    print(json.dumps(out))
''')


def test_new_visitors_share_one_resolution_that_expires() -> None:
    out = run_child(CHILD)
    assert out["statuses"] == [200] and out["visits"] == 40
    assert out["asked"] == 1  # forty new connections, one question to the system's resolver
    assert out["wrapped_once"] is True
    assert out["within_ttl_calls"] == 1 and out["other_port_calls"] == 2
    assert out["same_answer"] is True and out["after_ttl_calls"] == 3
    assert out["failure_raised"] is True and out["after_failure_calls"] == 2
    # five askers at once: one question per name, the answer or the failure for all five
    assert out["together_calls"] == 2 and out["together_ok"] == 5 and out["together_failed"] == 5
