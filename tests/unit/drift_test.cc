// mapping/drift: what changed in a source table's columns and what to write in tandem.yaml;
// the ADD COLUMN builders of each dialect.
#include <gtest/gtest.h>

#include "engines/mysql/mysql_dialect.h"
#include "engines/postgres/pg_dialect.h"
#include "engines/sqlite/sqlite_dialect.h"
#include "mapping/drift.h"

namespace tandem::mapping {
namespace {

Column Col(std::string name, std::string engine_type, Kind kind = Kind::kText) {
  Column c;
  c.name = std::move(name);
  c.engine_type = std::move(engine_type);
  c.type.kind = kind;
  return c;
}

TEST(Drift, AddedDroppedRetypedRenamed) {
  std::vector<Column> was = {Col("id", "BIGINT", Kind::kInt), Col("item", "TEXT"), Col("qty", "BIGINT", Kind::kInt)};
  auto added = DiffColumns(was, {was[0], was[1], was[2], Col("note", "TEXT")});
  ASSERT_EQ(added.size(), 1u);
  EXPECT_EQ(added[0].what, ColumnChange::What::kAdded);
  EXPECT_EQ(added[0].column, "note");
  auto dropped = DiffColumns(was, {was[0], was[1]});
  ASSERT_EQ(dropped.size(), 1u);
  EXPECT_EQ(dropped[0].what, ColumnChange::What::kDropped);
  EXPECT_EQ(dropped[0].column, "qty");
  auto retyped = DiffColumns(was, {was[0], was[1], Col("qty", "text")});
  ASSERT_EQ(retyped.size(), 1u);
  EXPECT_EQ(retyped[0].what, ColumnChange::What::kRetyped);
  auto renamed = DiffColumns(was, {was[0], was[1], Col("quantity", "bigint", Kind::kInt)});
  ASSERT_EQ(renamed.size(), 1u);
  EXPECT_EQ(renamed[0].what, ColumnChange::What::kRenamed);
  EXPECT_EQ(renamed[0].was, "qty");
  EXPECT_EQ(renamed[0].column, "quantity");
  EXPECT_TRUE(DiffColumns(was, was).empty());
}

TEST(Drift, MessageSaysWhatToWrite) {
  TableMap map;
  map.source = "orders";
  map.target = "order_t";
  ColumnMap qty;
  qty.source = "qty";
  qty.target = "quantity";
  map.columns.push_back(qty);
  ColumnChange add{.what = ColumnChange::What::kAdded, .column = "note", .now_type = "TEXT",
                   .portable = {.kind = Kind::kText}};
  std::string m = DescribeChanges("orders", {add}, &map);
  EXPECT_NE(m.find("column orders.note was added (TEXT)"), std::string::npos) << m;
  EXPECT_NE(m.find("`note: {to: note, type: text}`"), std::string::npos) << m;
  ColumnChange drop{.what = ColumnChange::What::kDropped, .column = "qty", .was_type = "BIGINT"};
  m = DescribeChanges("orders", {drop}, &map);
  EXPECT_NE(m.find("`qty: {drop: "), std::string::npos) << m;
  EXPECT_NE(m.find("the target column order_t.quantity stays"), std::string::npos) << m;
  EXPECT_TRUE(OnlyDrops({drop}));
  EXPECT_FALSE(OnlyDrops({drop, add}));
}

TEST(Drift, FitToMappingLeavesOutNewAndPutsBackGone) {
  TableSchema live;
  live.name = "orders";
  live.columns = {Col("id", "INTEGER", Kind::kInt), Col("note", "TEXT")};
  live.primary_key = {"id"};
  TableMap map;
  map.source = "orders";
  for (const char* c : {"id", "qty"}) {
    ColumnMap cm;
    cm.source = c;
    cm.target = c;
    map.columns.push_back(cm);
  }
  std::vector<ColumnChange> changes;
  TableSchema fit = FitToMapping(live, map, nullptr, changes);
  ASSERT_EQ(fit.columns.size(), 2u);
  EXPECT_EQ(fit.columns[0].name, "id");
  EXPECT_EQ(fit.columns[1].name, "qty");
  ASSERT_EQ(changes.size(), 2u);
  // A column the mapping drops may go unnoticed.
  map.columns[1].drop_reason = "gone";
  map.columns.push_back(ColumnMap{.source = "note", .target = "note"});
  fit = FitToMapping(live, map, nullptr, changes);
  EXPECT_TRUE(changes.empty());
  EXPECT_EQ(fit.columns.size(), 3u);
}

TEST(Drift, AddColumnSql) {
  Column c = Col("note", "", Kind::kText);
  EXPECT_EQ(sqlite::AddColumnSql("orders", c), R"(ALTER TABLE "orders" ADD COLUMN "note" TEXT)");
  EXPECT_EQ(pg::AddColumnSql("public", "orders", c),
            R"(ALTER TABLE "public"."orders" ADD COLUMN "note" text)");
  EXPECT_EQ(mysql::AddColumnSql("orders", c, {}).rfind("ALTER TABLE `orders` ADD COLUMN `note` ", 0), 0u);
}

}  // namespace
}  // namespace tandem::mapping
