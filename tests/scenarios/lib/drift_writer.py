#!/usr/bin/env python3
"""A small live writer for the schema-drift scenarios: inserts and updates rows of `orders`
and inserts `events`, one transaction at a time, until the stop file appears. What it writes
to `orders` follows the mode file: "base" (item, qty), "note" (item, qty, note: the column
added during the migration), "noqty" (item, note: qty is about to be dropped). It counts
committed transactions in `writer.count`."""
import os
import random
import sqlite3
import sys
import time

uri, workdir = sys.argv[1], sys.argv[2]
if uri.startswith("postgres"):
    import psycopg2
    conn = psycopg2.connect(uri)
    conn.autocommit = False
    ph = "%s"
else:
    conn = sqlite3.connect(uri, timeout=60, isolation_level=None)
    ph = "?"
cur = conn.cursor()
rnd = random.Random(7)


def q(sql):
    return sql.replace("?", ph)


def begin():
    if ph == "?":
        cur.execute("BEGIN IMMEDIATE")


cur.execute("SELECT coalesce(max(id), 0) FROM orders")
next_order = cur.fetchone()[0] + 1
cur.execute("SELECT coalesce(max(id), 0) FROM events")
next_event = cur.fetchone()[0] + 1
if ph == "%s":
    conn.commit()
done = 0
while not os.path.exists(os.path.join(workdir, "stop")):
    mode = open(os.path.join(workdir, "mode")).read().strip()
    try:
        begin()
        if mode == "base":
            cur.execute(q("INSERT INTO orders (id, item, qty) VALUES (?, ?, ?)"),
                        (next_order, f"item {next_order}", next_order % 7))
            cur.execute(q("UPDATE orders SET qty = qty + 1 WHERE id = ?"), (rnd.randint(1, next_order),))
        elif mode == "note":
            cur.execute(q("INSERT INTO orders (id, item, qty, note) VALUES (?, ?, ?, ?)"),
                        (next_order, f"item {next_order}", next_order % 7, f"note {next_order}"))
            cur.execute(q("UPDATE orders SET note = ? WHERE id = ?"),
                        (f"later {done}", rnd.randint(1, next_order)))
        else:
            cur.execute(q("INSERT INTO orders (id, item, note) VALUES (?, ?, ?)"),
                        (next_order, f"item {next_order}", f"note {next_order}"))
            cur.execute(q("UPDATE orders SET note = ? WHERE id = ?"),
                        (f"after drop {done}", rnd.randint(1, next_order)))
        if rnd.random() < 0.1:
            cur.execute(q("DELETE FROM orders WHERE id = ?"), (rnd.randint(1, next_order),))
        cur.execute(q("INSERT INTO events (id, body) VALUES (?, ?)"), (next_event, f"event {next_event}"))
        if ph == "?":
            cur.execute("COMMIT")
        else:
            conn.commit()
        next_order += 1
        next_event += 1
        done += 1
        # Replaced whole, never truncated in place: a reader must not see an empty count.
        with open(os.path.join(workdir, "writer.count.tmp"), "w") as f:
            f.write(str(done))
        os.replace(os.path.join(workdir, "writer.count.tmp"), os.path.join(workdir, "writer.count"))
    except Exception as e:  # a statement racing the ALTER (the mode file moves after it)
        try:
            if ph == "?":
                cur.execute("ROLLBACK")
            else:
                conn.rollback()
        except Exception:
            pass
        print(f"retry after: {e}", file=sys.stderr)
        time.sleep(0.05)
        continue
    time.sleep(0.01)
print(f"writer: {done} transactions", file=sys.stderr)
