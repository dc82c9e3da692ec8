#!/usr/bin/env bash
# The demo: a legacy shop in SQLite moved into a new schema, init -> check -> copy.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
tandem=${TANDEM:-$repo/build/tandem}
work=${DEMO_DIR:-$repo/build/demo}
rm -rf "$work" && mkdir -p "$work" && cd "$work"
cp "$repo/demo/tandem.yaml" .
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "1. a legacy shop database (SQLite)"
sqlite3 legacy_shop.db < "$repo/demo/legacy_shop.sql"
for t in customers products orders order_lines; do
  printf '  %-12s %6s rows\n' "$t" "$(sqlite3 legacy_shop.db "select count(*) from $t")"
done

say "2. tandem init: a draft mapping listing every column"
"$tandem" init --source sqlite:legacy_shop.db --target sqlite:new_shop.db -o draft.yaml
sed -n '1,25p' draft.yaml
echo "  ... (the demo uses its own mapping: demo/tandem.yaml renames, retypes and drops)"

say "3. tandem check: a column left out of the mapping is an error"
grep -v '^      legacy_flag' tandem.yaml > broken.yaml
set +e
"$tandem" check -c broken.yaml
echo "  exit code $? (2 = invalid mapping)"
set -e
"$tandem" check -c tandem.yaml

say "4. tandem copy: every table through the mapping, in chunks"
set +e
"$tandem" copy -c tandem.yaml
rc=$?
set -e
echo "  exit code $rc (1 = copied, with rejects to look at)"

say "5. the rejects, with their reasons"
"$tandem" rejects -c tandem.yaml || true

say "6. the new shop, read with sqlite3 (not tandem)"
sqlite3 -header -column new_shop.db \
  "select id, email, name, country_code, created_at, source_system from customer where id in (1, 5, 97, 98) order by id"
sqlite3 -header -column new_shop.db "select sku, price, stock from product where sku in ('SKU-00050', 'SKU-00051')"
[[ $rc -le 1 ]]
