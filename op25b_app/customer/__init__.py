"""The customer's page: "Am I affected?" answered for the requester's own line.

A public, token-free web page of its own (not routes on the REST API): it
looks up the request's source address with the service layer's read-only
``LineLookup`` and says, in Japanese or English, whether outbound port 25 is
blocked for that line now or from when, whether an opt-out applies and until
when, and what to change in a mail client. It reveals nothing about anyone
else. ``op25b customer-page`` starts it (``op25b_app.cli.commands.customer``).

This is the package's public face; the command line imports from here only.
"""

from op25b_app.customer.app import SECURITY_HEADERS, create_app
from op25b_app.customer.config import CustomerConfig, CustomerConfigError, load_config
from op25b_app.customer.rate_limit import RateLimiter
from op25b_app.customer.server import serve

__all__ = [
    "SECURITY_HEADERS", "CustomerConfig", "CustomerConfigError", "RateLimiter", "create_app",
    "load_config", "serve",
]
