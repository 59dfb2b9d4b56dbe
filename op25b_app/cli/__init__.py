"""The ``op25b`` command line: parse, call the service, format."""
