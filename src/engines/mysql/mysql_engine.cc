#include "engines/mysql/mysql_engine.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <functional>

#include "core/text.h"
#include "engines/factories.h"
#include "engines/mysql/mysql_dialect.h"

namespace tandem::mysql {

namespace {

// Strict: a value that does not fit is an error, not a truncation. NO_AUTO_VALUE_ON_ZERO: a
// copied id 0 stays 0 instead of taking the next auto_increment value. NO_BACKSLASH_ESCAPES:
// literals follow standard SQL (the driver's escaping honours it).
constexpr std::string_view kSqlMode =
    "STRICT_ALL_TABLES,NO_BACKSLASH_ESCAPES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
    "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION,NO_AUTO_VALUE_ON_ZERO";

// Keys per Fetch/Remove statement: long enough to amortise the round trip, short enough for
// the range optimizer to build its ranges quickly.
constexpr size_t kKeysPerStatement = 1000;

// Below this many rows the LOAD DATA round trips (handler setup, SHOW WARNINGS) are not worth
// it and a single INSERT does as well.
constexpr size_t kLoadDataMinRows = 64;

std::string Field(MYSQL_ROW row, const unsigned long* len, unsigned i) {
  return row[i] ? std::string(row[i], len[i]) : std::string();
}

int64_t FieldInt(MYSQL_ROW row, unsigned i, int64_t fallback = -1) {
  if (!row[i]) return fallback;
  int64_t v = fallback;
  std::from_chars(row[i], row[i] + std::strlen(row[i]), v);
  return v;
}

// Which columns are read as their stored bytes (a charset that tandem decodes itself).
std::vector<bool> StoredBytes(const std::vector<const ColumnCodec*>& codecs) {
  std::vector<bool> out;
  for (const ColumnCodec* c : codecs) out.push_back(!c->charset.empty());
  return out;
}
std::vector<bool> StoredBytes(const std::vector<ColumnCodec>& codecs) {
  std::vector<bool> out;
  for (const ColumnCodec& c : codecs) out.push_back(!c.charset.empty());
  return out;
}

// Decodes one row of a text-protocol result into `out`, reusing its Values' buffers.
void DecodeRowInto(MYSQL_ROW row, const unsigned long* len, const std::vector<ColumnCodec>& codecs,
                   Row& out) {
  out.resize(codecs.size());
  for (unsigned i = 0; i < codecs.size(); ++i) {
    if (!row[i]) {
      out[i].SetNull();
    } else {
      DecodeTextInto(std::string_view(row[i], len[i]), codecs[i], out[i]);
    }
  }
}

class MysqlRowReader : public RowReader {
 public:
  MysqlRowReader(MysqlEngine* engine, ScanRequest req, std::vector<ColumnCodec> codecs,
                 std::vector<int> key_pos, std::string upper)
      : engine_(engine),
        req_(std::move(req)),
        codecs_(std::move(codecs)),
        stored_bytes_(StoredBytes(codecs_)),
        key_pos_(std::move(key_pos)),
        upper_(std::move(upper)),
        after_(req_.range.lower),
        limit_(req_) {}

  // A batch ends at batch_rows or at the byte cap, even inside a page (the rest of the page
  // is the next batch); a page that ends first is followed by the next page, so only the
  // last batch is short by rows without being full by bytes.
  bool Next(std::vector<Row>& batch) override {
    if (!status_) {
      batch.clear();
      return false;
    }
    size_t n = 0;
    limit_.Start();
    while (!limit_.Full()) {
      if (!page_) {
        if (done_) break;
        if (n > 0) after_ = KeyOf(batch[n - 1]);
        std::vector<std::string> conds;
        if (after_) {
          auto lits = engine_->Literals(*after_);
          if (!lits) {
            batch.clear();
            return Stop(lits.error());
          }
          conds.push_back(KeyAfter(req_.key, *lits));
        }
        conds.push_back(upper_);
        std::string what = fmt::format("scan {}", QuoteIdent(req_.table));
        // The client library stores the whole page: its size follows the widest row seen.
        page_limit_ = limit_.PageRows();
        auto res = engine_->connection().Query(
            SelectSql(req_.table, req_.columns, Where(conds), req_.key, page_limit_, stored_bytes_),
            what);
        if (!res) {
          batch.clear();
          return Stop(res.error());
        }
        page_ = std::move(*res);
        page_read_ = 0;
      }
      MYSQL_ROW row = page_->Next();
      if (!row) {
        // A short page is the last one.
        if (page_read_ < page_limit_) done_ = true;
        page_.reset();
        continue;
      }
      ++page_read_;
      const unsigned long* len = page_->lengths();
      Row& out = BatchRowAt(batch, n++, req_.spare_rows);
      DecodeRowInto(row, len, codecs_, out);
      limit_.Add(out);
    }
    EndBatchAt(batch, n, req_.spare_rows);
    if (n == 0) return false;
    after_ = KeyOf(batch.back());
    return true;
  }

  Status status() const override { return status_; }

 private:
  Row KeyOf(const Row& row) const {
    Row key;
    for (int p : key_pos_) key.push_back(row[p]);
    return key;
  }
  bool Stop(Error e) {
    status_ = std::unexpected(std::move(e));
    return false;
  }

  MysqlEngine* engine_;  // not owned; outlives the reader
  ScanRequest req_;
  std::vector<ColumnCodec> codecs_;  // parallel to req_.columns
  std::vector<bool> stored_bytes_;   // parallel to req_.columns: read CAST(c AS BINARY)
  std::vector<int> key_pos_;         // positions of req_.key in req_.columns
  std::string upper_;                // the inclusive upper-bound predicate, or ""
  std::optional<Row> after_;         // the last key returned: the next page starts after it
  BatchLimit limit_;                 // rows and bytes of a batch
  std::optional<MysqlResult> page_;  // the page being read, while rows of it are left
  size_t page_limit_ = 0;            // the LIMIT it was asked with
  size_t page_read_ = 0;             // its rows read so far
  bool done_ = false;
  Status status_;
};

}  // namespace

int TableInfo::IndexOf(std::string_view column) const {
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].name == column) return static_cast<int>(i);
  }
  for (size_t i = 0; i < columns.size(); ++i) {
    if (AsciiLower(columns[i].name) == AsciiLower(column)) return static_cast<int>(i);
  }
  return -1;
}

MysqlEngine::MysqlEngine(MysqlUri uri, MysqlConnection conn)
    : uri_(std::move(uri)), conn_(std::move(conn)) {
  quote_ = [this](std::string& out, std::string_view s) { conn_.AppendQuoted(out, s); };
}

Result<std::unique_ptr<MysqlEngine>> MysqlEngine::Open(const MysqlUri& uri) {
  TANDEM_ASSIGN_OR_RETURN(MysqlConnection conn, MysqlConnection::Connect(uri));
  std::unique_ptr<MysqlEngine> engine(new MysqlEngine(uri, std::move(conn)));
  TANDEM_RETURN_IF_ERROR(engine->PrepareSession());
  return engine;
}

Status MysqlEngine::Reconnect() {
  TANDEM_ASSIGN_OR_RETURN(MysqlConnection fresh, MysqlConnection::Connect(uri_));
  conn_ = std::move(fresh);  // closes the lost connection; an open transaction died with it
  in_txn_ = false;
  TANDEM_RETURN_IF_ERROR(PrepareSession());
  if (suppressed_) TANDEM_RETURN_IF_ERROR(SetCaptureSuppressed(true));
  return Ok();
}

Status MysqlEngine::PrepareSession() {
  std::string what = fmt::format("prepare session on {}", uri_.Redacted());
  server_version_ = mysql_get_server_version(conn_.get());
  const char* info = mysql_get_server_info(conn_.get());
  is_mariadb_ = info && std::strstr(info, "MariaDB") != nullptr;
  if (mysql_set_character_set(conn_.get(), "utf8mb4") != 0) {
    return std::unexpected(conn_.LastError(what));
  }
  TANDEM_RETURN_IF_ERROR(conn_.Exec(
      // net_write_timeout: a streamed scan (Scan with `exclusive`) leaves the server waiting
      // to send while the target writes what was read, which can take longer than the
      // default 60 s (a chunk redone row by row); the server would then drop the connection.
      fmt::format("SET SESSION time_zone = '+00:00', sql_mode = '{}', foreign_key_checks = 0, "
                  "net_write_timeout = 86400",
                  kSqlMode),
      what));
  TANDEM_ASSIGN_OR_RETURN(MysqlResult res, conn_.Query("SELECT @@max_allowed_packet", what));
  if (MYSQL_ROW row = res.Next()) {
    int64_t packet = FieldInt(row, 0, 1 << 22);
    // Half the packet leaves room for protocol overhead; beyond a few MiB bigger statements
    // stop paying (measured) and only hold more memory.
    max_statement_bytes_ = static_cast<size_t>(std::clamp<int64_t>(packet / 2, 64 << 10, 4 << 20));
  }
  return Ok();
}

Value MysqlEngine::Decode(const char* data, unsigned long len, const ColumnCodec& codec) const {
  if (!data) return Value::Null();
  return DecodeText(std::string_view(data, len), codec);
}

Status MysqlEngine::AppendValue(std::string& out, const Value& v) const {
  return AppendLiteral(out, v, quote_);
}

Result<std::vector<std::string>> MysqlEngine::Literals(const Row& values) const {
  std::vector<std::string> out(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    TANDEM_RETURN_IF_ERROR(AppendValue(out[i], values[i]));
  }
  return out;
}

Result<std::string> MysqlEngine::RangePredicate(const std::vector<std::string>& key,
                                                const KeyRange& range) {
  std::vector<std::string> conds;
  for (const auto* bound : {&range.lower, &range.upper}) {
    if (!*bound) continue;
    if ((*bound)->size() != key.size()) {
      return Fail(Code::kInvalidArgument, "key range bound has {} values for {} key columns",
                  (*bound)->size(), key.size());
    }
    TANDEM_ASSIGN_OR_RETURN(auto lits, Literals(**bound));
    conds.push_back(bound == &range.lower ? KeyAfter(key, lits) : KeyAtOrBefore(key, lits));
  }
  if (conds.empty()) return std::string();
  if (conds.size() == 1) return conds[0];
  return fmt::format("({}) AND ({})", conds[0], conds[1]);
}

// ---- introspection --------------------------------------------------------------------

Result<std::map<std::string, TableInfo>> MysqlEngine::LoadColumns(const std::string* only) {
  std::string what = "introspect columns";
  std::string table_filter = only ? " AND TABLE_NAME = " + conn_.Quoted(*only) : "";
  // MariaDB's JSON is longtext with a json_valid() check named after the column.
  std::set<std::pair<std::string, std::string>> json_columns;
  if (is_mariadb_) {
    auto checks = conn_.Query(
        "SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE FROM "
        "information_schema.CHECK_CONSTRAINTS "
        "WHERE CONSTRAINT_SCHEMA = DATABASE()" +
            table_filter,
        what);
    if (checks) {
      while (MYSQL_ROW row = checks->Next()) {
        const unsigned long* len = checks->lengths();
        std::string name = Field(row, len, 1);
        if (Field(row, len, 2) == "json_valid(" + QuoteIdent(name) + ")") {
          json_columns.emplace(Field(row, len, 0), name);
        }
      }
    } else if (checks.error().code != Code::kNotFound && checks.error().code != Code::kInternal) {
      return std::unexpected(checks.error());
    }
  }
  TANDEM_ASSIGN_OR_RETURN(
      MysqlResult res,
      conn_.Query("SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, "
                  "COLUMN_DEFAULT, EXTRA, COLUMN_COMMENT, CHARACTER_MAXIMUM_LENGTH, "
                  "NUMERIC_PRECISION, NUMERIC_SCALE, COLLATION_NAME, DATETIME_PRECISION, "
                  "CHARACTER_SET_NAME "
                  "FROM information_schema.COLUMNS "
                  "WHERE TABLE_SCHEMA = DATABASE()" +
                      table_filter + " ORDER BY TABLE_NAME, ORDINAL_POSITION",
                  what));
  std::map<std::string, TableInfo> out;
  while (MYSQL_ROW row = res.Next()) {
    const unsigned long* len = res.lengths();
    std::string table = Field(row, len, 0);
    // information_schema compares names case-insensitively; tables differ by case on Linux.
    if (only && table != *only) continue;
    ColumnInfo c;
    c.name = Field(row, len, 1);
    c.data_type = AsciiLower(Field(row, len, 2));
    c.column_type = Field(row, len, 3);
    c.nullable = Field(row, len, 4) == "YES";
    if (row[5]) c.default_value = Field(row, len, 5);
    c.extra = Field(row, len, 6);
    c.comment = Field(row, len, 7);
    c.char_max_length = FieldInt(row, 8);
    c.numeric_precision = FieldInt(row, 9);
    c.numeric_scale = FieldInt(row, 10);
    if (row[11]) c.collation = Field(row, len, 11);
    c.datetime_precision = FieldInt(row, 12);
    if (row[13]) c.charset = Field(row, len, 13);
    c.json_check = json_columns.contains({table, c.name});
    TableInfo& info = out[table];
    info.name = table;
    info.codecs.push_back(CodecFor(c));
    info.columns.push_back(std::move(c));
  }
  return out;
}

Result<const TableInfo*> MysqlEngine::Table(const std::string& table) {
  if (auto it = tables_.find(table); it != tables_.end()) return &it->second;
  TANDEM_ASSIGN_OR_RETURN(auto loaded, LoadColumns(&table));
  auto it = loaded.find(table);
  if (it == loaded.end()) {
    return Fail(Code::kNotFound, "table {} not found in MariaDB database {}", QuoteIdent(table),
                QuoteIdent(uri_.database));
  }
  return &tables_.insert_or_assign(table, std::move(it->second)).first->second;
}

Result<std::vector<const ColumnCodec*>> MysqlEngine::Codecs(
    const TableInfo& info, const std::vector<std::string>& columns) {
  std::vector<const ColumnCodec*> out;
  for (const auto& c : columns) {
    int i = info.IndexOf(c);
    if (i < 0) {
      return Fail(Code::kNotFound, "column {} not found in table {}", QuoteIdent(c),
                  QuoteIdent(info.name));
    }
    out.push_back(&info.codecs[i]);
  }
  return out;
}

Result<std::vector<TableSchema>> MysqlEngine::Introspect() {
  std::string what = "introspect";
  TANDEM_ASSIGN_OR_RETURN(
      MysqlResult names,
      conn_.Query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = "
                  "DATABASE() AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
                  what));
  std::vector<TableSchema> tables;
  std::map<std::string, size_t> index;
  while (MYSQL_ROW row = names.Next()) {
    std::string name = Field(row, names.lengths(), 0);
    if (IsOwnTable(name)) continue;  // tandem's own change tables
    index[name] = tables.size();
    TableSchema t;
    t.name = name;
    tables.push_back(std::move(t));
  }
  TANDEM_ASSIGN_OR_RETURN(auto columns, LoadColumns(nullptr));
  for (auto& [name, info] : columns) {
    auto it = index.find(name);
    if (it == index.end()) continue;  // a view
    for (const ColumnInfo& c : info.columns) {
      Column col = ColumnFor(c);
      std::string extra = AsciiLower(c.extra);
      col.identity = extra.find("auto_increment") != std::string::npos;
      col.on_update_current_timestamp = extra.find("on update current_timestamp") != std::string::npos;
      // MariaDB shows "NULL" for a nullable column without a default: no default at all.
      if (c.default_value && !col.identity && !col.generated &&
          !(col.nullable && AsciiLower(*c.default_value) == "null")) {
        col.default_value = ParsePortableDefault(*c.default_value);
      }
      tables[it->second].columns.push_back(std::move(col));
    }
    tables_.insert_or_assign(name, std::move(info));
  }

  TANDEM_ASSIGN_OR_RETURN(
      MysqlResult keys,
      conn_.Query("SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, c.CONSTRAINT_TYPE, k.COLUMN_NAME, "
                  "k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME "
                  "FROM information_schema.KEY_COLUMN_USAGE k "
                  "JOIN information_schema.TABLE_CONSTRAINTS c "
                  "ON c.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND c.TABLE_NAME = k.TABLE_NAME "
                  "AND c.CONSTRAINT_NAME = k.CONSTRAINT_NAME "
                  "WHERE k.TABLE_SCHEMA = DATABASE() "
                  "ORDER BY k.TABLE_NAME, c.CONSTRAINT_TYPE, k.CONSTRAINT_NAME, "
                  "k.ORDINAL_POSITION",
                  what));
  std::string last_table, last_constraint;
  while (MYSQL_ROW row = keys.Next()) {
    const unsigned long* len = keys.lengths();
    std::string table = Field(row, len, 0), constraint = Field(row, len, 1);
    std::string type = Field(row, len, 2), column = Field(row, len, 3);
    auto it = index.find(table);
    if (it == index.end()) continue;
    TableSchema& t = tables[it->second];
    bool same = table == last_table && constraint == last_constraint;
    last_table = table;
    last_constraint = constraint;
    if (type == "PRIMARY KEY") {
      t.primary_key.push_back(column);
    } else if (type == "UNIQUE") {
      if (!same) t.unique_keys.emplace_back();
      t.unique_keys.back().push_back(column);
    } else if (type == "FOREIGN KEY") {
      if (!same) {
        t.foreign_keys.emplace_back();
        t.foreign_keys.back().ref_table = Field(row, len, 4);
        t.foreign_keys.back().name = constraint;
      }
      t.foreign_keys.back().columns.push_back(column);
      t.foreign_keys.back().ref_columns.push_back(Field(row, len, 5));
    }
  }

  // CHECK constraints: MariaDB names the table in CHECK_CONSTRAINTS; MySQL needs the join.
  std::string checks_sql =
      is_mariadb_
          ? "SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE FROM "
            "information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() "
            "ORDER BY TABLE_NAME, CONSTRAINT_NAME"
          : "SELECT tc.TABLE_NAME, cc.CONSTRAINT_NAME, cc.CHECK_CLAUSE FROM "
            "information_schema.CHECK_CONSTRAINTS cc JOIN information_schema.TABLE_CONSTRAINTS "
            "tc ON tc.CONSTRAINT_SCHEMA = cc.CONSTRAINT_SCHEMA AND tc.CONSTRAINT_NAME = "
            "cc.CONSTRAINT_NAME AND tc.CONSTRAINT_TYPE = 'CHECK' WHERE cc.CONSTRAINT_SCHEMA = "
            "DATABASE() ORDER BY tc.TABLE_NAME, cc.CONSTRAINT_NAME";
  auto checks = conn_.Query(checks_sql, what);
  if (checks) {  // servers before CHECK_CONSTRAINTS (MariaDB < 10.2, MySQL < 8.0.16) have none
    while (MYSQL_ROW row = checks->Next()) {
      const unsigned long* len = checks->lengths();
      auto it = index.find(Field(row, len, 0));
      if (it == index.end()) continue;
      std::string name = Field(row, len, 1), clause = Field(row, len, 2);
      // MariaDB's own check behind a JSON column is the json type, not a user constraint.
      if (clause == "json_valid(" + QuoteIdent(name) + ")") continue;
      tables[it->second].checks.push_back(clause);
      tables[it->second].check_constraints.push_back({name, clause});
    }
  }

  TANDEM_ASSIGN_OR_RETURN(
      MysqlResult rules,
      conn_.Query("SELECT TABLE_NAME, CONSTRAINT_NAME, DELETE_RULE, UPDATE_RULE FROM "
                  "information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()",
                  what));
  while (MYSQL_ROW row = rules.Next()) {
    const unsigned long* len = rules.lengths();
    auto it = index.find(Field(row, len, 0));
    if (it == index.end()) continue;
    for (auto& fk : tables[it->second].foreign_keys) {
      if (fk.name != Field(row, len, 1)) continue;
      fk.on_delete = ParseFkAction(Field(row, len, 2)).value_or(FkAction::kNoAction);
      fk.on_update = ParseFkAction(Field(row, len, 3)).value_or(FkAction::kNoAction);
    }
  }

  // Secondary indexes: STATISTICS has one row per part, with its prefix length (SUB_PART) and
  // order (COLLATION 'D' for a descending part, MariaDB 10.8+).
  TANDEM_ASSIGN_OR_RETURN(
      MysqlResult stats,
      conn_.Query("SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, SUB_PART, COLLATION, "
                  "INDEX_TYPE FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() "
                  "AND INDEX_NAME <> 'PRIMARY' ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
                  what));
  std::string last_index;
  last_table.clear();
  while (MYSQL_ROW row = stats.Next()) {
    const unsigned long* len = stats.lengths();
    std::string table = Field(row, len, 0), name = Field(row, len, 1);
    auto it = index.find(table);
    if (it == index.end()) continue;
    TableSchema& t = tables[it->second];
    if (table != last_table || name != last_index) {
      Index ix;
      ix.name = name;
      ix.unique = Field(row, len, 2) == "0";
      ix.constraint = ix.unique;
      std::string type = AsciiLower(Field(row, len, 6));
      if (type != "btree" && type != "hash") ix.method = type;  // fulltext, spatial
      t.indexes.push_back(std::move(ix));
    }
    last_table = table;
    last_index = name;
    IndexPart p;
    p.column = Field(row, len, 3);
    p.prefix_length = static_cast<int>(FieldInt(row, 4, 0));
    p.descending = Field(row, len, 5) == "D";
    t.indexes.back().parts.push_back(std::move(p));
  }
  return tables;
}

Result<std::vector<UnmigratedObject>> MysqlEngine::ListUnmigrated() {
  std::string what = "list views, triggers, routines and events";
  TANDEM_ASSIGN_OR_RETURN(
      MysqlResult res,
      conn_.Query("SELECT 'view', TABLE_NAME, '' FROM information_schema.VIEWS WHERE "
                  "TABLE_SCHEMA = DATABASE() "
                  "UNION ALL SELECT 'trigger', TRIGGER_NAME, EVENT_OBJECT_TABLE FROM "
                  "information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND "
                  "TRIGGER_NAME NOT LIKE '\\_tandem\\_%' ESCAPE '\\' "
                  "UNION ALL SELECT LOWER(ROUTINE_TYPE), ROUTINE_NAME, '' FROM "
                  "information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() "
                  "UNION ALL SELECT 'event', EVENT_NAME, '' FROM information_schema.EVENTS WHERE "
                  "EVENT_SCHEMA = DATABASE() ORDER BY 1, 2",
                  what));
  std::vector<UnmigratedObject> out;
  while (MYSQL_ROW row = res.Next()) {
    const unsigned long* len = res.lengths();
    out.push_back({Field(row, len, 0), Field(row, len, 1), Field(row, len, 2)});
  }
  return out;
}

// ---- reading --------------------------------------------------------------------------

namespace {

// A table without a key: one SELECT streamed from the server (mysql_use_result), a consistent
// read of InnoDB for the whole statement.
class MysqlStreamReader : public RowReader {
 public:
  MysqlStreamReader(MysqlEngine* engine, std::string what, MysqlResult res,
                    std::vector<ColumnCodec> codecs, const ScanRequest& req)
      : engine_(engine),
        what_(std::move(what)),
        res_(std::move(res)),
        codecs_(std::move(codecs)),
        limit_(req),
        spare_(req.spare_rows) {}

  bool Next(std::vector<Row>& batch) override {
    size_t n = 0;
    limit_.Start();
    while (!done_ && !limit_.Full()) {
      MYSQL_ROW row = res_.Next();
      if (!row) {
        done_ = true;
        status_ = engine_->connection().StreamStatus(what_);
        break;
      }
      const unsigned long* len = res_.lengths();
      Row& out = BatchRowAt(batch, n++, spare_);
      DecodeRowInto(row, len, codecs_, out);
      limit_.Add(out);
    }
    EndBatchAt(batch, n, spare_);
    if (!status_) batch.clear();
    return !batch.empty();
  }
  Status status() const override { return status_; }

 private:
  MysqlEngine* engine_;
  std::string what_;
  MysqlResult res_;
  std::vector<ColumnCodec> codecs_;
  BatchLimit limit_;
  std::vector<Row>* spare_;  // ScanRequest::spare_rows
  bool done_ = false;
  Status status_;
};

}  // namespace

Result<std::unique_ptr<RowReader>> MysqlEngine::Scan(const ScanRequest& req) {
  if (req.key.empty() && !req.range.lower && !req.range.upper && req.exclusive) {
    TANDEM_ASSIGN_OR_RETURN(const TableInfo* info, Table(req.table));
    TANDEM_ASSIGN_OR_RETURN(auto codecs, Codecs(*info, req.columns));
    std::vector<ColumnCodec> copies;
    for (const ColumnCodec* c : codecs) copies.push_back(*c);
    std::string what = fmt::format("scan {}", QuoteIdent(req.table));
    TANDEM_ASSIGN_OR_RETURN(
        MysqlResult res,
        conn_.Stream(fmt::format("SELECT {} FROM {}", JoinIdents(req.columns), QuoteIdent(req.table)),
                     what));
    return std::unique_ptr<RowReader>(
        new MysqlStreamReader(this, std::move(what), std::move(res), std::move(copies), req));
  }
  if (req.key.empty()) {
    return Fail(Code::kInvalidArgument, "scan {}: no key columns to page by",
                QuoteIdent(req.table));
  }
  TANDEM_ASSIGN_OR_RETURN(const TableInfo* info, Table(req.table));
  TANDEM_ASSIGN_OR_RETURN(auto codecs, Codecs(*info, req.columns));
  std::vector<int> key_pos;
  for (const auto& k : req.key) {
    auto it = std::find(req.columns.begin(), req.columns.end(), k);
    if (it == req.columns.end()) {
      return Fail(Code::kInvalidArgument, "scan {}: key column {} is not among the columns read",
                  QuoteIdent(req.table), QuoteIdent(k));
    }
    key_pos.push_back(static_cast<int>(it - req.columns.begin()));
  }
  if (req.range.lower && req.range.lower->size() != req.key.size()) {
    return Fail(Code::kInvalidArgument, "scan {}: lower bound has {} values for {} key columns",
                QuoteIdent(req.table), req.range.lower->size(), req.key.size());
  }
  std::vector<ColumnCodec> copies;
  for (const ColumnCodec* c : codecs) copies.push_back(*c);
  if (req.exclusive) {
    // The whole range as one statement, streamed (mysql_use_result): one round trip instead
    // of one per page, and the server sends rows while this side decodes the ones before
    // (a stored page made each side wait for the other: docs/decisions.md, "Speed").
    TANDEM_ASSIGN_OR_RETURN(std::string pred, RangePredicate(req.key, req.range));
    std::string what = fmt::format("scan {}", QuoteIdent(req.table));
    TANDEM_ASSIGN_OR_RETURN(
        MysqlResult res,
        conn_.Stream(SelectSql(req.table, req.columns, Where({pred}), req.key, 0,
                               StoredBytes(copies)),
                     what));
    return std::unique_ptr<RowReader>(new MysqlStreamReader(this, std::move(what), std::move(res),
                                                            std::move(copies), req));
  }
  KeyRange upper_only;
  upper_only.upper = req.range.upper;
  TANDEM_ASSIGN_OR_RETURN(std::string upper, RangePredicate(req.key, upper_only));
  return std::make_unique<MysqlRowReader>(this, req, std::move(copies), std::move(key_pos),
                                          std::move(upper));
}

Result<std::vector<Row>> MysqlEngine::Split(const std::string& table,
                                            const std::vector<std::string>& key, int n) {
  std::vector<Row> out;
  if (n <= 1) return out;
  if (key.empty()) return Fail(Code::kInvalidArgument, "split {}: no key", QuoteIdent(table));
  TANDEM_ASSIGN_OR_RETURN(const TableInfo* info, Table(table));
  TANDEM_ASSIGN_OR_RETURN(auto codecs, Codecs(*info, key));
  std::string what = fmt::format("split {}", QuoteIdent(table));
  TANDEM_ASSIGN_OR_RETURN(auto even, SplitEvenly(table, key, *codecs[0], n));
  if (even) return std::move(*even);
  // One streamed pass over the key in order, keeping every step-th key; when more than 4n
  // are kept, every other one is dropped and the step doubles. Memory stays O(n) whatever the
  // table size, and the boundaries land within one step of the exact quantiles.
  TANDEM_ASSIGN_OR_RETURN(MysqlResult res, conn_.Stream(SelectSql(table, key, "", key, 0, StoredBytes(codecs)), what));
  std::vector<Row> samples;  // samples[i] is the key of row number (i + 1) * step
  int64_t step = 1, count = 0;
  while (MYSQL_ROW row = res.Next()) {
    ++count;
    if (count % step != 0) continue;
    const unsigned long* len = res.lengths();
    Row k;
    for (unsigned i = 0; i < codecs.size(); ++i) k.push_back(Decode(row[i], len[i], *codecs[i]));
    samples.push_back(std::move(k));
    if (samples.size() >= static_cast<size_t>(4 * n)) {
      std::vector<Row> kept;
      for (size_t i = 1; i < samples.size(); i += 2) kept.push_back(std::move(samples[i]));
      samples = std::move(kept);
      step *= 2;
    }
  }
  TANDEM_RETURN_IF_ERROR(conn_.StreamStatus(what));
  int64_t last_index = -1;
  for (int j = 1; j < n; ++j) {
    double rank = static_cast<double>(count) * j / n;  // rows at or before boundary j
    int64_t idx = static_cast<int64_t>(rank / static_cast<double>(step) + 0.5) - 1;
    idx = std::clamp<int64_t>(idx, 0, static_cast<int64_t>(samples.size()) - 1);
    if (samples.empty() || idx <= last_index || (idx + 1) * step >= count) continue;
    out.push_back(samples[idx]);
    last_index = idx;
  }
  return out;
}

Result<std::optional<std::vector<Row>>> MysqlEngine::SplitEvenly(
    const std::string& table, const std::vector<std::string>& key, const ColumnCodec& codec,
    int n) {
  using Out = std::optional<std::vector<Row>>;
  if (key.size() != 1 || codec.type.kind != Kind::kInt || codec.wire != Wire::kText) return Out();
  std::string what = fmt::format("split {}", QuoteIdent(table));
  TANDEM_ASSIGN_OR_RETURN(int64_t estimate, StatisticsRows(table));
  if (estimate < kEstimateRowsFrom) return Out();  // small: the streamed pass is cheap
  // MIN and MAX of the primary key come from the ends of its index.
  TANDEM_ASSIGN_OR_RETURN(
      MysqlResult res,
      conn_.Query(fmt::format("SELECT MIN({0}), MAX({0}) FROM {1}", QuoteIdent(key[0]),
                              QuoteIdent(table)),
                  what));
  MYSQL_ROW row = res.Next();
  if (!row || !row[0] || !row[1]) return Out();
  int64_t lo = 0, hi = 0;
  if (std::from_chars(row[0], row[0] + std::strlen(row[0]), lo).ec != std::errc() ||
      std::from_chars(row[1], row[1] + std::strlen(row[1]), hi).ec != std::errc() || hi < lo) {
    return Out();
  }
  // Distinct integers: a range of w values holds at most w rows. When the key values fill at
  // least half of [lo, hi] (by the statistics, which may be off by tens of percent), equal
  // widths give chunks of at most about twice the intended rows, whatever the distribution.
  __int128 span = static_cast<__int128>(hi) - lo + 1;
  if (span > 2 * static_cast<__int128>(estimate)) return Out();
  std::vector<Row> out;
  __int128 last = static_cast<__int128>(lo) - 1;
  for (int i = 1; i < n; ++i) {
    __int128 b = static_cast<__int128>(lo) - 1 + (span * i) / n;
    if (b <= last || b >= hi) continue;
    out.push_back(Row{Value::Int(static_cast<int64_t>(b))});
    last = b;
  }
  return Out(std::move(out));
}

Result<int64_t> MysqlEngine::StatisticsRows(const std::string& table) {
  TANDEM_ASSIGN_OR_RETURN(
      MysqlResult res,
      conn_.Query(fmt::format("SELECT TABLE_ROWS FROM information_schema.TABLES "
                              "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = {}",
                              conn_.Quoted(table)),
                  fmt::format("estimate rows of {}", QuoteIdent(table))));
  MYSQL_ROW row = res.Next();
  return row ? FieldInt(row, 0, -1) : -1;
}

Result<int64_t> MysqlEngine::EstimateRows(const std::string& table,
                                          const std::vector<std::string>& key) {
  // InnoDB's statistics (within some tens of percent): counting a large InnoDB table reads
  // every page of it.
  TANDEM_ASSIGN_OR_RETURN(int64_t estimate, StatisticsRows(table));
  if (estimate >= kEstimateRowsFrom) return estimate;
  return Count(table, key, KeyRange{});
}

Result<int64_t> MysqlEngine::Count(const std::string& table, const std::vector<std::string>& key,
                                   const KeyRange& range) {
  TANDEM_ASSIGN_OR_RETURN(std::string pred, RangePredicate(key, range));
  TANDEM_ASSIGN_OR_RETURN(MysqlResult res, conn_.Query(CountSql(table, Where({pred})),
                                                       fmt::format("count {}", QuoteIdent(table))));
  MYSQL_ROW row = res.Next();
  return row ? FieldInt(row, 0, 0) : 0;
}

Result<std::string> MysqlEngine::DigestForm(const std::string& table,
                                            const std::vector<std::string>& columns) {
  TANDEM_ASSIGN_OR_RETURN(const TableInfo* info, Table(table));
  std::string form = "mysql: bit_xor(md5(concat_ws(quote(binary)))); columns";
  for (const auto& c : columns) {
    int i = info->IndexOf(c);
    if (i < 0) return std::string();
    const ColumnInfo& col = info->columns[static_cast<size_t>(i)];
    // The character set decides a text's stored bytes (latin1 'Ã©' is utf8mb4 'é'); the
    // collation does not change them.
    form += fmt::format(" {} {},", col.column_type, col.charset);
  }
  return form;
}

Result<Engine::RangeDigest> MysqlEngine::DigestRange(const std::string& table,
                                                     const std::vector<std::string>& columns,
                                                     const std::vector<std::string>& key,
                                                     const KeyRange& range) {
  TANDEM_ASSIGN_OR_RETURN(std::string pred, RangePredicate(key, range));
  TANDEM_ASSIGN_OR_RETURN(MysqlResult res,
                          conn_.Query(DigestSql(table, columns, Where({pred})),
                                      fmt::format("digest {}", QuoteIdent(table))));
  MYSQL_ROW row = res.Next();
  if (!row || !row[1] || !row[2]) {
    return Fail(Code::kInternal, "digest {}: unexpected result", QuoteIdent(table));
  }
  RangeDigest d;
  d.rows = FieldInt(row, 0, 0);
  d.digest = fmt::format("{}/{}", row[1], row[2]);
  return d;
}

Result<std::vector<SequenceColumn>> MysqlEngine::SequenceColumns(const std::string& table) {
  std::string what = fmt::format("read auto_increment of {}", QuoteIdent(table));
  TANDEM_ASSIGN_OR_RETURN(const TableInfo* info, Table(table));
  (void)info;  // kNotFound for a missing table
  TANDEM_ASSIGN_OR_RETURN(MysqlResult res, conn_.Query(AutoIncrementSql(table), what));
  std::vector<SequenceColumn> out;
  while (MYSQL_ROW row = res.Next()) {
    SequenceColumn c;
    c.table = table;
    c.column = row[0] ? row[0] : "";
    c.kind = SequenceKind::kAutoIncrement;
    c.sequence = table;
    c.next = FieldInt(row, 1, 1);
    out.push_back(std::move(c));
  }
  return out;
}

Result<std::optional<int64_t>> MysqlEngine::MaxInteger(const std::string& table,
                                                       const std::string& column) {
  std::string what = fmt::format("read max({}) of {}", QuoteIdent(column), QuoteIdent(table));
  TANDEM_ASSIGN_OR_RETURN(const TableInfo* info, Table(table));
  int i = info->IndexOf(column);
  if (i < 0) return Fail(Code::kNotFound, "{}: no such column", what);
  const PortableType& type = info->codecs[i].type;
  bool integral = type.kind == Kind::kInt || (type.kind == Kind::kDecimal && type.scale == 0);
  if (!integral) {
    return Fail(Code::kInvalidArgument, "{}: column {} is not an integer column", what,
                QuoteIdent(column));
  }
  TANDEM_ASSIGN_OR_RETURN(MysqlResult res, conn_.Query(MaxValueSql(table, info->columns[i].name), what));
  MYSQL_ROW row = res.Next();
  if (!row || !row[0]) return std::optional<int64_t>();
  int64_t v = 0;
  std::string_view text = row[0];
  auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (r.ec != std::errc() || r.ptr != text.data() + text.size()) {
    return Fail(Code::kInvalidArgument, "{}: max '{}' is not a 64-bit integer", what, text);
  }
  return std::optional<int64_t>(v);
}

Result<int64_t> MysqlEngine::AdvanceSequence(const SequenceColumn& seq, int64_t next) {
  std::string what = fmt::format("move auto_increment of {}", QuoteIdent(seq.table));
  if (in_txn_) return Fail(Code::kFailedPrecondition, "{}: a transaction is open", what);
  TANDEM_ASSIGN_OR_RETURN(auto now, SequenceColumns(seq.table));
  if (now.empty()) return Fail(Code::kNotFound, "{}: the table has no AUTO_INCREMENT column", what);
  if (now[0].next >= next) return now[0].next;
  TANDEM_RETURN_IF_ERROR(conn_.Exec(SetAutoIncrementSql(seq.table, next), what));
  TANDEM_ASSIGN_OR_RETURN(now, SequenceColumns(seq.table));
  if (now.empty()) return Fail(Code::kNotFound, "{}: the AUTO_INCREMENT column is gone", what);
  return now[0].next;
}

Result<std::vector<Row>> MysqlEngine::Fetch(const std::string& table,
                                            const std::vector<std::string>& columns,
                                            const std::vector<std::string>& key,
                                            const std::vector<Row>& keys) {
  std::vector<Row> out;
  if (keys.empty()) return out;
  if (key.empty()) return Fail(Code::kInvalidArgument, "fetch {}: no key", QuoteIdent(table));
  TANDEM_ASSIGN_OR_RETURN(const TableInfo* info, Table(table));
  TANDEM_ASSIGN_OR_RETURN(auto codecs, Codecs(*info, columns));
  std::string what = fmt::format("fetch {}", QuoteIdent(table));
  for (size_t start = 0; start < keys.size(); start += kKeysPerStatement) {
    size_t end = std::min(keys.size(), start + kKeysPerStatement);
    std::vector<std::vector<std::string>> tuples;
    for (size_t i = start; i < end; ++i) {
      if (keys[i].size() != key.size()) {
        return Fail(Code::kInvalidArgument, "{}: key has {} values for {} key columns", what,
                    keys[i].size(), key.size());
      }
      TANDEM_ASSIGN_OR_RETURN(auto lits, Literals(keys[i]));
      tuples.push_back(std::move(lits));
    }
    TANDEM_ASSIGN_OR_RETURN(
        MysqlResult res,
        conn_.Query(SelectSql(table, columns, Where({KeyIn(key, tuples)}), {}, 0, StoredBytes(codecs)),
                    what));
    while (MYSQL_ROW row = res.Next()) {
      const unsigned long* len = res.lengths();
      Row r;
      for (unsigned i = 0; i < codecs.size(); ++i) r.push_back(Decode(row[i], len[i], *codecs[i]));
      out.push_back(std::move(r));
    }
  }
  return out;
}

// ---- writing --------------------------------------------------------------------------

template <typename F>
Status MysqlEngine::Atomically(std::string_view what, F&& body) {
  if (in_txn_) {
    // Inside the caller's transaction a savepoint keeps a failed call from leaving part of
    // itself behind (a LOAD DATA that hit a warning has already inserted rows).
    TANDEM_RETURN_IF_ERROR(conn_.Exec("SAVEPOINT `tandem_write`", what));
    Status st = body();
    if (!st) {
      // Fails harmlessly when a deadlock already rolled the whole transaction back.
      (void)conn_.Exec("ROLLBACK TO SAVEPOINT `tandem_write`", what);
      return st;
    }
    TANDEM_RETURN_IF_ERROR(conn_.Exec("RELEASE SAVEPOINT `tandem_write`", what));
    return Ok();
  }
  TANDEM_RETURN_IF_ERROR(conn_.Exec("START TRANSACTION", what));
  Status st = body();
  if (!st) {
    (void)conn_.Exec("ROLLBACK", what);  // the body's error is the one worth reporting
    return st;
  }
  TANDEM_RETURN_IF_ERROR(conn_.Exec("COMMIT", what));
  return Ok();
}

namespace {

// " (row key (5))" for a server message ending in "at row N", N counting the rows of the
// failing statement from `first`; "" when the message names no row.
std::string RowKeyNote(std::string_view msg, const std::vector<Row>& rows, size_t first,
                       const std::vector<int>& key_pos) {
  size_t at = msg.rfind(" at row ");
  if (at == std::string_view::npos || key_pos.empty()) return "";
  size_t n = 0;
  std::string_view digits = msg.substr(at + 8);
  auto r = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (r.ec != std::errc() || n < 1 || first + n - 1 >= rows.size()) return "";
  const Row& row = rows[first + n - 1];
  std::string k;
  for (size_t i = 0; i < key_pos.size(); ++i) k += (i ? ", " : "") + row[key_pos[i]].ToDisplay();
  return fmt::format(" (row key ({}))", k);
}

}  // namespace

Error MysqlEngine::WriteError(const std::vector<std::string>& key, const std::vector<Row>& rows,
                              size_t first_row, const std::vector<int>& key_pos, WriteMode mode,
                              std::string_view what) {
  unsigned err = conn_.last_errno();
  Error e = conn_.LastError(what);
  std::string_view msg = mysql_error(conn_.get());
  e.message += RowKeyNote(msg, rows, first_row, key_pos);
  // The upsert guard (see InsertTail) speaks through a NULL key.
  if (err == 1048 && mode != WriteMode::kInsert && !key.empty() &&
      msg.find("'" + key[0] + "'") != std::string_view::npos) {
    e.message += "; the row clashes with a different row on another unique key";
  }
  return e;
}

Status MysqlEngine::CheckWarnings(const std::vector<Row>& rows, size_t first_row,
                                  const std::vector<int>& key_pos, std::string_view what) {
  if (conn_.warning_count() == 0) return Ok();
  TANDEM_ASSIGN_OR_RETURN(MysqlResult w, conn_.Query("SHOW WARNINGS", what));
  while (MYSQL_ROW row = w.Next()) {
    const unsigned long* len = w.lengths();
    // Notes (a statement unsafe for statement-based binlog...) are what INSERT in strict mode
    // accepts too, except 1265: the server rounded or cut a value to fit (a decimal with more
    // fraction digits than the column's 30, which CastTo has not rounded for an unbounded
    // decimal). That would be a silent change: it fails the write like a warning.
    if (Field(row, len, 0) == "Note" && FieldInt(row, 1, 0) != 1265) continue;
    std::string msg = Field(row, len, 2);
    return Fail(CodeForMysqlError(static_cast<unsigned>(FieldInt(row, 1, 0))),
                "{}: MariaDB {} {}: {}{}", what, Field(row, len, 0), Field(row, len, 1), msg,
                RowKeyNote(msg, rows, first_row, key_pos));
  }
  return Ok();
}

Status MysqlEngine::Write(const std::string& table, const std::vector<std::string>& columns,
                          const std::vector<std::string>& key, const std::vector<Row>& rows,
                          WriteMode mode) {
  if (rows.empty()) return Ok();
  std::string what = fmt::format("write {}", QuoteIdent(table));
  std::vector<int> key_pos;
  for (const auto& k : key) {
    auto it = std::find(columns.begin(), columns.end(), k);
    if (it == columns.end()) {
      if (mode == WriteMode::kInsert) {
        key_pos.clear();
        break;
      }
      return Fail(Code::kInvalidArgument, "{}: key column {} is not among the columns written",
                  what, QuoteIdent(k));
    }
    key_pos.push_back(static_cast<int>(it - columns.begin()));
  }
  if (mode != WriteMode::kInsert && key.empty()) {
    return Fail(Code::kInvalidArgument, "{}: upsert needs key columns", what);
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].size() != columns.size()) {
      return Fail(Code::kInvalidArgument, "{}: row {} has {} values for {} columns", what, i,
                  rows[i].size(), columns.size());
    }
  }
  if (mode == WriteMode::kInsert && load_data_ && rows.size() >= kLoadDataMinRows) {
    auto st = Atomically(what, [&] { return LoadRows(table, columns, rows, key_pos, what); });
    if (st || !LoadDataRefused(conn_.last_errno())) return st;
    load_data_ = false;  // the server (or an old client) refuses LOCAL: INSERT from now on
  }
  return Atomically(what,
                    [&] { return InsertRows(table, columns, key, rows, key_pos, mode, what); });
}

Status MysqlEngine::InsertRows(const std::string& table, const std::vector<std::string>& columns,
                               const std::vector<std::string>& key, const std::vector<Row>& rows,
                               const std::vector<int>& key_pos, WriteMode mode,
                               std::string_view what) {
  const std::string head = InsertHead(table, columns);
  const std::string tail = InsertTail(columns, key, mode);
  std::string sql, tuple;
  sql.reserve(max_statement_bytes_ + 4096);
  size_t first = 0, in_statement = 0;
  auto flush = [&]() -> Status {
    if (in_statement == 0) return Ok();
    sql += tail;
    if (!conn_.Exec(sql, what)) {
      return std::unexpected(WriteError(key, rows, first, key_pos, mode, what));
    }
    in_statement = 0;
    return CheckWarnings(rows, first, key_pos, what);
  };
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& row = rows[i];
    tuple.clear();
    tuple += '(';
    for (size_t c = 0; c < row.size(); ++c) {
      if (c) tuple += ',';
      if (auto st = AppendValue(tuple, row[c]); !st) {
        return Fail(Code::kInvalidArgument, "{}: column {}: {}", what, QuoteIdent(columns[c]),
                    st.error().message);
      }
    }
    tuple += ')';
    if (in_statement > 0 && sql.size() + 1 + tuple.size() + tail.size() > max_statement_bytes_) {
      TANDEM_RETURN_IF_ERROR(flush());
    }
    if (in_statement == 0) {
      sql = head;
      first = i;
    } else {
      sql += ',';
    }
    sql += tuple;
    ++in_statement;
  }
  return flush();
}

namespace {

// Feeds LOAD DATA LOCAL INFILE from memory instead of a file, encoding rows as the client
// library asks for more: the server parses one packet while the next is being encoded.
struct InfileSource {
  std::function<Status(size_t row, std::string& out)> encode;  // appends one row's line
  size_t rows = 0;
  size_t next = 0;      // the next row to encode
  std::string pending;  // encoded, not yet handed over
  size_t pos = 0;       // how much of `pending` was handed over
  std::optional<Error> error;
};

int InfileInit(void** ptr, const char*, void* userdata) {
  *ptr = userdata;
  return 0;
}

int InfileRead(void* ptr, char* buf, unsigned int len) {
  auto* src = static_cast<InfileSource*>(ptr);
  if (src->pos == src->pending.size()) {
    src->pending.clear();
    src->pos = 0;
  }
  while (src->pending.size() - src->pos < len && src->next < src->rows) {
    if (auto st = src->encode(src->next++, src->pending); !st) {
      src->error = std::move(st.error());
      return -1;  // the statement fails; the caller reports `error`
    }
  }
  size_t n = std::min<size_t>(len, src->pending.size() - src->pos);
  std::memcpy(buf, src->pending.data() + src->pos, n);
  src->pos += n;
  return static_cast<int>(n);
}

void InfileEnd(void*) {}

int InfileError(void*, char* msg, unsigned int len) {
  std::snprintf(msg, len, "tandem in-memory infile failed");
  return 2000;  // CR_UNKNOWN_ERROR
}

void AppendHex(std::string& out, std::string_view bytes) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
}

// One field in LOAD DATA's escaped, tab-separated form. Bytes columns take hex (UNHEXed by
// the statement) whatever the value's kind, so text bound for a blob lands byte for byte.
Status AppendTsv(std::string& out, const Value& v, bool bytes_column) {
  // Runs without special characters are appended whole.
  auto escaped = [&](std::string_view s) {
    size_t start = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      const char* esc;
      switch (s[i]) {
        case '\\': esc = "\\\\"; break;
        case '\t': esc = "\\t"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\0': esc = "\\0"; break;
        default: continue;
      }
      out.append(s.data() + start, i - start);
      out.append(esc, 2);
      start = i + 1;
    }
    out.append(s.data() + start, s.size() - start);
  };
  bool has_str = v.kind() == Kind::kBytes || v.kind() == Kind::kText || v.kind() == Kind::kJson ||
                 v.kind() == Kind::kDecimal;
  switch (v.kind()) {
    case Kind::kNull:
      out += "\\N";
      return Ok();
    case Kind::kBool:
      out += v.as_bool() ? '1' : '0';
      return Ok();
    case Kind::kFloat:
      if (!std::isfinite(v.as_float())) {
        return Fail(Code::kInvalidArgument, "MariaDB cannot store the float {}", v.ToString());
      }
      if (v.as_float() == 0 && std::signbit(v.as_float())) {
        return Fail(Code::kInvalidArgument,
                    "MariaDB cannot store the float -0 (a DOUBLE column keeps it as 0)");
      }
      break;
    case Kind::kTimestampTz:
      out += FormatTimestamp(v.as_int());
      return Ok();
    // Numbers and dates hold no character LOAD DATA escapes: appended as they print, without
    // the escape pass and the ToString copy (AppendTsv was the top item of a MariaDB
    // target's client profile).
    case Kind::kInt:
      if (!bytes_column) {
        char buf[24];
        auto r = std::to_chars(buf, buf + sizeof buf, v.as_int());
        out.append(buf, r.ptr);
        return Ok();
      }
      break;
    case Kind::kDate:
      if (!bytes_column) {
        out += FormatDate(static_cast<int32_t>(v.as_int()));
        return Ok();
      }
      break;
    case Kind::kTimestamp:
      if (!bytes_column) {
        out += FormatTimestamp(v.as_int());
        return Ok();
      }
      break;
    case Kind::kUuid:
      if (!bytes_column) {
        out += FormatUuid(v.as_str());
        return Ok();
      }
      break;
    default:
      break;
  }
  if (bytes_column) {
    AppendHex(out, has_str || v.kind() == Kind::kUuid ? v.as_str() : v.ToString());
  } else if (has_str) {
    escaped(v.as_str());  // bytes into a text column land raw, as X'..' would put them
  } else {
    escaped(v.ToString());
  }
  return Ok();
}

}  // namespace

bool MysqlEngine::LoadDataRefused(unsigned err) {
  // Refusals that come before any row is read, so falling back to INSERT is safe.
  return err == 1148 || err == 3948 || err == 2068 || err == 4166;
}

Status MysqlEngine::LoadRows(const std::string& table, const std::vector<std::string>& columns,
                             const std::vector<Row>& rows, const std::vector<int>& key_pos,
                             std::string_view what) {
  TANDEM_ASSIGN_OR_RETURN(const TableInfo* info, Table(table));
  TANDEM_ASSIGN_OR_RETURN(auto codecs, Codecs(*info, columns));
  std::vector<bool> is_bytes;
  for (const ColumnCodec* c : codecs) is_bytes.push_back(c->is_bytes);
  InfileSource src;
  src.rows = rows.size();
  src.encode = [&](size_t r, std::string& out) -> Status {
    const Row& row = rows[r];
    for (size_t c = 0; c < row.size(); ++c) {
      if (c) out += '\t';
      if (auto st = AppendTsv(out, row[c], is_bytes[c]); !st) {
        return Fail(Code::kInvalidArgument, "{}: column {}: {}", what, QuoteIdent(columns[c]),
                    st.error().message);
      }
    }
    out += '\n';
    return Ok();
  };
  mysql_set_local_infile_handler(conn_.get(), InfileInit, InfileRead, InfileEnd, InfileError, &src);
  auto n = conn_.Exec(LoadDataSql(table, columns, is_bytes), what);
  mysql_set_local_infile_default(conn_.get());
  if (src.error) return std::unexpected(std::move(*src.error));  // a value MariaDB cannot take
  if (!n) return std::unexpected(n.error());
  // LOCAL turns duplicate keys and bad values into warnings (the server cannot stop the
  // client mid-file), so a warning fails the whole call, as the error would for INSERT.
  TANDEM_RETURN_IF_ERROR(CheckWarnings(rows, 0, key_pos, what));
  if (*n != rows.size()) {
    return Fail(Code::kInvalidArgument, "{}: {} of {} rows loaded", what, *n, rows.size());
  }
  return Ok();
}

Status MysqlEngine::Remove(const std::string& table, const std::vector<std::string>& key,
                           const std::vector<Row>& keys) {
  if (keys.empty()) return Ok();
  if (key.empty()) return Fail(Code::kInvalidArgument, "remove {}: no key", QuoteIdent(table));
  std::string what = fmt::format("remove from {}", QuoteIdent(table));
  return Atomically(what, [&]() -> Status {
    for (size_t start = 0; start < keys.size(); start += kKeysPerStatement) {
      size_t end = std::min(keys.size(), start + kKeysPerStatement);
      std::vector<std::vector<std::string>> tuples;
      for (size_t i = start; i < end; ++i) {
        if (keys[i].size() != key.size()) {
          return Fail(Code::kInvalidArgument, "{}: key has {} values for {} key columns", what,
                      keys[i].size(), key.size());
        }
        TANDEM_ASSIGN_OR_RETURN(auto lits, Literals(keys[i]));
        tuples.push_back(std::move(lits));
      }
      TANDEM_RETURN_IF_ERROR(conn_.Exec(DeleteSql(table, Where({KeyIn(key, tuples)})), what));
    }
    return Ok();
  });
}

Status MysqlEngine::RemoveRange(const std::string& table, const std::vector<std::string>& key,
                                const KeyRange& range) {
  TANDEM_ASSIGN_OR_RETURN(std::string pred, RangePredicate(key, range));
  std::string what = fmt::format("remove range from {}", QuoteIdent(table));
  // A range holding no row (the first attempt of every chunk) is left alone. Under REPEATABLE
  // READ a DELETE of it locks the gap up to the next row -- into an empty table, everything
  // above the range -- so a second job's chunk could not insert until this one committed, and
  // `--jobs` into MariaDB ran its chunks one at a time. The non-locking read sees every row
  // that can be there: rows of this range come only from earlier, committed attempts of the
  // same chunk (the chunk rule keeps every other writer out of a range being copied).
  if (!key.empty()) {
    TANDEM_ASSIGN_OR_RETURN(MysqlResult any,
                            conn_.Query(SelectSql(table, {key[0]}, Where({pred}), {}, 1), what));
    if (!any.Next()) return Ok();
  }
  auto r = conn_.Exec(DeleteSql(table, Where({pred})), what);
  if (!r) return std::unexpected(r.error());
  return Ok();
}

Result<std::string> MysqlEngine::ImagePredicate(const std::string& table,
                                                const std::vector<std::string>& columns,
                                                const Row& image) {
  if (image.size() != columns.size()) {
    return Fail(Code::kInvalidArgument, "{}: an image has {} values for {} columns",
                QuoteIdent(table), image.size(), columns.size());
  }
  TANDEM_ASSIGN_OR_RETURN(const TableInfo* info, Table(table));
  TANDEM_ASSIGN_OR_RETURN(auto codecs, Codecs(*info, columns));
  TANDEM_ASSIGN_OR_RETURN(auto lits, Literals(image));
  std::string out;
  for (size_t i = 0; i < columns.size(); ++i) {
    if (i) out += " AND ";
    // Text is compared as bytes: under a _ci or PAD SPACE collation 'a' = 'A ' would count
    // two different rows as copies of one.
    bool text = codecs[i]->type.kind == Kind::kText && !codecs[i]->is_bytes;
    out += text ? fmt::format("BINARY {} <=> BINARY {}", QuoteIdent(columns[i]), lits[i])
                : fmt::format("{} <=> {}", QuoteIdent(columns[i]), lits[i]);
  }
  return out;
}

Result<std::vector<int64_t>> MysqlEngine::CountImages(const std::string& table,
                                                      const std::vector<std::string>& columns,
                                                      const std::vector<Row>& images) {
  std::string what = fmt::format("count rows equal to images in {}", QuoteIdent(table));
  std::vector<int64_t> out;
  for (const Row& image : images) {
    TANDEM_ASSIGN_OR_RETURN(std::string pred, ImagePredicate(table, columns, image));
    TANDEM_ASSIGN_OR_RETURN(MysqlResult res, conn_.Query(CountSql(table, Where({pred})), what));
    MYSQL_ROW row = res.Next();
    out.push_back(row ? FieldInt(row, 0, 0) : 0);
  }
  return out;
}

Status MysqlEngine::RemoveImage(const std::string& table, const std::vector<std::string>& columns,
                                const Row& image, int64_t n) {
  if (n <= 0) return Ok();
  TANDEM_ASSIGN_OR_RETURN(std::string pred, ImagePredicate(table, columns, image));
  auto r = conn_.Exec(fmt::format("{} LIMIT {}", DeleteSql(table, Where({pred})), n),
                      fmt::format("remove rows equal to an image from {}", QuoteIdent(table)));
  if (!r) return std::unexpected(r.error());
  return Ok();
}

Status MysqlEngine::CreateTable(const TableSchema& table) {
  std::string what = fmt::format("create table {}", QuoteIdent(table.name));
  if (in_txn_) {
    return Fail(Code::kFailedPrecondition,
                "{}: DDL would commit the open transaction; create tables outside Begin()", what);
  }
  tables_.erase(table.name);
  auto r = conn_.Exec(CreateTableDdl(table), what);
  if (!r) return std::unexpected(r.error());
  return Ok();
}

// Re-reads the table's columns (and refreshes the column cache, so that reads after a change
// of the table use its new columns).
Result<std::vector<Column>> MysqlEngine::DescribeColumns(const std::string& table) {
  TANDEM_ASSIGN_OR_RETURN(auto loaded, LoadColumns(&table));
  auto it = loaded.find(table);
  if (it == loaded.end()) {
    tables_.erase(table);
    return Fail(Code::kNotFound, "table {} not found in MariaDB database {}", QuoteIdent(table),
                QuoteIdent(uri_.database));
  }
  std::vector<Column> out;
  for (const ColumnInfo& c : it->second.columns) out.push_back(ColumnFor(c));
  tables_.insert_or_assign(table, std::move(it->second));
  return out;
}

Status MysqlEngine::AddColumn(const std::string& table, const Column& column) {
  std::string what = fmt::format("add column {} to {}", QuoteIdent(column.name), QuoteIdent(table));
  if (in_txn_) {
    return Fail(Code::kFailedPrecondition, "{}: DDL would commit the open transaction", what);
  }
  tables_.erase(table);
  CreateOptions opt;
  opt.uuid_type = is_mariadb_ && server_version_ >= 100700;
  auto r = conn_.Exec(AddColumnSql(table, column, opt), what);
  if (!r) return std::unexpected(r.error());
  return Ok();
}

std::string MysqlEngine::CreateTableDdl(const TableSchema& table) const {
  CreateOptions opt;
  if (is_mariadb_) {
    opt.uuid_type = server_version_ >= 100700;
    opt.collation = "utf8mb4_nopad_bin";
  } else {
    opt.uuid_type = false;
    opt.collation = server_version_ >= 80000 ? "utf8mb4_0900_bin" : "utf8mb4_bin";
  }
  return CreateTableSql(table, opt);
}

std::vector<std::string> MysqlEngine::ObjectDdl(const TableSchema& table,
                                                const SchemaObject& o) const {
  switch (o.kind) {
    case SchemaObject::Kind::kIndex: return {CreateIndexSql(table, o.index)};
    case SchemaObject::Kind::kCheck: return {AddCheckSql(table.name, o.check)};
    case SchemaObject::Kind::kForeignKey: return {AddForeignKeySql(table.name, o.foreign_key)};
  }
  return {};
}

namespace {

std::string MysqlTableName(const void*, std::string_view t) { return QuoteIdent(t); }
std::string MysqlColumnName(std::string_view c) { return QuoteIdent(c); }

}  // namespace

Status MysqlEngine::BuildObject(const TableSchema& table, const SchemaObject& o) {
  std::string what = fmt::format("build {} {} on {}", o.KindName(), QuoteIdent(o.name()),
                                 QuoteIdent(table.name));
  if (in_txn_) {
    return Fail(Code::kFailedPrecondition, "{}: DDL would commit the open transaction", what);
  }
  TANDEM_ASSIGN_OR_RETURN(
      MysqlResult ex, conn_.Query(ObjectExistsSql(conn_.Quoted(table.name), conn_.Quoted(o.name())), what));
  if (MYSQL_ROW row = ex.Next(); row && FieldInt(row, 0, 0) > 0) return Ok();
  SqlNames q{&MysqlTableName, &MysqlColumnName, nullptr};
  auto sample = [&](const std::string& sql, bool with_count) -> std::string {
    auto res = conn_.Query(sql, what);
    if (!res) return "";
    std::vector<std::vector<std::optional<std::string>>> rows;
    unsigned n = res->num_fields();
    while (MYSQL_ROW row = res->Next()) {
      auto& r = rows.emplace_back();
      const unsigned long* len = res->lengths();
      for (unsigned c = 0; c < n; ++c) {
        r.push_back(row[c] ? std::optional<std::string>(Field(row, len, c)) : std::nullopt);
      }
    }
    return SampleKeysText(rows, with_count);
  };
  // foreign_key_checks = 0 in tandem's session: MariaDB would add the key without looking at
  // the rows, so the orphans are looked for here.
  if (o.kind == SchemaObject::Kind::kForeignKey) {
    std::string orphans = sample(OrphanKeysSql(q, table.name, o.foreign_key, 5), false);
    if (!orphans.empty()) {
      return Fail(Code::kFailedPrecondition, "{}: rows of {} reference no row of {}; orphan keys: {}",
                  what, QuoteIdent(table.name), QuoteIdent(o.foreign_key.ref_table), orphans);
    }
  }
  for (const auto& sql : ObjectDdl(table, o)) {
    auto r = conn_.Exec(sql, what);
    if (r) continue;
    if (r.error().code == Code::kUnavailable) return std::unexpected(r.error());
    std::string msg = r.error().message;
    if (o.kind == SchemaObject::Kind::kIndex && o.index.unique) {
      std::vector<std::string> cols;
      for (const auto& p : o.index.parts) cols.push_back(p.column);
      if (std::string keys = sample(DuplicateKeysSql(q, table.name, cols, 5), true); !keys.empty()) {
        msg += "; colliding keys: " + keys;
      }
    }
    return Fail(Code::kFailedPrecondition, "{}", msg);
  }
  return Ok();
}

Status MysqlEngine::Begin() {
  if (in_txn_) return Fail(Code::kFailedPrecondition, "begin: a transaction is already open");
  TANDEM_RETURN_IF_ERROR(conn_.Exec("START TRANSACTION", "begin"));
  in_txn_ = true;
  return Ok();
}

Status MysqlEngine::Commit() {
  if (!in_txn_) return Fail(Code::kFailedPrecondition, "commit: no transaction is open");
  in_txn_ = false;
  TANDEM_RETURN_IF_ERROR(conn_.Exec("COMMIT", "commit"));
  return Ok();
}

Status MysqlEngine::Rollback() {
  if (!in_txn_) return Ok();
  in_txn_ = false;
  TANDEM_RETURN_IF_ERROR(conn_.Exec("ROLLBACK", "rollback"));
  return Ok();
}

Status MysqlEngine::SetCaptureSuppressed(bool suppressed) {
  auto r = conn_.Exec(suppressed ? "SET @tandem_capture_off = 1" : "SET @tandem_capture_off = NULL",
                      "set capture suppression");
  if (!r) return std::unexpected(r.error());
  suppressed_ = suppressed;
  return Ok();
}

}  // namespace tandem::mysql

namespace tandem {

Result<std::unique_ptr<Engine>> OpenMysql(const std::string& uri, const std::string& password) {
  TANDEM_ASSIGN_OR_RETURN(mysql::MysqlUri parsed, mysql::ParseMysqlUri(uri, password));
  TANDEM_ASSIGN_OR_RETURN(auto engine, mysql::MysqlEngine::Open(parsed));
  return std::unique_ptr<Engine>(std::move(engine));
}

}  // namespace tandem
