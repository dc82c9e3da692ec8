// An Engine that forwards to a real one and fails on demand (like leveldb's
// db/fault_injection_test.cc): a given method, the n-th call from now, with a given code, and
// optionally "the connection dies" (every call fails with kUnavailable until Reconnect()).
// Test-only; not thread-safe beyond what the wrapped engine allows (one thread per engine,
// except that readers may be driven from another thread, as the backfill does).
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "tandem/engine.h"

namespace tandem::faults {

enum class Method {
  kIntrospect, kScan, kNext /* RowReader::Next */, kSplit, kCount, kEstimateRows, kFetch,
  kWrite, kRemove, kRemoveRange, kCreateTable, kBegin, kCommit, kRollback,
};

class FaultEngine final : public Engine {
 public:
  explicit FaultEngine(Engine& real) : real_(real) {}

  // The `nth` call of `method` from now (1: the next one) fails with `code`. With `dies`, the
  // connection is lost from then on: every call fails with kUnavailable until Reconnect().
  void FailOn(Method method, int nth, Code code, bool dies = false) {
    std::lock_guard lock(mu_);
    faults_.push_back({method, calls_[method] + nth, code, dies});
  }
  // The next `n` Reconnect() calls fail with kUnavailable (the server is still away).
  void FailReconnects(int n) { failing_reconnects_ = n; }
  int calls(Method m) const {
    std::lock_guard lock(mu_);
    auto it = calls_.find(m);
    return it == calls_.end() ? 0 : it->second;
  }
  int reconnects() const { return reconnects_; }
  int injected() const { return injected_; }

  std::string_view kind() const override { return real_.kind(); }
  std::string Describe() const override { return "faulty " + real_.Describe(); }

  bool ConnectionLost() const override { return lost_; }
  Status Reconnect() override {
    ++reconnect_calls_;
    if (failing_reconnects_ > 0) {
      --failing_reconnects_;
      return Fail(Code::kUnavailable, "reconnect {}: connection refused (injected)", Describe());
    }
    TANDEM_RETURN_IF_ERROR(real_.Reconnect());
    lost_ = false;
    dead_ = false;
    ++reconnects_;
    return Ok();
  }

  Result<std::vector<TableSchema>> Introspect() override {
    TANDEM_RETURN_IF_ERROR(Check(Method::kIntrospect));
    return real_.Introspect();
  }
  Result<std::unique_ptr<RowReader>> Scan(const ScanRequest& req) override;
  Result<std::vector<Row>> Split(const std::string& table, const std::vector<std::string>& key,
                                 int n) override {
    TANDEM_RETURN_IF_ERROR(Check(Method::kSplit));
    return real_.Split(table, key, n);
  }
  Result<int64_t> Count(const std::string& table, const std::vector<std::string>& key,
                        const KeyRange& range) override {
    TANDEM_RETURN_IF_ERROR(Check(Method::kCount));
    return real_.Count(table, key, range);
  }
  Result<int64_t> EstimateRows(const std::string& table,
                               const std::vector<std::string>& key) override {
    TANDEM_RETURN_IF_ERROR(Check(Method::kEstimateRows));
    return real_.EstimateRows(table, key);
  }
  Result<std::vector<Row>> Fetch(const std::string& table, const std::vector<std::string>& columns,
                                 const std::vector<std::string>& key,
                                 const std::vector<Row>& keys) override {
    TANDEM_RETURN_IF_ERROR(Check(Method::kFetch));
    return real_.Fetch(table, columns, key, keys);
  }
  Status Write(const std::string& table, const std::vector<std::string>& columns,
               const std::vector<std::string>& key, const std::vector<Row>& rows,
               WriteMode mode) override {
    TANDEM_RETURN_IF_ERROR(Check(Method::kWrite));
    return real_.Write(table, columns, key, rows, mode);
  }
  Status Remove(const std::string& table, const std::vector<std::string>& key,
                const std::vector<Row>& keys) override {
    TANDEM_RETURN_IF_ERROR(Check(Method::kRemove));
    return real_.Remove(table, key, keys);
  }
  Status RemoveRange(const std::string& table, const std::vector<std::string>& key,
                     const KeyRange& range) override {
    TANDEM_RETURN_IF_ERROR(Check(Method::kRemoveRange));
    return real_.RemoveRange(table, key, range);
  }
  Status CreateTable(const TableSchema& table) override {
    TANDEM_RETURN_IF_ERROR(Check(Method::kCreateTable));
    return real_.CreateTable(table);
  }
  // Sequences pass through without faults.
  Result<std::vector<SequenceColumn>> SequenceColumns(const std::string& table) override {
    return real_.SequenceColumns(table);
  }
  Result<std::optional<int64_t>> MaxInteger(const std::string& table,
                                            const std::string& column) override {
    return real_.MaxInteger(table, column);
  }
  Result<int64_t> AdvanceSequence(const SequenceColumn& seq, int64_t next) override {
    return real_.AdvanceSequence(seq, next);
  }
  // A lost connection takes its open transaction with it: the real one is rolled back, as the
  // server would.
  Status Begin() override {
    TANDEM_RETURN_IF_ERROR(Check(Method::kBegin));
    return real_.Begin();
  }
  Status Commit() override {
    TANDEM_RETURN_IF_ERROR(Check(Method::kCommit));
    return real_.Commit();
  }
  Status Rollback() override {
    if (auto st = Check(Method::kRollback); !st) {
      (void)real_.Rollback();
      return st;
    }
    return real_.Rollback();
  }

  // Counts a call of `m` and fails it when a fault says so (or the connection is dead).
  Status Check(Method m) {
    std::lock_guard lock(mu_);
    int n = ++calls_[m];
    if (dead_) {
      ++injected_;
      if (m != Method::kRollback && m != Method::kNext) (void)real_.Rollback();
      return Fail(Code::kUnavailable, "{}: no connection to the server (injected)", Describe());
    }
    for (auto it = faults_.begin(); it != faults_.end(); ++it) {
      if (it->method != m || it->at != n) continue;
      Fault f = *it;
      faults_.erase(it);
      ++injected_;
      if (f.code == Code::kUnavailable) {
        lost_ = true;
        dead_ = f.dies;
        // The server ends the lost session's transaction (not from a reader's thread).
        if (m != Method::kRollback && m != Method::kNext) (void)real_.Rollback();
      }
      return Fail(f.code, "{}: call {} failed with {} (injected)", Describe(), n,
                  CodeName(f.code));
    }
    return Ok();
  }

 private:
  struct Fault {
    Method method;
    int at;  // fails when the call count reaches this
    Code code;
    bool dies;
  };
  Engine& real_;
  mutable std::mutex mu_;  // guards faults_ and calls_ (readers run on the backfill's thread)
  std::vector<Fault> faults_;
  std::map<Method, int> calls_;
  std::atomic<bool> lost_{false}, dead_{false};
  std::atomic<int> injected_{0};
  int failing_reconnects_ = 0, reconnects_ = 0, reconnect_calls_ = 0;
};

// Forwards Next() and fails when the engine's kNext fault fires (or its connection died).
class FaultReader final : public RowReader {
 public:
  FaultReader(FaultEngine& engine, std::unique_ptr<RowReader> real)
      : engine_(engine), real_(std::move(real)) {}
  bool Next(std::vector<Row>& batch) override {
    if (!status_) return false;
    if (auto st = engine_.Check(Method::kNext); !st) {
      status_ = st;
      return false;
    }
    return real_->Next(batch);
  }
  Status status() const override { return status_ ? real_->status() : status_; }

 private:
  FaultEngine& engine_;
  std::unique_ptr<RowReader> real_;
  Status status_ = Ok();
};

inline Result<std::unique_ptr<RowReader>> FaultEngine::Scan(const ScanRequest& req) {
  TANDEM_RETURN_IF_ERROR(Check(Method::kScan));
  TANDEM_ASSIGN_OR_RETURN(auto reader, real_.Scan(req));
  return std::unique_ptr<RowReader>(new FaultReader(*this, std::move(reader)));
}

}  // namespace tandem::faults
