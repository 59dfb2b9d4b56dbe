"""Pure policy: compile, FlowSpec, snapshot types, reconcile planning, constants.

No I/O, no Ryu, no SQLAlchemy: everything here is unit-testable in milliseconds.
"""
