#include "mapping/expression.h"

#include "core/text.h"

namespace tandem::mapping {

namespace {

constexpr std::string_view kArgPrefix = ":tandem_";
constexpr std::string_view kEnd = ":tandem_end";

// SQLite's words without the wrapper's "sqlite: " prefix.
std::string SqliteWords(const Error& e) {
  std::string_view m = e.message;
  if (m.starts_with("sqlite: ")) m.remove_prefix(8);
  while (m.starts_with(": ")) m.remove_prefix(2);
  return std::string(m);
}

}  // namespace

ExpressionSet::ExpressionSet(const ExpressionSet& other) { *this = other; }

ExpressionSet& ExpressionSet::operator=(const ExpressionSet& other) {
  if (this == &other) return *this;
  std::vector<Compiled> copy;
  {
    std::lock_guard lock(other.mu_);
    for (const auto& c : other.list_) {
      Compiled n;
      n.sql = c.sql;
      n.names = c.names;
      n.value_allowed = c.value_allowed;
      copy.push_back(std::move(n));
    }
  }
  std::lock_guard lock(mu_);
  list_.clear();
  db_.reset();
  for (auto& c : copy) {
    // Each prepared once already, on the same SQLite: a failure now is a bug (or no memory);
    // the statement stays invalid and Eval reports it for every row instead of crashing.
    if (!db_ && !Open()) break;
    (void)Prepare(c);
    list_.push_back(std::move(c));
  }
  return *this;
}

ExpressionSet::ExpressionSet(ExpressionSet&& other) noexcept {
  std::lock_guard lock(other.mu_);
  db_ = std::move(other.db_);
  list_ = std::move(other.list_);
}

ExpressionSet& ExpressionSet::operator=(ExpressionSet&& other) noexcept {
  if (this == &other) return *this;
  std::scoped_lock lock(mu_, other.mu_);
  list_.clear();
  db_ = std::move(other.db_);
  list_ = std::move(other.list_);
  return *this;
}

Status ExpressionSet::Open() {
  auto db = sqlite::Database::Open(":memory:");
  if (!db) return std::unexpected(db.error());
  db_ = std::make_unique<sqlite::Database>(std::move(*db));
  return Ok();
}

Status ExpressionSet::Prepare(Compiled& c) {
  std::string sql = fmt::format("SELECT ({}\n) FROM (SELECT ", c.sql);
  for (size_t i = 0; i < c.names.size(); ++i) {
    sql += fmt::format("{}{} AS {}, ", kArgPrefix, i, QuoteDoubling(c.names[i], '"'));
  }
  sql += fmt::format("{} AS tandem_end)", kEnd);
  auto st = db_->Prepare(sql);
  if (!st) return Fail(Code::kInvalidArgument, "{}", SqliteWords(st.error()));
  int n = st->ParameterCount();
  c.param_arg.assign(n + 1, -1);
  bool end_seen = false;
  for (int i = 1; i <= n; ++i) {
    std::string name = st->ParameterName(i);
    if (name.empty()) {
      if (!c.value_allowed) {
        return Fail(Code::kInvalidArgument,
                    "`?` stands for the value of the column being transformed; an expression "
                    "with `from:` names its columns instead");
      }
      c.param_arg[i] = static_cast<int>(c.names.size());
    } else if (name == kEnd) {
      end_seen = true;
    } else if (name.starts_with(kArgPrefix) && name.size() > kArgPrefix.size() &&
               name.find_first_not_of("0123456789", kArgPrefix.size()) == std::string::npos) {
      c.param_arg[i] = std::stoi(name.substr(kArgPrefix.size()));
    } else {
      return Fail(Code::kInvalidArgument,
                  "parameter {} is not something tandem binds (write `?` for the value, or the "
                  "column names listed in `from:`)",
                  name);
    }
  }
  // A `)` or `;` in the expression that closes the wrapper early leaves the end marker out.
  if (!end_seen || st->ColumnCount() != 1) {
    return Fail(Code::kInvalidArgument, "expected exactly one SQL expression");
  }
  c.stmt = std::move(*st);
  return Ok();
}

Result<int> ExpressionSet::Add(const std::string& sql, const std::vector<std::string>& names,
                               bool value_allowed) {
  std::lock_guard lock(mu_);
  if (std::string_view(TrimSpace(sql)).empty()) {
    return Fail(Code::kInvalidArgument, "an empty expression");
  }
  if (!db_) TANDEM_RETURN_IF_ERROR(Open());
  Compiled c;
  c.sql = sql;
  c.names = names;
  c.value_allowed = value_allowed;
  TANDEM_RETURN_IF_ERROR(Prepare(c));
  list_.push_back(std::move(c));
  return static_cast<int>(list_.size() - 1);
}

Result<Value> ExpressionSet::Eval(int index, const Row& args) const {
  std::lock_guard lock(mu_);
  Compiled& c = list_[index];
  auto refuse = [](std::string message) -> std::unexpected<Error> {
    return std::unexpected(Error{Code::kInvalidArgument, std::move(message), Problem::kExpressionError});
  };
  if (!c.stmt.valid()) return refuse("the expression could not be prepared again");
  for (size_t i = 1; i < c.param_arg.size(); ++i) {
    int a = c.param_arg[i];
    if (a < 0) continue;
    if (auto st = c.stmt.Bind(static_cast<int>(i), args[a]); !st) {
      c.stmt.Reset();
      return refuse(SqliteWords(st.error()));
    }
  }
  auto row = c.stmt.Step();
  if (!row) {
    c.stmt.Reset();
    return refuse(SqliteWords(row.error()));
  }
  Value v = *row ? c.stmt.Column(0) : Value::Null();
  c.stmt.Reset();
  return v;
}

}  // namespace tandem::mapping
