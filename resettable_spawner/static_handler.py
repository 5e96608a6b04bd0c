"""The home page's JavaScript (``resettable_spawner/static/``), served by the hub.

``STATIC_ROUTE`` is one of ``extra_handlers``: JupyterHub puts its ``hub/`` prefix in
front, so templates load ``{{ base_url }}resettable-spawner/static/<file>`` (``base_url``
ends with ``hub/``).

As JupyterHub's own static files: no login, and cached for good only with a ``?v=``
query. The page loads the modules through RequireJS, whose ``urlArgs`` (set by the
stock ``page.html``) adds ``v=<the hub's start time>`` to every module URL, as for the
stock ``home.js``; an upgrade of this package needs a hub restart, which changes it.
Without ``?v=`` the browser revalidates each time (``no-cache``; the ETag is a hash of
the content). Tornado's ``StaticFileHandler`` answers 403 for anything outside the
folder.
"""

from pathlib import Path

from tornado import web

STATIC_DIR = str(Path(__file__).parent / "static")
STATIC_URL = "resettable-spawner/static/"


class ResettableStaticHandler(web.StaticFileHandler):
    """Files of ``STATIC_DIR`` only, without login (not a JupyterHub ``BaseHandler``)."""

    def set_extra_headers(self, path):
        if "v" not in self.request.arguments:
            self.set_header("Cache-Control", "no-cache")


STATIC_ROUTE = (r"/" + STATIC_URL + r"(.*)", ResettableStaticHandler, {"path": STATIC_DIR})
