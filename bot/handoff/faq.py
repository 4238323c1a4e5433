"""Writing a trainer's answer into the knowledge folder as a reviewed FAQ document.

The action server's watcher indexes new files within seconds, so the next learner who
asks gets the trainer's answer from the knowledge base, cited like any other document.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from datetime import date
from pathlib import Path

from bot.i18n import DEFAULT_LANGUAGE, is_interface_language
from bot.language import SCRIPTS

FAQ_FOLDER = "faq"
# Letters of India's scripts stay in the slug, so a question in any of them keeps a readable name.
_SLUG = re.compile("[^a-z0-9" + "".join(f"{s.first}-{s.last}" for s in SCRIPTS) + "]+")
_UNDERLINE = re.compile(r"\s*=+\s*")


def slugify(text: str, limit: int = 60) -> str:
    """A file-name-safe slug (ASCII letters, digits, letters of India's scripts, dashes).

    Args:
        text: the question.
        limit: the slug's most characters.

    Returns:
        The slug; ``question`` when nothing of ``text`` is kept.
    """
    text = unicodedata.normalize("NFKC", text).lower()
    slug = _SLUG.sub("-", text).strip("-")[:limit].strip("-")
    return slug or "question"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def faq_markdown(question: str, answer: str, trainer: str, day: date, language: str = "en") -> str:
    """The Markdown document for one Q&A, with front matter.

    Args:
        question: the learners' question (one line is used).
        answer: the trainer's answer (Markdown).
        trainer: the answering trainer's user name (``reviewed_by``).
        day: date of the answer.
        language: the learners' language; one that is not an interface language
            (see :func:`bot.i18n.interface_languages`) is filed as English.

    Returns:
        The document text. YAML strings are written JSON-quoted (valid YAML), so no
        question text can break the front matter.
    """
    question = _one_line(question)
    # Lines starting with '---' or '#', or made of '=' (an underlined heading), would read
    # as front matter or headings.
    body = "\n".join(("\\" + line) if line.lstrip().startswith(("---", "#")) or _UNDERLINE.fullmatch(line) else line
                     for line in answer.strip().splitlines())
    meta = {
        "title": f"FAQ: {question}"[:200],
        "module": FAQ_FOLDER,
        "language": language if is_interface_language(language) else DEFAULT_LANGUAGE,
        "reviewed_by": trainer,
        "date": day.isoformat(),
        "source": "trainer",
    }
    front = "\n".join(f"{key}: {json.dumps(value, ensure_ascii=False)}" for key, value in meta.items())
    return f"---\n{front}\n---\n\n# {question}\n\n{body}\n"


def write_faq(kb_dir: Path, item_id: int, question: str, answer: str, trainer: str, day: date,
              language: str = "en") -> Path:
    """Write (or overwrite) the FAQ document of a queue item atomically.

    Args:
        kb_dir: the knowledge folder.
        item_id: queue item id (keeps file names unique and stable on re-answer).
        question / answer / trainer / day / language: see :func:`faq_markdown`.

    Returns:
        The written path.
    """
    folder = kb_dir / FAQ_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"q{item_id:05d}-{slugify(question)}.md"
    for old in folder.glob(f"q{item_id:05d}-*.md"):  # the question may have been edited
        if old != path:
            old.unlink()
    tmp = folder / f".{path.name}.tmp"  # not *.md: the watcher ignores it until renamed
    tmp.write_text(faq_markdown(question, answer, trainer, day, language), encoding="utf-8")
    os.replace(tmp, path)
    return path
