"""A FastHttpUser (the pattern of Locust's examples/fast_http_locust.py)."""

from locust import FastHttpUser, constant, task


class Reader(FastHttpUser):
    host = "http://shop.invalid"
    wait_time = constant(0.05)

    @task(2)
    def home(self):
        self.client.get("/")

    @task
    def stats(self):
        self.client.get("/stats/requests")
