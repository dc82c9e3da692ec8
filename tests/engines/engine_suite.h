// The engine suite: the same cases run against every engine. Each engine instantiates it in
// its own <engine>_instance_test.cc with INSTANTIATE_TEST_SUITE_P(<Engine>, EngineSuite, ...).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "tandem/change_source.h"
#include "tandem/engine.h"

namespace tandem::testing {

struct EngineTarget {
  std::string name;  // "sqlite", "postgres", "mysql"
  // Opens a connection to a new, empty database (unique per call). Fails the test (not skips)
  // when the server is unreachable.
  std::function<Result<std::unique_ptr<Engine>>()> open_fresh;
};

inline std::string PrintToString(const EngineTarget& t) { return t.name; }

class EngineSuite : public ::testing::TestWithParam<EngineTarget> {
 protected:
  void SetUp() override {
    auto e = GetParam().open_fresh();
    ASSERT_TRUE(e.has_value()) << e.error().ToString();
    engine_ = std::move(*e);
  }
  std::unique_ptr<Engine> engine_;
};

// Changes in a short readable form for assertions: "3:tD('a',1) 4:tI(...)" (the position's
// text first: trigger sources spell their seq).
std::string Describe(const std::vector<Change>& changes);
// The same without positions: "tD('a',1) tI(...)".
std::string DescribeKeys(const std::vector<Change>& changes);

// Trigger positions in tests, which know what the trigger sources spell.
inline Position SeqPos(int64_t seq) { return Position{seq == 0 ? "" : std::to_string(seq)}; }
inline int64_t SeqNum(const Position& p) { return p.text.empty() ? 0 : std::stoll(p.text); }
inline int64_t SeqNum(const Change& c) { return SeqNum(c.position); }

// Reads KEY=VALUE lines from $TANDEM_TEST_SERVERS/env (written by tests/servers/up.sh).
// Returns "" when the variable or file is missing.
std::string TestServerVar(const std::string& key);

}  // namespace tandem::testing
