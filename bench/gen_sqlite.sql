-- 1,000,000 rows of the benchmark shape (bigint key, int, varchar(64) with non-ASCII text,
-- numeric(12,2), timestamp, boolean, a nullable text ~20% NULL, a ~200-byte text, a date).
CREATE TABLE bench (
  id BIGINT PRIMARY KEY, n INTEGER, name VARCHAR(64), amount NUMERIC(12,2),
  created TIMESTAMP, active BOOLEAN, maybe TEXT, body TEXT, day DATE);
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :rows)
INSERT INTO bench SELECT i, (i * 7919) % 100000, 'Zoë Müller-Łukasz ' || i,
  printf('%.2f', ((i * 104729) % 10000000) / 100.0),
  datetime(1500000000 + i * 37, 'unixepoch'), i % 2,
  CASE WHEN i % 5 = 0 THEN NULL ELSE 'maybe ' || i END,
  printf('%.200c', 'x') || i, date('2000-01-01', '+' || (i % 5000) || ' days')
FROM s;
