"""Trainer messages pushed to connected web sessions as socket.io frames."""

from __future__ import annotations

import json
from pathlib import Path

from bot.handoff.web_push import bot_uttered_frame, push_once
from tests.unit.handoff_support import make_loop


async def test_waiting_messages_reach_connected_sessions_only(tmp_path: Path) -> None:
    loop, _ = make_loop(tmp_path)
    loop.records.enqueue("web-on", "socketio", "Hello from the trainer")
    loop.records.enqueue("web-on", "socketio", "Second line")
    loop.records.enqueue("web-off", "socketio", "Kept for later")
    frames: list[str] = []

    async def send(frame: str) -> None:
        frames.append(frame)

    assert await push_once({"web-on": send}, loop.records.take_pending_many) == 2
    assert [json.loads(f[2:])[1]["text"] for f in frames] == ["Hello from the trainer", "Second line"]
    assert frames[0].startswith('42["bot_uttered"')
    assert await push_once({"web-on": send}, loop.records.take_pending_many) == 0  # delivered once
    assert loop.pending_for("web-off") == ["Kept for later"]  # not connected: next turn instead
    assert await push_once({}, loop.records.take_pending_many) == 0


def test_frame_escapes_json() -> None:
    frame = bot_uttered_frame('He said "hi" </script>')
    assert json.loads(frame[2:]) == ["bot_uttered", {"text": 'He said "hi" </script>'}]
