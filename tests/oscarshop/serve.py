"""Build and serve the django-oscar shop: ``python -m tests.oscarshop.serve STATE_DIR PORT_FILE``.

Creates the SQLite database (tables straight from the models) and a small catalogue, then serves the shop
on 127.0.0.1 with werkzeug's threaded WSGI server. A WSGI middleware counts every request the server
receives; ``GET /__requests__`` answers that count (and is not counted itself), so a test can compare it
with loadkit's. The chosen port is written to PORT_FILE once the server listens.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

COUNT_PATH = "/__requests__"


class CountRequests:
    """WSGI middleware: count every request that reaches the server, as an access log would."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.count = 0
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == COUNT_PATH:
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [str(self.count).encode()]
        with self.lock:
            self.count += 1
        return self.app(environ, start_response)


def build_catalogue() -> None:
    """Two top-level categories (one nested), five products in stock, one partner."""
    from oscar.apps.catalogue.categories import create_from_breadcrumbs
    from oscar.core.loading import get_model

    Partner = get_model("partner", "Partner")
    ProductClass = get_model("catalogue", "ProductClass")
    Product = get_model("catalogue", "Product")
    ProductCategory = get_model("catalogue", "ProductCategory")
    StockRecord = get_model("partner", "StockRecord")
    if Product.objects.exists():
        return
    partner = Partner.objects.create(name="Warehouse")
    kind = ProductClass.objects.create(name="Goods", requires_shipping=False, track_stock=True)
    catalogue = [
        ("Books > Non-fiction", "A brief history of time", "12.99"),
        ("Books > Non-fiction", "The selfish gene", "9.99"),
        ("Books > Fiction", "Middlemarch", "7.50"),
        ("Clothing", "Wool scarf", "25.00"),
        ("Clothing", "Rain jacket", "80.00"),
    ]
    for sku, (trail, title, price) in enumerate(catalogue, start=1):
        category = create_from_breadcrumbs(trail)
        product = Product.objects.create(title=title, product_class=kind, structure="standalone",
                                         description=f"<p>{title}, in stock.</p>")
        ProductCategory.objects.create(product=product, category=category)
        StockRecord.objects.create(product=product, partner=partner, partner_sku=f"SKU{sku:03d}",
                                   price=Decimal(price), price_currency="GBP", num_in_stock=10_000)


def main(state: Path, port_file: Path) -> None:
    """Set the shop up in ``state`` and serve it until killed."""
    state.mkdir(parents=True, exist_ok=True)
    os.environ["OSCARSHOP_DIR"] = str(state)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.oscarshop.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", run_syncdb=True, verbosity=0, interactive=False)
    build_catalogue()
    call_command("rebuild_index", interactive=False, verbosity=0)
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.wsgi import get_wsgi_application
    from werkzeug.serving import make_server

    app = CountRequests(StaticFilesHandler(get_wsgi_application()))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    tmp = port_file.with_suffix(".tmp")
    tmp.write_text(str(server.server_port))
    tmp.rename(port_file)
    server.serve_forever()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
