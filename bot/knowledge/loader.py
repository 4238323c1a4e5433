"""Finding documents in the knowledge folder and reading them without risk.

One bad file must never stop the rest: every document, whatever its format, is read in
a child process with a time limit, a memory cap and a cap on what it may send back (a
crafted PDF can hang or balloon PDFium; a 400-byte YAML alias bomb in Markdown front
matter expands to gigabytes; a regex can backtrack for hours), oversized files are
refused before they are opened, and paths that resolve outside the folder (symlinks)
are refused. Each refusal has a one-line reason that ``kb status`` lists.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import pickle
import resource
from dataclasses import dataclass
from pathlib import Path

from bot.knowledge.documents import SUPPORTED_SUFFIXES, Document, DocumentError, load_document

log = logging.getLogger(__name__)

MAX_FILE_BYTES = int(os.environ.get("TUTOR_MAX_DOC_MB", "50")) * 1024 * 1024
PARSE_TIMEOUT_S = float(os.environ.get("TUTOR_PARSE_TIMEOUT_S", "60"))
PARSE_MEMORY_BYTES = int(os.environ.get("TUTOR_PARSE_MEMORY_MB", "1024")) * 1024 * 1024
#: The most a parse may send back (the pickled document): text, headings and metadata.
PARSE_OUTPUT_BYTES = int(os.environ.get("TUTOR_PARSE_OUTPUT_MB", "256")) * 1024 * 1024

#: Folders of the knowledge base that hold other things than documents.
NON_DOCUMENT_DIRS = {"quizzes", "roles", "generated"}
#: Top-level files that describe the folder rather than teach.
NON_DOCUMENT_FILES = {"README.md", "readme.md"}
_TEMP_SUFFIXES = (".tmp", ".part", ".crdownload", ".swp", ".swx", ".bak", "~")


@dataclass(frozen=True)
class LoadFailure:
    """Why a document could not be indexed."""

    reason: str


def is_candidate(path: Path, kb_dir: Path) -> bool:
    """Whether a path looks like a document a trainer meant to publish.

    Hidden files and folders, editor and download temp files, lock files, sidecars,
    quiz banks and role files are not documents.
    """
    relative = path.relative_to(kb_dir)
    parts = relative.parts
    if any(p.startswith((".", "~", "#")) for p in parts):
        return False
    if parts[0] in NON_DOCUMENT_DIRS or (len(parts) == 1 and parts[0] in NON_DOCUMENT_FILES):
        return False
    name = path.name
    if name.endswith(_TEMP_SUFFIXES) or name.endswith(".meta.yml"):
        return False
    return path.suffix.lower() in SUPPORTED_SUFFIXES


def discover(kb_dir: Path, failures: dict[str, str]) -> list[Path]:
    """List the documents to index, recording refused paths in ``failures``.

    Args:
        kb_dir: the (resolved) knowledge folder.
        failures: filled with ``source -> reason`` for refused files.

    Returns:
        Document paths in a stable order.
    """
    found: list[Path] = []
    for root, dirs, files in os.walk(kb_dir, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(root) / name
            if not is_candidate(path, kb_dir):
                continue
            source = path.relative_to(kb_dir).as_posix()
            reason = _refusal(path, kb_dir)
            if reason:
                failures[source] = reason
                log.warning("skipped %s: %s", source, reason)
                continue
            found.append(path)
    return found


def _refusal(path: Path, kb_dir: Path) -> str | None:
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return "broken link or unreadable path"
    if path.is_symlink() or not resolved.is_relative_to(kb_dir):
        return "link to a file outside the knowledge folder (refused)"
    size = resolved.stat().st_size
    if size == 0:
        return "empty file"
    if size > MAX_FILE_BYTES:
        return f"too large ({size / 1048576:.0f} MB > {MAX_FILE_BYTES // 1048576} MB limit)"
    return None


def load_safely(path: Path, kb_dir: Path, timeout: float = PARSE_TIMEOUT_S) -> Document | LoadFailure:
    """Parse a document in a child process with a time limit, a memory cap and an output cap.

    Every format goes to the child, text formats too: their content is as hostile as a
    PDF's (front matter YAML, regexes over megabyte lines). The parent only unpickles
    a bounded message of plain values from its own child.

    Args:
        path: the document.
        kb_dir: the knowledge folder.
        timeout: seconds before the child is killed.

    Returns:
        The :class:`Document`, or a :class:`LoadFailure` with the reason.
    """
    ctx = mp.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_parse_child, args=(sender, str(path), str(kb_dir)), daemon=True)
    child.start()
    sender.close()
    try:
        if not receiver.poll(timeout):
            return LoadFailure(f"parsing took longer than {timeout:.0f} s (stopped)")
        return _receive(receiver)
    finally:
        if child.is_alive():
            child.kill()
        child.join(5)
        receiver.close()


def _receive(receiver) -> Document | LoadFailure:
    """Read the child's one message, refusing one larger than :data:`PARSE_OUTPUT_BYTES`."""
    try:
        message = receiver.recv_bytes(PARSE_OUTPUT_BYTES)
    except EOFError:
        return LoadFailure("parser crashed (corrupt file or memory limit)")
    except OSError:  # recv_bytes: "bad message length", the child sent more than the cap
        return LoadFailure(f"parsed text larger than the {PARSE_OUTPUT_BYTES // 1048576} MB output limit")
    kind, payload = pickle.loads(message)  # noqa: S301 - written by our own forked child
    return payload if kind == "ok" else LoadFailure(payload)


def _parse_child(sender, path: str, kb_dir: str) -> None:  # runs in the child process
    try:
        # The forked child inherits the parent's address space (torch alone maps GBs),
        # so the cap is what it already maps plus the parse allowance.
        mapped = int(Path("/proc/self/statm").read_text().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        limit = mapped + PARSE_MEMORY_BYTES
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ValueError, OSError):
        pass
    try:
        message = _encode(("ok", load_document(Path(path), Path(kb_dir))))
    except DocumentError as exc:
        message = _encode(("error", str(exc)))
    except OSError as exc:
        message = _encode(("error", f"cannot read ({exc.strerror or exc})"))
    except MemoryError:
        message = _encode(("error", "needs more memory than the parse limit allows"))
    except Exception as exc:  # any parser bug is this file's failure, not the ingest's
        message = _encode(("error", f"could not parse ({type(exc).__name__}: {exc})"[:200]))
    try:
        sender.send_bytes(message)
    finally:
        sender.close()


def _encode(result: tuple) -> bytes:
    """The pickled result, or an error in its place when it is over the output cap."""
    try:
        message = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    except MemoryError:
        message = b""
    if not message or len(message) > PARSE_OUTPUT_BYTES:
        message = pickle.dumps(("error", f"parsed text larger than the {PARSE_OUTPUT_BYTES // 1048576} MB "
                                         "output limit"))
    return message
