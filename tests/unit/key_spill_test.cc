// The spill files of assess's duplicate and foreign-key checks (src/assess/key_spill.h): every
// entry comes back from exactly one partition, the key log returns each key exactly, and
// only what a budget allows stays in memory after a flush.
#include "assess/key_spill.h"

#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>

#include <gtest/gtest.h>
#include <unistd.h>

namespace tandem::assess {
namespace {

class KeySpillTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tandem-key-spill-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

// With no memory to keep entries in, with some (the rest spilled) and with enough for all.
class KeySpillKeptTest : public KeySpillTest, public ::testing::WithParamInterface<int64_t> {};

TEST_P(KeySpillKeptTest, EveryEntryComesBackFromTheOnePartitionItsHashChose) {
  const uint64_t n = 200000;  // 4.8 MB of entries
  std::optional<KeptMemory> kept;
  if (GetParam() >= 0) kept.emplace(static_cast<size_t>(GetParam()));
  auto spill = KeySpill::Create((dir_ / "k0").string(), kept ? &*kept : nullptr);
  ASSERT_TRUE(spill) << spill.error().ToString();
  // Hashes spread over the whole range (a multiplicative sequence), each with its own place.
  std::map<KeyHash, uint64_t> want;
  for (uint64_t i = 0; i < n; ++i) {
    KeyHash h{i * 0x9E3779B97F4A7C15ull, ~i};
    want[h] = i * 7;
    ASSERT_TRUE((*spill)->Add(h, i * 7));
  }
  ASSERT_TRUE((*spill)->Flush());
  EXPECT_EQ((*spill)->entries(), static_cast<int64_t>(n));
  uint64_t on_disk = std::filesystem::file_size(dir_ / "k0");
  EXPECT_EQ((*spill)->spilled_bytes(), on_disk);
  if (GetParam() < 0 || GetParam() == 0) {
    EXPECT_EQ(on_disk, n * 24);  // all written
  } else if (GetParam() < static_cast<int64_t>(n * 24)) {
    EXPECT_GT(on_disk, 0u);
    EXPECT_LT(on_disk, n * 24);
    // What was kept is within the budget: the rest is on disk.
    EXPECT_GE(on_disk + static_cast<uint64_t>(GetParam()), n * 24);
  } else {
    EXPECT_EQ(on_disk, 0u);  // all kept
  }
  size_t total = 0, largest = 0;
  for (int p = 0; p < KeySpill::kPartitions; ++p) {
    auto got = (*spill)->Load(p);
    ASSERT_TRUE(got) << got.error().ToString();
    for (const auto& e : *got) {
      EXPECT_EQ(static_cast<int>(e.hash.hi >> 56), p);
      auto it = want.find(e.hash);
      ASSERT_NE(it, want.end());
      EXPECT_EQ(it->second, e.place);
      want.erase(it);
    }
    total += got->size();
    largest = std::max(largest, got->size());
  }
  EXPECT_EQ(total, n);
  EXPECT_TRUE(want.empty());
  // A partition is a small share of the whole (what bounds memory at check time).
  EXPECT_LT(largest, 3 * n / KeySpill::kPartitions);
}

INSTANTIATE_TEST_SUITE_P(Budgets, KeySpillKeptTest,
                         ::testing::Values(int64_t{-1}, int64_t{0}, int64_t{2} << 20,
                                           int64_t{64} << 20));

TEST_F(KeySpillTest, AnEmptyPartitionLoadsAsNothing) {
  auto spill = KeySpill::Create((dir_ / "k1").string());
  ASSERT_TRUE(spill);
  ASSERT_TRUE((*spill)->Add(KeyHash{0, 1}, 0));  // partition 0 only
  ASSERT_TRUE((*spill)->Flush());
  auto none = (*spill)->Load(200);
  ASSERT_TRUE(none) << none.error().ToString();
  EXPECT_TRUE(none->empty());
  auto one = (*spill)->Load(0);
  ASSERT_TRUE(one);
  EXPECT_EQ(one->size(), 1u);
}

TEST_F(KeySpillTest, AnUnwritableDirectoryIsAClearError) {
  auto spill = KeySpill::Create((dir_ / "missing" / "k2").string());
  ASSERT_FALSE(spill);
  EXPECT_EQ(spill.error().code, Code::kFailedPrecondition);
  EXPECT_NE(spill.error().message.find("missing"), std::string::npos) << spill.error().message;
}

TEST_F(KeySpillTest, TheKeyLogReturnsEveryKeyExactly) {
  auto log = KeyLog::Create((dir_ / "keys").string());
  ASSERT_TRUE(log) << log.error().ToString();
  std::vector<Row> rows = {
      {Value::Int(1)},
      {Value::Int(std::numeric_limits<int64_t>::min()), Value::Text("")},
      {Value::Text(std::string("a\0b", 3)), Value::Bytes(std::string("\xFF\x00", 2))},
      {Value::Null(), Value::Bool(true), Value::Float(-0.0), Value::Decimal("12.50")},
      {Value::Date(-719162), Value::Time(1), Value::Timestamp(-5), Value::TimestampTz(7)},
      {Value::Uuid(std::string(16, '\x01')), Value::Json("{\"a\": 1}"),
       Value::Float(std::numeric_limits<double>::infinity())},
      {Value::Text(std::string(100000, 'x'))},  // larger than a write buffer
  };
  std::vector<uint64_t> places;
  for (const Row& r : rows) {
    std::vector<int> all;
    for (size_t i = 0; i < r.size(); ++i) all.push_back(static_cast<int>(i));
    auto place = (*log)->Append(r, all);
    ASSERT_TRUE(place) << place.error().ToString();
    if (!places.empty()) {
      EXPECT_GT(*place, places.back());  // places keep the scan order
    }
    places.push_back(*place);
  }
  // Only the chosen positions are logged.
  Row wide = {Value::Text("skip"), Value::Int(42), Value::Text("skip too")};
  auto middle = (*log)->Append(wide, {1});
  ASSERT_TRUE(middle);
  ASSERT_TRUE((*log)->Flush());
  for (size_t i = 0; i < rows.size(); ++i) {
    auto got = (*log)->Read(places[i]);
    ASSERT_TRUE(got) << got.error().ToString();
    ASSERT_EQ(got->size(), rows[i].size()) << i;
    for (size_t k = 0; k < rows[i].size(); ++k) {
      EXPECT_EQ((*got)[k].kind(), rows[i][k].kind()) << i << "," << k;
      if (rows[i][k].kind() == Kind::kFloat) {
        EXPECT_EQ(std::signbit((*got)[k].as_float()), std::signbit(rows[i][k].as_float()));
        EXPECT_EQ((*got)[k].as_float(), rows[i][k].as_float());
      } else {
        EXPECT_EQ((*got)[k], rows[i][k]) << i << "," << k;
      }
    }
  }
  auto got = (*log)->Read(*middle);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, Row{Value::Int(42)});
}

}  // namespace
}  // namespace tandem::assess
