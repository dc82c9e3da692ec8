-- A realistic "legacy shop" in SQLite: customers, products, orders, order lines.
-- Deterministic (no random()): the same file every run. Honest edge cases on purpose:
-- NULL and mixed-case e-mails with stray spaces, country names instead of codes,
-- a text value in an INTEGER column, prices stored as REAL, naive DATETIME text; names that
-- went through a latin1 round trip (mojibake), a bell character pasted into a note, an
-- impossible date and an over-long SKU: what `tandem assess` is for.
PRAGMA journal_mode = WAL;
CREATE TABLE customers (
  id INTEGER PRIMARY KEY,
  email TEXT,
  full_name TEXT NOT NULL,
  country TEXT,
  created DATETIME,
  legacy_flag INTEGER DEFAULT 0
);
CREATE TABLE products (
  sku TEXT PRIMARY KEY,
  title TEXT NOT NULL,
  price NUMERIC(10,2),
  stock INTEGER
);
CREATE TABLE orders (
  id INTEGER PRIMARY KEY,
  customer_id INTEGER REFERENCES customers(id),
  placed_at DATETIME,
  status TEXT,
  note TEXT
);
CREATE TABLE order_lines (
  order_id INTEGER NOT NULL REFERENCES orders(id),
  line_no INTEGER NOT NULL,
  sku TEXT REFERENCES products(sku),
  qty INTEGER,
  unit_price NUMERIC(10,2),
  PRIMARY KEY (order_id, line_no)
);

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
INSERT INTO customers (id, email, full_name, country, created, legacy_flag)
SELECT i,
  CASE WHEN i % 97 = 0 THEN NULL
       WHEN i % 5 = 0 THEN '  User' || i || '@Example.COM '
       ELSE 'user' || i || '@example.com' END,
  (CASE i % 6 WHEN 0 THEN 'Zoë' WHEN 1 THEN 'José' WHEN 2 THEN 'Anna' WHEN 3 THEN 'Łukasz'
              WHEN 4 THEN 'Mei' ELSE 'Omar' END) || ' ' ||
  (CASE i % 5 WHEN 0 THEN 'Müller' WHEN 1 THEN 'García' WHEN 2 THEN 'Smith'
              WHEN 3 THEN 'O''Brien' ELSE 'Nakamura' END),
  CASE i % 7 WHEN 0 THEN 'Canada' WHEN 1 THEN 'United States' WHEN 2 THEN 'Germany'
             WHEN 3 THEN 'France' WHEN 4 THEN 'Japan' WHEN 5 THEN NULL ELSE 'Atlantis' END,
  datetime('2015-01-01 08:00:00', '+' || (i * 37) || ' hours'),
  0
FROM n;

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
INSERT INTO products (sku, title, price, stock)
SELECT printf('SKU-%05d', i),
  CASE i % 4 WHEN 0 THEN 'Espresso cup ' WHEN 1 THEN 'Wool scarf ' WHEN 2 THEN 'Café table '
             ELSE 'Notebook ' END || i,
  round(1.5 + (i * 7919 % 20000) / 100.0, 2),
  CASE WHEN i % 50 = 0 THEN NULL ELSE i * 13 % 400 END
FROM n;

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 6000)
INSERT INTO orders (id, customer_id, placed_at, status, note)
SELECT i, 1 + (i * 7919) % 2000,
  datetime('2019-03-01 00:00:00', '+' || (i * 211) || ' minutes'),
  CASE i % 9 WHEN 0 THEN 'cancelled' WHEN 1 THEN 'NEW' ELSE 'shipped' END,
  CASE WHEN i % 11 = 0 THEN '' WHEN i % 13 = 0 THEN NULL ELSE 'order ' || i END
FROM n;

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 6000),
     l(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM l WHERE j < 4)
INSERT INTO order_lines (order_id, line_no, sku, qty, unit_price)
SELECT i, j, printf('SKU-%05d', 1 + (i * 31 + j * 17) % 300),
  CASE WHEN i = 4242 AND j = 2 THEN 'twelve' ELSE 1 + (i + j) % 5 END,
  round(1.5 + ((i * 31 + j) * 7919 % 20000) / 100.0, 2)
FROM n, l WHERE j <= 1 + i % 4;

-- Debris of twenty years of imports.
UPDATE customers SET full_name = 'JosÃ© GarcÃ­a' WHERE id = 13;
UPDATE customers SET full_name = 'ZoÃ« MÃ¼ller' WHERE id = 14;
UPDATE customers SET full_name = 'FranÃ§ois LefÃ¨vre' WHERE id = 15;
UPDATE orders SET note = 'leave at the door' || char(7) WHERE id IN (77, 78);
UPDATE orders SET placed_at = '2019-02-30 10:00:00' WHERE id = 5005;
UPDATE order_lines SET sku = 'SKU-00042-DISCONTINUED' WHERE order_id = 4243 AND line_no = 1;
