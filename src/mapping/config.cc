#include "mapping/config.h"

#include <algorithm>
#include <thread>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "core/encoding.h"
#include "core/text.h"
#include "core/timezone.h"

namespace tandem::mapping {

std::string Where::ToString() const { return fmt::format("{}:{}", file, line); }

namespace {

std::string_view GapName(OnGap g) { return g == OnGap::kReject ? "reject" : "shift_forward"; }
std::string_view FoldName(OnFold f) {
  return f == OnFold::kReject ? "reject" : f == OnFold::kEarlier ? "earlier" : "later";
}

// An expression cut for a rule or message: the first line, at most 60 bytes.
std::string Shorten(std::string_view s, size_t max = 60) {
  s = s.substr(0, s.find('\n'));
  if (s.size() <= max) return std::string(s);
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return std::string(s.substr(0, cut)) + "...";
}

}  // namespace

std::string Step::Rule() const {
  switch (op) {
    case Op::kTrim: return "trim";
    case Op::kLower: return "lower";
    case Op::kUpper: return "upper";
    case Op::kDefault: return fmt::format("default: {}", arg.ToDisplay());
    case Op::kTimeZone: {
      std::string r;
      if (!from_tz.empty()) r = "from_tz: " + from_tz;
      if (!to_tz.empty()) r += (r.empty() ? "" : ", ") + std::string("to_tz: ") + to_tz;
      return r;
    }
    case Op::kDecode: return "decode: " + encoding;
    case Op::kEncode: return "encode: " + encoding + " (reverse of decode)";
    case Op::kFixMojibake: return keep_ambiguous ? "fix_mojibake: keep" : "fix_mojibake";
    case Op::kExpr: return "expr: " + Shorten(expr);
  }
  return "";
}

std::string ZeroDatePolicy::Rule() const {
  switch (kind) {
    case Kind::kNull: return "zero_date: null";
    case Kind::kReject: return "zero_date: reject";
    case Kind::kValue: return fmt::format("zero_date: {}", value.ToDisplay());
  }
  return "";
}

std::string TimeZoneRule(std::string_view rule, OnGap g) {
  return fmt::format("{} (on_gap: {})", rule, GapName(g));
}
std::string TimeZoneRule(std::string_view rule, OnFold f) {
  return fmt::format("{} (on_fold: {})", rule, FoldName(f));
}

const ColumnMap* TableMap::FindColumn(std::string_view source_column) const {
  for (const auto& c : columns) {
    if (c.source == source_column) return &c;
  }
  return nullptr;
}

int Config::Jobs(int cli) const {
  if (cli > 0) return cli;
  if (jobs > 0) return jobs;
  unsigned cores = std::thread::hardware_concurrency();
  return static_cast<int>(std::clamp<unsigned>(cores, 1, 8));
}

const TableMap* Config::FindBySource(std::string_view source_table) const {
  for (const auto& t : tables) {
    if (t.source == source_table) return &t;
  }
  return nullptr;
}

namespace {

// Collects every problem of the file instead of stopping at the first.
class Parser {
 public:
  explicit Parser(std::string file) : file_(std::move(file)) {}

  Where At(const YAML::Node& n) const { return Where{file_, n.Mark().line + 1}; }

  void Problem(const YAML::Node& n, std::string_view key, std::string_view msg) {
    problems_.push_back(fmt::format("{}: {}: {}", At(n).ToString(), key, msg));
  }

  // What a node is, for "expected X, got Y".
  static std::string_view KindOf(const YAML::Node& n) {
    if (n.IsMap()) return "a map";
    if (n.IsSequence()) return "a list";
    if (n.IsNull()) return "nothing";
    return "a single value";
  }

  std::optional<std::string> Scalar(const YAML::Node& n, std::string_view key) {
    if (!n.IsScalar()) {
      Problem(n, key, fmt::format("expected a single value, got {}", KindOf(n)));
      return std::nullopt;
    }
    return n.Scalar();
  }

  // True when `n` is a map; otherwise records what was expected.
  bool IsMap(const YAML::Node& n, std::string_view key, std::string_view expected) {
    if (n.IsMap()) return true;
    Problem(n, key, fmt::format("expected {}, got {}", expected, KindOf(n)));
    return false;
  }

  // A whole number in [min, max] (options.chunk_rows: 0 would divide by zero later).
  std::optional<int> PositiveInt(const YAML::Node& n, std::string_view key, int max, int min = 1) {
    if (!n.IsScalar()) {
      Problem(n, key, fmt::format("expected a whole number from {} to {}, got {}", min, max, KindOf(n)));
      return std::nullopt;
    }
    const std::string& text = n.Scalar();
    const std::string* s = &text;
    int v = 0;
    auto r = std::from_chars(s->data(), s->data() + s->size(), v);
    if (r.ec != std::errc() || r.ptr != s->data() + s->size() || v < min || v > max) {
      Problem(n, key, fmt::format("expected a whole number from {} to {}, got '{}'", min, max, *s));
      return std::nullopt;
    }
    return v;
  }

  // yaml-cpp keeps both entries of a repeated key and node["k"] answers the first, so a
  // second `source:` or `to:` would be ignored without a word: every map of the file is
  // checked for repeated keys (and for keys that are not plain names) before it is read.
  void RepeatedKeys(const YAML::Node& n, const std::string& path) {
    if (n.IsSequence()) {
      size_t i = 0;
      for (const auto& item : n) RepeatedKeys(item, fmt::format("{}[{}]", path, i++));
      return;
    }
    if (!n.IsMap()) return;
    std::map<std::string, int> first_line;
    for (const auto& kv : n) {
      if (!kv.first.IsScalar()) {
        Problem(kv.first, path.empty() ? "(key)" : path,
                fmt::format("a key must be a plain name, got {}", KindOf(kv.first)));
        continue;
      }
      std::string k = kv.first.Scalar();
      std::string key = path.empty() ? k : path + "." + k;
      auto [it, fresh] = first_line.emplace(k, kv.first.Mark().line + 1);
      if (!fresh) {
        Problem(kv.first, key, fmt::format("key given twice (first at line {}); keep one", it->second));
      }
      RepeatedKeys(kv.second, key);
    }
  }

  // Unknown keys are typos until proven otherwise.
  void OnlyKeys(const YAML::Node& n, std::string_view where, std::set<std::string> known) {
    for (const auto& kv : n) {
      std::string k = kv.first.Scalar();
      if (!known.contains(k)) {
        std::string list;
        for (const auto& x : known) list += (list.empty() ? "" : ", ") + x;
        Problem(kv.first, fmt::format("{}.{}", where, k),
                fmt::format("unknown key (expected one of: {})", list));
      }
    }
  }

  // A value (number, text, bool or null); a list or map is a problem at `key`.
  Value ScalarValue(const YAML::Node& n, std::string_view key) {
    if (n.IsMap() || n.IsSequence()) {
      Problem(n, key, fmt::format("expected a single value, got {}", KindOf(n)));
      return Value::Null();
    }
    return ScalarValue(n);
  }

  Value ScalarValue(const YAML::Node& n) {
    if (n.IsNull() || (n.IsScalar() && n.Tag() != "!" && (n.Scalar() == "~" || n.Scalar() == "null"))) {
      return Value::Null();
    }
    if (!n.IsScalar()) return Value::Null();
    const std::string& s = n.Scalar();
    if (n.Tag() == "!") return Value::Text(s);  // quoted: always text
    int64_t i;
    if (YAML::convert<int64_t>::decode(n, i) && s.find_first_not_of("+-0123456789") == std::string::npos) {
      return Value::Int(i);
    }
    if (s == "true" || s == "false") return Value::Bool(s == "true");
    return Value::Text(s);
  }

  std::optional<PortableType> Type(const YAML::Node& n, std::string_view key) {
    auto s = Scalar(n, key);
    if (!s) return std::nullopt;
    auto t = ParsePortableType(*s);
    if (!t) {
      Problem(n, key, t.error().message);
      return std::nullopt;
    }
    return *t;
  }

  void ParseColumn(const std::string& table, const std::string& name, const YAML::Node& spec,
                   TableMap& out) {
    ColumnMap c;
    c.source = name;
    c.where = At(spec);
    std::string key = fmt::format("tables.{}.columns.{}", table, name);
    if (spec.IsScalar()) {  // shorthand: `old_name: new_name`
      c.target = spec.Scalar();
      out.columns.push_back(std::move(c));
      return;
    }
    if (!spec.IsMap()) {
      Problem(spec, key, "expected {to: name, ...} or {drop: \"reason\"}");
      return;
    }
    OnlyKeys(spec, key,
             {"to", "type", "transform", "on_null", "default", "map", "on_unmapped", "drop",
              "reverse", "identity", "on_update", "engine_type", "zero_date"});
    if (spec["drop"]) {
      auto reason = Scalar(spec["drop"], key + ".drop");
      if (reason && reason->empty()) Problem(spec["drop"], key + ".drop", "a drop needs a reason");
      if (spec["to"]) Problem(spec, key, "a column is either mapped (to:) or dropped, not both");
      c.drop_reason = reason.value_or("");
      out.columns.push_back(std::move(c));
      return;
    }
    if (!spec["to"]) {
      Problem(spec, key, "missing 'to:' (the target column) or 'drop:' (with a reason)");
      return;
    }
    c.target = Scalar(spec["to"], key + ".to").value_or("");
    if (spec["type"]) c.type = Type(spec["type"], key + ".type");
    if (auto et = spec["engine_type"]) {
      c.engine_type = Scalar(et, key + ".engine_type");
      if (c.engine_type && c.engine_type->empty()) {
        Problem(et, key + ".engine_type", "an empty engine_type: delete the key to use the type's");
      }
    }
    if (auto d = spec["default"]) ParseDefault(d, key + ".default", c);
    if (auto id = spec["identity"]) c.identity = Bool(id, key + ".identity");
    if (auto on = spec["on_update"]) {
      std::string v = AsciiLower(Scalar(on, key + ".on_update").value_or(""));
      if (v == "current_timestamp") {
        c.on_update_current_timestamp = true;
      } else {
        Problem(on, key + ".on_update", fmt::format("'{}' is not current_timestamp", v));
      }
    }
    if (auto on = spec["on_null"]) {
      std::string v = Scalar(on, key + ".on_null").value_or("");
      if (v == "keep") c.on_null = OnNull::kKeep;
      else if (v == "default") c.on_null = OnNull::kDefault;
      else if (v == "reject") c.on_null = OnNull::kReject;
      else Problem(on, key + ".on_null", fmt::format("'{}' is not keep, default or reject", v));
      if (c.on_null == OnNull::kDefault && !c.default_value) {
        Problem(on, key + ".on_null", "on_null: default needs a constant 'default:' value");
      }
    }
    if (auto tr = spec["transform"]) {
      if (!tr.IsSequence()) {
        Problem(tr, key + ".transform", "expected a list, e.g. [trim, lower]");
      } else {
        for (const auto& step : tr) ParseStep(step, key + ".transform", c);
      }
    }
    if (auto m = spec["map"]) {
      if (!m.IsMap()) {
        Problem(m, key + ".map", "expected {from: to, ...}");
      } else {
        for (const auto& kv : m) {
          std::optional<std::string> to;
          std::string mkey = key + ".map." + kv.first.Scalar();
          if (!ScalarValue(kv.second, mkey).is_null()) to = kv.second.Scalar();
          c.value_map.emplace_back(kv.first.Scalar(), to);
        }
      }
    }
    if (auto on = spec["on_unmapped"]) {
      std::string v = Scalar(on, key + ".on_unmapped").value_or("");
      if (v == "keep") c.on_unmapped = OnUnmapped::kKeep;
      else if (v == "reject") c.on_unmapped = OnUnmapped::kReject;
      else Problem(on, key + ".on_unmapped", fmt::format("'{}' is not keep or reject", v));
      if (!spec["map"]) Problem(on, key + ".on_unmapped", "on_unmapped without a map");
    }
    if (auto r = spec["reverse"]) c.reverse = Scalar(r, key + ".reverse");
    if (auto z = spec["zero_date"]) {
      ZeroDatePolicy p;
      p.where = At(z);
      Value v = ScalarValue(z, key + ".zero_date");
      if (v.is_null()) {
        p.kind = ZeroDatePolicy::Kind::kNull;
      } else if (z.Tag() != "!" && z.Scalar() == "reject") {
        p.kind = ZeroDatePolicy::Kind::kReject;
      } else if (z.IsScalar() && (z.Scalar() == "keep" || z.Scalar().empty())) {
        Problem(z, key + ".zero_date",
                "expected null, reject or a replacement date (e.g. '1970-01-01'); a zero date "
                "cannot be kept");
      } else {
        p.kind = ZeroDatePolicy::Kind::kValue;
        p.value = v;
      }
      c.zero_date = p;
    }
    out.columns.push_back(std::move(c));
  }

  bool Bool(const YAML::Node& n, const std::string& key) {
    if (n.IsScalar() && (n.Scalar() == "true" || n.Scalar() == "false")) return n.Scalar() == "true";
    Problem(n, key, "expected true or false");
    return false;
  }

  std::vector<std::string> Names(const YAML::Node& n, const std::string& key) {
    std::vector<std::string> out;
    if (n.IsScalar()) return {n.Scalar()};
    if (!n.IsSequence()) {
      Problem(n, key, fmt::format("expected a list of column names, got {}", KindOf(n)));
      return out;
    }
    for (const auto& x : n) {
      if (auto s = Scalar(x, key + "[]")) out.push_back(*s);
    }
    return out;
  }

  // `default:` a constant, an unquoted current_timestamp / current_date / current_time, or
  // {sql: "target SQL"}.
  void ParseDefault(const YAML::Node& d, const std::string& key, ColumnMap& c) {
    ColumnDefault def;
    if (d.IsMap()) {
      OnlyKeys(d, key, {"sql"});
      if (!d["sql"]) {
        Problem(d, key, "expected a constant, current_timestamp, or {sql: \"...\"}");
        return;
      }
      def.kind = ColumnDefault::Kind::kExpression;
      def.expression = Scalar(d["sql"], key + ".sql").value_or("");
      c.target_default = def;
      return;
    }
    std::string low = d.IsScalar() && d.Tag() != "!" ? AsciiLower(d.Scalar()) : "";
    if (low == "current_timestamp" || low == "now()") {
      def.kind = ColumnDefault::Kind::kCurrentTimestamp;
    } else if (low == "current_date") {
      def.kind = ColumnDefault::Kind::kCurrentDate;
    } else if (low == "current_time") {
      def.kind = ColumnDefault::Kind::kCurrentTime;
    } else {
      c.default_value = ScalarValue(d, key);
      def.literal = *c.default_value;
    }
    c.target_default = def;
  }

  void ParseIndexes(const YAML::Node& list, const std::string& key, TableMap& tm) {
    if (!list.IsSequence()) {
      Problem(list, key, "expected a list of {name: ..., columns: [...]}");
      return;
    }
    for (const auto& n : list) {
      if (!IsMap(n, key + "[]", "a map {name: ..., columns: [...]}")) continue;
      std::string ikey = key + "." + (n["name"] && n["name"].IsScalar() ? n["name"].Scalar() : "[]");
      OnlyKeys(n, ikey, {"name", "columns", "unique", "where", "expression", "using"});
      IndexMap im;
      im.where = At(n);
      if (!n["name"]) Problem(n, ikey, "an index needs a 'name:'");
      else im.index.name = Scalar(n["name"], ikey + ".name").value_or("");
      if (n["unique"]) im.index.unique = Bool(n["unique"], ikey + ".unique");
      if (n["where"]) im.index.where = Scalar(n["where"], ikey + ".where").value_or("");
      if (n["using"]) im.index.method = Scalar(n["using"], ikey + ".using").value_or("");
      if (n["columns"]) {
        for (const auto& text : Names(n["columns"], ikey + ".columns")) {
          // "name", "name desc", "name(20)", "name(20) desc".
          IndexPart p;
          std::string t(TrimSpace(text));
          std::string low = AsciiLower(t);
          if (low.ends_with(" desc")) {
            p.descending = true;
            t = std::string(TrimSpace(t.substr(0, t.size() - 5)));
          } else if (low.ends_with(" asc")) {
            t = std::string(TrimSpace(t.substr(0, t.size() - 4)));
          }
          if (t.ends_with(")") && t.find('(') != std::string::npos) {
            size_t open = t.rfind('(');
            std::string digits = t.substr(open + 1, t.size() - open - 2);
            if (!digits.empty() && digits.find_first_not_of("0123456789") == std::string::npos) {
              p.prefix_length = std::stoi(digits);
              t = std::string(TrimSpace(t.substr(0, open)));
            }
          }
          p.column = t;
          im.index.parts.push_back(std::move(p));
        }
      }
      if (n["expression"]) {
        IndexPart p;
        p.expression = Scalar(n["expression"], ikey + ".expression").value_or("");
        im.index.parts.push_back(std::move(p));
      }
      if (im.index.parts.empty()) Problem(n, ikey, "an index needs 'columns:' or 'expression:'");
      tm.indexes.push_back(std::move(im));
    }
  }

  void ParseForeignKeys(const YAML::Node& list, const std::string& key, TableMap& tm) {
    if (!list.IsSequence()) {
      Problem(list, key, "expected a list of {name: ..., columns: [...], references: table, ref_columns: [...]}");
      return;
    }
    for (const auto& n : list) {
      if (!IsMap(n, key + "[]", "a map {name: ..., columns: [...], references: ...}")) continue;
      std::string fkey = key + "." + (n["name"] && n["name"].IsScalar() ? n["name"].Scalar() : "[]");
      OnlyKeys(n, fkey, {"name", "columns", "references", "ref_columns", "on_delete", "on_update"});
      ForeignKeyMap fm;
      fm.where = At(n);
      for (const char* k : {"name", "columns", "references", "ref_columns"}) {
        if (!n[k]) Problem(n, fkey, fmt::format("a foreign key needs '{}:'", k));
      }
      if (n["name"]) fm.fk.name = Scalar(n["name"], fkey + ".name").value_or("");
      if (n["columns"]) fm.fk.columns = Names(n["columns"], fkey + ".columns");
      if (n["references"]) fm.fk.ref_table = Scalar(n["references"], fkey + ".references").value_or("");
      if (n["ref_columns"]) fm.fk.ref_columns = Names(n["ref_columns"], fkey + ".ref_columns");
      if (fm.fk.columns.size() != fm.fk.ref_columns.size()) {
        Problem(n, fkey, fmt::format("{} columns but {} ref_columns", fm.fk.columns.size(),
                                     fm.fk.ref_columns.size()));
      }
      for (const char* k : {"on_delete", "on_update"}) {
        if (!n[k]) continue;
        std::string v = Scalar(n[k], fkey + "." + k).value_or("");
        auto a = ParseFkAction(v);
        if (!a) {
          Problem(n[k], fkey + "." + k,
                  fmt::format("'{}' is not no_action, restrict, cascade, set_null or set_default", v));
          continue;
        }
        (std::string_view(k) == "on_delete" ? fm.fk.on_delete : fm.fk.on_update) = *a;
      }
      tm.foreign_keys.push_back(std::move(fm));
    }
  }

  void ParseChecks(const YAML::Node& list, const std::string& key, TableMap& tm) {
    if (!list.IsSequence()) {
      Problem(list, key, "expected a list of {name: ..., check: \"SQL\"}");
      return;
    }
    for (const auto& n : list) {
      if (!IsMap(n, key + "[]", "a map {name: ..., check: \"SQL\"}")) continue;
      std::string ckey = key + "." + (n["name"] && n["name"].IsScalar() ? n["name"].Scalar() : "[]");
      OnlyKeys(n, ckey, {"name", "check"});
      CheckMap cm;
      cm.where = At(n);
      if (!n["name"]) Problem(n, ckey, "a check needs a 'name:'");
      else cm.check.name = Scalar(n["name"], ckey + ".name").value_or("");
      if (!n["check"]) Problem(n, ckey, "a check needs 'check:' (an SQL condition)");
      else cm.check.expression = Scalar(n["check"], ckey + ".check").value_or("");
      tm.checks.push_back(std::move(cm));
    }
  }

  void ParseStep(const YAML::Node& step, const std::string& key, ColumnMap& c) {
    Step st;
    st.where = At(step);
    if (step.IsScalar()) {
      const std::string& s = step.Scalar();
      if (s == "trim") st.op = Step::Op::kTrim;
      else if (s == "lower") st.op = Step::Op::kLower;
      else if (s == "upper") st.op = Step::Op::kUpper;
      else if (s == "fix_mojibake") st.op = Step::Op::kFixMojibake;
      else {
        Problem(step, key,
                fmt::format("unknown transform '{}' (trim, lower, upper, fix_mojibake, "
                            "{{default: v}}, {{from_tz: Zone}}, {{decode: encoding}}, "
                            "{{expr: \"SQL\"}})",
                            s));
        return;
      }
      c.steps.push_back(std::move(st));
      return;
    }
    if (!step.IsMap() || step.size() == 0) {
      Problem(step, key, "a transform is a name (trim) or a map ({default: 0}, {from_tz: Zone})");
      return;
    }
    if (step["from_tz"] || step["to_tz"]) {
      OnlyKeys(step, key, {"from_tz", "to_tz", "on_gap", "on_fold"});
      st.op = Step::Op::kTimeZone;
      for (const char* k : {"from_tz", "to_tz"}) {
        if (!step[k]) continue;
        std::string zone = Scalar(step[k], key + "." + k).value_or("");
        if (auto z = TimeZone::Find(zone); !z) {
          Problem(step[k], key + "." + k, z.error().message);
        }
        (std::string_view(k) == "from_tz" ? st.from_tz : st.to_tz) = zone;
      }
      if (auto g = step["on_gap"]) {
        std::string v = Scalar(g, key + ".on_gap").value_or("");
        if (v == "reject") st.on_gap = OnGap::kReject;
        else if (v == "shift_forward") st.on_gap = OnGap::kShiftForward;
        else Problem(g, key + ".on_gap", fmt::format("'{}' is not reject or shift_forward", v));
      }
      if (auto f = step["on_fold"]) {
        std::string v = Scalar(f, key + ".on_fold").value_or("");
        if (v == "reject") st.on_fold = OnFold::kReject;
        else if (v == "earlier") st.on_fold = OnFold::kEarlier;
        else if (v == "later") st.on_fold = OnFold::kLater;
        else Problem(f, key + ".on_fold", fmt::format("'{}' is not reject, earlier or later", v));
      }
      if ((step["on_gap"] || step["on_fold"]) && !step["from_tz"]) {
        Problem(step, key, "on_gap and on_fold need from_tz (the zone the local times are in)");
      }
      c.steps.push_back(std::move(st));
      return;
    }
    if (step.size() != 1) {
      Problem(step, key, "a transform map has one key ({decode: cp1252}), except from_tz with "
                         "to_tz, on_gap and on_fold");
      return;
    }
    std::string op = step.begin()->first.Scalar();
    const YAML::Node arg = step.begin()->second;
    std::string akey = key + "." + op;
    if (op == "default") {
      st.op = Step::Op::kDefault;
      st.arg = ScalarValue(arg, akey);
    } else if (op == "decode") {
      st.op = Step::Op::kDecode;
      std::string name = Scalar(arg, akey).value_or("");
      if (auto canonical = CanonicalEncoding(name)) {
        st.encoding = *canonical;
      } else {
        Problem(arg, akey, fmt::format("unknown encoding '{}' (latin1, cp1252, mariadb_latin1, "
                                       "utf-8, or a name iconv knows such as cp1251, "
                                       "iso-8859-15, gbk)",
                                       name));
      }
    } else if (op == "fix_mojibake") {
      st.op = Step::Op::kFixMojibake;
      std::string v = Scalar(arg, akey).value_or("");
      if (v == "keep") st.keep_ambiguous = true;
      else if (v != "reject") Problem(arg, akey, fmt::format("'{}' is not keep or reject", v));
    } else if (op == "expr") {
      st.op = Step::Op::kExpr;
      st.expr = Scalar(arg, akey).value_or("");
      if (std::string_view(TrimSpace(st.expr)).empty()) Problem(arg, akey, "an empty expression");
    } else {
      Problem(step, key, fmt::format("unknown transform '{}'", op));
      return;
    }
    c.steps.push_back(std::move(st));
  }

  // A zone name of `timezone:` (the file's or a table's): checked here, with its line.
  void CheckZone(const YAML::Node& n, const std::string& key, const std::string& zone) {
    if (auto z = TimeZone::Find(zone); !z) Problem(n, key, z.error().message);
  }

  void ParseTable(const YAML::Node& t, Config& cfg) {
    TableMap tm;
    tm.where = At(t);
    if (!t.IsMap()) {
      Problem(t, "tables[]", fmt::format("expected a map {{source: name, columns: ...}}, got {}", KindOf(t)));
      return;
    }
    if (!t["source"]) {
      Problem(t, "tables[]", "each table needs 'source:'");
      return;
    }
    tm.source = Scalar(t["source"], "tables[].source").value_or("");
    std::string key = fmt::format("tables.{}", tm.source);
    OnlyKeys(t, key, {"source", "target", "key", "columns", "add", "drop", "indexes",
                      "foreign_keys", "checks", "timezone"});
    if (auto tz = t["timezone"]) {
      tm.timezone = Scalar(tz, key + ".timezone");
      tm.timezone_where = At(tz);
      if (tm.timezone) CheckZone(tz, key + ".timezone", *tm.timezone);
    }
    if (auto d = t["drop"]) {
      tm.drop_reason = Scalar(d, key + ".drop").value_or("");
      if (tm.drop_reason->empty()) Problem(d, key + ".drop", "a dropped table needs a reason");
      cfg.tables.push_back(std::move(tm));
      return;
    }
    tm.target = t["target"] ? Scalar(t["target"], key + ".target").value_or(tm.source) : tm.source;
    if (auto k = t["key"]) {
      if (k.IsScalar() && k.Scalar() == "none" && k.Tag() != "!") {
        tm.keyless = true;  // a column named none is written as a list: [none]
      } else if (k.IsScalar()) {
        tm.key.push_back(k.Scalar());
      } else if (k.IsSequence()) {
        for (const auto& x : k) {
          if (auto name = Scalar(x, key + ".key[]")) tm.key.push_back(*name);
        }
      } else {
        Problem(k, key + ".key", fmt::format("expected a column name or a list of column names, got {}", KindOf(k)));
      }
    }
    auto cols = t["columns"];
    if (!cols) {
      Problem(t, key, "missing 'columns:' (every source column, mapped or dropped)");
    } else if (!cols.IsMap()) {
      Problem(cols, key + ".columns",
              fmt::format("expected a map of every source column, got {}", KindOf(cols)));
    } else {
      std::set<std::string> seen;
      for (const auto& kv : cols) {
        std::string name = kv.first.Scalar();
        if (!seen.insert(name).second) {
          Problem(kv.first, key + ".columns." + name, "listed twice");
          continue;
        }
        ParseColumn(tm.source, name, kv.second, tm);
      }
    }
    if (auto add = t["add"]; add && IsMap(add, key + ".add", "a map {column: value, ...}")) {
      for (const auto& kv : add) {
        AddColumn a;
        a.target = kv.first.Scalar();
        a.where = At(kv.first);
        std::string akey = key + ".add." + a.target;
        if (kv.second.IsMap()) {
          const YAML::Node& n = kv.second;
          OnlyKeys(n, akey, {"value", "type", "from", "expr", "reverse"});
          if (n["expr"]) {
            a.expr = Scalar(n["expr"], akey + ".expr").value_or("");
            if (std::string_view(TrimSpace(*a.expr)).empty()) {
              Problem(n["expr"], akey + ".expr", "an empty expression");
            }
            if (!n["from"]) {
              Problem(n, akey, "an expression needs 'from:' (the source columns it reads)");
            } else {
              a.from = Names(n["from"], akey + ".from");
            }
            if (n["value"]) Problem(n, akey, "an added column has a 'value:' or an 'expr:', not both");
            if (auto r = n["reverse"]) {
              a.reverse = Scalar(r, akey + ".reverse");
              if (a.reverse && *a.reverse != "none") {
                Problem(r, akey + ".reverse",
                        fmt::format("'{}' is not none (the reverse stream leaves the 'from:' "
                                    "columns to their default)",
                                    *a.reverse));
              }
            }
            a.where = At(n["expr"]);
          } else {
            if (n["from"]) Problem(n, akey, "'from:' without an 'expr:'");
            if (n["reverse"]) Problem(n, akey, "'reverse:' is for an 'expr:'");
            if (!n["value"]) Problem(n, akey, "missing 'value:' (a constant) or 'expr:'");
            a.value = ScalarValue(n["value"], akey + ".value");
          }
          if (n["type"]) a.type = Type(n["type"], akey + ".type");
        } else {
          a.value = ScalarValue(kv.second, akey);
        }
        tm.adds.push_back(std::move(a));
      }
    }
    if (auto ix = t["indexes"]; ix && !ix.IsNull()) ParseIndexes(ix, key + ".indexes", tm);
    if (auto fk = t["foreign_keys"]; fk && !fk.IsNull()) ParseForeignKeys(fk, key + ".foreign_keys", tm);
    if (auto ch = t["checks"]; ch && !ch.IsNull()) ParseChecks(ch, key + ".checks", tm);
    cfg.tables.push_back(std::move(tm));
  }

  Result<Config> Parse(const std::string& yaml) {
    Config cfg;
    cfg.path = file_;
    cfg.dir = std::filesystem::absolute(file_).parent_path().string();
    YAML::Node root;
    try {
      root = YAML::Load(yaml);
    } catch (const YAML::Exception& e) {
      return Fail(Code::kInvalidArgument, "{}:{}: {}", file_, e.mark.line + 1, e.msg);
    }
    if (!root.IsMap()) return Fail(Code::kInvalidArgument, "{}: expected a mapping document", file_);
    try {
      RepeatedKeys(root, "");
      OnlyKeys(root, "", {"source", "target", "state", "timezone", "hooks", "options", "tables"});
      for (const char* k : {"source", "target"}) {
        if (!root[k]) problems_.push_back(fmt::format("{}: missing '{}:' (a database URI)", file_, k));
      }
      if (root["source"]) cfg.source = Scalar(root["source"], "source").value_or("");
      if (root["target"]) cfg.target = Scalar(root["target"], "target").value_or("");
      std::string stem = std::filesystem::path(file_).stem().string();
      cfg.state = root["state"] ? Scalar(root["state"], "state").value_or("")
                                : fmt::format("sqlite:{}.state.db", stem);
      if (auto tz = root["timezone"]) {
        cfg.timezone = Scalar(tz, "timezone").value_or("UTC");
        cfg.timezone_where = At(tz);
        CheckZone(tz, "timezone", cfg.timezone);
      }
      if (auto h = root["hooks"]; h && IsMap(h, "hooks", "a map {reads: command, ...}")) {
        OnlyKeys(h, "hooks", {"reads", "writes", "rollback", "freeze", "unfreeze", "finalize"});
        for (const auto& kv : h) {
          // A hook is a shell command; {x: 1} or a list taken as "no command" would make a
          // freeze that freezes nothing.
          std::string hkey = "hooks." + kv.first.Scalar();
          if (!kv.second.IsScalar()) {
            Problem(kv.second, hkey,
                    fmt::format("expected a shell command (one string), got {}", KindOf(kv.second)));
            continue;
          }
          cfg.hooks[kv.first.Scalar()] = kv.second.Scalar();
        }
      }
      if (auto o = root["options"]; o && IsMap(o, "options", "a map {chunk_rows: n, ...}")) {
        OnlyKeys(o, "options", {"chunk_rows", "batch_rows", "batch_bytes", "jobs", "sequence_headroom"});
        constexpr int kMaxRows = 100'000'000;
        if (o["chunk_rows"]) {
          cfg.chunk_rows = PositiveInt(o["chunk_rows"], "options.chunk_rows", kMaxRows).value_or(cfg.chunk_rows);
        }
        if (o["batch_rows"]) {
          cfg.batch_rows = PositiveInt(o["batch_rows"], "options.batch_rows", kMaxRows).value_or(cfg.batch_rows);
        }
        if (o["batch_bytes"]) {
          // From 64 KB (smaller would make every batch a row or two) to 1 GB.
          cfg.batch_bytes = PositiveInt(o["batch_bytes"], "options.batch_bytes", 1 << 30, 64 << 10)
                                .value_or(cfg.batch_bytes);
        }
        if (o["jobs"]) {
          cfg.jobs = PositiveInt(o["jobs"], "options.jobs", kMaxJobs).value_or(cfg.jobs);
        }
        if (auto h = o["sequence_headroom"]) {
          // 0 is allowed: the next value is then exactly one past the highest in use.
          constexpr int kMaxHeadroom = 1'000'000'000;
          cfg.sequence_headroom = PositiveInt(h, "options.sequence_headroom", kMaxHeadroom, 0)
                                      .value_or(cfg.sequence_headroom);
        }
      }
      if (!root["tables"]) {
        problems_.push_back(fmt::format("{}: missing 'tables:' list", file_));
      } else if (!root["tables"].IsSequence()) {
        Problem(root["tables"], "tables",
                fmt::format("expected a list of tables (- source: ...), got {}", KindOf(root["tables"])));
      } else {
        std::set<std::string> seen;
        for (const auto& t : root["tables"]) {
          ParseTable(t, cfg);
          if (!cfg.tables.empty() && !seen.insert(cfg.tables.back().source).second) {
            Problem(t, "tables." + cfg.tables.back().source, "table listed twice");
          }
        }
      }
    } catch (const YAML::Exception& e) {
      problems_.push_back(fmt::format("{}:{}: {}", file_, e.mark.line + 1, e.msg));
    }
    if (!problems_.empty()) {
      std::string all;
      for (const auto& p : problems_) all += "\n  " + p;
      return Fail(Code::kInvalidArgument, "{} has {} problem{}:{}", file_, problems_.size(),
                  problems_.size() == 1 ? "" : "s", all);
    }
    return cfg;
  }

 private:
  std::string file_;
  std::vector<std::string> problems_;
};

}  // namespace

Result<Config> ParseConfig(const std::string& yaml, const std::string& path) {
  return Parser(path).Parse(yaml);
}

Result<Config> LoadConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return Fail(Code::kNotFound, "cannot read mapping file {} (create one with `tandem init`)",
                path);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseConfig(ss.str(), path);
}

}  // namespace tandem::mapping
