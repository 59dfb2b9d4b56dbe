"""The API's operations, one router per resource; ``app.create_app`` includes them all.

* ``switches``         - ``/switches`` and a switch's policy preview;
* ``connection_types`` - ``/connection-types``;
* ``subscribers``      - ``/subscribers`` and their attachments;
* ``mtas``             - ``/mtas``;
* ``status``           - ``/status``;
* ``ranges``           - ``/ranges`` (the blocked prefixes, as text);
* ``common``           - paging, the per-request ``PolicyService`` and the
  OpenAPI responses and links the routers share.

Route functions are plain ``def``: the service and SQLAlchemy block, and
FastAPI runs such functions in its thread pool instead of on the event loop.
They explain themselves in comments, not docstrings: FastAPI would publish a
docstring as the operation's description in the OpenAPI document, which is
the contract (``docs/openapi.json``).
"""
