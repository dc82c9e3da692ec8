#!/usr/bin/env bash
# The demo: a legacy shop in SQLite moved into a new schema while an application keeps
# writing, through every phase: assess -> start -> verify -> switch reads -> switch writes -> rollback
# -> switch writes -> finalize, ending with a check by sqlite3 itself (not tandem).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
tandem=${TANDEM:-$repo/build/tandem}
work=${DEMO_DIR:-$repo/build/demo}
rm -rf "$work" && mkdir -p "$work" && cd "$work"
cp "$repo/demo/tandem.yaml" "$repo/demo/writer_profile.json" .
python=$(command -v /usr/bin/python3 || command -v python3)  # Debian's, with its packages
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
status() { "$tandem" status -c tandem.yaml | sed 's/^/   | /'; }
writer_pid=""; follower_pid=""
cleanup() {
  touch stop
  [[ -n $writer_pid ]] && kill "$writer_pid" 2>/dev/null
  [[ -n $follower_pid ]] && kill "$follower_pid" 2>/dev/null
  wait 2>/dev/null || true
}
trap cleanup EXIT

say "1. a legacy shop database (SQLite)"
sqlite3 legacy_shop.db < "$repo/demo/legacy_shop.sql" >/dev/null
for t in customers products orders order_lines; do
  printf '  %-12s %6s rows\n' "$t" "$(sqlite3 legacy_shop.db "select count(*) from $t")"
done

say "2. tandem init: a draft mapping listing every column"
"$tandem" init --source sqlite:legacy_shop.db --target sqlite:new_shop.db -o draft.yaml
sed -n '5,17p' draft.yaml
echo "  ... the demo uses its own mapping (demo/tandem.yaml): renames, retypes, drops, transforms"

say "3. tandem check: a column left out of the mapping is an error"
grep -v '^      legacy_flag' tandem.yaml > broken.yaml
"$tandem" check -c broken.yaml && exit 1 || echo "  exit code $? (2 = invalid mapping)"
"$tandem" check -c tandem.yaml

say "4. tandem assess: every source row through the mapping, before a single row is copied"
"$tandem" assess -c tandem.yaml --json assess.json --html assess.html 2> assess.log && rc=0 || rc=$?
echo "  exit code $rc (1 = some rows would be rejected; the report says which and how to fix them)"
[[ $rc == 1 ]]
predicted=$("$python" -c "import json; print(sum(t['rejected'] for t in json.load(open('assess.json'))['tables']))")
echo "  the same as a page to read: $work/assess.html"

say "5. the application starts writing (orders and order lines, on old)"
echo old > writes_to
"$python" "$repo/tests/scenarios/lib/writer.py" --profile writer_profile.json --pointer writes_to \
  --stop-file stop --model-dir . --rate 40 --seed 7 2> writer.log &
writer_pid=$!
sleep 1

say "6. tandem start: capture, backfill in chunks, then follow every write"
"$tandem" start -c tandem.yaml > follower.out 2> follower.log &
follower_pid=$!
until grep -q "phase dual-write" follower.out 2>/dev/null; do
  kill -0 "$follower_pid" || { cat follower.log; exit 1; }
  sleep 0.2
done
cat follower.out
grep table_finished follower.log | sed 's/^/  /'
status

say "7. rows that could not land are rejects, with their reasons"
"$tandem" rejects -c tandem.yaml || true
echo "  assess predicted $predicted reject(s); one of them whole:"
"$tandem" rejects show 4242,2 -c tandem.yaml | sed "s/^/   | /" || true

say "8. tandem verify while the writer runs"
"$tandem" verify -c tandem.yaml
status

say "9. tandem switch reads"
"$tandem" switch reads -c tandem.yaml
sleep 1

say "10. tandem switch writes: freeze old, drain, reverse stream on, the writer moves to new"
"$tandem" switch writes -c tandem.yaml
sleep 2
status

say "11. tandem rollback: writes go back to old, nothing written on new is lost"
"$tandem" rollback -c tandem.yaml
sleep 2
status

say "12. tandem switch writes again, then stop the writer"
"$tandem" switch writes -c tandem.yaml
sleep 2
touch stop
wait "$writer_pid"; writer_pid=""
echo "  writer: $(tail -1 writer.log)"

say "13. tandem verify, then finalize"
"$tandem" verify -c tandem.yaml
"$tandem" finalize -c tandem.yaml
wait "$follower_pid"; follower_pid=""
tail -1 follower.out
status

say "14. the oracle: sqlite3 compares old and new through the mapping"
# Rows of old missing from new must be exactly the rejects; new has nothing old lacks.
q_orders_old="SELECT id, customer_id, placed_at, lower(status), note FROM main.orders"
q_orders_new="SELECT id, customer_id, placed_at, status, note FROM n.purchase_order"
q_lines_old="SELECT order_id, line_no, sku, qty, unit_price FROM main.order_lines"
q_lines_new="SELECT order_id, line_no, sku, quantity, unit_price FROM n.order_line"
oracle() { sqlite3 legacy_shop.db "ATTACH 'new_shop.db' AS n; SELECT count(*) FROM ($1 EXCEPT $2)"; }
order_rejects=$("$tandem" rejects -c tandem.yaml --table orders | grep -c '^orders key' || true)
rejects=$("$tandem" rejects -c tandem.yaml --table order_lines | grep -c '^order_lines key' || true)
printf '  %-14s old rows not in new: %s (rejects: %s), new rows not in old: %s\n' orders \
  "$(oracle "$q_orders_old" "$q_orders_new")" "$order_rejects" "$(oracle "$q_orders_new" "$q_orders_old")"
printf '  %-14s old rows not in new: %s (rejects: %s), new rows not in old: %s\n' order_lines \
  "$(oracle "$q_lines_old" "$q_lines_new")" "$rejects" "$(oracle "$q_lines_new" "$q_lines_old")"
[[ $(oracle "$q_orders_old" "$q_orders_new") == "$order_rejects" && $(oracle "$q_orders_new" "$q_orders_old") == 0 ]]
[[ $(oracle "$q_lines_old" "$q_lines_new") == "$rejects" && $(oracle "$q_lines_new" "$q_lines_old") == 0 ]]
echo "  old and new agree (the rejects aside): the demo migration is complete"
