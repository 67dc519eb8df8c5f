"""Done marks between the agents of one step (files in a shared directory)."""

from __future__ import annotations

import pytest

from fabrictwin.errors import FabricTwinError
from fabrictwin.traffic.config import parse_config
from fabrictwin.traffic.done import DoneMarks, clear_marks, mark_path
from tests.helpers.agents import pair_configs


def test_an_agent_waits_for_the_marks_of_those_it_receives_from(tmp_path):
    me = DoneMarks(str(tmp_path), 0, {1, 2})
    one, two = DoneMarks(str(tmp_path), 1, set()), DoneMarks(str(tmp_path), 2, {0})
    assert not me.senders_done()
    me.mark()
    assert mark_path(tmp_path, 0).exists()
    one.mark()
    assert not me.senders_done()
    assert two.senders_done()            # rank 2 receives from 0, which is done
    two.mark()
    assert me.senders_done()


def test_no_directory_means_the_linger_decides(tmp_path):
    marks = DoneMarks(None, 0, {1})
    marks.mark()
    assert not marks.senders_done()
    assert not list(tmp_path.iterdir())
    assert DoneMarks(str(tmp_path), 0, set()).senders_done()  # receives from nobody


def test_clear_marks_removes_only_marks(tmp_path):
    for name in ("done-0", "done-12", "config-0.json"):
        (tmp_path / name).write_text("")
    clear_marks(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["config-0.json"]


def test_config_reads_done_dir(tmp_path):
    a, _b = pair_configs(1000, 1000)
    assert parse_config({**a, "done_dir": str(tmp_path)}).done_dir == str(tmp_path)
    assert parse_config({**a, "done_dir": None}).done_dir is None
    with pytest.raises(FabricTwinError, match="config: done_dir: expected a path"):
        parse_config({**a, "done_dir": 5})
