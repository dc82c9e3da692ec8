// Fault injection (STYLE.md "Tests"): the backfill, verify and the change stream against a
// connection that is lost or a transaction that aborts, through FaultEngine on real SQLite
// files; and Reconnect() of the PostgreSQL and MariaDB engines after the server killed their
// session (pg_terminate_backend, KILL), on the throwaway test servers.
#include <unistd.h>

#include <filesystem>
#include <map>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "capture/change_stream.h"
#include "copy/backfill.h"
#include "engine_suite.h"
#include "engines/mysql/mysql_connection.h"
#include "engines/postgres/pg_connection.h"
#include "engines/reconnect.h"
#include "tandem/change_source.h"
#include "fault_engine.h"
#include "mapping/config.h"
#include "mapping/transform.h"
#include "state/state_store.h"
#include "verify/verifier.h"

namespace tandem::faults {
namespace {

using namespace std::chrono_literals;

#define ASSERT_OK(expr)                                   \
  do {                                                    \
    const auto& _r = (expr);                              \
    ASSERT_TRUE(_r.has_value()) << _r.error().ToString(); \
  } while (0)

class NoProgress : public copy::Progress {
 public:
  void TableStarted(std::string_view, int64_t, int) override {}
  void Advanced(std::string_view, int64_t, int64_t) override {}
  void TableFinished(const copy::TableReport&) override {}
};

// Short waits so a test retries in milliseconds.
Backoff Quick() { return Backoff{.first = 1ms, .most = 5ms, .give_up_after = 2s}; }

std::unique_ptr<Engine> OpenSqlite(const std::string& path) {
  auto e = OpenEngine("sqlite:" + path, "/");
  EXPECT_TRUE(e) << e.error().ToString();
  return std::move(*e);
}

// Every row of `table` in key order, as text: the oracle both sides are compared with.
std::vector<std::string> Dump(Engine& e, const std::string& table) {
  auto reader = e.Scan({table, {"id", "v"}, {"id"}, KeyRange{}, 1000});
  EXPECT_TRUE(reader) << reader.error().ToString();
  std::vector<std::string> out;
  std::vector<Row> batch;
  while ((*reader)->Next(batch)) {
    for (const auto& r : batch) out.push_back(r[0].ToDisplay() + "|" + r[1].ToDisplay());
  }
  EXPECT_TRUE((*reader)->status());
  return out;
}

// A source of 100 rows (every 10th v NULL) and an empty target, both SQLite files, with the
// mapping `id -> id, v -> v` (v NULL is a reject when `reject_nulls`).
class Faults : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           fmt::format("tandem-faults-{}-{}", ::getpid(),
                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    source_ = OpenSqlite((dir_ / "src.db").string());
    app_ = OpenSqlite((dir_ / "src.db").string());
    target_ = OpenSqlite((dir_ / "dst.db").string());
    schema_ = TableSchema{.name = "t"};
    schema_.columns = {{.name = "id", .type = {.kind = Kind::kInt}, .nullable = false},
                       {.name = "v", .type = {.kind = Kind::kText}}};
    schema_.primary_key = {"id"};
    ASSERT_OK(source_->CreateTable(schema_));
    ASSERT_OK(target_->CreateTable(schema_));
    std::vector<Row> rows;
    for (int i = 1; i <= 100; ++i) {
      rows.push_back({Value::Int(i), i % 10 == 0 ? Value::Null() : Value::Text(fmt::format("v{}", i))});
    }
    ASSERT_OK(source_->Write("t", {"id", "v"}, {"id"}, rows, WriteMode::kInsert));
    auto state = state::StateStore::Open("sqlite:state.db", dir_.string());
    ASSERT_OK(state);
    state_ = std::make_unique<state::StateStore>(std::move(*state));
    fsource_ = std::make_unique<FaultEngine>(*source_);
    ftarget_ = std::make_unique<FaultEngine>(*target_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // `v_extra`: more of v's mapping (", on_null: reject", ", transform: [trim]").
  void Compile(bool reject_nulls, std::string_view v_extra = "") {
    auto cfg = mapping::ParseConfig(
        fmt::format("source: sqlite:src.db\ntarget: sqlite:dst.db\ntables:\n  - source: t\n"
                    "    columns:\n      id: {{to: id}}\n      v: {{to: v{}{}}}\n",
                    reject_nulls ? ", on_null: reject" : "", v_extra),
        (dir_ / "tandem.yaml").string());
    ASSERT_TRUE(cfg) << cfg.error().message;
    auto tables = mapping::CompileAll(*cfg, {schema_}, {schema_});
    ASSERT_TRUE(tables) << tables.error().message;
    tables_ = std::move(*tables);
  }

  Result<std::vector<copy::TableReport>> Backfill(int64_t chunk_rows = 25) {
    copy::Backfill b(tables_, *fsource_, *ftarget_, *state_, progress_,
                     {.chunk_rows = chunk_rows,
                      .batch_rows = 10,
                      .backoff = Quick(),
                      .on_reconnect = [this](const ReconnectAttempt& a) { attempts_.push_back(a); }});
    TANDEM_RETURN_IF_ERROR(b.Plan());
    return b.Run();
  }

  // The two reports say the same, their durations aside.
  static void ExpectSameReport(const verify::Report& x, const verify::Report& y, const char* why) {
    auto a = x.ToJson(), b = y.ToJson();
    a.erase("seconds");
    b.erase("seconds");
    EXPECT_EQ(a.dump(), b.dump()) << why;
  }
  // Verifies in ranges of 30 rows, batches of 10, reconnect attempts kept in attempts_, the
  // last progress told of each table in told_.
  Result<verify::Report> Verify(Engine& source, Engine& target) {
    told_.clear();
    verify::Verifier v(tables_, source, target, *state_,
                       {.range_rows = 30,
                        .batch_rows = 10,
                        .progress = [this](const std::string& table,
                                           int64_t rows) { told_[table] = rows; },
                        .backoff = Quick(),
                        .on_reconnect = [this](const ReconnectAttempt& a) { attempts_.push_back(a); }});
    return v.Run();
  }
  std::map<std::string, int64_t> told_;

  std::filesystem::path dir_;
  std::unique_ptr<Engine> source_, app_, target_;
  TableSchema schema_;
  std::unique_ptr<state::StateStore> state_;
  std::unique_ptr<FaultEngine> fsource_, ftarget_;
  std::vector<mapping::TableTransform> tables_;
  NoProgress progress_;
  std::vector<ReconnectAttempt> attempts_;
};

TEST_F(Faults, BackfillChunkWriteLosesTargetConnectionThenReconnectsAndRetries) {
  Compile(false);
  // The third Write (second chunk, second batch) loses the connection for good.
  ftarget_->FailOn(Method::kWrite, 3, Code::kUnavailable, /*dies=*/true);
  auto r = Backfill();
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(ftarget_->reconnects(), 1);
  ASSERT_EQ(attempts_.size(), 1u);
  EXPECT_EQ(attempts_[0].side, "target");
  EXPECT_EQ(attempts_[0].attempt, 1);
  EXPECT_TRUE(attempts_[0].reconnected);
  EXPECT_NE(attempts_[0].error.find("injected"), std::string::npos) << attempts_[0].error;
  EXPECT_EQ(fsource_->reconnects(), 0) << "the source was never lost";
  EXPECT_EQ(Dump(*target_, "t"), Dump(*source_, "t"));
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].source_rows, 100);
  EXPECT_EQ((*r)[0].written, 100);
}

TEST_F(Faults, BackfillSourceScanLostMidChunkReconnectsTheSourceOnly) {
  Compile(false);
  fsource_->FailOn(Method::kNext, 4, Code::kUnavailable, /*dies=*/true);
  auto r = Backfill();
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(fsource_->reconnects(), 1);
  EXPECT_EQ(ftarget_->reconnects(), 0);
  ASSERT_EQ(attempts_.size(), 1u);
  EXPECT_EQ(attempts_[0].side, "source");
  EXPECT_EQ(Dump(*target_, "t"), Dump(*source_, "t"));
}

TEST_F(Faults, BackfillAbortedCommitIsRetried) {
  Compile(false);
  ftarget_->FailOn(Method::kCommit, 2, Code::kAborted);
  auto r = Backfill();
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(ftarget_->injected(), 1);
  EXPECT_TRUE(attempts_.empty()) << "an abort is retried without reconnecting";
  EXPECT_EQ(Dump(*target_, "t"), Dump(*source_, "t"));
}

TEST_F(Faults, BackfillRetriedChunksKeepSourceEqualsTargetPlusRejected) {
  Compile(/*reject_nulls=*/true);
  ftarget_->FailOn(Method::kWrite, 2, Code::kUnavailable, /*dies=*/true);
  ftarget_->FailOn(Method::kCommit, 3, Code::kAborted);
  auto r = Backfill();
  ASSERT_TRUE(r) << r.error().ToString();
  ASSERT_EQ(r->size(), 1u);
  const auto& t = (*r)[0];
  EXPECT_EQ(t.source_rows, 100);
  EXPECT_EQ(t.rejected, 10);
  EXPECT_EQ(t.written, 90);
  EXPECT_EQ(t.source_rows, t.written + t.rejected);
  auto count = target_->Count("t", {"id"}, {});
  ASSERT_OK(count);
  EXPECT_EQ(*count, 90);
  auto rejects = state_->Rejects("t", 1000);
  ASSERT_OK(rejects);
  EXPECT_EQ(rejects->size(), 10u) << "a retried chunk must not store its rejects twice";
}

TEST_F(Faults, BackfillGivesUpWithTheLastErrorWhenTheServerStaysAway) {
  Compile(false);
  ftarget_->FailOn(Method::kWrite, 1, Code::kUnavailable, /*dies=*/true);
  ftarget_->FailReconnects(1000000);
  copy::Backfill b(tables_, *fsource_, *ftarget_, *state_, progress_,
                   {.chunk_rows = 25,
                    .backoff = {.first = 1ms, .most = 20ms, .give_up_after = 300ms},
                    .on_reconnect = [this](const ReconnectAttempt& a) { attempts_.push_back(a); }});
  ASSERT_OK(b.Plan());
  auto started = std::chrono::steady_clock::now();
  auto r = b.Run();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kUnavailable);
  EXPECT_NE(r.error().message.find("gave up after"), std::string::npos) << r.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
  ASSERT_GE(attempts_.size(), 3u);
  EXPECT_FALSE(attempts_.back().reconnected);
  EXPECT_NE(attempts_.back().reconnect_error.find("connection refused"), std::string::npos);
  for (size_t i = 1; i < attempts_.size(); ++i) {
    EXPECT_GE(attempts_[i].waited_s, attempts_[i - 1].waited_s) << "backoff never shrinks";
  }
  // Then the server is back: the same backfill resumes and completes.
  ftarget_->FailReconnects(0);
  auto again = Backfill();
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_EQ(Dump(*target_, "t"), Dump(*source_, "t"));
}

TEST_F(Faults, BackfillDoesNotRetryOtherErrors) {
  Compile(false);
  ftarget_->FailOn(Method::kRemoveRange, 1, Code::kFailedPrecondition);
  auto r = Backfill();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kFailedPrecondition);
  EXPECT_TRUE(attempts_.empty());
}

// Read-ahead: with a way to open a second source connection, one job reads its next chunk on
// it while the current chunk's last batches are written, the two connections taking turns.
class ReadAhead : public Faults {
 protected:
  void SetUp() override {
    Faults::SetUp();
    second_ = OpenSqlite((dir_ / "src.db").string());
  }
  Result<std::vector<copy::TableReport>> Run(int64_t chunk_rows = 25) {
    opened_ = 0;
    copy::Backfill b(tables_, *fsource_, *ftarget_, *state_, progress_,
                     {.chunk_rows = chunk_rows,
                      .batch_rows = 10,
                      .open_source = [this]() -> Result<std::unique_ptr<Engine>> {
                        ++opened_;
                        if (refuse_) {
                          return Fail(Code::kUnavailable, "too many connections for role (injected)");
                        }
                        auto e = std::make_unique<FaultEngine>(*second_);
                        fsecond_ = e.get();
                        return e;
                      },
                      .backoff = Quick(),
                      .on_reconnect = [this](const ReconnectAttempt& a) { attempts_.push_back(a); }});
    TANDEM_RETURN_IF_ERROR(b.Plan());
    auto r = b.Run();
    scans_second_ = fsecond_ ? fsecond_->calls(Method::kScan) : 0;
    fsecond_ = nullptr;  // the Backfill owned it
    return r;
  }
  std::unique_ptr<Engine> second_;
  FaultEngine* fsecond_ = nullptr;
  int opened_ = 0, scans_second_ = 0;
  bool refuse_ = false;  // the source refuses a second connection
};

TEST_F(ReadAhead, ASecondConnectionRefusedOnlyLeavesTheCopyWithoutReadingAhead) {
  Compile(false);
  refuse_ = true;
  auto r = Run();
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(opened_, 1);
  EXPECT_EQ(fsource_->calls(Method::kScan), 4) << "every chunk on the Backfill's connection";
  EXPECT_EQ(Dump(*target_, "t"), Dump(*source_, "t"));
}

TEST_F(ReadAhead, TheNextChunkIsReadOnASecondConnectionTheTwoTakingTurns) {
  Compile(false);
  auto r = Run();
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(opened_, 1) << "one more source connection, for the one job";
  // Four chunks of 25: the first, third on the Backfill's connection, the others read ahead.
  EXPECT_EQ(fsource_->calls(Method::kScan), 2);
  EXPECT_EQ(scans_second_, 2);
  EXPECT_EQ(Dump(*target_, "t"), Dump(*source_, "t"));
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].source_rows, 100);
  EXPECT_EQ((*r)[0].written, 100);
}

TEST_F(ReadAhead, AChunkThatFailsPutsTheChunkReadAheadBackAndTheNextRunCopiesIt) {
  Compile(false);
  // The second chunk's commit fails (not an error that is retried): by then the third chunk
  // is read ahead, on the Backfill's connection again.
  ftarget_->FailOn(Method::kCommit, 2, Code::kInternal);
  auto r = Run();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kInternal);
  EXPECT_NE(r.error().message.find("chunk 1"), std::string::npos) << r.error().message;
  // The second chunk was read on the second connection, and the third ahead on the first.
  EXPECT_EQ(scans_second_, 1);
  EXPECT_EQ(fsource_->calls(Method::kScan), 2) << "the third chunk was read ahead";
  auto totals = state_->Totals();
  ASSERT_OK(totals);
  ASSERT_EQ(totals->size(), 1u);
  EXPECT_EQ((*totals)[0].chunks_done, 1) << "only the first chunk is done";
  auto count = target_->Count("t", {"id"}, {});
  ASSERT_OK(count);
  EXPECT_EQ(*count, 25);
  // The next run copies the three chunks left, the one read ahead among them.
  auto again = Run();
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_EQ(Dump(*target_, "t"), Dump(*source_, "t"));
  EXPECT_EQ((*again)[0].source_rows, 100);
}

TEST_F(ReadAhead, AChunkRedoneRowByRowAfterARefusalReadsItAgainBesideTheReadAhead) {
  Compile(/*reject_nulls=*/true);
  // The second chunk's first batch is refused: the chunk is copied again row by row, reading
  // it again, while the next chunks are still read ahead.
  ftarget_->FailOn(Method::kWrite, 4, Code::kInvalidArgument);
  auto r = Run();
  ASSERT_TRUE(r) << r.error().ToString();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].source_rows, 100);
  EXPECT_EQ((*r)[0].written, 90);
  EXPECT_EQ((*r)[0].rejected, 10);
  auto rejects = state_->Rejects("t", 1000);
  ASSERT_OK(rejects);
  EXPECT_EQ(rejects->size(), 10u);
  // The second chunk twice on the second connection (read ahead, then again row by row) and
  // the fourth; the first and the third on the Backfill's.
  EXPECT_EQ(scans_second_, 3);
  EXPECT_EQ(fsource_->calls(Method::kScan), 2);
  auto count = target_->Count("t", {"id"}, {});
  ASSERT_OK(count);
  EXPECT_EQ(*count, 90);
}

// A chunk redone row by row after a refusal, beside the read-ahead: a row the target refuses
// there is kept with its own key and source values.
TEST_F(ReadAhead, ARowRefusedRowByRowIsKeptWithItsSourceRow) {
  Compile(/*reject_nulls=*/true);
  // The second chunk's first batch is refused, then, row by row, its second row (id 27).
  ftarget_->FailOn(Method::kWrite, 4, Code::kInvalidArgument);
  ftarget_->FailOn(Method::kWrite, 6, Code::kInvalidArgument);
  auto r = Run();
  ASSERT_TRUE(r) << r.error().ToString();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].source_rows, 100);
  EXPECT_EQ((*r)[0].written, 89);
  EXPECT_EQ((*r)[0].rejected, 11);
  auto rejects = state_->Rejects("t", 1000);
  ASSERT_OK(rejects);
  int refused = 0;
  for (const auto& rj : *rejects) {
    ASSERT_EQ(rj.key.size(), 1u);
    auto row = nlohmann::json::parse(rj.row_json);
    EXPECT_EQ(row["id"], rj.key[0].as_int()) << rj.row_json;
    if (rj.kind != "refused_by_target") continue;
    ++refused;
    EXPECT_EQ(rj.key[0], Value::Int(27));
    EXPECT_EQ(row["v"], "v27") << rj.row_json;
  }
  EXPECT_EQ(refused, 1);
}

TEST_F(Faults, VerifyScanLostMidRangeIsComparedAgainWithTheSameReport) {
  Compile(false);
  ASSERT_TRUE(Backfill());
  // One planted difference, so the report has something to keep.
  ASSERT_OK(target_->Write("t", {"id", "v"}, {"id"}, {{Value::Int(42), Value::Text("planted")}},
                           WriteMode::kUpsert));
  auto clean = Verify(*source_, *target_);
  ASSERT_TRUE(clean) << clean.error().ToString();
  ASSERT_EQ(clean->differences, 1);
  attempts_.clear();
  // The target's scan dies half way through the second range, the source's in the third.
  ftarget_->FailOn(Method::kNext, 5, Code::kUnavailable, /*dies=*/true);
  fsource_->FailOn(Method::kNext, 10, Code::kUnavailable, /*dies=*/true);
  auto faulty = Verify(*fsource_, *ftarget_);
  ASSERT_TRUE(faulty) << faulty.error().ToString();
  EXPECT_EQ(ftarget_->reconnects(), 1);
  EXPECT_EQ(fsource_->reconnects(), 1);
  EXPECT_EQ(attempts_.size(), 2u);
  ExpectSameReport(*clean, *faulty, "a range compared again must count once");
}

TEST_F(Faults, VerifyScanDigestLostMidScanIsDoneAgainWithTheSameReport) {
  // A transform makes the mapping no identity: the ranges are digested from one scan of each
  // side (Verifier::ScanDigestTable), and a scan cut short does the table's digests again.
  Compile(false, ", transform: [trim]");
  ASSERT_TRUE(Backfill());
  ASSERT_OK(target_->Write("t", {"id", "v"}, {"id"}, {{Value::Int(42), Value::Text("planted")}},
                           WriteMode::kUpsert));
  auto clean = Verify(*source_, *target_);
  ASSERT_TRUE(clean) << clean.error().ToString();
  ASSERT_EQ(clean->differences, 1);
  ASSERT_EQ(clean->tables.size(), 1u);
  EXPECT_GT(clean->tables[0].scan_digested, 0) << "the clean ranges were not digested";
  EXPECT_LT(clean->tables[0].scan_digested, clean->tables[0].ranges);
  attempts_.clear();
  ftarget_->FailOn(Method::kNext, 5, Code::kUnavailable, /*dies=*/true);
  fsource_->FailOn(Method::kNext, 3, Code::kUnavailable, /*dies=*/true);
  auto faulty = Verify(*fsource_, *ftarget_);
  ASSERT_TRUE(faulty) << faulty.error().ToString();
  EXPECT_EQ(ftarget_->reconnects(), 1);
  EXPECT_EQ(fsource_->reconnects(), 1);
  ExpectSameReport(*clean, *faulty, "a table digested again must count once");
  // Its progress too: the rows of the scan cut short are taken back.
  EXPECT_EQ(told_["t"], faulty->tables[0].source_rows + faulty->tables[0].rejected);
}

TEST_F(Faults, ChangeStreamApplyLostOnTheTargetIsRedoneAfterReconnect) {
  Compile(false);
  // Capture works on the real engines (a ChangeSource shares its engine's connection); the
  // stream fetches rows and writes through the faulty wrappers.
  auto src_changes = OpenChangeSource(*source_);
  ASSERT_OK(src_changes);
  auto tgt_changes = OpenChangeSource(*target_);
  ASSERT_OK(tgt_changes);
  ASSERT_OK((*src_changes)->SuppressOwnWrites(true));
  ASSERT_OK((*tgt_changes)->SuppressOwnWrites(true));
  capture::ChangeStream forward("forward", *fsource_, **src_changes, *ftarget_, tables_, *state_);
  ASSERT_OK(forward.Install());
  ASSERT_TRUE(Backfill(1000));
  ASSERT_OK(app_->Write("t", {"id", "v"}, {"id"},
                        {{Value::Int(5), Value::Text("new5")}, {Value::Int(1000), Value::Text("new")}},
                        WriteMode::kUpsert));
  ASSERT_OK(app_->Remove("t", {"id"}, {{Value::Int(60)}}));
  const Side sides[] = {{"source", fsource_.get()}, {"target", ftarget_.get()}};
  // Without reconnecting, the lost connection is an error the caller must handle...
  ftarget_->FailOn(Method::kWrite, 1, Code::kUnavailable, /*dies=*/true);
  auto lost = forward.Poll(1000);
  ASSERT_FALSE(lost);
  EXPECT_EQ(lost.error().code, Code::kUnavailable);
  EXPECT_TRUE(ftarget_->ConnectionLost());
  // ...and the batch redone after the reconnect lands every change; so does a source lost
  // while reading the change rows back.
  fsource_->FailOn(Method::kFetch, 1, Code::kUnavailable, /*dies=*/true);
  ASSERT_OK(RunReconnecting(
      [&]() -> Status {
        TANDEM_ASSIGN_OR_RETURN(auto r, forward.Poll(1000));
        (void)r;
        return Ok();
      },
      sides, Quick(), [this](const ReconnectAttempt& a) { attempts_.push_back(a); }));
  EXPECT_EQ(ftarget_->reconnects(), 1);
  EXPECT_EQ(fsource_->reconnects(), 1);
  EXPECT_EQ(Dump(*target_, "t"), Dump(*source_, "t"));
  auto lag = forward.Lag();
  ASSERT_OK(lag);
  EXPECT_EQ(*lag, 0);
}

// ---- the real servers ------------------------------------------------------------------
//
// A session killed by the server: the next call fails with kUnavailable, the engine says it is
// lost, Reconnect() re-opens it with its settings: capture stays suppressed (a write through
// the reconnected engine is not captured), and the session's time zone is UTC again.

std::string WithDatabase(const std::string& admin, const std::string& db) {
  size_t host = admin.find("://");
  size_t slash = admin.find('/', host == std::string::npos ? 0 : host + 3);
  size_t query = admin.find('?');
  std::string base = admin.substr(0, std::min(slash, query));
  std::string params = query == std::string::npos ? "" : admin.substr(query);
  return base + "/" + db + params;
}

// `open_app` opens the application's connection once tandem's session has been killed.
void ExpectReconnectKeepsSuppression(Engine& tandem, const std::function<void()>& kill,
                                     const std::function<Result<std::unique_ptr<Engine>>()>& open_app) {
  TableSchema t{.name = "r"};
  t.columns = {{.name = "id", .type = {.kind = Kind::kInt}, .nullable = false},
               {.name = "v", .type = {.kind = Kind::kText}}};
  t.primary_key = {"id"};
  ASSERT_OK(tandem.CreateTable(t));
  auto capture = OpenChangeSource(tandem);
  ASSERT_OK(capture);
  ASSERT_OK((*capture)->Install({{"r", {"id"}}}));
  ASSERT_OK((*capture)->SuppressOwnWrites(true));
  kill();
  auto gone = tandem.Count("r", {"id"}, {});
  ASSERT_FALSE(gone) << "the session was killed";
  EXPECT_EQ(gone.error().code, Code::kUnavailable) << gone.error().ToString();
  EXPECT_TRUE(tandem.ConnectionLost());
  ASSERT_OK(tandem.Reconnect());
  EXPECT_FALSE(tandem.ConnectionLost());
  ASSERT_OK(tandem.Write("r", {"id", "v"}, {"id"}, {{Value::Int(1), Value::Text("tandem")}},
                         WriteMode::kInsert));
  auto app = open_app();
  ASSERT_OK(app);
  ASSERT_OK((*app)->Write("r", {"id", "v"}, {"id"}, {{Value::Int(2), Value::Text("app")}},
                      WriteMode::kInsert));
  auto changes = (*capture)->Read(Position{}, 100);
  ASSERT_OK(changes);
  ASSERT_EQ(changes->changes.size(), 1u) << "tandem's own write after the reconnect was captured";
  EXPECT_EQ(changes->changes[0].key[0].ToDisplay(), "2");
}

TEST(PostgresReconnect, TerminatedBackendReconnectsWithItsSettings) {
  std::string admin = testing::TestServerVar("TANDEM_TEST_PG");
  ASSERT_FALSE(admin.empty()) << "TANDEM_TEST_PG is not set (tests/servers/pg-up.sh)";
  auto conn = pg::PgConnection::Open(admin, "");
  ASSERT_OK(conn);
  std::string db = fmt::format("faults_{}", ::getpid());
  (void)conn->Exec("drop", fmt::format("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", db));
  ASSERT_OK(conn->Exec("create", fmt::format("CREATE DATABASE \"{}\"", db)));
  {
    auto tandem = OpenEngine(WithDatabase(admin, db), "");
    ASSERT_OK(tandem);
    auto sql = pg::PgConnection::Open(WithDatabase(admin, db), "");
    ASSERT_OK(sql);
    ExpectReconnectKeepsSuppression(**tandem, [&] {
      // Every session of the database but `sql` and this one: tandem's.
      auto r = conn->Exec("kill",
                          fmt::format("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                      "WHERE datname = '{}' AND pid <> {} AND pid <> "
                                      "pg_backend_pid() AND application_name = 'tandem' AND "
                                      "backend_type = 'client backend'",
                                      db, PQbackendPID(sql->get())));
      ASSERT_OK(r);
    }, [&] { return OpenEngine(WithDatabase(admin, db), ""); });
  }
  (void)conn->Exec("drop", fmt::format("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", db));
}

TEST(MariadbReconnect, KilledConnectionReconnectsWithItsSettings) {
  std::string uri = testing::TestServerVar("TANDEM_TEST_MYSQL");
  ASSERT_FALSE(uri.empty()) << "TANDEM_TEST_MYSQL is not set (tests/servers/mariadb-up.sh)";
  auto parsed = mysql::ParseMysqlUri(uri, "");
  ASSERT_OK(parsed);
  auto admin = mysql::MysqlConnection::Connect(*parsed);
  ASSERT_OK(admin);
  std::string db = fmt::format("faults_{}", ::getpid());
  ASSERT_OK(admin->Exec("DROP DATABASE IF EXISTS `" + db + "`", "drop"));
  ASSERT_OK(admin->Exec("CREATE DATABASE `" + db + "`", "create"));
  std::string dburi = WithDatabase(uri, db);
  {
    auto tandem = OpenEngine(dburi, "");
    ASSERT_OK(tandem);
    // The only session on the database is tandem's.
    auto ids = admin->Query(
        "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = '" + db + "' ORDER BY ID", "ids");
    ASSERT_OK(ids);
    MYSQL_ROW row = ids->Next();
    ASSERT_NE(row, nullptr);
    std::string tandem_id = row[0];
    ExpectReconnectKeepsSuppression(
        **tandem, [&] { ASSERT_OK(admin->Exec("KILL " + tandem_id, "kill")); },
        [&] { return OpenEngine(dburi, ""); });
  }
  ASSERT_OK(admin->Exec("DROP DATABASE IF EXISTS `" + db + "`", "drop"));
}

}  // namespace
}  // namespace tandem::faults
