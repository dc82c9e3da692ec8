#!/usr/bin/env python3
"""The oracle's canonical form: turns one engine's CLI export of a table into lines that compare
equal across engines exactly when the data is equal. Independent of tandem (stdlib only).

Usage: normalise.py ENGINE TYPES < EXPORT
       normalise.py sql ENGINE TYPES TABLE   (prints the export statement for the engine's CLI)
  ENGINE  sqlite | postgres | mysql
  TYPES   file of "column<TAB>declared type" lines, in column order, as each engine's catalog
          states them (sqlite: pragma_table_info.type; postgres: format_type(); mysql:
          COLUMN_TYPE, or "json" for a longtext with a json_valid check)
  EXPORT  one line per row, fields separated by tabs, as tests/lib/oracle.sh exports them:
          sqlite   "typeof:payload" per field: text/blob as hex(), real as the sqlite3 shell's
                   ieee754_mantissa(),ieee754_exponent() (its printf is not exact at 17 digits)
          postgres COPY ... TO STDOUT text format (\\N for NULL, backslash escapes)
          mysql    --batch output with text, blob and json selected as HEX(); NULL as NULL
Prints one line per row, fields separated by tabs, each field a JSON token, rows sorted.

Each field is read by the category of its declared type, and written in one form per category:
  bool        true / false            (t, true, 1 / f, false, 0)
  int         the integer (as a decimal would be written: 5 in bigint equals 5 in numeric)
  float       repr(float): shortest round-trip; "nan", "inf", "-inf"; -0.0 stays -0.0
  decimal     the exact value without trailing zeros (12.50 = 12.5: the declared scale pads)
  text        the string (hex/escapes decoded, so tabs, newlines, NUL and emoji are exact)
  bytes       lower-case hex
  date        YYYY-MM-DD, years before 1 as astronomical years (44 BC is -0043)
  time        HH:MM:SS[.ffffff], fraction without trailing zeros
  timestamp   YYYY-MM-DD HH:MM:SS[.ffffff]
  timestamptz the same form, in UTC; a value without an offset counts as UTC (a MariaDB
              TIMESTAMP is printed in the session zone, which the export sets to +00:00; a
              DATETIME holding a timestamptz holds its UTC wall time, see docs/types.md)
  json        keys sorted, no whitespace; numbers keep their written form (15.0 is not 15)
  uuid        lower-case 8-4-4-4-12
A value that does not read as its category is printed as {"raw": ...} so it can only equal the
same raw text.
"""
import datetime
import decimal
import json
import math
import re
import sys
import uuid

decimal.getcontext().prec = 200


def category(engine, declared):
    t = declared.strip().lower()
    base = re.sub(r"\(.*?\)", "", t).strip()
    if engine == "mysql":
        if t == "json":
            return "json"
        if t.startswith("tinyint(1)") or base in ("bool", "boolean"):
            return "bool"
        if base == "bit":
            return "bit"
        if re.match(r"(tiny|small|medium|big)?int\b|integer|year", base):
            return "int"
        if base.startswith(("double", "float", "real")):
            return "float"
        if base.startswith(("decimal", "numeric", "dec", "fixed")):
            return "decimal"
        if base.startswith(("binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob")):
            return "bytes"
        if base == "date":
            return "date"
        if base.startswith("datetime"):
            return "timestamp"
        if base.startswith("timestamp"):
            return "timestamptz"
        if base.startswith("time"):
            return "time"
        if base == "uuid":
            return "uuid"
        return "text"  # char, varchar, *text, enum, set
    if engine == "postgres":
        if base == "boolean":
            return "bool"
        if base in ("smallint", "integer", "bigint"):
            return "int"
        if base in ("double precision", "real"):
            return "float"
        if base == "numeric":
            return "decimal"
        if base == "bytea":
            return "bytes"
        if base == "date":
            return "date"
        if base.startswith("timestamp") and "with time zone" in base and "without" not in base:
            return "timestamptz"
        if base.startswith("time") and "with time zone" in base and "without" not in base:
            return "text"  # timetz: no portable counterpart, its text is the value
        if base.startswith("timestamp"):
            return "timestamp"
        if base.startswith("time"):
            return "time"
        if base in ("json", "jsonb"):
            return "json"
        if base == "uuid":
            return "uuid"
        return "text"
    # sqlite: the declared name, most specific names first, then SQLite's affinity rules.
    b = base.upper()
    if b in ("BOOLEAN", "BOOL"):
        return "bool"
    if b in ("DATE",):
        return "date"
    if b in ("TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE"):
        return "timestamptz"
    if b in ("DATETIME", "TIMESTAMP", "TIMESTAMP WITHOUT TIME ZONE"):
        return "timestamp"
    if b in ("TIME", "TIME WITHOUT TIME ZONE"):
        return "time"
    if b in ("JSON", "JSONB", "JSON TEXT"):  # tandem declares "JSON TEXT" for TEXT affinity
        return "json"
    if b == "UUID":
        return "uuid"
    if "DEC" in b or "NUM" in b:
        return "decimal"
    if "INT" in b:
        return "int"
    if "CHAR" in b or "CLOB" in b or "TEXT" in b:
        return "text"
    if b == "" or "BLOB" in b:
        return "bytes"
    if "REAL" in b or "FLOA" in b or "DOUB" in b:
        return "float"
    return "decimal"


# ---- reading each engine's field text -----------------------------------------------------


class Raw:
    """A field as the engine printed it: `text` (str) or `blob` (bytes); `real` when SQLite
    stored it as a REAL (its text is then the double's repr)."""

    def __init__(self, text=None, blob=None, real=False):
        self.text, self.blob, self.real = text, blob, real

    def as_text(self):
        if self.text is not None:
            return self.text
        return self.blob.decode("utf-8")

    def as_bytes(self):
        if self.blob is not None:
            return self.blob
        return self.text.encode("utf-8")


def copy_unescape(s):
    out, i = [], 0
    esc = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}
    while i < len(s):
        c = s[i]
        if c != "\\" or i + 1 == len(s):
            out.append(c)
            i += 1
            continue
        n = s[i + 1]
        if n in esc:
            out.append(esc[n])
            i += 2
        elif n in "01234567":
            m = re.match(r"[0-7]{1,3}", s[i + 1:])
            out.append(chr(int(m.group(0), 8)))
            i += 1 + len(m.group(0))
        elif n == "x":
            m = re.match(r"[0-9a-fA-F]{1,2}", s[i + 2:])
            out.append(chr(int(m.group(0), 16)))
            i += 2 + len(m.group(0))
        else:
            out.append(n)
            i += 2
    return "".join(out)


def read_field(engine, cat, f):
    """Returns None for NULL, else a Raw."""
    if engine == "sqlite":
        kind, _, payload = f.partition(":")
        if kind == "null":
            return None
        if kind in ("text", "blob"):
            return Raw(blob=bytes.fromhex(payload))
        if kind == "real":  # mantissa,exponent from the shell's ieee754 functions: exact
            m, e = (int(x) for x in payload.split(","))
            try:
                value = math.ldexp(m, e)
            except OverflowError:
                value = math.copysign(math.inf, m)
            return Raw(text=repr(value), real=True)
        return Raw(text=payload)
    if engine == "postgres":
        if f == "\\N":
            return None
        return Raw(text=copy_unescape(f))
    # mysql
    if f == "NULL":
        return None
    if cat in ("text", "json", "bytes"):
        return Raw(blob=bytes.fromhex(f))
    return Raw(text=f)


# ---- canonical forms ----------------------------------------------------------------------


def canon_float(s):
    t = s.strip()
    low = t.lower()
    if low in ("nan",):
        return "nan"
    if low in ("inf", "infinity", "+inf", "+infinity"):
        return "inf"
    if low in ("-inf", "-infinity"):
        return "-inf"
    return repr(float(t))


def canon_decimal(raw):
    t = raw.as_text().strip()
    if raw.real:  # a SQLite REAL in a decimal column: its shortest round-trip digits
        t = repr(float(t))
    if t in ("NaN", "Inf", "-Inf", "Infinity", "-Infinity", "inf", "-inf", "nan"):
        return canon_float(t)
    d = decimal.Decimal(t)
    return "0" if d == 0 else format(d.normalize(), "f")


def canon_time_part(s):
    m = re.fullmatch(r"(\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?", s)
    if not m:
        raise ValueError(s)
    frac = (m.group(4) or "").ljust(6, "0")[:6].rstrip("0")
    out = f"{m.group(1)}:{m.group(2)}:{m.group(3) or '00'}"
    return out + ("." + frac if frac else "")


TS = re.compile(r"(-?\d{4,})-(\d{2})-(\d{2})"  # date
                r"(?:[ T](\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?))?"  # time
                r"\s*(Z|[+-]\d{2}(?::?\d{2}(?::?\d{2})?)?)?")  # offset


def canon_timestamp(s, with_zone):
    m = TS.fullmatch(s.strip())
    if not m:
        raise ValueError(s)
    date = f"{m.group(1)}-{m.group(2)}-{m.group(3)}"
    time = canon_time_part(m.group(4) or "00:00:00")
    zone = m.group(5)
    if zone and not with_zone:
        raise ValueError(s)
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        h, mi, se = int(digits[0:2]), int(digits[2:4] or 0), int(digits[4:6] or 0)
        offset = datetime.timedelta(hours=h, minutes=mi, seconds=se) * sign
        hh, mm, rest = time.split(":")
        ss, _, frac = rest.partition(".")
        local = datetime.datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)),
                                  int(hh), int(mm), int(ss))
        utc = local - offset
        date = utc.strftime("%Y-%m-%d").rjust(10, "0")
        time = canon_time_part(utc.strftime("%H:%M:%S") + ("." + frac if frac else ""))
    return f"{date} {time}"


class Num:
    def __init__(self, text):
        self.text = text


def canon_json_value(v):
    if isinstance(v, Num):
        return v.text
    if isinstance(v, dict):
        items = (json.dumps(k, ensure_ascii=False) + ":" + canon_json_value(v[k])
                 for k in sorted(v))
        return "{" + ",".join(items) + "}"
    if isinstance(v, list):
        return "[" + ",".join(canon_json_value(x) for x in v) + "]"
    return json.dumps(v, ensure_ascii=False)


def canon_json(s):
    doc = json.loads(s, parse_float=Num, parse_int=Num, parse_constant=Num)
    return canon_json_value(doc)


def canonical(cat, raw):
    if raw is None:
        return "null"
    try:
        if cat == "bool":
            t = raw.as_text().strip().lower()
            if t in ("t", "true", "1"):
                return "true"
            if t in ("f", "false", "0"):
                return "false"
            raise ValueError(t)
        if cat in ("int", "bit"):  # a MariaDB BIT(n), exported as its number
            # Written like a decimal, so that an integer equals the same number in a decimal
            # column (bigint unsigned lands in numeric(20,0)).
            return json.dumps(str(int(raw.as_text())))
        if cat == "float":
            # tandem stores NaN in SQLite as the text 'NaN' (SQLite turns a NaN REAL into NULL);
            # docs/types.md states the choice.
            return json.dumps(canon_float(raw.as_text()))
        if cat == "decimal":
            return json.dumps(canon_decimal(raw))
        if cat == "text":
            return json.dumps(raw.as_text(), ensure_ascii=False)
        if cat == "bytes":
            b = raw.as_bytes()
            if raw.text is not None and raw.text.startswith("\\x"):  # postgres bytea hex
                b = bytes.fromhex(raw.text[2:])
            return json.dumps(b.hex())
        if cat == "date":
            t = raw.as_text().strip()
            if t.endswith(" BC"):  # PostgreSQL's 0044-03-15 BC is the astronomical year -43
                y, rest = t[:-3].split("-", 1)
                t = f"-{int(y) - 1:04d}-{rest}" if int(y) > 1 else f"0000-{rest}"
            if not re.fullmatch(r"-?\d{4,}-\d{2}-\d{2}", t):
                raise ValueError(t)
            return json.dumps(t)
        if cat == "time":
            return json.dumps(canon_time_part(raw.as_text().strip()))
        if cat == "timestamp":
            return json.dumps(canon_timestamp(raw.as_text(), False))
        if cat == "timestamptz":
            return json.dumps(canon_timestamp(raw.as_text(), True))
        if cat == "json":
            return json.dumps(canon_json(raw.as_text()), ensure_ascii=False)
        if cat == "uuid":
            return json.dumps(str(uuid.UUID(raw.as_text().strip())))
    except (ValueError, UnicodeDecodeError, decimal.InvalidOperation, IndexError, AttributeError):
        pass
    text = raw.text if raw.text is not None else raw.blob.hex()
    return json.dumps({"raw": text}, ensure_ascii=False)


def export_sql(engine, table, types, cats):
    """The SELECT whose CLI output read_field() reads (see the module docstring)."""
    if engine == "sqlite":
        q = lambda n: '"' + n.replace('"', '""') + '"'
        cols = []
        for name, _ in types:
            c = q(name)
            cols.append(f"typeof({c}) || ':' || CASE typeof({c}) WHEN 'null' THEN '' "
                        f"WHEN 'real' THEN ieee754_mantissa({c}) || ',' || ieee754_exponent({c}) "
                        f"WHEN 'integer' THEN {c} "
                        f"ELSE hex({c}) END")
        return f"SELECT {', '.join(cols)} FROM {q(table)}"
    if engine == "postgres":
        q = lambda n: '"' + n.replace('"', '""') + '"'
        return f"COPY (SELECT * FROM {q(table)}) TO STDOUT"  # a partitioned table too
    q = lambda n: "`" + n.replace("`", "``") + "`"
    # Text as the server converts it to utf8mb4 (a gbk or latin1 column's characters, not its
    # stored bytes); a no-op for utf8mb4 columns.
    cols = [f"HEX(CONVERT({q(name)} USING utf8mb4))" if cat == "text"
            else f"HEX({q(name)})" if cat in ("json", "bytes")
            else f"{q(name)} + 0" if cat == "bit" else q(name)
            for (name, _), cat in zip(types, cats)]
    return f"SELECT {', '.join(cols)} FROM {q(table)}"


def main():
    sys.stdout.reconfigure(encoding="utf-8")
    if sys.argv[1] == "sql":  # normalise.py sql ENGINE TYPES TABLE: print the export statement
        engine, types_file, table = sys.argv[2:5]
    else:
        engine, types_file = sys.argv[1], sys.argv[2]
    with open(types_file, encoding="utf-8") as f:
        types = [line.rstrip("\n").split("\t", 1) for line in f if line.strip()]
    types = [(t[0], t[1] if len(t) > 1 else "") for t in types]
    cats = [category(engine, t[1]) for t in types]
    if sys.argv[1] == "sql":
        print(export_sql(engine, table, types, cats))
        return
    rows = []
    data = sys.stdin.buffer.read().decode("utf-8", "surrogateescape")
    if data.endswith("\n"):
        data = data[:-1]
    for line in data.split("\n") if data else []:
        fields = line.split("\t")
        if len(fields) != len(cats):
            sys.exit(f"normalise.py: a row has {len(fields)} fields for {len(cats)} columns: "
                     f"{line[:200]!r}")
        rows.append("\t".join(canonical(c, read_field(engine, c, f)) for c, f in zip(cats, fields)))
    for r in sorted(rows):
        print(r)


if __name__ == "__main__":
    main()
