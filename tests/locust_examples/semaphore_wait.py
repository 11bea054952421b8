"""Users wait until every user has spawned (the pattern of Locust's examples/semaphore_wait.py): an init
listener adds a spawning_complete listener that releases a semaphore the task set waits on."""

from gevent.lock import Semaphore
from locust import HttpUser, TaskSet, between, events, task

everyone_started = Semaphore()
everyone_started.acquire()


@events.init.add_listener
def on_init(environment, **kwargs):
    @environment.events.spawning_complete.add_listener
    def release(**kwargs):
        everyone_started.release()


class Waiting(TaskSet):
    def on_start(self):
        everyone_started.wait()
        self.wait()

    @task
    def home(self):
        self.client.get("/")


class Patient(HttpUser):
    host = "http://shop.invalid"
    wait_time = between(0.05, 0.2)
    tasks = [Waiting]
