#!/usr/bin/env python3
"""An application that lets the database pick its ids: inserts into `items` WITHOUT an id on
whichever side the pointer file names ("old" or "new"), and now and then deletes the row it
just inserted (so a side's highest id can fall behind what its counter handed out).

Freeze protocol (the mapping's freeze/unfreeze hooks): while the file `freeze` exists the
writer finishes its transaction, creates `paused` and waits; when `freeze` is gone it removes
`paused` and goes on, reading the pointer again.

Records what it committed: items.model (id,'note',n per live row, the oracle for both sides),
and prints a JSON summary: inserts per side, duplicate-key errors (collisions), ids handed out
twice, and the lowest and highest id each side handed out after each switch (epochs).
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
        path = uri[len("sqlite:"):]
        c = sqlite3.connect(path, timeout=60, isolation_level=None)
        return "sqlite", c
    if uri.startswith("postgres"):
        import psycopg2
        c = psycopg2.connect(uri)
        return "postgres", c
    if uri.startswith("mysql"):
        import pymysql
        u = urlparse(uri)
        c = pymysql.connect(host=u.hostname, port=u.port or 3306, user=unquote(u.username),
                            password=unquote(u.password or ""), database=u.path.lstrip("/"),
                            autocommit=False)
        return "mysql", c
    raise SystemExit("unknown uri " + uri)


def is_duplicate(kind, e):
    text = str(e).lower()
    if kind == "postgres":
        return getattr(e, "pgcode", None) == "23505"
    if kind == "mysql":
        return bool(e.args) and e.args[0] == 1062
    return "unique constraint" in text or "primary key" in text


def insert(kind, c, note, n):
    if kind == "sqlite":
        c.execute("BEGIN IMMEDIATE")
        cur = c.execute("INSERT INTO items (note, n) VALUES (?, ?)", (note, n))
        rid = cur.lastrowid
        c.execute("COMMIT")
        return rid
    cur = c.cursor()
    if kind == "postgres":
        cur.execute("INSERT INTO items (note, n) VALUES (%s, %s) RETURNING id", (note, n))
        rid = cur.fetchone()[0]
    else:
        cur.execute("INSERT INTO items (note, n) VALUES (%s, %s)", (note, n))
        rid = cur.lastrowid
    c.commit()
    return rid


def delete(kind, c, rid):
    if kind == "sqlite":
        c.execute("DELETE FROM items WHERE id = ?", (rid,))
        return
    cur = c.cursor()
    cur.execute("DELETE FROM items WHERE id = %s", (rid,))
    c.commit()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", required=True)
    ap.add_argument("--new", required=True)
    ap.add_argument("--dir", default=".")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rate", type=float, default=100)
    ap.add_argument("--initial", required=True, help="file of id,'note',n rows already in old")
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    d = a.dir
    model = {}
    with open(a.initial) as f:
        for line in f:
            line = line.strip()
            if line:
                rid = int(line.split(",", 1)[0])
                model[rid] = line
    seen = set(model)
    conns = {}
    stats = {"inserts": {"old": 0, "new": 0}, "deletes": 0, "collisions": 0, "reused_ids": 0,
             "epochs": [], "errors": []}
    epoch = None
    i = 0
    period = 1.0 / a.rate
    while not os.path.exists(os.path.join(d, "stop")):
        if os.path.exists(os.path.join(d, "freeze")):
            open(os.path.join(d, "paused"), "w").close()
            while os.path.exists(os.path.join(d, "freeze")):
                time.sleep(0.005)
            os.remove(os.path.join(d, "paused"))
            continue
        with open(os.path.join(d, "pointer")) as f:
            side = f.read().strip()
        if epoch is None or epoch["side"] != side:
            epoch = {"side": side, "min": None, "max": None, "count": 0}
            stats["epochs"].append(epoch)
        if side not in conns:
            conns[side] = connect(a.old if side == "old" else a.new)
        kind, c = conns[side]
        i += 1
        note = "w%d %s" % (i, "it's" if i % 7 == 0 else "plain")
        n = rnd.randint(-1000, 1000)
        try:
            rid = insert(kind, c, note, n)
        except Exception as e:  # noqa: BLE001 - any failure is reported
            try:
                c.rollback()
            except Exception:  # noqa: BLE001
                pass
            if is_duplicate(kind, e):
                stats["collisions"] += 1
                stats["errors"].append("%s: %s" % (side, str(e).strip()[:200]))
                continue
            print(json.dumps(stats), flush=True)
            print("writer: insert on %s failed: %s" % (side, e), file=sys.stderr)
            sys.exit(2)
        if rid in seen:
            stats["reused_ids"] += 1
        seen.add(rid)
        stats["inserts"][side] += 1
        epoch["count"] += 1
        epoch["min"] = rid if epoch["min"] is None else min(epoch["min"], rid)
        epoch["max"] = rid if epoch["max"] is None else max(epoch["max"], rid)
        model[rid] = "%d,'%s',%d" % (rid, note.replace("'", "''"), n)
        if i % 8 == 0:
            delete(kind, c, rid)
            del model[rid]
            stats["deletes"] += 1
        time.sleep(period * rnd.uniform(0.5, 1.5))
    with open(os.path.join(d, "items.model"), "w") as f:
        for rid in sorted(model):
            f.write(model[rid] + "\n")
    print(json.dumps(stats), flush=True)


if __name__ == "__main__":
    main()
