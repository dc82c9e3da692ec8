#!/usr/bin/env python3
"""The application of tests/scenarios/application: connects as its own role (DML grants only),
lets the database pick every id, and writes on whichever side the pointer file names:
  items  (id, note, n):             insert, now and then delete the row just inserted;
  lineitems  (id, qty, price, total):   total is a generated column on old (the database computes
                                    it); on new it is a plain column, the application writes
                                    qty * price itself; now and then qty is updated;
  orders (id, region, amount):      (--orders) a partitioned table on a PostgreSQL old side;
                                    insert, now and then update amount.
Freeze protocol: while the file `freeze` exists the writer finishes its transaction, writes
its record of committed rows (<table>.model: one line per live row, ints bare, text quoted)
then creates `paused` and waits; when `freeze` is gone it removes `paused` and goes on.
Any error is fatal (exit 2): the application must see none. Prints a JSON summary at the end.
"""
import argparse
import json
import os
import random
import sqlite3
import sys
import time
from urllib.parse import urlparse, unquote


def connect(uri):
    if uri.startswith("sqlite:"):
        return "sqlite", sqlite3.connect(uri[len("sqlite:"):], timeout=60, isolation_level=None)
    if uri.startswith("postgres"):
        import psycopg2
        return "postgres", psycopg2.connect(uri)
    if uri.startswith("mysql"):
        import pymysql
        u = urlparse(uri)
        return "mysql", pymysql.connect(host=u.hostname, port=u.port or 3306, user=unquote(u.username),
                                        password=unquote(u.password or ""), database=u.path.lstrip("/"),
                                        autocommit=False)
    raise SystemExit("unknown uri " + uri)


def q(s):
    return "'" + s.replace("'", "''") + "'"


class Side:
    def __init__(self, uri):
        self.kind, self.c = connect(uri)

    def run(self, stmts):
        """stmts: [(sql with ? placeholders, params, returns_id)]; one transaction; the last id."""
        rid = None
        if self.kind == "sqlite":
            self.c.execute("BEGIN IMMEDIATE")
            try:
                for sql, params, ret in stmts:
                    cur = self.c.execute(sql, params)
                    if ret:
                        rid = cur.lastrowid
                self.c.execute("COMMIT")
            except Exception:
                self.c.execute("ROLLBACK")
                raise
            return rid
        cur = self.c.cursor()
        try:
            for sql, params, ret in stmts:
                sql = sql.replace("?", "%s")
                if ret and self.kind == "postgres":
                    cur.execute(sql + " RETURNING id", params)
                    rid = cur.fetchone()[0]
                else:
                    cur.execute(sql, params)
                    if ret:
                        rid = cur.lastrowid
            self.c.commit()
        except Exception:
            self.c.rollback()
            raise
        return rid


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", required=True)
    ap.add_argument("--new", required=True)
    ap.add_argument("--dir", default=".")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rate", type=float, default=100)
    ap.add_argument("--orders", action="store_true")
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    d = a.dir
    tables = ["items", "lineitems"] + (["orders"] if a.orders else [])
    model = {t: {} for t in tables}
    for t in tables:
        with open(os.path.join(d, "initial.%s.model" % t)) as f:
            for line in f:
                line = line.strip()
                if line:
                    model[t][int(line.split(",", 1)[0])] = line
    seen = {t: set(model[t]) for t in tables}
    conns = {}
    stats = {"tx": {"old": 0, "new": 0}, "reused_ids": 0, "epochs": [], "pauses": 0}
    epoch = None

    def dump():
        for t in tables:
            tmp = os.path.join(d, t + ".model.tmp")
            with open(tmp, "w") as f:
                for rid in sorted(model[t]):
                    f.write(model[t][rid] + "\n")
            os.replace(tmp, os.path.join(d, t + ".model"))

    i = 0
    while not os.path.exists(os.path.join(d, "stop")):
        if os.path.exists(os.path.join(d, "freeze")):
            dump()
            stats["pauses"] += 1
            open(os.path.join(d, "paused"), "w").close()
            while os.path.exists(os.path.join(d, "freeze")):
                time.sleep(0.005)
            os.remove(os.path.join(d, "paused"))
            continue
        with open(os.path.join(d, "pointer")) as f:
            side = f.read().strip()
        if epoch is None or epoch["side"] != side:
            epoch = {"side": side, "count": 0, "first_ids": {}}
            stats["epochs"].append(epoch)
        try:
            if side not in conns:
                conns[side] = Side(a.old if side == "old" else a.new)
            s = conns[side]
            i += 1
            t = tables[i % len(tables)]
            if t == "items":
                note = "w%d %s" % (i, "it's" if i % 7 == 0 else "plain")
                n = rnd.randint(-1000, 1000)
                rid = s.run([("INSERT INTO items (note, n) VALUES (?, ?)", (note, n), True)])
                row = "%d,%s,%d" % (rid, q(note), n)
                if i % 8 == 0:
                    s.run([("DELETE FROM items WHERE id = ?", (rid,), False)])
                    row = None
            elif t == "lineitems":
                qty, price = rnd.randint(1, 50), rnd.randint(1, 999)
                if side == "old":
                    stmts = [("INSERT INTO lineitems (qty, price) VALUES (?, ?)", (qty, price), True)]
                else:
                    stmts = [("INSERT INTO lineitems (qty, price, total) VALUES (?, ?, ?)", (qty, price, qty * price), True)]
                rid = s.run(stmts)
                if i % 5 == 0:
                    qty += 1
                    if side == "old":
                        s.run([("UPDATE lineitems SET qty = ? WHERE id = ?", (qty, rid), False)])
                    else:
                        s.run([("UPDATE lineitems SET qty = ?, total = ? WHERE id = ?", (qty, qty * price, rid), False)])
                row = "%d,%d,%d,%d" % (rid, qty, price, qty * price)
            else:
                region = ["north", "süd", "Ost", "west"][i % 4]
                amount = rnd.randint(1, 10000)
                rid = s.run([("INSERT INTO orders (region, amount) VALUES (?, ?)", (region, amount), True)])
                if i % 6 == 0:
                    amount += 1
                    s.run([("UPDATE orders SET amount = ? WHERE id = ?", (amount, rid), False)])
                row = "%d,%s,%d" % (rid, q(region), amount)
        except Exception as e:  # noqa: BLE001 - the application must see no error
            print(json.dumps(stats), flush=True)
            print("writer: %s on %s failed: %s" % (t if 't' in dir() else "connect", side, e), file=sys.stderr)
            sys.exit(2)
        if rid in seen[t]:
            stats["reused_ids"] += 1
        seen[t].add(rid)
        epoch["first_ids"].setdefault(t, rid)
        if row is None:
            model[t].pop(rid, None)
        else:
            model[t][rid] = row
        stats["tx"][side] += 1
        epoch["count"] += 1
        time.sleep(rnd.uniform(0.5, 1.5) / a.rate)
    dump()
    print(json.dumps(stats), flush=True)


if __name__ == "__main__":
    main()
