"""Listeners on Locust's events (the pattern of Locust's examples/events.py): each process writes one line
per event it hears to the file named by LOCUST_EVENT_LOG, and counts the requests its request listener
saw."""

import json
import os

from locust import HttpUser, constant, events, task
from locust.runners import MasterRunner

seen = {"requests": 0}


def note(event, **fields):
    role = type(fields.pop("runner", None)).__name__
    with open(os.environ["LOCUST_EVENT_LOG"], "a", encoding="utf-8") as out:
        out.write(json.dumps({"event": event, "pid": os.getpid(), "role": role, **fields}) + "\n")


@events.init.add_listener
def on_init(environment, runner, web_ui, **kwargs):
    note("init", runner=runner, master=isinstance(runner, MasterRunner))


@events.test_start.add_listener
def on_test_start(environment, **kwargs):
    note("test_start", runner=environment.runner)


@events.spawning_complete.add_listener
def on_spawning_complete(user_count, **kwargs):
    note("spawning_complete", user_count=user_count)


@events.request.add_listener
def on_request(request_type, name, response_time, response_length, exception, **kwargs):
    seen["requests"] += 1


@events.test_stopping.add_listener
def on_test_stopping(environment, **kwargs):
    note("test_stopping", runner=environment.runner)


@events.test_stop.add_listener
def on_test_stop(environment, **kwargs):
    note("test_stop", runner=environment.runner, requests=seen["requests"])


@events.quitting.add_listener
def on_quitting(environment, **kwargs):
    note("quitting", runner=environment.runner, requests=seen["requests"])


class Watched(HttpUser):
    host = "http://shop.invalid"
    wait_time = constant(0)

    @task
    def home(self):
        self.client.get("/")
