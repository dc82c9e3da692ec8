// The backfill race rules of DESIGN.md, on real SQLite files: a change in a chunk not started
// yet is dropped (the chunk reads the newest row), a change in a copied chunk is applied, and a
// chunk write makes the target's key range equal to what the chunk read.
#include <filesystem>

#include <gtest/gtest.h>

#include "capture/change_stream.h"
#include "copy/backfill.h"
#include "mapping/config.h"
#include "mapping/transform.h"
#include "state/state_store.h"

namespace tandem {
namespace {

class NoProgress : public copy::Progress {
 public:
  void TableStarted(std::string_view, int64_t, int) override {}
  void Advanced(std::string_view, int64_t, int64_t) override {}
  void TableFinished(const copy::TableReport&) override {}
};

std::unique_ptr<Engine> Open(const std::string& path) {
  auto e = OpenEngine("sqlite:" + path, "/");
  EXPECT_TRUE(e) << e.error().ToString();
  return std::move(*e);
}

std::optional<std::string> TextOf(Engine& e, const std::string& table, int64_t id) {
  auto rows = e.Fetch(table, {"id", "v"}, {"id"}, {{Value::Int(id)}});
  EXPECT_TRUE(rows);
  if (rows->empty()) return std::nullopt;
  return (*rows)[0][1].ToString();
}

TEST(ChunkRule, DropsChangesForUnstartedChunksAppliesForDoneOnes) {
  auto dir = std::filesystem::temp_directory_path() /
             ("tandem-chunk-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
              "-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::string src_path = (dir / "src.db").string(), dst_path = (dir / "dst.db").string();
  auto source = Open(src_path), app = Open(src_path), target = Open(dst_path);

  TableSchema t{.name = "t"};
  t.columns = {{.name = "id", .type = {.kind = Kind::kInt}, .nullable = false},
               {.name = "v", .type = {.kind = Kind::kText}}};
  t.primary_key = {"id"};
  ASSERT_TRUE(source->CreateTable(t));
  ASSERT_TRUE(target->CreateTable(t));
  std::vector<Row> rows;
  for (int i = 1; i <= 100; ++i) rows.push_back({Value::Int(i), Value::Text("v" + std::to_string(i))});
  ASSERT_TRUE(source->Write("t", {"id", "v"}, {"id"}, rows, WriteMode::kInsert));
  // Rows the target holds but the source never had, inside the open-ended first and last chunks.
  ASSERT_TRUE(target->Write("t", {"id", "v"}, {"id"}, {{Value::Int(-7), Value::Text("stale")},
                                                        {Value::Int(500), Value::Text("stale")}},
                            WriteMode::kInsert));

  auto cfg = mapping::ParseConfig(
      "source: sqlite:src.db\ntarget: sqlite:dst.db\ntables:\n  - source: t\n    columns:\n"
      "      id: {to: id}\n      v: {to: v}\n",
      (dir / "tandem.yaml").string());
  ASSERT_TRUE(cfg) << cfg.error().message;
  auto tables = mapping::CompileAll(*cfg, {t}, {t});
  ASSERT_TRUE(tables) << tables.error().message;
  auto state = state::StateStore::Open("sqlite:state.db", dir.string());
  ASSERT_TRUE(state);
  auto source_changes = OpenChangeSource(*source);
  ASSERT_TRUE(source_changes);
  auto target_changes = OpenChangeSource(*target);
  ASSERT_TRUE(target_changes);
  ASSERT_TRUE((*source_changes)->SuppressOwnWrites(true));
  ASSERT_TRUE((*target_changes)->SuppressOwnWrites(true));

  capture::ChangeStream forward("forward", *source, **source_changes, *target, *tables, *state);
  ASSERT_TRUE(forward.Install());
  NoProgress progress;
  copy::Backfill backfill(*tables, *source, *target, *state, progress, {.chunk_rows = 25});
  ASSERT_TRUE(backfill.Plan());
  auto chunk_rule = [&](std::string_view table, const Row& key) {
    return backfill.ChunkDone(table, key);
  };

  int calls = 0;
  capture::PollResult first;
  auto run = backfill.Run([&]() -> Status {
    if (++calls != 1) {
      auto r = forward.Poll(1000, chunk_rule);
      if (!r) return std::unexpected(r.error());
      return Ok();
    }
    // After the first chunk (keys up to ~25): the application writes in chunks done and not.
    EXPECT_TRUE(app->Write("t", {"id", "v"}, {"id"}, {{Value::Int(5), Value::Text("new5")},
                                                        {Value::Int(80), Value::Text("new80")},
                                                        {Value::Int(1000), Value::Text("new1000")}},
                           WriteMode::kUpsert));
    EXPECT_TRUE(app->Remove("t", {"id"}, {{Value::Int(60)}}));
    auto r = forward.Poll(1000, chunk_rule);
    EXPECT_TRUE(r);
    first = *r;
    return Ok();
  });
  ASSERT_TRUE(run) << run.error().ToString();
  EXPECT_EQ(first.changes, 4u);
  EXPECT_EQ(first.applied, 1u);  // key 5: its chunk is copied
  EXPECT_EQ(first.skipped, 3u);  // 80, 60 and 1000: their chunks will read the newest rows
  EXPECT_EQ(TextOf(*target, "t", 5), "new5");
  EXPECT_EQ(TextOf(*target, "t", 80), "new80");
  EXPECT_EQ(TextOf(*target, "t", 1000), "new1000");
  EXPECT_EQ(TextOf(*target, "t", 60), std::nullopt);
  EXPECT_EQ(TextOf(*target, "t", -7), std::nullopt) << "the first chunk must clear its range";
  EXPECT_EQ(TextOf(*target, "t", 500), std::nullopt) << "the last chunk must clear its range";
  auto count = target->Count("t", {"id"}, {});
  ASSERT_TRUE(count);
  EXPECT_EQ(*count, 100);  // 100 - 60 + 1000
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tandem
