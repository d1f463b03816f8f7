"""transformer-tour's web layer: FastAPI app, JSON API under /api, Jinja2 pages."""
