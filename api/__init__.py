"""The REST sidecar: FastAPI routes over ``core`` for machine clients (README, "REST API").

``workbench serve-api`` starts it with uvicorn on the import string
``api.app:create_app``; it is never imported by ``cli`` or the pages.
"""
