#!/usr/bin/env python3
"""A live application for scenario tests and the demo: random inserts, updates, deletes,
key-changing updates and multi-row transactions on SQLite, routed to the old or the new
database by a pointer file that tandem's hooks rewrite.

It keeps its own model of every committed row (the oracle, independent of tandem) and writes
it at the end in sqlite3's `.mode quote` form, one file per logical table, sorted.

Routing protocol (what a well-behaved application or pooler does at a switch): read the
pointer, BEGIN IMMEDIATE on that side (this waits while tandem freezes it), read the pointer
again, and if it moved, roll back and retry on the other side.
"""
import argparse
import json
import os
import random
import sqlite3
import sys
import time
import urllib.parse


def quote(v):
    if v is None:
        return "NULL"
    if isinstance(v, (int, float)):
        return repr(v)
    return "'" + str(v).replace("'", "''") + "'"


class Side:
    """One database the writer can write to: SQLite (a file), PostgreSQL or MariaDB (a URI)."""

    def __init__(self, spec):
        self.spec = spec
        uri = spec.get("uri", "")
        if uri.startswith("postgres"):
            import psycopg2
            self.kind, self.ph, self.q = "postgres", "%s", '"'
            self.conn = psycopg2.connect(uri)
            self.conn.autocommit = True
            self.errors = (psycopg2.Error,)
        elif uri.startswith("mysql"):
            import pymysql
            u = urllib.parse.urlparse(uri)
            self.kind, self.ph, self.q = "mysql", "%s", "`"
            self.conn = pymysql.connect(host=u.hostname, port=u.port or 3306, user=u.username,
                                        password=urllib.parse.unquote(u.password or ""),
                                        database=u.path.lstrip("/"), autocommit=True,
                                        charset="utf8mb4")
            self.errors = (pymysql.Error,)
        else:
            self.kind, self.ph, self.q = "sqlite", "?", '"'
            self.conn = sqlite3.connect(spec["db"], timeout=120, isolation_level=None)
            self.errors = (sqlite3.Error,)
        self.cur = self.conn.cursor()

    def retryable(self, e):
        code = getattr(e, "pgcode", None) or (e.args[0] if getattr(e, "args", None) else None)
        return code in ("40P01", "40001", 1213, 1205)

    def ident(self, name):
        return self.q + name.replace(self.q, self.q * 2) + self.q

    def execute(self, sql, params=()):
        self.cur.execute(sql, params)
        return self.cur

    def begin(self):
        # SQLite: take the write lock now, so a freeze by tandem is waited out here.
        self.execute("BEGIN IMMEDIATE" if self.kind == "sqlite" else "BEGIN")


class Table:
    """Rows by key, with O(1) random choice, insert and delete."""

    def __init__(self):
        self.rows, self.keys, self.pos = {}, [], {}

    def put(self, key, row):
        if key not in self.rows:
            self.pos[key] = len(self.keys)
            self.keys.append(key)
        self.rows[key] = row

    def pop(self, key):
        i = self.pos.pop(key)
        last = self.keys.pop()
        if last != key:
            self.keys[i] = last
            self.pos[last] = i
        return self.rows.pop(key)

    def get(self, key):
        return self.rows.get(key)


class Writer:
    def __init__(self, profile, pointer, seed):
        self.profile = profile
        self.pointer = pointer
        self.rng = random.Random(seed)
        self.conns = {}
        self.model = {t: Table() for t in profile["tables"]}
        self.next_id = {}
        self.stats = {"tx": 0, "ops": 0, "retries": 0, "old": 0, "new": 0}

    def side(self):
        with open(self.pointer) as f:
            return f.read().strip() or "old"

    def conn(self, side):
        if side not in self.conns:
            self.conns[side] = Side(self.profile[side])
        return self.conns[side]

    def load_model(self):
        """Reads the starting rows from the old side (before any writes)."""
        c = self.conn("old")
        for t, spec in self.profile["tables"].items():
            phys = self.profile["old"]["tables"][t]
            cols = [phys["cols"][x] for x in spec["cols"]]
            sql = "SELECT %s FROM %s" % (", ".join(c.ident(x) for x in cols), c.ident(phys["name"]))
            for row in c.execute(sql).fetchall():
                row = tuple(int(v) if isinstance(v, int) else v for v in row)
                key = tuple(row[: len(spec["key"])])
                self.model[t].put(key, list(row))
            ints = [abs(k[-1]) for k in self.model[t].keys if isinstance(k[-1], int)]
            self.next_id[t] = (max(ints) if ints else 0) + 1

    def sql(self, side, t, kind, cols=None):
        c = self.conn(side)
        phys = self.profile[side]["tables"][t]
        name = c.ident(phys["name"])
        spec = self.profile["tables"][t]
        keyc = " AND ".join("%s = %s" % (c.ident(phys["cols"][k]), c.ph) for k in spec["key"])
        if kind == "insert":
            return "INSERT INTO %s (%s) VALUES (%s)" % (
                name, ", ".join(c.ident(phys["cols"][x]) for x in spec["cols"]),
                ", ".join(c.ph for _ in spec["cols"]))
        if kind == "update":
            sets = ", ".join("%s = %s" % (c.ident(phys["cols"][x]), c.ph) for x in cols)
            return "UPDATE %s SET %s WHERE %s" % (name, sets, keyc)
        if kind == "delete":
            return "DELETE FROM %s WHERE %s" % (name, keyc)
        raise ValueError(kind)

    def new_row(self, t, key):
        spec = self.profile["tables"][t]
        row = list(key)
        for c in spec["cols"][len(spec["key"]):]:
            row.append(self.value(spec["types"][c]))
        return row

    def value(self, typ):
        r = self.rng.random()
        if typ == "int":
            return self.rng.randint(-1000, 100000)
        if typ == "text?":
            if r < 0.15:
                return None
            if r < 0.25:
                return ""
        if typ == "ts":
            return "20%02d-%02d-%02d %02d:%02d:%02d" % (
                self.rng.randint(19, 26), self.rng.randint(1, 12), self.rng.randint(1, 28),
                self.rng.randint(0, 23), self.rng.randint(0, 59), self.rng.randint(0, 59))
        if typ == "price":
            return self.rng.randint(100, 99999) / 100.0
        if typ == "qty":
            return self.rng.randint(1, 9)
        if typ == "sku":
            return "SKU-%05d" % self.rng.randint(1, 300)
        if typ == "status":
            return self.rng.choice(["new", "paid", "shipped", "cancelled"])
        return self.rng.choice(["Zoë", "O'Brien", "José", "plain", "Łukasz", "a\"b"]) + " " + str(
            self.rng.randint(0, 10**6))

    def one_op(self, c, side, t, undo):
        spec = self.profile["tables"][t]
        table = self.model[t]
        nkey = len(spec["key"])
        r = self.rng.random()

        def put(key, row):
            undo.append((t, key, table.get(key)))
            table.put(key, row)

        def remove(key):
            undo.append((t, key, table.get(key)))
            return table.pop(key)

        if r < 0.35 or not table.keys:
            if spec.get("keygen") == "pair":
                key = (self.rng.choice(["north", "süd", "Ost", "west"]), self.next_id[t])
            elif spec.get("keygen") == "int_pair":
                key = (self.rng.randint(1, 6000), self.next_id[t])
            else:
                key = (self.next_id[t] if self.rng.random() > 0.05 else -self.next_id[t],)
            self.next_id[t] += 1
            row = self.new_row(t, key)
            c.execute(self.sql(side, t, "insert"), row)
            put(key, row)
        elif r < 0.75:
            key = self.rng.choice(table.keys)
            cols = [x for x in spec["cols"][nkey:] if self.rng.random() < 0.7] or spec["cols"][nkey:]
            vals = [self.value(spec["types"][x]) for x in cols]
            c.execute(self.sql(side, t, "update", cols), vals + list(key))
            row = list(table.get(key))
            for x, v in zip(cols, vals):
                row[spec["cols"].index(x)] = v
            put(key, row)
        elif r < 0.9:
            key = self.rng.choice(table.keys)
            c.execute(self.sql(side, t, "delete"), list(key))
            remove(key)
        else:
            # A key-changing update: the row moves to a fresh key.
            key = self.rng.choice(table.keys)
            newkey = list(key)
            newkey[-1] = self.next_id[t]
            self.next_id[t] += 1
            kc = spec["key"][-1]
            c.execute(self.sql(side, t, "update", [kc]), [newkey[-1]] + list(key))
            row = list(remove(key))
            row[nkey - 1] = newkey[-1]
            put(tuple(newkey), row)
        self.stats["ops"] += 1

    def transaction(self):
        while True:
            side = self.side()
            c = self.conn(side)
            c.begin()
            if self.side() != side:  # the switch happened while we waited
                c.execute("ROLLBACK")
                self.stats["retries"] += 1
                continue
            undo = []
            try:
                for _ in range(self.rng.randint(1, 6)):
                    self.one_op(c, side, self.rng.choice(list(self.model)), undo)
                c.execute("COMMIT")
            except c.errors as e:
                c.execute("ROLLBACK")
                for t, key, row in reversed(undo):
                    if row is None:
                        self.model[t].pop(key)
                    else:
                        self.model[t].put(key, row)
                # A deadlock or serialization failure is retried, as applications do.
                if c.retryable(e):
                    self.stats["retries"] += 1
                    continue
                raise
            self.stats["tx"] += 1
            self.stats[side] += 1
            return

    def dump(self, out_dir):
        for t, rows in self.model.items():
            lines = sorted(",".join(quote(v) for v in row) for row in rows.rows.values())
            with open(os.path.join(out_dir, t + ".model"), "w") as f:
                f.write("".join(l + "\n" for l in lines))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", required=True)
    ap.add_argument("--pointer", required=True)
    ap.add_argument("--stop-file", required=True)
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--rate", type=float, default=200, help="transactions per second")
    ap.add_argument("--max-tx", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    with open(a.profile) as f:
        profile = json.load(f)
    w = Writer(profile, a.pointer, a.seed)
    w.load_model()
    start = time.time()
    while not os.path.exists(a.stop_file) and (a.max_tx == 0 or w.stats["tx"] < a.max_tx):
        w.transaction()
        ahead = w.stats["tx"] / a.rate - (time.time() - start)
        if ahead > 0:
            time.sleep(ahead)
    w.dump(a.model_dir)
    w.stats["seconds"] = round(time.time() - start, 2)
    print(json.dumps(w.stats), file=sys.stderr)


if __name__ == "__main__":
    main()
