"""The locustfile that makes Locust run a loadkit scenario: ``locust -f $(loadkit locustfile-path)``.

Everything lives in ``loadkit.run.plugin`` (imported once, however this file is imported or copied): the
Locust user class that carries loadkit's plan, the load shape that keeps Locust from starting users of its
own, and the listeners that attach loadkit's run to Locust's runner. docs/run-at-scale.md has the recipes.
"""

from loadkit.run.plugin import LoadkitPlan
from loadkit.run.users import user_class

__all__ = ["LoadkitPlan", "LoadkitVisitor"]

LoadkitVisitor = user_class()  # the class Locust spawns: one per worker, the dispatcher of its arrivals
