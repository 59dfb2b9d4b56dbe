"""``op25b api``: the REST management plane, a process of its own beside the controller.

The database is the source of truth and the controller only reads it, so the
API never talks to a controller: it writes through ``PolicyService`` (the same
validation and audit path as the CLI) and the controller picks the change up
by the revision trigger like any other write. That is also why the API keeps
working while a controller restarts.

Modules, one job each:

* ``config``   - the TOML configuration (tokens stored as SHA-256, TLS, limits)
  and ``HOST:PORT`` parsing;
* ``auth``     - bearer-token check and read/write scope, before any body is read;
* ``body_limit`` - the maximum request size, enforced before parsing;
* ``schemas``  - the pydantic request/response models (the OpenAPI document
  is generated from them);
* ``errors``   - service and request errors to 400/404/409/... bodies;
* ``app``      - ``create_app``: the routes;
* ``openapi``  - the generated document (committed as ``docs/openapi.json``);
* ``server``   - start-up checks and uvicorn;
* ``command``  - the ``op25b api`` subcommand.
"""
