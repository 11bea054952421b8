"""A SequentialTaskSet reading pages in order, then leaving the set (the pattern of Locust's
examples/browse_docs_sequence_test.py)."""

import random

from locust import HttpUser, SequentialTaskSet, between, task


class ReadTheDocs(SequentialTaskSet):
    def on_start(self):
        self.chapters = ["/docs/intro", "/docs/install", "/docs/usage"]

    @task
    def contents(self):
        self.client.get("/docs/")

    @task
    def chapter(self):
        self.client.get(random.choice(self.chapters), name="/docs/[chapter]")

    @task
    def done(self):
        self.client.get("/docs/feedback")
        self.interrupt(reschedule=False)


class Reader(HttpUser):
    host = "http://shop.invalid"
    wait_time = between(0.02, 0.05)
    tasks = [ReadTheDocs]
