"""Chat with the running tutor in the terminal, through Rasa's REST channel.

Usage::

    python -m bot.chat_cli [--url http://127.0.0.1:5005] [--sender me]

Buttons are listed as numbers; type the number to press one. ``/quit`` leaves.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
import uuid

from bot.config import load_settings


def send(url: str, sender: str, message: str) -> list[dict]:
    """Send one message; return Rasa's replies.

    Raises:
        urllib.error.URLError: Rasa is not reachable.
    """
    request = urllib.request.Request(
        f"{url}/webhooks/rest/webhook", data=json.dumps({"sender": sender, "message": message}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as resp:
        return json.loads(resp.read() or b"[]")


def main() -> int:
    """Chat with the tutor through Rasa's REST channel in the terminal.

    Returns:
        The process exit status.
    """
    parser = argparse.ArgumentParser(description="Chat with the tutor in the terminal.")
    parser.add_argument("--url", default=load_settings().rasa_url)
    parser.add_argument("--sender", default=f"cli-{uuid.uuid4().hex[:8]}")
    args = parser.parse_args()
    print("Type a question (or /quit). Numbers press the buttons of the last reply.")
    buttons: list[dict] = []
    while True:
        try:
            text = input("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if text == "/quit":
            return 0
        if text.isdigit() and 0 < int(text) <= len(buttons):
            text = buttons[int(text) - 1]["payload"]
        try:
            replies = send(args.url, args.sender, text)
        except (urllib.error.URLError, OSError) as exc:
            print(f"(the tutor is not reachable at {args.url}: {exc}; is `make run` running?)", file=sys.stderr)
            continue
        buttons = []
        for reply in replies:
            if reply.get("text"):
                print(f"tutor> {reply['text']}")
            for item in reply.get("buttons") or []:
                buttons.append(item)
                print(f"   [{len(buttons)}] {item['title']}")


if __name__ == "__main__":
    sys.exit(main())
