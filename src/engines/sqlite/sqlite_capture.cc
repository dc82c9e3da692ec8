#include "engines/sqlite/sqlite_capture.h"

#include <charconv>
#include <limits>

#include "engines/factories.h"
#include "engines/sqlite/sqlite_dialect.h"

namespace tandem {

Result<std::unique_ptr<ChangeSource>> OpenSqliteTriggers(Engine& engine) {
  auto* e = dynamic_cast<sqlite::SqliteEngine*>(&engine);
  if (!e) return Fail(Code::kInvalidArgument, "sqlite triggers: {} is not a SQLite engine", engine.Describe());
  return std::unique_ptr<ChangeSource>(new sqlite::SqliteTriggerCapture(*e));
}

namespace sqlite {
namespace {

// Decodes one key element written by the capture trigger (see KeyJson in sqlite_dialect.cc).
Result<Value> DecodeKeyElement(const Row& r) {
  const std::string& type = r[3].as_str();
  const Value& atom = r[4];
  if (type == "integer" || type == "text") return atom;
  if (type == "real") return atom.kind() == Kind::kFloat ? atom : Value::Float(atom.as_int());
  if (type == "null") return Value::Null();
  if (type == "true" || type == "false") return Value::Int(type == "true");
  if (type == "array" && r[5].kind() == Kind::kText && r[6].kind() == Kind::kText) {
    const std::string& tag = r[5].as_str();
    const std::string& text = r[6].as_str();
    if (tag == "x" && text.size() % 2 == 0) {
      std::string bytes;
      bytes.reserve(text.size() / 2);
      for (size_t i = 0; i < text.size(); i += 2) {
        unsigned v = 0;
        auto res = std::from_chars(text.data() + i, text.data() + i + 2, v, 16);
        if (res.ec != std::errc() || res.ptr != text.data() + i + 2) break;
        bytes += static_cast<char>(v);
      }
      if (bytes.size() == text.size() / 2) return Value::Bytes(std::move(bytes));
    } else if (tag == "r") {
      if (text == "Inf") return Value::Float(std::numeric_limits<double>::infinity());
      if (text == "-Inf") return Value::Float(-std::numeric_limits<double>::infinity());
      double d = 0;
      auto res = std::from_chars(text.data(), text.data() + text.size(), d);
      if (res.ec == std::errc() && res.ptr == text.data() + text.size()) return Value::Float(d);
    }
  }
  return Fail(Code::kDataLoss, "sqlite: read changes: change {} has an unreadable key element ({})",
              r[0].as_int(), type);
}

}  // namespace

Status SqliteTriggerCapture::Install(const std::vector<CaptureTable>& tables) {
  for (const auto& t : tables) {
    if (t.key.empty()) {
      return Fail(Code::kInvalidArgument, "sqlite: install capture {}: no key columns given", t.table);
    }
  }
  // One transaction: the triggers are replaced without a moment in which a write goes
  // unrecorded.
  TANDEM_RETURN_IF_ERROR(e_.AtomicallyFn("install capture", "", [&]() -> Status {
    if (auto st = e_.db_.Exec(CaptureTablesSql()); !st) {
      return std::unexpected(In(st.error(), "install capture", kChangesTable));
    }
    // A marker row can only be left behind by a bug; one would silence capture for everyone.
    if (!e_.marker_) {
      auto del = e_.db_.Execute(fmt::format("DELETE FROM {}", QuoteIdent(kCaptureOffTable)));
      if (!del) return std::unexpected(In(del.error(), "install capture", kCaptureOffTable));
    }
    for (const auto& t : tables) {
      TANDEM_ASSIGN_OR_RETURN(bool exists, In(e_.TableExists(t.table), "install capture", t.table));
      if (!exists) {
        return Fail(Code::kNotFound, "sqlite: install capture {}: no such table", t.table);
      }
      for (const auto& sql : CaptureTriggerSql(t.table, t.key)) {
        if (auto st = e_.db_.Exec(sql); !st) {
          return std::unexpected(In(st.error(), "install capture", t.table));
        }
      }
    }
    return Ok();
  }));
  // Installed inside a transaction begun while suppressed: the new table needs its marker.
  if (e_.in_txn_ && e_.suppressed_ && !e_.marker_) return e_.SetCaptureMarker(true);
  return Ok();
}

Result<ChangeBatch> SqliteTriggerCapture::Read(const Position& after, size_t limit) {
  TANDEM_ASSIGN_OR_RETURN(int64_t from, SeqOf(after, "sqlite: read changes"));
  ChangeBatch out{.upto = after};
  if (limit == 0) return out;
  TANDEM_ASSIGN_OR_RETURN(bool installed, In(e_.TableExists(kChangesTable), "read changes", ""));
  if (!installed) {
    return Fail(Code::kFailedPrecondition,
                "sqlite: read changes: capture is not installed ({} is missing)", kChangesTable);
  }
  int64_t lim = limit > static_cast<size_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(limit);
  TANDEM_ASSIGN_OR_RETURN(auto rows,
                          In(e_.db_.Query(ReadChangesSql(), {Value::Int(from), Value::Int(lim)}),
                             "read changes", kChangesTable));
  int64_t last = from;
  for (const auto& r : rows) {
    int64_t seq = r[0].as_int();
    if (out.changes.empty() || last != seq) {
      Change c;
      c.position = SeqPosition(seq);
      c.table = r[1].as_str();
      c.op = r[2].as_str().empty() ? 'U' : r[2].as_str()[0];
      if (r[7].kind() == Kind::kInt) c.at_micros = r[7].as_int();  // julianday, ms precision
      out.changes.push_back(std::move(c));
      last = seq;
    }
    TANDEM_ASSIGN_OR_RETURN(Value v, DecodeKeyElement(r));
    out.changes.back().key.push_back(std::move(v));
  }
  // Seq order is commit order: a seq missing below the last one read was rolled back.
  out.upto = SeqPosition(last);
  return out;
}

Result<Position> SqliteTriggerCapture::Last() {
  TANDEM_ASSIGN_OR_RETURN(bool installed, In(e_.TableExists(kChangesTable), "last change", ""));
  if (!installed) return Position{};
  // sqlite_sequence remembers the highest seq even after Prune emptied the table.
  TANDEM_ASSIGN_OR_RETURN(
      auto rows,
      In(e_.db_.Query(fmt::format("SELECT max(coalesce((SELECT max(seq) FROM {}), 0), "
                                  "coalesce((SELECT seq FROM sqlite_sequence WHERE name = ?), 0))",
                                  QuoteIdent(kChangesTable)),
                      {Value::Text(std::string(kChangesTable))}),
         "last change", kChangesTable));
  return SeqPosition(rows.at(0).at(0).as_int());
}

Result<int64_t> SqliteTriggerCapture::Pending(const Position& after) {
  TANDEM_ASSIGN_OR_RETURN(int64_t from, SeqOf(after, "sqlite: pending changes"));
  TANDEM_ASSIGN_OR_RETURN(bool installed, In(e_.TableExists(kChangesTable), "pending changes", ""));
  if (!installed) return int64_t{0};
  TANDEM_ASSIGN_OR_RETURN(
      auto rows, In(e_.db_.Query(fmt::format("SELECT count(*) FROM {} WHERE seq > ?",
                                             QuoteIdent(kChangesTable)),
                                 {Value::Int(from)}),
                    "pending changes", kChangesTable));
  return rows.at(0).at(0).as_int();
}

Status SqliteTriggerCapture::Prune(const Position& upto) {
  TANDEM_ASSIGN_OR_RETURN(int64_t seq, SeqOf(upto, "sqlite: prune changes"));
  TANDEM_ASSIGN_OR_RETURN(bool installed, In(e_.TableExists(kChangesTable), "prune changes", ""));
  if (!installed) return Ok();
  return e_.AtomicallyFn("prune changes", kChangesTable, [&]() -> Status {
    auto n = e_.db_.Execute(fmt::format("DELETE FROM {} WHERE seq <= ?", QuoteIdent(kChangesTable)),
                            {Value::Int(seq)});
    if (!n) return std::unexpected(In(n.error(), "prune changes", kChangesTable));
    return Ok();
  });
}

Status SqliteTriggerCapture::Remove() {
  return e_.AtomicallyFn("remove capture", "", [&]() -> Status {
    // Only the triggers Install made: named _tandem_<table>_ins|upd|del on that table.
    TANDEM_ASSIGN_OR_RETURN(
        auto triggers,
        In(e_.db_.Query("SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger'"),
           "remove capture", ""));
    for (const auto& r : triggers) {
      const std::string& name = r[0].as_str();
      const std::string& tbl = r[1].as_str();
      bool ours = false;
      for (const char* op : {"ins", "upd", "del"}) ours = ours || name == CaptureTriggerName(tbl, op);
      if (!ours) continue;
      if (auto st = e_.db_.Exec("DROP TRIGGER IF EXISTS " + QuoteIdent(name)); !st) {
        return std::unexpected(In(st.error(), "remove capture", tbl));
      }
    }
    for (auto t : {kChangesTable, kCaptureOffTable}) {
      if (auto st = e_.db_.Exec("DROP TABLE IF EXISTS " + QuoteIdent(t)); !st) {
        return std::unexpected(In(st.error(), "remove capture", t));
      }
    }
    e_.marker_ = false;
    return Ok();
  });
}

}  // namespace sqlite
}  // namespace tandem
