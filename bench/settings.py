"""The product's own settings, plus one URL the API benchmark compares against (a trivial DRF view).

Everything else (database, channel layer, cache, middleware) is exactly what production runs.
"""

from connect.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
