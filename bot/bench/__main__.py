"""``python -m bot.bench [name ...]`` (``make bench``): run every benchmark module present.

Each module of this package with a ``main()`` is a benchmark; with names given, only
those run. Modules are imported only if they exist, so benchmarks can be added by
dropping a file here.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

ORDER = ("ingest", "query", "load")  # cheap to expensive; others follow alphabetically


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks named in ``argv`` (all when none), in a fixed order.

    Returns:
        The worst exit status of the benchmarks run.
    """
    names = sorted((m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)])
                    if not m.name.startswith("_")), key=lambda n: (ORDER.index(n) if n in ORDER else 99, n))
    wanted = argv if argv is not None else sys.argv[1:]
    status = 0
    for name in names:
        if wanted and name not in wanted:
            continue
        module = importlib.import_module(f"bot.bench.{name}")
        if not callable(getattr(module, "main", None)):
            continue
        print(f"\n=== bench: {name} ===", flush=True)
        status = max(status, int(module.main() or 0))
    return status


if __name__ == "__main__":
    sys.exit(main())
