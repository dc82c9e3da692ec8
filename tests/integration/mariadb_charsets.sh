#!/usr/bin/env bash
# Issue 10 item 5: MariaDB text is read binary-safe and decoded by tandem from the column's
# declared character set. A gbk value whose bytes have no Unicode mapping (0xA2A0: well formed,
# accepted by the server, unassigned) used to arrive as 'a?b', and verify found 0 differences
# because both sides were read through the server's conversion. Now:
#  - valid gbk ('中文') and latin1 ('café', '€' = 0x80, 0x81 = U+0081 as MariaDB maps it, every
#    byte 0x20-0xFF) arrive exactly in PostgreSQL and SQLite, by the oracle (each CLI's export,
#    whose server-side conversion is lossless for these values);
#  - the unmappable value is a reject naming the column and the bytes in hex, in the backfill
#    and in the change stream (a row updated to such a value leaves the target, as every
#    reject does), and verify reports the rows.
. "$TANDEM_REPO/tests/lib/common.sh"
. "$TANDEM_REPO/tests/lib/oracle.sh"
MATRIX_PREFIX=cs
. "$TANDEM_REPO/tests/lib/matrix.sh"
trap 'stop_jobs; drop_dbs; rm -rf "$WORK"' EXIT

# Every latin1 byte from 0x20 to 0xFF, as a hex literal.
ALL_LATIN1=$(for ((b = 0x20; b <= 0xFF; b++)); do printf '%02X' "$b"; done)

run_target() {  # run_target DST
  local dst=$1 old=${1}_old new=${1}_new
  create_db mysql "$old"
  create_db "$dst" "$new"
  mysql_cli "$(db_uri mysql "$old")" -e "
    CREATE TABLE t (id int PRIMARY KEY, g varchar(20) CHARACTER SET gbk,
                    l varchar(300) CHARACTER SET latin1, c char(4) CHARACTER SET latin1,
                    e enum('x', 'café') CHARACTER SET latin1, u varchar(20))
      DEFAULT CHARSET = utf8mb4;
    INSERT INTO t VALUES (1, X'D6D0CEC4', X'636166E9', X'80', 2, '中文'),
                         (2, 'abc', X'$ALL_LATIN1', X'81', 1, 'plain'),
                         (3, X'61A2A062', 'ok', 'x', 1, 'bad gbk'),
                         (6, 'to update', 'x', 'x', 1, 'to update');"
  # The server's own view of row 3: the unmappable pair is '?' (what tandem used to copy).
  [[ $(mysql_cli "$(db_uri mysql "$old")" -e "SELECT g FROM t WHERE id = 3") == 'a?b' ]] ||
    fail "MariaDB does not show row 3 as a?b"
  "$TANDEM" init --source "$(tandem_uri mysql "$old")" --target "$(tandem_uri "$dst" "$new")" > init.out
  cat >> tandem.yaml <<YAML
hooks:
  freeze: "true"
  unfreeze: "true"
YAML
  "$TANDEM" start >> follower.out 2>> follower.err &
  local fpid=$! deadline=$((SECONDS + 120))
  until "$TANDEM" status --json 2>/dev/null | grep -q '"phase": *"dual-write"'; do
    ((SECONDS < deadline)) || { tail -5 follower.err; fail "dual-write not reached"; }
    kill -0 "$fpid" 2>/dev/null || { tail -5 follower.err; fail "tandem start exited"; }
    sleep 0.3
  done
  # The change stream: a new unmappable value, a row changed to one, a valid change.
  mysql_cli "$(db_uri mysql "$old")" -e "
    INSERT INTO t VALUES (4, X'FEFE', 'stream', 'y', 1, 'bad gbk 2'), (5, X'C4E3BAC3', X'E9E8', X'9D', 2, 'ok 5');
    UPDATE t SET g = X'AAA1', u = 'bad gbk 3' WHERE id = 6;"
  deadline=$((SECONDS + 60))
  until [[ $(oracle_rows "$dst" "$(db_uri "$dst" "$new")" t | grep -c "ok 5") == 1 ]]; do
    ((SECONDS < deadline)) || { tail -5 follower.err; fail "row 5 did not arrive"; }
    sleep 0.5
  done
  sleep 2
  kill -TERM "$fpid"; wait "$fpid" || true
  expect_exit 1 rejects
  cat "$WORK/out"
  grep "^t key" "$WORK/out" | grep -q "3.*g: gbk bytes 0xA2A0 (at byte 1 of 4) have no Unicode mapping" ||
    fail "no backfill reject for row 3 naming g and 0xA2A0: $(cat "$WORK/out")"
  grep "^t key" "$WORK/out" | grep -q "4.*g: gbk bytes 0xFEFE" ||
    fail "no change-stream reject for row 4: $(cat "$WORK/out")"
  grep "^t key" "$WORK/out" | grep -q "6.*g: gbk bytes 0xAAA1" ||
    fail "no change-stream reject for the update of row 6: $(cat "$WORK/out")"
  # Verify reports the rows (rejected, not silently equal).
  set +e; "$TANDEM" verify > verify.out 2>&1; set -e
  cat verify.out
  grep -q "3 rejected" verify.out || fail "verify does not report the 3 rejected rows: $(cat verify.out)"
  # The oracle: the rows that landed are exactly the source's, the rejected ones are absent.
  local a b
  a=$(oracle_rows mysql "$(db_uri mysql "$old")" t | grep -v "bad gbk")
  b=$(oracle_rows "$dst" "$(db_uri "$dst" "$new")" t)
  [[ $a == "$b" ]] || { diff <(echo "$a") <(echo "$b"); fail "mysql -> $dst: rows differ by the oracle"; }
  [[ $(wc -l <<<"$b") == 3 ]] || fail "expected rows 1, 2 and 5 on $dst: $b"
  pass "mysql -> $dst: gbk and latin1 decoded exactly by tandem; unmappable gbk bytes are rejects (backfill and stream) and verify reports them"
}

isolate pg run_target postgres
isolate sqlite run_target sqlite
((${#FAILED[@]} == 0)) || fail "failed: ${FAILED[*]}"
pass "MariaDB character sets"
