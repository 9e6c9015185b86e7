"""The interactive layout editor: a FastAPI app (``create_app``) and a static page.

Run it with ``layout2im serve [--model DIR] [--host 127.0.0.1] [--port 8000]``.
"""

from .app import create_app

__all__ = ["create_app"]
