#include "engines/postgres/pg_capture.h"

#include <charconv>
#include <limits>

#include "engines/factories.h"
#include "engines/postgres/pg_dialect.h"

namespace tandem {

Result<std::unique_ptr<ChangeSource>> OpenPostgresTriggers(Engine& engine) {
  auto* e = dynamic_cast<pg::PostgresEngine*>(&engine);
  if (!e) {
    return Fail(Code::kInvalidArgument, "postgres triggers: {} is not a PostgreSQL engine",
                engine.Describe());
  }
  return std::unique_ptr<ChangeSource>(new pg::PgTriggerCapture(*e));
}

namespace pg {
namespace {

template <typename T>
bool ParseNumber(std::string_view s, T& out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

}  // namespace

void PgTriggerCapture::Forget() {
  key_types_.clear();
  watermark_.reset();
  final_upto_ = 0;
}

Result<bool> PgTriggerCapture::Installed(std::string_view what) {
  TANDEM_ASSIGN_OR_RETURN(
      PgResult exists, e_.conn_.ExecParams(what, "SELECT to_regclass($1) IS NOT NULL",
                                           {e_.Table(std::string(kChangeTable))}));
  return exists.value(0, 0) == "t";
}

Status PgTriggerCapture::Install(const std::vector<CaptureTable>& tables) {
  std::string what = "postgres install capture";
  for (const auto& t : tables) {
    if (t.key.empty()) {
      return Fail(Code::kInvalidArgument, "{} on {}: no key columns given", what, t.table);
    }
  }
  // Forget what was learnt about the change table: it may be recreated below.
  Forget();
  const std::string& schema = e_.schema_;
  PgConnection& conn = e_.conn_;
  return e_.AtomicallyFn(what, [&]() -> Status {
    TANDEM_RETURN_IF_ERROR(conn.ExecParams(what, CaptureLockSql(), {schema}));
    TANDEM_RETURN_IF_ERROR(conn.Exec(what, ChangeTableDdl(schema)));
    TANDEM_RETURN_IF_ERROR(conn.Exec(what, CaptureTablesDdl(schema)));
    for (const auto& t : tables) {
      std::string on = what + " on " + t.table;
      // The table and its key columns must exist; float keys need exact digits.
      TANDEM_ASSIGN_OR_RETURN(
          PgResult types,
          conn.ExecParams(on, KeyColumnTypesSql(), {e_.Table(t.table), TextArrayLiteral(t.key)}));
      if (static_cast<size_t>(types.rows()) != t.key.size()) {
        TANDEM_ASSIGN_OR_RETURN(
            PgResult exists,
            conn.ExecParams(on, "SELECT to_regclass($1) IS NOT NULL", {e_.Table(t.table)}));
        if (exists.value(0, 0) != "t") {
          return Fail(Code::kNotFound, "{}: table {} does not exist in schema {}", on, t.table,
                      schema);
        }
        return Fail(Code::kNotFound, "{}: a key column of {} does not exist", on, t.table);
      }
      bool float_key = false;
      for (int r = 0; r < types.rows(); ++r) {
        float_key = float_key || types.value(r, 1) == std::to_string(kFloat4Oid) ||
                    types.value(r, 1) == std::to_string(kFloat8Oid);
      }
      std::vector<Param> params = {t.table};
      for (const auto& k : t.key) params.emplace_back(k);
      TANDEM_RETURN_IF_ERROR(conn.ExecParams(on, RegisterCaptureSql(schema, t.key.size()), params));
      TANDEM_RETURN_IF_ERROR(conn.Exec(on, CaptureFunctionDdl(schema, t.table, t.key, float_key)));
      TANDEM_RETURN_IF_ERROR(conn.Exec(on, CaptureTriggerDdl(schema, t.table)));
    }
    TANDEM_RETURN_IF_ERROR(conn.Exec(what, RevokeCaptureAccessSql(schema)));
    return Ok();
  });
}

Status PgTriggerCapture::LoadKeyTypes() {
  std::string what = "postgres read changes";
  TANDEM_ASSIGN_OR_RETURN(PgResult res,
                          e_.conn_.ExecParams(what, CaptureKeyTypesSql(e_.schema_), {e_.schema_}));
  key_types_.clear();
  for (int r = 0; r < res.rows(); ++r) {
    TypeOid oid = 0;  // unknown (table dropped): keys decode as text
    if (!res.is_null(r, 2)) ParseNumber(res.value(r, 2), oid);
    key_types_[std::string(res.value(r, 0))].push_back(oid);
  }
  return Ok();
}

// See the gap rule in pg_capture.h.
Result<ChangeBatch> PgTriggerCapture::Read(const Position& after, size_t limit) {
  std::string what = "postgres read changes";
  TANDEM_ASSIGN_OR_RETURN(int64_t from, SeqOf(after, what));
  ChangeBatch out{.upto = after};
  if (limit == 0) return out;
  int64_t lim = static_cast<int64_t>(
      std::min<size_t>(limit, static_cast<size_t>(std::numeric_limits<int64_t>::max())));
  std::string changes = e_.Table(std::string(kChangeTable));
  TANDEM_ASSIGN_OR_RETURN(bool installed, Installed(what));
  if (!installed) {
    return Fail(Code::kFailedPrecondition, "{}: change capture is not installed in schema {}",
                what, e_.schema_);
  }
  std::string sql = ReadChangesSql(e_.schema_);
  // A second round only when the first one set a watermark that may already be passed.
  for (int round = 0; round < 2; ++round) {
    out.changes.clear();
    TANDEM_ASSIGN_OR_RETURN(
        PgResult res,
        e_.conn_.ExecParams(what, sql, {std::to_string(from), std::to_string(lim), changes}));
    if (res.rows() == 0) return Fail(Code::kInternal, "{}: no snapshot row", what);
    uint64_t xmin = 0;
    ParseNumber(res.value(0, 4), xmin);
    int64_t handed_out = 0;  // the sequence's last value
    ParseNumber(res.value(0, 6), handed_out);
    if (watermark_ && xmin > watermark_->xid) {
      final_upto_ = std::max(final_upto_, watermark_->seq);
      watermark_.reset();
    }
    int64_t expected = std::max(from, final_upto_) + 1;
    bool blocked = false;
    for (int r = 0; r < res.rows() && !res.is_null(r, 0);) {
      int64_t seq = 0;
      ParseNumber(res.value(r, 0), seq);
      if (seq != expected && seq > final_upto_) {
        blocked = true;  // an earlier seq may still commit
        break;
      }
      Change c;
      c.position = SeqPosition(seq);
      c.table = std::string(res.value(r, 1));
      c.op = res.value(r, 2).empty() ? 'U' : res.value(r, 2)[0];
      Value at = DecodeText(kTimestampTzOid, res.value(r, 5));
      if (at.kind() == Kind::kTimestampTz) c.at_micros = at.as_int();
      if (!key_types_.contains(c.table)) TANDEM_RETURN_IF_ERROR(LoadKeyTypes());
      const std::vector<TypeOid>& types = key_types_[c.table];
      for (size_t i = 0; r < res.rows(); ++r, ++i) {
        int64_t s = 0;
        ParseNumber(res.value(r, 0), s);
        if (s != seq) break;
        TypeOid oid = i < types.size() ? types[i] : 0;
        c.key.push_back(res.is_null(r, 3) ? Value::Null() : DecodeText(oid, res.value(r, 3)));
      }
      expected = std::max(seq, final_upto_) + 1;
      out.changes.push_back(std::move(c));
    }
    if (out.changes.size() >= limit) {
      // Changes past the last one returned may exist: upto must not pass them.
      out.upto = out.changes.back().position;
      return out;
    }
    // Everything below `expected` is returned or dead.
    out.upto = SeqPosition(std::max(from, expected - 1));
    bool gap = blocked || handed_out > expected - 1;
    if (!gap || watermark_) return out;  // a pending watermark is checked by the next read
    TANDEM_ASSIGN_OR_RETURN(PgResult wm, e_.conn_.ExecParams(what, SeqWatermarkSql(), {changes}));
    Watermark w;
    ParseNumber(wm.value(0, 0), w.seq);
    ParseNumber(wm.value(0, 1), w.xid);
    watermark_ = w;
    // Inside a caller's transaction X stays open until it ends: no point in a second round.
    if (e_.conn_.in_transaction()) return out;
  }
  return out;
}

Result<Position> PgTriggerCapture::Last() {
  std::string what = "postgres last change";
  TANDEM_ASSIGN_OR_RETURN(bool installed, Installed(what));
  if (!installed) return Position{};
  TANDEM_ASSIGN_OR_RETURN(PgResult res,
                          e_.conn_.ExecParams(what, LastChangeSeqSql(e_.schema_),
                                              {e_.Table(std::string(kChangeTable))}));
  int64_t seq = 0;
  ParseNumber(res.value(0, 0), seq);
  return SeqPosition(seq);
}

Result<int64_t> PgTriggerCapture::Pending(const Position& after) {
  std::string what = "postgres pending changes";
  TANDEM_ASSIGN_OR_RETURN(int64_t from, SeqOf(after, what));
  TANDEM_ASSIGN_OR_RETURN(bool installed, Installed(what));
  if (!installed) return int64_t{0};
  TANDEM_ASSIGN_OR_RETURN(
      PgResult res,
      e_.conn_.ExecParams(what, PendingChangesSql(e_.schema_), {std::to_string(from)}));
  int64_t n = 0;
  ParseNumber(res.value(0, 0), n);
  return n;
}

Status PgTriggerCapture::Prune(const Position& upto) {
  std::string what = "postgres prune changes";
  TANDEM_ASSIGN_OR_RETURN(int64_t seq, SeqOf(upto, what));
  TANDEM_ASSIGN_OR_RETURN(bool installed, Installed(what));
  if (!installed) return Ok();
  TANDEM_RETURN_IF_ERROR(
      e_.conn_.ExecParams(what, PruneChangesSql(e_.schema_), {std::to_string(seq)}));
  return Ok();
}

Status PgTriggerCapture::Remove() {
  std::string what = "postgres remove capture";
  Forget();
  const std::string& schema = e_.schema_;
  PgConnection& conn = e_.conn_;
  return e_.AtomicallyFn(what, [&]() -> Status {
    TANDEM_RETURN_IF_ERROR(conn.ExecParams(what, CaptureLockSql(), {schema}));
    TANDEM_ASSIGN_OR_RETURN(PgResult triggers, conn.ExecParams(what, CaptureTriggersSql(), {schema}));
    for (int r = 0; r < triggers.rows(); ++r) {
      TANDEM_RETURN_IF_ERROR(conn.Exec(what, DropCaptureTriggerSql(schema, triggers.value(r, 0))));
    }
    TANDEM_ASSIGN_OR_RETURN(PgResult functions,
                            conn.ExecParams(what, CaptureFunctionsSql(), {schema}));
    for (int r = 0; r < functions.rows(); ++r) {
      TANDEM_RETURN_IF_ERROR(
          conn.Exec(what, DropCaptureFunctionSql(schema, functions.value(r, 0))));
    }
    TANDEM_RETURN_IF_ERROR(conn.Exec(what, DropCaptureTablesSql(schema)));
    return Ok();
  });
}

Result<std::vector<MissingGrant>> PgTriggerCapture::MissingGrants(
    const std::vector<std::string>& tables) {
  std::string what = "postgres privileges";
  const std::string& schema = e_.schema_;
  std::vector<std::string> names(tables);
  for (std::string_view own : kOwnTables) names.emplace_back(own);
  TANDEM_ASSIGN_OR_RETURN(PgResult res, e_.conn_.ExecParams(what, CapturePrivilegesSql(),
                                                            {schema, TextArrayLiteral(names)}));
  std::vector<MissingGrant> out;
  if (res.rows() == 0) {
    return Fail(Code::kFailedPrecondition, "{}: schema {} does not exist in {}", what,
                QuoteIdent(schema), e_.Describe());
  }
  std::string me = QuoteIdent(res.value(0, 8));
  std::string q_schema = QuoteIdent(schema);
  if (res.value(0, 9) != "t" || res.value(0, 10) != "t") {
    out.push_back({fmt::format("USAGE and CREATE on schema {} (for the change table, the capture "
                               "functions and the tables tandem creates)",
                               q_schema),
                   fmt::format("GRANT USAGE, CREATE ON SCHEMA {} TO {};", q_schema, me)});
  }
  for (int r = 0; r < res.rows(); ++r) {
    if (res.value(r, 1) != "t") continue;  // created by tandem, so owned by it
    std::string table = Qualified(schema, res.value(r, 0));
    std::string owner = std::string(res.value(r, 7));
    if (res.value(r, 2) != "t") {
      // CREATE TRIGGER needs only TRIGGER, but DROP TRIGGER (re-install, remove) needs the
      // owner's rights: membership in the owning role gives them.
      out.push_back({fmt::format("the rights of {}'s owner {} (to create and drop its capture "
                                 "trigger)",
                                 table, owner),
                     fmt::format("GRANT {} TO {};", owner, me)});
    }
    std::vector<std::string> dml;
    const char* kinds[] = {"SELECT", "INSERT", "UPDATE", "DELETE"};
    for (int i = 0; i < 4; ++i) {
      if (res.value(r, 3 + i) != "t") dml.emplace_back(kinds[i]);
    }
    if (!dml.empty()) {
      std::string list;
      for (const auto& d : dml) list += (list.empty() ? "" : ", ") + d;
      out.push_back({fmt::format("{} on {} (to copy, apply changes and verify)", list, table),
                     fmt::format("GRANT {} ON TABLE {} TO {};", list, table, me)});
    }
  }
  return out;
}

}  // namespace pg
}  // namespace tandem
