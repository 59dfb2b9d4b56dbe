"""What an op25b flow entry does with a packet, as one small typed value.

An ``Action`` is parsed and checked once (from a command-line option, from
stored options, or from the instructions a switch reports) and then carries
its kind and target, so the message builders, the readback parser and the
renderer never take a string apart again. It *is* its canonical text
(``str`` subclass): ``Action.parse("goto:3") == "goto:3"``, it hashes like
that text, and JSON writes it as that text, so stored options and logs read
the way an operator typed them.

Kinds:

``normal``    forward as a hybrid switch would (OFPP_NORMAL).
``drop``      no instructions: the packet ends here.
``goto:N``    continue in table N (another application forwards there); N > own table.
``punt:M``    through meter M to the controller, nowhere else (a blocked SYN
              sampled for the abuse desk, or answered with a RST).
``sample:T``  forward normally *and* continue a copy in table T, carrying the
              attachment id in the metadata (monitor mode never delays mail).
"""

from __future__ import annotations

from op25b_app.core.errors import FlowSpecError
from op25b_app.core.limits import MAX_METER_ID, MAX_TABLE_ID

NORMAL_KIND = "normal"
DROP_KIND = "drop"
GOTO_KIND = "goto"
PUNT_KIND = "punt"
SAMPLE_KIND = "sample"
_TARGETED = (GOTO_KIND, PUNT_KIND, SAMPLE_KIND)
#: Bytes of a punted packet sent to the controller: headers only, never mail.
PUNT_MAX_LEN = 128


class Action(str):
    """A canonical op25b action (see the module docstring); compare it as text."""

    kind: str
    #: The table (goto, sample) or meter (punt) the action names; None otherwise.
    target: int | None

    def __new__(cls, kind: str, target: int | None = None) -> Action:
        text = kind if target is None else f"{kind}:{target}"
        self = super().__new__(cls, text)
        self.kind = kind
        self.target = target
        return self

    def __reduce__(self) -> tuple[type[Action], tuple[str, int | None]]:
        return (Action, (self.kind, self.target))

    @classmethod
    def parse(cls, text: object, table: int | None = None) -> Action:
        """Check ``text`` (an Action or its text) for an entry in ``table``.

        OpenFlow lets goto_table point forward only (a higher table id), or
        the switch answers OFPBIC_BAD_TABLE_ID; with ``table`` given, that is
        checked here, with the field and value named.
        """
        if isinstance(text, Action) and table is None:
            return text
        if not isinstance(text, str):
            raise FlowSpecError("actions", text, "must be a string")
        if text in (NORMAL_KIND, DROP_KIND):
            return NORMAL if text == NORMAL_KIND else DROP
        kind, colon, digits = text.partition(":")
        if not colon or kind not in _TARGETED:
            raise FlowSpecError("actions", text,
                                "must be 'normal', 'drop', 'goto:N', 'punt:M' or 'sample:T'")
        if not digits.isdecimal() or not digits.isascii():
            raise FlowSpecError("actions", text, f"{kind} needs a decimal number")
        number = int(digits)
        if kind == PUNT_KIND:
            if not 1 <= number <= MAX_METER_ID:
                raise FlowSpecError("actions", text, f"punt needs a meter id 1..{MAX_METER_ID:#x}")
        else:
            low = 0 if table is None else table + 1
            if not low <= number <= MAX_TABLE_ID:
                raise FlowSpecError("actions", text,
                                    f"{kind} target must be in {low}..{MAX_TABLE_ID}")
        return cls(kind, number)

    @property
    def forwards(self) -> bool:
        """Whether the packet itself goes on (normal, goto, sample), i.e. it passes."""
        return self.kind in (NORMAL_KIND, GOTO_KIND, SAMPLE_KIND)


NORMAL = Action(NORMAL_KIND)
DROP = Action(DROP_KIND)


def goto(table: int) -> Action:
    """Continue in ``table``."""
    return Action(GOTO_KIND, table)


def punt(meter: int) -> Action:
    """To the controller through ``meter``."""
    return Action(PUNT_KIND, meter)


def sample(table: int) -> Action:
    """Forward normally and continue a copy in ``table``."""
    return Action(SAMPLE_KIND, table)


def parse_pass_action(text: object, table: int) -> Action:
    """What passing traffic does: ``normal`` or ``goto:N`` with N > ``table``."""
    action = Action.parse(text, table)
    if action.kind not in (NORMAL_KIND, GOTO_KIND):
        raise FlowSpecError("pass_action", text, "must be 'normal' or 'goto:N'")
    return action
