"""A MarkovTaskSet walking a shop (the patterns of Locust's examples/markov_taskset.py and
examples/markov-taskset/locustfile.py): every way of declaring transitions, each state a request."""

from locust import HttpUser, constant
from locust.user.markov_taskset import MarkovTaskSet, transition, transitions


class Store(MarkovTaskSet):
    @transition("browse")
    def home(self):
        self.client.get("/")

    @transition("product", weight=3)
    @transition("home")
    def browse(self):
        self.client.get("/category/books")

    @transitions({"basket": 2, "browse": 2, "search": 1})
    def product(self):
        self.client.get("/product/1")

    @transitions(["checkout", "product"])
    def basket(self):
        self.client.post("/basket", data={"product": "1"})

    @transitions([("browse", 2), ("product", 1)])
    def search(self):
        self.client.get("/search?q=tea", name="/search")

    @transitions([("home", 2), "basket"])
    def checkout(self):
        self.client.post("/checkout", data={"ok": "1"})


class Buyer(HttpUser):
    host = "http://shop.invalid"
    wait_time = constant(0.01)
    tasks = [Store]
