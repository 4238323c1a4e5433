#!/usr/bin/env bash
# Print the path of a working Python interpreter of the given minor version (e.g. 3.10).
# pyenv shims exist for every installed version but fail unless that version is
# selected, so each candidate is actually run before it is accepted.
set -u
want="$1"
works() { [ -n "$1" ] && [ -x "$1" ] && "$1" -c "import sys; sys.exit(0 if sys.version.startswith('$want.') else 1)" >/dev/null 2>&1; }
candidates=()
if command -v pyenv >/dev/null 2>&1; then
  for v in $(pyenv versions --bare 2>/dev/null | grep -E "^${want//./\\.}(\.[0-9]+)?$" | sort -V -r); do
    candidates+=("$(pyenv prefix "$v" 2>/dev/null)/bin/python$want")
  done
fi
candidates+=("$(command -v "python$want" 2>/dev/null)" "/usr/bin/python$want" "/usr/local/bin/python$want")
for c in "${candidates[@]}"; do
  if works "$c"; then echo "$c"; exit 0; fi
done
exit 1
