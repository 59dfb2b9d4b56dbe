"""``op25b radius``: a RADIUS accounting server feeding dynamic subscribers (sessions).

An interface like the CLI and the REST API: it imports only the service
layer's public face. ``server`` runs the process, ``packets`` turns a
datagram into an accounting event, ``writer`` commits and answers them,
``config`` reads the client list.
"""
