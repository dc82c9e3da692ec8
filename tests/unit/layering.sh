#!/usr/bin/env bash
# Checks the include arrows of DESIGN.md: a folder includes only from the folders below it,
# and only src/engines/<engine>/ includes a database driver header.
set -u
root=${1:?usage: layering.sh REPO}
cd "$root/src" || exit 2
declare -A allowed=(
  [core]="core"
  [engines]="core engines"
  # mapping: expressions run in an embedded SQLite through engines/sqlite/database.h, like state.
  [mapping]="core mapping engines/sqlite"
  [state]="core state engines/sqlite"
  [copy]="core mapping engines state copy"
  [capture]="core mapping engines state copy capture"
  [verify]="core mapping engines state verify"
  [assess]="core mapping engines state assess"
  [migration]="core mapping engines state copy capture verify assess migration"
  [serve]="core state migration serve"
  [cli]="core mapping engines state copy capture verify assess migration serve cli"
)
fail=0
while IFS= read -r -d '' f; do
  top=${f%%/*}
  while IFS= read -r inc; do
    dep=${inc%%/*}
    ok=0
    for a in ${allowed[$top]:-}; do
      [[ "$inc" == "$a"/* || "$dep" == "$a" ]] && ok=1
    done
    # engines/<x> may include only engines/<x>, engines/factories.h and core.
    if [[ "$top" == engines && "$dep" == engines ]]; then ok=1; fi
    [[ $ok == 1 ]] || { echo "layering: $f includes \"$inc\" (not allowed from $top/)"; fail=1; }
  done < <(grep -hoE '^#include "[^"]+"' "$f" | sed -E 's/#include "([^"]+)"/\1/' | grep -v '^tandem/')
  if grep -qE '#include <(libpq-fe|mysql|sqlite3)\.h>' "$f" && [[ "$f" != engines/*/* ]]; then
    echo "layering: $f includes a driver header outside src/engines/<engine>/"; fail=1
  fi
done < <(find . \( -name '*.cc' -o -name '*.h' \) -printf '%P\0')
exit $fail
