"""TaskSets declared inline with @task and nested twice (the pattern of Locust's
examples/nested_inline_tasksets.py); the inner set leaves with self.interrupt()."""

from locust import HttpUser, TaskSet, between, task


class Visitor(HttpUser):
    host = "http://shop.invalid"
    wait_time = between(0.01, 0.02)

    @task
    class Outer(TaskSet):
        @task
        class Inner(TaskSet):
            @task(10)
            def home(self):
                self.client.get("/")

            @task(1)
            def leave(self):
                self.interrupt()

        @task
        def stats(self):
            self.client.get("/stats/requests")
