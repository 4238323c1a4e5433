"""Finding documents in the knowledge folder and reading them without risk.

One bad file must never stop the rest: documents are read in a child process with a
time limit and a memory cap (a crafted PDF can hang or balloon PDFium), oversized
files are refused before they are opened, and paths that resolve outside the folder
(symlinks) are refused. Each refusal has a one-line reason that ``kb status`` lists.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import resource
from dataclasses import dataclass
from pathlib import Path

from bot.knowledge.documents import SUPPORTED_SUFFIXES, Document, DocumentError, load_document

log = logging.getLogger(__name__)

MAX_FILE_BYTES = int(os.environ.get("TUTOR_MAX_DOC_MB", "50")) * 1024 * 1024
PARSE_TIMEOUT_S = float(os.environ.get("TUTOR_PARSE_TIMEOUT_S", "60"))
PARSE_MEMORY_BYTES = int(os.environ.get("TUTOR_PARSE_MEMORY_MB", "1024")) * 1024 * 1024

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
    """Parse a document in a child process with a time limit and a memory cap.

    Text formats parse in-process (they are bounded by the size cap and cannot hang);
    PDF and DOCX go to a child that is killed when it overruns.

    Args:
        path: the document.
        kb_dir: the knowledge folder.
        timeout: seconds before the child is killed.

    Returns:
        The :class:`Document`, or a :class:`LoadFailure` with the reason.
    """
    if path.suffix.lower() not in {".pdf", ".docx"}:
        try:
            return load_document(path, kb_dir)
        except DocumentError as exc:
            return LoadFailure(str(exc))
        except OSError as exc:
            return LoadFailure(f"cannot read ({exc.strerror})")
    ctx = mp.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_parse_child, args=(sender, str(path), str(kb_dir)), daemon=True)
    child.start()
    sender.close()
    try:
        if not receiver.poll(timeout):
            return LoadFailure(f"parsing took longer than {timeout:.0f} s (stopped)")
        try:
            kind, payload = receiver.recv()
        except EOFError:
            return LoadFailure("parser crashed (corrupt file or memory limit)")
        return payload if kind == "ok" else LoadFailure(payload)
    finally:
        if child.is_alive():
            child.kill()
        child.join(5)
        receiver.close()


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
        sender.send(("ok", load_document(Path(path), Path(kb_dir))))
    except DocumentError as exc:
        sender.send(("error", str(exc)))
    except MemoryError:
        sender.send(("error", "needs more memory than the parse limit allows"))
    except Exception as exc:  # any parser bug is this file's failure, not the ingest's
        sender.send(("error", f"could not parse ({type(exc).__name__}: {exc})"[:200]))
    finally:
        sender.close()
