"""The subscriber database: schema, engine, migrations and the snapshot reader.

The database is op25b's only integration point: the CLI, a REST API, CSV
import and operators with a SQL client all write here, and the controller
reads a consistent ``PolicySnapshot`` from here whenever ``policy_revision``
advances.
"""
