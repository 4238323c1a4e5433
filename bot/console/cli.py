"""``tutor-admin``: trainer accounts and the question queue from the command line.

Usage::

    tutor-admin add-trainer NAME [--role trainer|admin] [--password-stdin]
    tutor-admin set-password NAME [--password-stdin]
    tutor-admin accounts
    tutor-admin queue [--status open|answered|closed|all] [--kind KIND] [--search TEXT] [--json]
    tutor-admin show ID
    tutor-admin answer ID --as NAME (--text TEXT | --file PATH | -) [--add-to-kb --question TEXT]
    tutor-admin close ID
    tutor-admin serve [--host H] [--port P]

It uses the same store (``DATABASE_URL``) and knowledge folder (``TUTOR_KB_DIR``) as the
running tutor; an answer goes to every learner who asked, like the console's.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path

from bot.console.passwords import hash_password


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise SystemExit("passwords differ")
    return first


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tutor-admin", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("add-trainer", help="create a console account")
    p.add_argument("username")
    p.add_argument("--role", choices=["trainer", "admin"], default="trainer")
    p.add_argument("--password-stdin", action="store_true")
    p = sub.add_parser("set-password", help="change an account's password")
    p.add_argument("username")
    p.add_argument("--password-stdin", action="store_true")
    sub.add_parser("accounts", help="list accounts")
    p = sub.add_parser("queue", help="list queue items")
    p.add_argument("--status", default="open", choices=["open", "answered", "closed", "all"])
    p.add_argument("--kind", choices=["unanswered", "request", "thumbs_down"])
    p.add_argument("--search")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("show", help="show one item")
    p.add_argument("id", type=int)
    p = sub.add_parser("answer", help="answer an item")
    p.add_argument("id", type=int)
    p.add_argument("--as", dest="trainer", required=True)
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--text")
    group.add_argument("--file", type=Path)
    group.add_argument("-", dest="stdin", action="store_true")
    p.add_argument("--add-to-kb", action="store_true")
    p.add_argument("--question", help="the question as published in the FAQ (required with --add-to-kb)")
    p = sub.add_parser("close", help="close an item unanswered")
    p.add_argument("id", type=int)
    p = sub.add_parser("serve", help="serve the web console")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``tutor-admin``; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "serve":  # the server sets up logging itself
        from bot.console.server import main as serve

        serve([*(["--host", args.host] if args.host else []), *(["--port", str(args.port)] if args.port else [])])
        return 0
    from bot.logging_setup import configure_logging
    from bot.wiring import get_human_loop

    # The one setup (personal data masked); a command-line tool stays quiet unless LOG_LEVEL asks.
    configure_logging(os.environ.get("LOG_LEVEL") or "WARNING")
    loop = get_human_loop()
    records = loop.records
    if args.command == "add-trainer":
        try:
            records.create_account(args.username, hash_password(_password(args.password_stdin)), args.role)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"created {args.role} {args.username}")
    elif args.command == "set-password":
        if not records.set_password(args.username, hash_password(_password(args.password_stdin))):
            print("error: no such account", file=sys.stderr)
            return 1
        print("password changed")
    elif args.command == "accounts":
        for row in records.list_accounts():
            print(f"{row['username']}\t{row['role']}\t{'active' if row['active'] else 'disabled'}")
    elif args.command == "queue":
        items = records.list_items(None if args.status == "all" else args.status, args.kind, args.search)
        if args.json:
            print(json.dumps([{"id": i.id, "kind": i.kind, "question": i.question, "askers": i.ask_count,
                               "status": i.status, "sources": i.sources, "updated_at": i.updated_at.isoformat()}
                              for i in items], ensure_ascii=False, indent=1))
        else:
            for i in items:
                print(f"#{i.id}\t{i.status}\t{i.kind}\t{i.ask_count} asker(s)\t{i.question}")
    elif args.command == "show":
        item = records.get_item(args.id)
        if item is None:
            print("error: no such item", file=sys.stderr)
            return 1
        print(f"#{item.id} [{item.status}, {item.kind}] {item.question}\nsources: {', '.join(item.sources)}")
        for asker in item.askers:
            print(f"  asked by {asker['channel']} {asker['sender'][:12]}… at {asker['asked_at']:%Y-%m-%d %H:%M}")
        if item.answer:
            print(f"answer by {item.answered_by}:\n{item.answer}")
    elif args.command == "answer":
        text = args.text if args.text is not None else (args.file.read_text(encoding="utf-8") if args.file
                                                          else sys.stdin.read())
        try:
            result = loop.answer_item(args.id, text, args.trainer, args.add_to_kb, args.question)
        except (KeyError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"sent: {len(result.delivered)} delivered now, {len(result.queued)} waiting"
              + (f"; knowledge base: {result.kb_path}" if result.kb_path else ""))
    elif args.command == "close":
        records.close_item(args.id)
        print("closed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
