"""``Action``: parsed once, compared and stored as its canonical text."""

from __future__ import annotations

import json
import pickle

import pytest

from op25b_app.core.actions import DROP, NORMAL, Action, goto, parse_pass_action, punt, sample
from op25b_app.core.errors import FlowSpecError


@pytest.mark.parametrize(("text", "kind", "target"), [
    ("normal", "normal", None), ("drop", "drop", None), ("goto:3", "goto", 3),
    ("goto:07", "goto", 7), ("punt:25", "punt", 25), ("sample:1", "sample", 1),
])
def test_parse_gives_kind_target_and_canonical_text(text: str, kind: str, target: int) -> None:
    action = Action.parse(text)
    assert (action.kind, action.target) == (kind, target)
    assert action == (kind if target is None else f"{kind}:{target}")
    assert hash(action) == hash(str(action))
    assert json.dumps(action) == json.dumps(str(action))
    assert pickle.loads(pickle.dumps(action)).target == target


@pytest.mark.parametrize("text", [
    "", "NORMAL", "goto", "goto:", "goto:x", "goto:٣", "goto:+3", "goto:-1", "goto:255",
    "punt:0", "punt:4294901761", "forward", 3, None, b"drop",
])
def test_malformed_actions_are_refused_naming_the_value(text: object) -> None:
    with pytest.raises(FlowSpecError) as error:
        Action.parse(text)
    assert error.value.field == "actions"


def test_goto_and_sample_must_point_forward_from_the_table() -> None:
    assert Action.parse("goto:3", table=2) == goto(3)
    with pytest.raises(FlowSpecError, match="goto target must be in 3..254"):
        Action.parse("goto:2", table=2)
    with pytest.raises(FlowSpecError, match="sample target"):
        Action.parse("sample:0", table=0)


def test_forwards_is_true_for_the_actions_that_let_the_packet_go_on() -> None:
    assert NORMAL.forwards and goto(2).forwards and sample(1).forwards
    assert not DROP.forwards and not punt(25).forwards


def test_pass_action_is_normal_or_goto_only() -> None:
    assert parse_pass_action("goto:1", 0) == goto(1)
    for text in ("drop", "punt:25", "sample:1"):
        with pytest.raises(FlowSpecError, match="pass_action"):
            parse_pass_action(text, 0)
