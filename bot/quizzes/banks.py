"""Quiz banks: load ``*.quiz.yml`` files, validate them and report problems by file and line.

A bank file looks like::

    module: rti-for-pios
    title: "RTI for PIOs - check your understanding"
    items:
      - id: rti-001
        type: single          # single | multiple | true_false | short
        question: "..."
        options: ["15 days", "30 days", "45 days", "60 days"]
        answer: "30 days"     # single: option text; multiple: list of option texts;
                              # true_false: bool; short: list of accepted answers
        explanation: "..."
        source: {document: modules/rti-for-pios.md, anchor: "3. Time limits"}
        competencies: ["RTI Act"]
        difficulty: 1

Loading never raises on bad content: a malformed file or a bad item is reported as a
:class:`Problem` and skipped, and everything else still loads. Bank files are read as
carefully as documents (:mod:`bot.knowledge.safe_yaml`): links and special files are
refused, as are files over the size cap and YAML that nests too deeply or whose aliases
expand past a limit (a few hundred bytes of ``&a [*a, *a, ...]`` are gigabytes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.quizzes.wording import normalise_wording

ITEM_TYPES = ("single", "multiple", "true_false", "short")
BANK_GLOB = "*.quiz.yml"
_ITEM_KEYS = {
    "id",
    "type",
    "question",
    "options",
    "answer",
    "explanation",
    "source",
    "competencies",
    "difficulty",
    "generated",  # true for questions made by bot.quizzes.generate
    "status",  # generated items: pending | approved | rejected (only approved are served)
}
GENERATED_STATUSES = ("pending", "approved", "rejected")
_FILE_KEYS = {"module", "title", "items", "language", "version", "description"}
#: Problems reported per bank file; the rest are summarised in one line.
MAX_PROBLEMS_PER_FILE = 100


@dataclass(frozen=True)
class Problem:
    """One validation finding.

    Attributes:
        file: The bank file's path.
        line: 1-based line number, or None when the whole file is concerned.
        message: Human-readable description.
        item_id: The item concerned, if known.
        severity: ``"error"`` (the item or file was skipped) or ``"warning"`` (kept).
    """

    file: str
    line: int | None
    message: str
    item_id: str | None = None
    severity: str = "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        item = f" [{self.item_id}]" if self.item_id else ""
        return f"{where}: {self.severity}{item}: {self.message}"


@dataclass(frozen=True)
class QuizItem:
    """A validated quiz question.

    ``answer`` is normalised by type: ``str`` for single, ``tuple[str, ...]`` for multiple
    and short (accepted answers), ``bool`` for true_false. For true_false items
    ``options`` is ``("True", "False")``.
    """

    id: str
    module: str
    module_title: str
    type: str
    question: str
    options: tuple[str, ...]
    answer: str | bool | tuple[str, ...]
    explanation: str = ""
    source_document: str = ""
    source_anchor: str = ""
    competencies: tuple[str, ...] = ()
    difficulty: int = 1
    file: str = ""
    line: int = 0
    generated: bool = False
    status: str = ""

    @property
    def answer_text(self) -> str:
        """The correct answer written for a learner (with option letters where there are options)."""
        if self.type == "true_false":
            return "True" if self.answer else "False"
        if self.type == "single":
            return f"{letter(self.options.index(self.answer))}. {self.answer}"
        # multiple and short items hold a tuple (normalised when the bank was loaded)
        assert isinstance(self.answer, tuple)
        if self.type == "multiple":
            return ", ".join(f"{letter(self.options.index(a))}. {a}" for a in self.answer)
        return str(self.answer[0])


def letter(index: int) -> str:
    """Return the option letter for a 0-based index (0 -> ``"A"``)."""
    return chr(ord("A") + index)


@dataclass
class _FileContext:
    path: str
    problems: list[Problem] = field(default_factory=list)

    def error(self, line: int | None, message: str, item_id: str | None = None) -> None:
        self._add(Problem(self.path, line, message, item_id))

    def warn(self, line: int | None, message: str, item_id: str | None = None) -> None:
        self._add(Problem(self.path, line, message, item_id, "warning"))

    def _add(self, problem: Problem) -> None:
        # A file of a million one-line non-items must not become a million log lines.
        if len(self.problems) < MAX_PROBLEMS_PER_FILE:
            self.problems.append(problem)
        elif len(self.problems) == MAX_PROBLEMS_PER_FILE:
            self.problems.append(Problem(self.path, None, "more problems in this file are not shown"))


def load_banks(folder: str | Path, base: str | Path | None = None) -> tuple[list[QuizItem], list[Problem]]:
    """Load and validate every ``*.quiz.yml`` under ``folder`` (recursively, sorted).

    Args:
        folder: Folder with quiz banks (e.g. ``knowledge_base/quizzes``). A missing
            folder yields no items and one problem.
        base: Paths in problems and items are shown relative to this folder when given.

    Returns:
        ``(items, problems)``: the valid items in file order, and every problem found.
        Items with a duplicate id (across all files) are reported and skipped.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return [], [Problem(str(folder), None, "quiz bank folder not found")]
    items: list[QuizItem] = []
    problems: list[Problem] = []
    seen: dict[str, QuizItem] = {}
    for path in sorted(folder.rglob(BANK_GLOB)):
        shown = _display(path, base)
        try:
            file_items, file_problems = load_bank_file(path, shown, root=folder)
        except Exception as exc:  # a loader bug on one hostile file must not hide the other banks
            file_items, file_problems = [], [Problem(shown, None, f"cannot load ({type(exc).__name__})")]
        problems.extend(file_problems)
        for item in file_items:
            first = seen.get(item.id)
            if first is not None:
                problems.append(
                    Problem(
                        shown, item.line, f"duplicate item id (first defined at {first.file}:{first.line})", item.id
                    )
                )
                continue
            seen[item.id] = item
            items.append(item)
    return items, problems


def _display(path: Path, base: str | Path | None) -> str:
    if base is not None:
        try:
            # The folder resolved, not the file: a link is named where it is, not where it points.
            return str((path.parent.resolve() / path.name).relative_to(Path(base).resolve()))
        except ValueError:
            pass
    return str(path)


def load_bank_file(path: str | Path, shown: str | None = None,
                   root: str | Path | None = None) -> tuple[list[QuizItem], list[Problem]]:
    """Load and validate one bank file.

    Args:
        path: The ``.quiz.yml`` file (a link is refused, as for documents).
        shown: Name to use for the file in problems and items (default: ``str(path)``).
        root: When given, the file must resolve inside this folder.

    Returns:
        ``(items, problems)`` for this file; duplicate ids within the file are reported.
    """
    import yaml  # lazy: only loaded when banks are read

    from bot.knowledge import safe_yaml

    ctx = _FileContext(shown or str(path))
    try:
        text = safe_yaml.read_text(Path(path), Path(root) if root is not None else None)
    except OSError as exc:
        ctx.error(None, f"cannot read file: {exc}")
        return [], ctx.problems
    try:
        # compose() keeps the node tree with line marks; construct from the same nodes.
        node = safe_yaml.compose(text)
        return _parse_bank(node, ctx)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        reason = getattr(exc, "problem", None) or str(exc)
        ctx.error(mark.line + 1 if mark else None, f"malformed YAML: {reason}")
        return [], ctx.problems


def _parse_bank(root: Any, ctx: _FileContext) -> tuple[list[QuizItem], list[Problem]]:
    """Items and problems of a composed bank file (see :func:`load_bank_file`).

    Raises:
        yaml.YAMLError: a value that cannot be built (see :func:`bot.knowledge.safe_yaml.construct`).
    """
    import yaml

    if root is None:
        ctx.error(None, "file is empty")
        return [], ctx.problems
    if not isinstance(root, yaml.MappingNode):
        ctx.error(_line(root), "top level must be a mapping with 'module' and 'items'")
        return [], ctx.problems
    fields = _mapping(root)
    for key, (key_node, _) in fields.items():
        if key not in _FILE_KEYS:
            ctx.warn(_line(key_node), f"unknown top-level key '{key}' ignored")
    module = _scalar(fields.get("module"))
    if not isinstance(module, str) or not module.strip():
        ctx.error(_line(root), "missing or empty 'module' (a module id such as 'rti-for-pios')")
        return [], ctx.problems
    title = _scalar(fields.get("title"))
    title = title if isinstance(title, str) and title.strip() else module
    items_entry = fields.get("items")
    if items_entry is None or not isinstance(items_entry[1], yaml.SequenceNode):
        ctx.error(_line(items_entry[1]) if items_entry else _line(root), "'items' must be a list of questions")
        return [], ctx.problems
    items: list[QuizItem] = []
    ids: dict[str, int] = {}
    for node in items_entry[1].value:
        item = _parse_item(node, module.strip(), title.strip(), ctx)
        if item is None:
            continue
        if item.id in ids:
            ctx.error(item.line, f"duplicate item id (first defined at line {ids[item.id]})", item.id)
            continue
        ids[item.id] = item.line
        items.append(item)
    return items, ctx.problems


def _line(node: Any) -> int | None:
    return node.start_mark.line + 1 if node is not None and getattr(node, "start_mark", None) else None


def _mapping(node: Any) -> dict[str, tuple[Any, Any]]:
    """Key -> (key node, value node) for a mapping node with string keys."""
    return {str(k.value): (k, v) for k, v in node.value}


def _scalar(entry: tuple[Any, Any] | None) -> Any:
    """Construct the Python value of an entry's value node (None if absent)."""
    from bot.knowledge import safe_yaml

    if entry is None:
        return None
    return safe_yaml.construct(entry[1])


def _parse_item(node: Any, module: str, title: str, ctx: _FileContext) -> QuizItem | None:
    import yaml

    line = _line(node)
    if not isinstance(node, yaml.MappingNode):
        ctx.error(line, "each item must be a mapping with id, type, question and answer")
        return None
    fields = _mapping(node)
    raw_id = _scalar(fields.get("id"))
    item_id = str(raw_id).strip() if isinstance(raw_id, (str, int)) and str(raw_id).strip() else None

    def fail(key: str | None, message: str) -> None:
        entry = fields.get(key) if key else None
        ctx.error(_line(entry[1]) if entry else line, message, item_id)

    if item_id is None:
        fail("id", "missing or empty 'id'")
        return None
    for key, (key_node, _) in fields.items():
        if key not in _ITEM_KEYS:
            ctx.warn(_line(key_node), f"unknown key '{key}' ignored", item_id)
    kind = _scalar(fields.get("type"))
    if kind not in ITEM_TYPES:
        fail("type", f"'type' must be one of {', '.join(ITEM_TYPES)} (got {kind!r})")
        return None
    question = _scalar(fields.get("question"))
    if not isinstance(question, str) or not question.strip():
        fail("question", "missing or empty 'question'")
        return None
    options: tuple[str, ...] = ()
    if kind in ("single", "multiple"):
        raw = _scalar(fields.get("options"))
        if not isinstance(raw, list) or len(raw) < 2 or not all(isinstance(o, (str, int, float)) for o in raw):
            fail("options", f"'{kind}' items need 'options': a list of at least two texts")
            return None
        options = tuple(str(o).strip() for o in raw)
        if len(set(options)) != len(options) or any(not o for o in options):
            fail("options", "options must be distinct and non-empty")
            return None
        if len(options) > 26:
            fail("options", "at most 26 options (A-Z)")
            return None
    elif kind == "true_false":
        options = ("True", "False")
    if "answer" not in fields:
        fail(None, "missing 'answer'")
        return None
    answer = _parse_answer(kind, _scalar(fields.get("answer")), options)
    if isinstance(answer, _Invalid):
        fail("answer", answer.message)
        return None
    explanation = _scalar(fields.get("explanation"))
    if explanation is not None and not isinstance(explanation, str):
        fail("explanation", "'explanation' must be text")
        return None
    document, anchor = "", ""
    source = _scalar(fields.get("source"))
    if source is not None:
        if not isinstance(source, dict) or not isinstance(source.get("document", ""), str):
            fail("source", "'source' must be a mapping {document: path, anchor: text}")
            return None
        document = str(source.get("document") or "").strip()
        anchor = str(source.get("anchor") or "").strip()
    competencies = _scalar(fields.get("competencies"))
    if competencies is None:
        competencies = []
    if isinstance(competencies, str):
        competencies = [competencies]
    if not isinstance(competencies, list) or not all(isinstance(c, str) and c.strip() for c in competencies):
        fail("competencies", "'competencies' must be a list of names")
        return None
    difficulty = _scalar(fields.get("difficulty"))
    difficulty = 1 if difficulty is None else difficulty
    if not isinstance(difficulty, int) or isinstance(difficulty, bool) or not 1 <= difficulty <= 5:
        fail("difficulty", "'difficulty' must be a whole number from 1 to 5")
        return None
    generated = _scalar(fields.get("generated"))
    if generated is not None and not isinstance(generated, bool):
        fail("generated", "'generated' must be true or false")
        return None
    status = _scalar(fields.get("status"))
    if status is not None and status not in GENERATED_STATUSES:
        fail("status", f"'status' must be one of {', '.join(GENERATED_STATUSES)} (got {status!r})")
        return None
    if status is not None and not generated:
        ctx.warn(_line(fields["status"][1]), "'status' only applies to generated items; ignored", item_id)
    return QuizItem(
        id=item_id,
        module=module,
        module_title=title,
        type=kind,
        question=question.strip(),
        options=options,
        answer=answer,
        explanation=(explanation or "").strip(),
        source_document=document,
        source_anchor=anchor,
        competencies=tuple(c.strip() for c in competencies),
        difficulty=difficulty,
        file=ctx.path,
        line=line or 0,
        generated=bool(generated),
        # An unreviewed generated item is pending: it must never reach learners by default.
        status=(status or "pending") if generated else "",
    )


@dataclass(frozen=True)
class _Invalid:
    message: str


def _parse_answer(kind: str, raw: Any, options: tuple[str, ...]) -> Any:
    if kind == "single":
        if not isinstance(raw, (str, int, float)) or isinstance(raw, bool):
            return _Invalid("'answer' of a single-choice item must be one option's text")
        if str(raw).strip() not in options:
            return _Invalid(f"'answer' {str(raw)!r} is not one of the options")
        return str(raw).strip()
    if kind == "multiple":
        if not isinstance(raw, list) or not raw:
            return _Invalid("'answer' of a multiple-choice item must be a non-empty list of option texts")
        values = tuple(str(a).strip() for a in raw)
        missing = [a for a in values if a not in options]
        if missing:
            return _Invalid(f"answers not among the options: {', '.join(missing)}")
        # Keep the options' order so the answer reads naturally.
        return tuple(o for o in options if o in values)
    if kind == "true_false":
        if not isinstance(raw, bool):
            return _Invalid("'answer' of a true_false item must be true or false")
        return raw
    accepted = [raw] if isinstance(raw, (str, int, float)) and not isinstance(raw, bool) else raw
    if not isinstance(accepted, list) or not accepted or not all(str(a).strip() for a in accepted):
        return _Invalid("'answer' of a short item must be a list of accepted answers")
    return tuple(str(a).strip() for a in accepted)


class QuizBank:
    """All loaded items with lookups and scope filters.

    Args:
        items: Validated items (from :func:`load_banks`).
    """

    def __init__(self, items: list[QuizItem]) -> None:
        self.items = list(items)
        self.by_id = {item.id: item for item in self.items}
        self.modules: dict[str, str] = {}
        for item in self.items:
            self.modules.setdefault(item.module, item.module_title)

    @classmethod
    def load(cls, folder: str | Path, base: str | Path | None = None) -> tuple[QuizBank, list[Problem]]:
        """Load a folder of banks (see :func:`load_banks`) with the items learners may get.

        Generated items (``generated: true``) are served only when a trainer approved
        them and their source sentence (the explanation) is still in the source document
        under ``base`` (default: the folder's parent, the knowledge folder); a stale
        approved item is reported as a warning.

        Returns:
            ``(bank, problems)``.
        """
        items, problems = load_banks(folder, base)
        return cls(servable_items(items, Path(base) if base is not None else Path(folder).parent, problems)), problems

    def with_items(self, items: list[QuizItem]) -> QuizBank:
        """This bank plus ``items`` (e.g. drafted from a passage); an id it already has keeps its item.

        Args:
            items: More items.

        Returns:
            A new bank (this one is unchanged: sessions in flight keep reading it).
        """
        extra = [item for item in items if item.id not in self.by_id]
        return self if not extra else QuizBank([*self.items, *extra])

    def get(self, item_id: str) -> QuizItem | None:
        """Return the item with this id, or None (e.g. removed from the bank since)."""
        return self.by_id.get(item_id)

    def for_module(self, module: str) -> list[QuizItem]:
        """Items of one module id (exact match)."""
        return [i for i in self.items if i.module == module]

    def for_documents(self, documents: list[str], anchor: str | None = None) -> list[QuizItem]:
        """Items whose source is one of ``documents``; those citing ``anchor`` come first.

        Paths are compared after normalising separators and a leading ``./``; a bare
        file name also matches a path ending in it.
        """
        wanted = {_norm_path(d) for d in documents if d}
        found = [i for i in self.items if i.source_document and _doc_match(_norm_path(i.source_document), wanted)]
        if anchor:
            key = anchor.strip().casefold()
            found.sort(key=lambda i: 0 if i.source_anchor.casefold() == key else 1)
        return found

    def for_topic(self, topic: str) -> list[QuizItem]:
        """Items for a module id, module title, competency or keyword such as ``"RTI"`` or ``"ছুটি"``.

        An exact module id wins; otherwise items whose module id, title or competencies
        contain every word of the topic, or of its English term when it is a word of an
        Indian language the term lists know (:mod:`bot.knowledge.english_terms`: "छुट्टी",
        "chutti" and "ছুটি" are all "leave"); failing that, items whose question text or
        cited section does ("ஈட்டிய விடுப்பு" -> "earned leave").
        """
        if topic in self.modules:
            return self.for_module(topic)
        if not normalise_wording(topic).split():
            return list(self.items)
        wordings = topic_wordings(topic)
        for wording in wordings:
            words = normalise_wording(wording).split()
            strong = [
                i
                for i in self.items
                if has_words(i.module, words)
                or has_words(i.module_title, words)
                or any(has_words(c, words) for c in i.competencies)
                or has_words(i.source_document.rsplit("/", 1)[-1].rsplit(".", 1)[0], words)
            ]
            if strong:
                return strong
        for wording in wordings:
            words = normalise_wording(wording).split()
            weak = [i for i in self.items if has_words(i.question, words) or has_words(i.source_anchor, words)]
            if weak:
                return weak
        return []


def topic_wordings(topic: str) -> list[str]:
    """``topic`` as typed, then each English term for it (:mod:`bot.knowledge.english_terms`).

    A term may list alternatives ("सूचना का अधिकार" -> "right to information, RTI"); each
    is a wording of its own.

    Args:
        topic: A quiz topic as the learner named it.

    Returns:
        The wordings to look the topic up by, most literal first.
    """
    from bot.knowledge.english_terms import english_terms

    return [topic, *(part.strip() for term in english_terms(topic) for part in term.split(",") if part.strip())]


def has_words(text: str, words: list[str]) -> bool:
    """Whether ``text``, normalised (hyphens as spaces), contains every one of ``words``."""
    tokens = set(normalise_wording(text.replace("-", " ")).split())
    return all(w in tokens for w in words)


def servable_items(items: list[QuizItem], kb_dir: Path, problems: list[Problem] | None = None) -> list[QuizItem]:
    """Drop generated items that are not approved or whose source sentence is gone.

    Args:
        items: Validated items.
        kb_dir: The knowledge folder the items' ``source.document`` paths are relative to.
        problems: Warnings about stale approved items are appended here.

    Returns:
        Hand-written items and approved, current generated items, in order.
    """
    if not any(i.generated for i in items):
        return list(items)
    from bot.quizzes.generated_banks import Material  # lazy: only when generated banks exist

    material = Material(kb_dir)
    kept: list[QuizItem] = []
    for item in items:
        if item.generated:
            if item.status != "approved":
                continue
            if not material.contains(item.source_document, item.explanation):
                if problems is not None:
                    problems.append(Problem(item.file, item.line, "source sentence no longer in "
                                            f"{item.source_document or 'the material'}; item not served",
                                            item.id, "warning"))
                continue
        kept.append(item)
    return kept


def _norm_path(path: str) -> str:
    path = path.replace("\\", "/").strip()
    while path.startswith("./"):
        path = path[2:]
    return path.lstrip("/")


def _doc_match(doc: str, wanted: set[str]) -> bool:
    return doc in wanted or any(doc.endswith("/" + w) or w.endswith("/" + doc) for w in wanted)
