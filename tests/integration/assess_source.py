#!/usr/bin/env python3
"""Generates the source of assess_planted.sh: clean rows plus planted edge cases of every
finding kind, in known numbers and keys, in SQLite or MariaDB. Writes the findings that
`tandem assess --json` must report (exactly these, nothing for the clean rows) to
expected.json, and checks a report against them with `check`.

usage: assess_source.py make sqlite PATH | make mysql HOST PORT USER PASSWORD DB
       assess_source.py check expected.json report.json
"""
import json
import sys

CLEAN_CUSTOMERS = 200
CLEAN_ORDERS = 100


def customers(engine):
    """(id, email, name, note, code, born, qty, legacy, visit) rows and the expected findings."""
    rows = []
    for i in range(1, CLEAN_CUSTOMERS + 1):
        rows.append([i, f"user{i}@example.com", f"Name {i}", "note", f"C{i}",
                     f"1990-01-{1 + i % 28:02d}", str(i % 100) if engine == "mysql" else i % 100,
                     "ok", "2024-01-15 10:00:00"])

    def planted(id_, **kw):
        r = [id_, f"p{id_}@example.com", f"Planted {id_}", "note", f"C{id_}", "1991-05-05",
             "1" if engine == "mysql" else 1, "ok", "2024-01-15 10:00:00"]
        cols = ["id", "email", "name", "note", "code", "born", "qty", "legacy", "visit"]
        for k, v in kw.items():
            r[cols.index(k)] = v
        rows.append(r)

    # Collide with customers 1..3 after `trim, lower`: the unique index on email fails.
    for n, id_ in enumerate([1101, 1102, 1103], start=1):
        planted(id_, email=f"  USER{n}@Example.COM ")
    planted(1201, name="X" * 25)                       # too_long into varchar(20)
    planted(1202, name="Ünïcödé name that is too long")
    planted(1301, name="JosÃ© GarcÃ­a")                # mojibake (lands: warning)
    planted(1302, name="CafÃ© crÃ¨me")
    planted(1401, name="Bell\x07Name")                 # control character (lands: warning)
    planted(1402, note="a\x00b")                       # NUL: PostgreSQL text cannot hold it
    for id_ in (1501, 1502, 1503):
        planted(id_, code=None)                        # on_null: reject
    if engine == "sqlite":
        planted(1601, born="2021-02-30")               # impossible date
        planted(1602, born="0000-00-00")
    else:
        planted(1601, born="0000-00-00")
        planted(1602, born="2021-00-10")
    planted(1701, qty="40000" if engine == "mysql" else 40000)    # out of smallint range
    planted(1702, qty="-40000" if engine == "mysql" else -40000)
    planted(1801, qty="lots")                          # not an integer at all
    planted(1901, legacy=b"ok\xff" if engine == "sqlite" else b"a\xa2\xa0b")  # not decodable
    planted(2001, visit="2024-03-31 02:30:00")         # does not exist in Europe/Paris
    planted(2002, visit="2024-10-27 02:30:00")         # happens twice in Europe/Paris
    expected = [
        ("customers", "email", "duplicate_key", "fails", [[1101], [1102], [1103]]),
        ("customers", "name", "too_long", "reject", [[1201], [1202]]),
        ("customers", "name", "mojibake", "warning", [[1301], [1302]]),
        ("customers", "name", "control_character", "warning", [[1401]]),
        ("customers", "note", "control_character", "reject", [[1402]]),
        ("customers", "code", "null_violation", "reject", [[1501], [1502], [1503]]),
        ("customers", "born", "invalid_date", "reject", [[1601], [1602]]),
        ("customers", "qty", "out_of_range", "reject", [[1701], [1702]]),
        ("customers", "qty", "type_mismatch", "reject", [[1801]]),
        ("customers", "legacy", "invalid_encoding", "reject", [[1901]]),
        ("customers", "visit", "dst_gap", "reject", [[2001]]),
        ("customers", "visit", "dst_fold", "reject", [[2002]]),
    ]
    return rows, expected


def orders():
    rows = [[i, 1 + i % CLEAN_CUSTOMERS, "10.50"] for i in range(1, CLEAN_ORDERS + 1)]
    rows[10][1] = 99999   # order 11: no such customer
    rows[11][1] = 88888   # order 12: no such customer
    rows[12][1] = 1201    # order 13: its customer would be rejected (name too long)
    rows[20][2] = "12345.67"  # order 21: over decimal(6,2)
    expected = [
        ("orders", "customer_id", "orphan_reference", "fails", [[11], [12], [13]]),
        ("orders", "amount", "out_of_range", "reject", [[21]]),
    ]
    return rows, expected


def tags():
    # Text codes into a bigint key: '007' and '7' become the same key; '7' comes second.
    rows = [["001", "one"], ["002", "two"], ["007", "seven"], ["7", "seven again"], ["010", "ten"]]
    return rows, [("tags", "code", "duplicate_key", "reject", [["7"]])]


def seats():
    # A unique index on two columns, one of them lowered by the mapping: ('A', 1) and ('a', 1)
    # collide, the second is the duplicate; rows with a NULL part never collide.
    rows = [[1, "A", 1], [2, "B", 1], [3, "a", 1], [4, "b", None], [5, "B", None], [6, "c", 2],
            [7, "C", 3]]
    return rows, [("seats", "hall, num", "duplicate_key", "fails", [[3]])]


def branches():
    # Into a target table that exists already, with a foreign key to `region`, a target table
    # the mapping does not copy into (assess_planted.sh makes both, with regions 1 and 2):
    # region 3 is not there; NULL references nothing.
    rows = [[1, 1], [2, 2], [3, 3], [4, None], [5, 2]]
    return rows, [("branches", "region", "orphan_reference", "fails", [[3]])]


def shifts():
    # Local times read with a policy (on_gap: shift_forward, on_fold: later): they land, and
    # assess says which ones the policy changed (warnings).
    rows = [[1, "2024-03-31 02:30:00"], [2, "2024-10-27 02:15:00"], [3, "2024-06-01 12:00:00"],
            [4, "2024-03-31 02:59:00"]]
    return rows, [("shifts", "at", "dst_gap", "warning", [[1], [4]]),
                  ("shifts", "at", "dst_fold", "warning", [[2]])]


def make_sqlite(path):
    import sqlite3
    db = sqlite3.connect(path)
    db.executescript("""
      CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT, name TEXT, note TEXT, code TEXT,
                              born TEXT, qty INTEGER, legacy TEXT, visit TEXT);
      CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, amount NUMERIC);
      CREATE TABLE tags (code TEXT PRIMARY KEY, label TEXT);
      CREATE TABLE seats (id INTEGER PRIMARY KEY, hall TEXT, num INTEGER);
      CREATE TABLE branches (id INTEGER PRIMARY KEY, region INTEGER);
      CREATE TABLE shifts (id INTEGER PRIMARY KEY, at TEXT);
    """)
    c, ce = customers("sqlite")
    for r in c:
        legacy = r[7]
        if isinstance(legacy, bytes):  # invalid UTF-8 stored as TEXT
            db.execute("INSERT INTO customers VALUES (?,?,?,?,?,?,?,CAST(? AS TEXT),?)", r)
        else:
            db.execute("INSERT INTO customers VALUES (?,?,?,?,?,?,?,?,?)", r)
    o, oe = orders()
    db.executemany("INSERT INTO orders VALUES (?,?,?)", [[a, b, float(c)] for a, b, c in o])
    t, te = tags()
    db.executemany("INSERT INTO tags VALUES (?,?)", t)
    s, se = seats()
    db.executemany("INSERT INTO seats VALUES (?,?,?)", s)
    b, be = branches()
    db.executemany("INSERT INTO branches VALUES (?,?)", b)
    h, he = shifts()
    db.executemany("INSERT INTO shifts VALUES (?,?)", h)
    db.commit()
    return ce + oe + te + se + be + he


def make_mysql(host, port, user, password, dbname):
    import pymysql
    db = pymysql.connect(host=host, port=int(port), user=user, password=password, database=dbname,
                         charset="utf8mb4", autocommit=True)
    cur = db.cursor()
    cur.execute("SET SESSION sql_mode = ''")  # to store the zero dates
    cur.execute("""CREATE TABLE customers (id BIGINT PRIMARY KEY, email VARCHAR(60), name VARCHAR(60),
                   note TEXT, code VARCHAR(10), born DATE, qty VARCHAR(10),
                   legacy VARCHAR(20) CHARACTER SET gbk, visit DATETIME)
                   CHARACTER SET utf8mb4""")
    cur.execute("CREATE TABLE orders (id BIGINT PRIMARY KEY, customer_id BIGINT, amount DECIMAL(10,2))")
    cur.execute("CREATE TABLE tags (code VARCHAR(10) PRIMARY KEY, label TEXT) CHARACTER SET utf8mb4 "
                "COLLATE utf8mb4_bin")
    c, ce = customers("mysql")
    for r in c:
        legacy = r[7]
        if isinstance(legacy, bytes):  # gbk bytes with no Unicode mapping
            cur.execute("INSERT INTO customers VALUES (%s,%s,%s,%s,%s,%s,%s,X'" + legacy.hex() + "',%s)",
                        r[:7] + r[8:])
        else:
            cur.execute("INSERT INTO customers VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)", r)
    o, oe = orders()
    cur.executemany("INSERT INTO orders VALUES (%s,%s,%s)", o)
    t, te = tags()
    cur.executemany("INSERT INTO tags VALUES (%s,%s)", t)
    cur.execute("CREATE TABLE seats (id BIGINT PRIMARY KEY, hall VARCHAR(5), num INT) "
                "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    s, se = seats()
    cur.executemany("INSERT INTO seats VALUES (%s,%s,%s)", s)
    cur.execute("CREATE TABLE branches (id BIGINT PRIMARY KEY, region BIGINT)")
    b, be = branches()
    cur.executemany("INSERT INTO branches VALUES (%s,%s)", b)
    cur.execute("CREATE TABLE shifts (id BIGINT PRIMARY KEY, at DATETIME)")
    h, he = shifts()
    cur.executemany("INSERT INTO shifts VALUES (%s,%s)", h)
    return ce + oe + te + se + be + he


def check(expected_path, report_path):
    want = json.load(open(expected_path))
    report = json.load(open(report_path))
    got = [(f["table"], f["column"], f["kind"], f["severity"], f["sample_keys"], f["count"])
           for f in report["findings"]]
    want = [(t, c, k, s, keys, len(keys)) for t, c, k, s, keys in want]
    missing = [w for w in want if w not in got]
    extra = [g for g in got if g not in want]
    for w in missing:
        print("MISSING", w)
    for g in extra:
        print("EXTRA  ", g)
    # Every finding says how to fix it, in YAML or in words.
    for f in report["findings"]:
        if not f["advice"]:
            print("NO ADVICE", f["table"], f["column"], f["kind"])
            missing.append(f)
    # The tables' counts agree with the findings: rows rejected = rejecting findings' rows.
    for t in report["tables"]:
        rej = sum(f["count"] for f in report["findings"]
                  if f["table"] == t["table"] and f["severity"] == "reject")
        if rej != t["rejected"]:
            print("TABLE", t["table"], "rejected", t["rejected"], "but findings say", rej)
            missing.append(t)
    return 1 if missing or extra else 0


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "check":
        sys.exit(check(sys.argv[2], sys.argv[3]))
    engine = sys.argv[2]
    exp = make_sqlite(sys.argv[3]) if engine == "sqlite" else make_mysql(*sys.argv[3:8])
    json.dump(exp, open("expected.json", "w"), indent=1)
