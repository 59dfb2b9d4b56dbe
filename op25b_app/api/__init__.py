"""``op25b api``: the REST management plane, a process of its own beside the controller.

The database is the source of truth and the controller only reads it, so the
API never talks to a controller: it writes through ``PolicyService`` (the same
validation and audit path as the CLI) and the controller picks the change up
by the revision trigger like any other write. That is also why the API keeps
working while a controller restarts.

Modules, one job each:

* ``config``   - the TOML configuration (tokens stored as SHA-256 with an
  optional expiry, TLS, limits) and ``HOST:PORT`` parsing;
* ``token_rules`` - which tokens ``hash-token`` accepts (usable, not guessable);
* ``live_config`` - the configuration being served, reloaded on SIGHUP;
* ``auth``     - bearer-token check, expiry and read/write scope, before any
  body is read;
* ``request_line`` - path segments decoded one by one (``%2F`` is data),
  UTF-8 and single-valued query parameters, HEAD answered as GET;
* ``body_limit`` - the maximum request size, enforced before parsing;
* ``schemas``  - the pydantic request/response models (the OpenAPI document
  is generated from them);
* ``errors``   - service and request errors to 400/404/409/... bodies;
* ``echo``     - the bound on what an error body repeats of the request;
* ``routes``   - the operations, one router per resource, and what they share
  (paging, the per-request ``PolicyService``, OpenAPI responses and links);
* ``document`` - the OpenAPI document as served (FastAPI's, adjusted);
* ``app``      - ``create_app``: routers, error handlers and middleware together;
* ``openapi``  - the committed document (``docs/openapi.json``) and its regeneration;
* ``server``   - start-up checks and uvicorn.

The ``op25b api`` subcommand (argument parsing) is the CLI's
(``op25b_app.cli.api_command``); it calls ``config`` and ``server``.

Like every interface, the API imports only ``op25b_app.service`` (its public
face), never the database or the compiler: the service validates, audits,
compiles and translates their errors.
"""
