"""An HttpUser with weighted tasks and a log-in in on_start (the pattern of Locust's examples/basic.py)."""

from locust import HttpUser, between, task


class Shopper(HttpUser):
    host = "http://shop.invalid"
    wait_time = between(0.05, 0.1)

    def on_start(self):
        self.client.post("/login", json={"username": "alice", "password": "not-a-secret"})

    @task
    def front_pages(self):
        self.client.get("/")
        self.client.get("/about")

    @task(3)
    def items(self):
        for item in range(3):
            self.client.get(f"/item?id={item}", name="/item")
