# loadkit as a container: one image for the Locust master and every worker, configured by environment only.
#
#   docker build -t loadkit .
#   master:  LOCUST_MODE_MASTER=true LOCUST_EXPECT_WORKERS=2 LOCUST_HEADLESS=true LOCUST_HOST=https://staging.shop
#            LOADKIT_SCENARIO=tv-spot   (a bundled scenario's name, or a path mounted into the container)
#   worker:  LOCUST_MODE_WORKER=true LOCUST_MASTER_NODE_HOST=<the master's service name>
#
# The entry point is Locust itself with loadkit's locustfile entry (LOCUST_LOCUSTFILE below), so the
# Locust Kubernetes operator, Helm charts and hosted Locust services run this image as they run Locust's
# own. docs/run-at-scale.md has the recipes; deploy/ has the manifests.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# loadkit from this source tree (the build context), with its pinned-below-3 Locust: nothing but PyPI.
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY loadkit ./loadkit
RUN pip install --no-cache-dir /src \
    && mkdir -p /opt/loadkit \
    && cp "$(loadkit locustfile-path)" /opt/loadkit/locustfile.py \
    && useradd --create-home --uid 10001 loadkit

USER 10001
WORKDIR /home/loadkit
# Run directories land in /home/loadkit/reports (mount a volume there, or set LOADKIT_UPLOAD_URL).
ENV LOCUST_LOCUSTFILE=/opt/loadkit/locustfile.py
# 5557: the master's port for its workers; 8089: Locust's web UI (not started with LOCUST_HEADLESS=true)
EXPOSE 5557 8089
ENTRYPOINT ["locust"]
