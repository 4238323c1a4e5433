"""Reading trainer-edited YAML so that no file, whatever it holds, can take the tutor down.

Front matter, sidecars, quiz banks, role files and the glossary are YAML that anyone
who can write to the knowledge folder controls. Plain ``yaml.safe_load`` executes no
code, but it still lets a file of a few hundred bytes cost gigabytes: an *alias bomb*
(ten levels of ``&a [*a, *a, ...]``) is cheap to load because the lists are shared,
and explodes the moment anything prints, serialises or walks the value; deep nesting
overflows the recursive composer; a 5000-digit integer raises ``ValueError``. This
module reads the file itself with care (no links, no special files, a size cap, strict
UTF-8) and composes YAML under limits: nesting depth, and how much aliases may add
to the document once expanded. Every refusal is a ``yaml.YAMLError`` (or an
``OSError`` for the file), so callers that already report bad YAML report these too.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

#: The largest YAML file (quiz bank, role, glossary) read; bigger ones are refused unread.
MAX_YAML_BYTES = int(os.environ.get("TUTOR_MAX_YAML_KB", "2048")) * 1024


@dataclass(frozen=True)
class YamlLimits:
    """What one YAML document may cost.

    Attributes:
        max_depth: deepest nesting of lists and mappings (real files nest fewer than 10).
        max_alias_nodes: values that aliases may add once expanded (each use counts).
        max_alias_chars: characters of text that aliases may add once expanded.
    """

    max_depth: int = 40
    max_alias_nodes: int = 10_000
    max_alias_chars: int = 1_000_000


DEFAULT_LIMITS = YamlLimits()


class UnsafeYamlError(yaml.MarkedYAMLError):
    """A YAML document refused for what it would cost (``problem`` says why)."""

    def __init__(self, problem: str, mark: Any = None):
        super().__init__(problem=problem, problem_mark=mark)


class UnsafeFileError(OSError):
    """A YAML file refused before parsing: a link, a special file, too large, not UTF-8.

    The message says why, without the file name (callers report the file).
    """


class _BoundedLoader(yaml.SafeLoader):
    """A safe loader that counts what aliases expand to and how deep nodes nest."""

    def __init__(self, stream: str, limits: YamlLimits):
        super().__init__(stream)
        self._limits = limits
        self._depth = 0
        self._nodes = 0  # nodes composed so far, each alias counted as the size of its target
        self._chars = 0
        self._alias_nodes = 0
        self._alias_chars = 0
        #: id(anchored node) -> its expanded (nodes, chars); absent while it is still open.
        self._sizes: dict[int, tuple[int, int]] = {}

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            self._expand(event)
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > self._limits.max_depth:
            raise UnsafeYamlError(f"nested deeper than {self._limits.max_depth} levels (refused)", event.start_mark)
        nodes, chars = self._nodes, self._chars
        node = super().compose_node(parent, index)
        self._depth -= 1
        self._nodes += 1
        if isinstance(node, yaml.ScalarNode):
            self._chars += len(node.value)
        if getattr(event, "anchor", None) is not None:
            self._sizes[id(node)] = (self._nodes - nodes, self._chars - chars)
        return node

    def _expand(self, event: yaml.AliasEvent) -> None:
        """Count what an alias adds, refusing self-reference and runaway growth.

        Raises:
            UnsafeYamlError: the alias refers to a node that contains it, or the
                document grows past the limits once aliases are expanded.
        """
        target = self.anchors.get(event.anchor)
        if target is None:
            return  # the composer reports the undefined alias itself
        size = self._sizes.get(id(target))
        if size is None:  # the anchored node is still being composed: it contains this alias
            raise UnsafeYamlError(f"alias *{event.anchor} refers to itself (refused)", event.start_mark)
        self._nodes += size[0]
        self._chars += size[1]
        self._alias_nodes += size[0]
        self._alias_chars += size[1]
        if self._alias_nodes > self._limits.max_alias_nodes or self._alias_chars > self._limits.max_alias_chars:
            raise UnsafeYamlError(
                f"aliases expand to more than {self._limits.max_alias_nodes:,} values or "
                f"{self._limits.max_alias_chars:,} characters (refused: an alias bomb?)", event.start_mark)


def compose(text: str, limits: YamlLimits = DEFAULT_LIMITS) -> yaml.Node | None:
    """Like ``yaml.compose(text, Loader=yaml.SafeLoader)``, within ``limits``.

    Args:
        text: one YAML document.
        limits: depth and alias-expansion caps.

    Returns:
        The root node (with line marks), or None for an empty document.

    Raises:
        yaml.YAMLError: invalid YAML, or :class:`UnsafeYamlError` over the limits.
    """
    loader = _BoundedLoader(text, limits)
    try:
        return loader.get_single_node()
    except RecursionError:  # only reachable with a raised max_depth; still this file's fault
        raise UnsafeYamlError("nested too deeply (refused)") from None
    finally:
        loader.dispose()


def construct(node: yaml.Node | None) -> Any:
    """The Python value of a node composed by :func:`compose` (safe types only).

    Raises:
        yaml.YAMLError: a value that cannot be built (e.g. an integer of 5000 digits).
    """
    if node is None:
        return None
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(node)
    except yaml.YAMLError:
        raise
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise UnsafeYamlError(f"a value cannot be read ({type(exc).__name__}: {str(exc).split(':')[0][:80]})",
                              getattr(node, "start_mark", None)) from None
    finally:
        loader.dispose()


def load(text: str, limits: YamlLimits = DEFAULT_LIMITS) -> Any:
    """Like ``yaml.safe_load``, within ``limits`` (see :func:`compose`).

    Raises:
        yaml.YAMLError: invalid YAML, or :class:`UnsafeYamlError` over the limits.
    """
    return construct(compose(text, limits))


def read_text(path: Path, root: Path | None = None, max_bytes: int = MAX_YAML_BYTES) -> str:
    """Read a trainer-edited text file, refusing what a trainer would not have meant.

    Args:
        path: the file.
        root: when given, the file must resolve inside this folder.
        max_bytes: the largest file read.

    Returns:
        The text (UTF-8, a leading BOM removed).

    Raises:
        UnsafeFileError: a link, not a regular file, outside ``root``, too large or not UTF-8.
        OSError: the file cannot be read.
    """
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise UnsafeFileError("a link (refused: it may point outside the knowledge folder)")
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeFileError("not a regular file (refused)")
    if root is not None and not Path(path).resolve().is_relative_to(Path(root).resolve()):
        raise UnsafeFileError("outside the knowledge folder (refused)")
    # O_NOFOLLOW: a link swapped in after the check is refused by the kernel, not followed.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UnsafeFileError(f"too large (over {max_bytes // 1024} KB, refused)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnsafeFileError(f"not UTF-8 text (byte {exc.start})") from None


def load_file(path: Path, root: Path | None = None, max_bytes: int = MAX_YAML_BYTES,
              limits: YamlLimits = DEFAULT_LIMITS) -> Any:
    """:func:`read_text` then :func:`load`.

    Raises:
        OSError: see :func:`read_text`.
        yaml.YAMLError: see :func:`load`.
    """
    return load(read_text(path, root, max_bytes), limits)
