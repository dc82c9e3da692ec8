// The assessment as JSON, as one self-contained HTML page and as the terminal summary.
#include <map>

#include "assess/assess.h"
#include "core/row_json.h"

namespace tandem::assess {

namespace {

using nlohmann::json;

std::string KeyText(const Row& key) {
  std::string out;
  for (const auto& v : key) out += (out.empty() ? "" : ", ") + v.ToDisplay();
  return key.size() == 1 ? out : "(" + out + ")";
}

json KeyJson(const Row& key) {
  json j = json::array();
  for (const auto& v : key) j.push_back(ValueToJson(v));
  return j;
}

std::string Escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        // Control characters are what some findings are about: show them, do not emit them.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') {
          out += fmt::format("\\x{:02X}", static_cast<unsigned char>(c));
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string Thousands(int64_t n) {
  std::string s = std::to_string(n < 0 ? -n : n);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return n < 0 ? "-" + s : s;
}

// The worst severity among a table's findings (kWarning + 1 when it has none).
int Worst(const Report& r, const std::string& table) {
  int worst = static_cast<int>(Severity::kWarning) + 1;
  for (const auto& f : r.findings) {
    if (f.table == table) worst = std::min(worst, static_cast<int>(f.severity));
  }
  return worst;
}

std::string_view SeverityLabel(Severity s) {
  switch (s) {
    case Severity::kReject: return "rows rejected";
    case Severity::kFails: return "object fails";
    case Severity::kWarning: return "warning";
  }
  return "";
}

// The YAML line to write in the table's `columns:` entry.
std::string YamlLine(const Finding& f) {
  if (f.suggestion.empty()) return "";
  if (f.column.find(',') != std::string::npos) return f.suggestion;
  return fmt::format("{}: {{..., {}}}", f.column, f.suggestion);
}

constexpr std::string_view kCss = R"css(
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1f2933;background:#f4f6f8}
header{background:#1f2933;color:#fff;padding:28px 40px 24px}
header h1{margin:0 0 6px;font-size:24px;font-weight:600;letter-spacing:.2px}
header .route{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px;color:#cbd2d9}
header .route b{color:#fff;font-weight:500}
header .when{font-size:13px;color:#9aa5b1;margin-top:4px}
main{max-width:1180px;margin:0 auto;padding:24px 40px 60px}
.verdict{border-radius:8px;padding:16px 20px;margin:0 0 22px;font-size:16px;border:1px solid}
.verdict.bad{background:#fdecea;border-color:#f5c2bd;color:#8a1c12}
.verdict.warn{background:#fff8e1;border-color:#f3df9d;color:#6b4e00}
.verdict.good{background:#e6f6ec;border-color:#b7e1c4;color:#1d6b38}
.cards{display:flex;gap:14px;margin-bottom:28px;flex-wrap:wrap}
.card{flex:1;min-width:160px;background:#fff;border-radius:8px;padding:14px 18px;box-shadow:0 1px 2px rgba(31,41,51,.08)}
.card .n{font-size:26px;font-weight:600}
.card .l{font-size:13px;color:#616e7c}
.card.reject.some .n{color:#c62828}.card.fails.some .n{color:#b45309}.card.warning.some .n{color:#8d6e00}
.card .n.zero{color:#9aa5b1}
.path{font-size:12.5px;color:#616e7c;margin-bottom:4px}
.path code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;color:#3e4c59}
.next{background:#fff;border-radius:8px;padding:12px 18px;margin:-8px 0 26px;font-size:14px;color:#3e4c59;box-shadow:0 1px 2px rgba(31,41,51,.08)}
.next code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f0f2f5;padding:0 5px;border-radius:4px}
h2{font-size:18px;margin:30px 0 12px;font-weight:600}
table.t{width:100%;border-collapse:collapse;background:#fff;border-radius:8px;overflow:hidden;box-shadow:0 1px 2px rgba(31,41,51,.08)}
table.t th{text-align:left;font-size:12px;text-transform:uppercase;letter-spacing:.5px;color:#616e7c;background:#f9fafb;padding:9px 14px;border-bottom:1px solid #e4e7eb}
table.t td{padding:9px 14px;border-bottom:1px solid #eef0f2;vertical-align:top}
table.t tr:last-child td{border-bottom:0}
table.t td.num{text-align:right;font-variant-numeric:tabular-nums}
.pill{display:inline-block;font-size:12px;font-weight:600;padding:2px 9px;border-radius:999px;white-space:nowrap}
.pill.reject{background:#fdecea;color:#c62828}.pill.fails{background:#fff1e0;color:#b45309}
.pill.warning{background:#fff8e1;color:#8d6e00}.pill.clean{background:#e6f6ec;color:#1d6b38}
.finding{background:#fff;border-radius:8px;box-shadow:0 1px 2px rgba(31,41,51,.08);margin:0 0 14px;border-left:5px solid #cbd2d9;padding:14px 20px 16px}
.finding.reject{border-left-color:#c62828}.finding.fails{border-left-color:#d97706}.finding.warning{border-left-color:#e0b400}
.finding .head{display:flex;align-items:baseline;gap:12px;flex-wrap:wrap}
.finding .kind{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-weight:600;font-size:15px}
.finding .where{color:#3e4c59}
.finding .count{margin-left:auto;font-weight:600;white-space:nowrap}
.finding .advice{margin:6px 0 8px;color:#3e4c59}
.finding dl{display:grid;grid-template-columns:120px 1fr;gap:4px 12px;margin:8px 0 0;font-size:14px}
.finding dt{color:#7b8794}
.finding dd{margin:0;word-break:break-word}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px}
.key{display:inline-block;background:#f0f2f5;border-radius:4px;padding:0 6px;margin:0 4px 4px 0;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
pre.yaml{margin:0;background:#1f2933;color:#e4e7eb;border-radius:6px;padding:9px 12px;font-size:13px;overflow-x:auto}
.muted{color:#7b8794}
footer{margin-top:36px;font-size:12.5px;color:#7b8794}
)css";

}  // namespace

json ReportJson(const Report& r) {
  json j;
  j["source"] = r.source;
  j["target"] = r.target;
  j["at"] = r.at;
  j["seconds"] = r.seconds;
  int64_t rows = 0, rejected = 0;
  j["tables"] = json::array();
  for (const auto& t : r.tables) {
    rows += t.rows;
    rejected += t.rejected;
    int worst = Worst(r, t.table);
    size_t n = 0;
    for (const auto& f : r.findings) n += f.table == t.table;
    j["tables"].push_back({{"table", t.table},
                           {"target", t.target_table},
                           {"rows", t.rows},
                           {"rejected", t.rejected},
                           {"flagged", t.flagged},
                           {"findings", n},
                           {"severity", worst > static_cast<int>(Severity::kWarning)
                                            ? json("clean")
                                            : json(SeverityName(static_cast<Severity>(worst)))},
                           {"seconds", t.seconds}});
  }
  j["rows"] = rows;
  j["rejected"] = rejected;
  j["findings"] = json::array();
  for (const auto& f : r.findings) {
    json keys = json::array();
    for (const auto& k : f.sample_keys) keys.push_back(KeyJson(k));
    j["findings"].push_back({{"table", f.table},
                             {"target", f.target_table},
                             {"column", f.column},
                             {"kind", ProblemName(f.kind)},
                             {"severity", SeverityName(f.severity)},
                             {"rejects", f.severity == Severity::kReject},
                             {"count", f.count},
                             {"sample_keys", keys},
                             {"rule", f.rule},
                             {"example", f.example},
                             {"suggestion", f.suggestion},
                             {"advice", f.advice}});
  }
  return j;
}

std::string ReportText(const Report& r) {
  std::string out;
  int64_t rows = 0, rejected = 0, flagged = 0;
  for (const auto& t : r.tables) rows += t.rows, rejected += t.rejected, flagged += t.flagged;
  out += fmt::format("assessed {} table(s), {} rows in {:.2f} s: {} row(s) would be rejected, "
                     "{} would land with a warning\n",
                     r.tables.size(), rows, r.seconds, rejected, flagged);
  if (r.findings.empty()) {
    out += "no findings: every row fits the target as mapped\n";
  } else {
    out += fmt::format("\n{:<8} {:<30} {:<18} {:<18} {:>8}  {}\n", "severity", "table -> target",
                       "column", "kind", "rows", "sample keys");
    for (const auto& f : r.findings) {
      std::string name = f.table == f.target_table ? f.table : f.table + " -> " + f.target_table;
      std::string keys;
      for (size_t i = 0; i < f.sample_keys.size() && i < 3; ++i) {
        keys += (i ? " " : "") + KeyText(f.sample_keys[i]);
      }
      if (f.count > 3) keys += " ...";
      out += fmt::format("{:<8} {:<30} {:<18} {:<18} {:>8}  {}\n", SeverityName(f.severity), name,
                         f.column, ProblemName(f.kind), f.count, keys);
      std::string example;
      for (char c : f.example) {
        if (static_cast<unsigned char>(c) < 0x20) {
          example += fmt::format("\\x{:02X}", static_cast<unsigned char>(c));
        } else {
          example += c;
        }
      }
      out += fmt::format("         e.g. {}\n", example);
      if (!f.suggestion.empty()) out += fmt::format("         fix: {}\n", YamlLine(f));
    }
  }
  out += fmt::format("\n{:<30} {:>10} {:>10} {:>10}\n", "table", "rows", "rejected", "warnings");
  for (const auto& t : r.tables) {
    std::string name = t.table == t.target_table ? t.table : t.table + " -> " + t.target_table;
    out += fmt::format("{:<30} {:>10} {:>10} {:>10}\n", name, t.rows, t.rejected, t.flagged);
  }
  return out;
}

std::string ReportHtml(const Report& r) {
  int64_t rows = 0, rejected = 0, flagged = 0;
  for (const auto& t : r.tables) rows += t.rows, rejected += t.rejected, flagged += t.flagged;
  size_t n_reject = 0, n_fails = 0, n_warn = 0;
  for (const auto& f : r.findings) {
    (f.severity == Severity::kReject ? n_reject : f.severity == Severity::kFails ? n_fails : n_warn)++;
  }
  std::string h;
  h += "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
       "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
       "<title>tandem assessment</title><style>";
  h += kCss;
  h += "</style></head><body>\n<header><h1>Migration assessment</h1>";
  h += fmt::format("<div class=\"route\"><b>{}</b> &rarr; <b>{}</b></div>", Escape(r.source),
                   Escape(r.target));
  std::string when = r.at;
  if (when.size() >= 16 && when[10] == 'T') when = when.substr(0, 10) + " " + when.substr(11, 5) + " UTC";
  h += fmt::format("<div class=\"when\">assessed {} &middot; every source row read through the "
                   "mapping in {} s</div></header>\n<main>\n",
                   Escape(when), r.seconds < 1 ? fmt::format("{:.2f}", r.seconds)
                                               : fmt::format("{:.1f}", r.seconds));
  if (rejected > 0 || n_fails > 0) {
    std::string what;
    if (rejected > 0) {
      what = fmt::format("<b>{} row{}</b> would be rejected by the copy", Thousands(rejected),
                         rejected == 1 ? "" : "s");
    }
    if (n_fails > 0) {
      what += fmt::format("{}<b>{} target object{}</b> (unique index or foreign key) would fail to "
                          "build",
                          what.empty() ? "" : ", and ", n_fails, n_fails == 1 ? "" : "s");
    }
    if (flagged > 0) {
      what += fmt::format("; {} more row{} would land with a warning", Thousands(flagged),
                          flagged == 1 ? "" : "s");
    }
    h += fmt::format("<div class=\"verdict bad\">{}. Each finding below says which rows, and the "
                     "mapping change that fixes them.</div>\n",
                     what);
  } else if (flagged > 0) {
    h += fmt::format("<div class=\"verdict warn\">Every row would land, but <b>{} row{}</b> carry "
                     "values that look wrong (see the warnings below).</div>\n",
                     Thousands(flagged), flagged == 1 ? "" : "s");
  } else {
    h += "<div class=\"verdict good\">Every row fits the target as mapped: nothing to fix before "
         "copying.</div>\n";
  }
  h += "<div class=\"cards\">";
  h += fmt::format("<div class=\"card\"><div class=\"n\">{}</div><div class=\"l\">rows read, "
                   "in {} tables</div></div>",
                   Thousands(rows), r.tables.size());
  auto card = [&](std::string_view cls, int64_t n, std::string_view label) {
    h += fmt::format("<div class=\"card {}{}\"><div class=\"n{}\">{}</div><div class=\"l\">{}</div>"
                     "</div>",
                     cls, n ? " some" : "", n ? "" : " zero", Thousands(n), label);
  };
  card("reject", rejected, "rows would be rejected");
  card("fails", static_cast<int64_t>(n_fails), "indexes or foreign keys would fail");
  card("warning", flagged, "rows would land with a warning");
  h += "</div>\n";
  if (!r.findings.empty()) {
    h += "<div class=\"next\">Next: write the suggested fixes into <code>tandem.yaml</code> (or "
         "correct the rows in the source) and run <code>tandem assess</code> again. Rows that "
         "still do not fit when copying are kept whole as rejects: <code>tandem rejects</code> "
         "lists them and <code>tandem rejects retry</code> copies them once fixed.</div>\n";
  }

  // Tables, worst first.
  std::vector<const TableSummary*> tables;
  for (const auto& t : r.tables) tables.push_back(&t);
  std::stable_sort(tables.begin(), tables.end(), [&](const TableSummary* a, const TableSummary* b) {
    int wa = Worst(r, a->table), wb = Worst(r, b->table);
    if (wa != wb) return wa < wb;
    return a->rejected > b->rejected;
  });
  h += "<h2>Tables</h2>\n<table class=\"t\"><tr><th>table</th><th>target</th><th>status</th>"
       "<th style=\"text-align:right\">rows</th><th style=\"text-align:right\">rejected</th>"
       "<th style=\"text-align:right\">warnings</th><th>findings</th></tr>\n";
  for (const auto* t : tables) {
    int worst = Worst(r, t->table);
    std::string pill = worst > static_cast<int>(Severity::kWarning)
                           ? "<span class=\"pill clean\">clean</span>"
                           : fmt::format("<span class=\"pill {}\">{}</span>",
                                         SeverityName(static_cast<Severity>(worst)),
                                         SeverityLabel(static_cast<Severity>(worst)));
    std::string kinds;
    std::map<std::string, int64_t> by_kind;
    for (const auto& f : r.findings) {
      if (f.table == t->table) by_kind[std::string(ProblemName(f.kind))] += f.count;
    }
    for (const auto& [k, n] : by_kind) {
      kinds += fmt::format("{}<span class=\"mono\">{}</span> {}", kinds.empty() ? "" : ", ", k,
                           Thousands(n));
    }
    if (kinds.empty()) kinds = "<span class=\"muted\">none</span>";
    h += fmt::format("<tr><td><b>{}</b></td><td class=\"mono\">{}</td><td>{}</td><td "
                     "class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
                     "<td>{}</td></tr>\n",
                     Escape(t->table), Escape(t->target_table), pill, Thousands(t->rows),
                     t->rejected ? Thousands(t->rejected) : "&ndash;",
                     t->flagged ? Thousands(t->flagged) : "&ndash;", kinds);
  }
  h += "</table>\n";

  if (!r.findings.empty()) {
    h += fmt::format("<h2>Findings ({})</h2>\n", r.findings.size());
  }
  for (const auto& f : r.findings) {
    std::string sev(SeverityName(f.severity));
    h += fmt::format("<div class=\"finding {}\"><div class=\"head\"><span class=\"pill {}\">{}</span>"
                     "<span class=\"kind\">{}</span><span class=\"where\">{} &rarr; {} &middot; "
                     "column <b>{}</b></span><span class=\"count\">{} row{}</span></div>",
                     sev, sev, SeverityLabel(f.severity), ProblemName(f.kind), Escape(f.table),
                     Escape(f.target_table), Escape(f.column), Thousands(f.count),
                     f.count == 1 ? "" : "s");
    h += fmt::format("<div class=\"advice\">{}.</div><dl>", Escape(f.advice));
    h += fmt::format("<dt>example</dt><dd class=\"mono\">{}</dd>", Escape(f.example));
    h += fmt::format("<dt>rule</dt><dd>{}</dd>", Escape(f.rule));
    std::string keys;
    for (const auto& k : f.sample_keys) keys += fmt::format("<span class=\"key\">{}</span>", Escape(KeyText(k)));
    if (static_cast<int64_t>(f.sample_keys.size()) < f.count) {
      keys += fmt::format("<span class=\"muted\">and {} more</span>",
                          Thousands(f.count - static_cast<int64_t>(f.sample_keys.size())));
    }
    h += fmt::format("<dt>keys</dt><dd>{}</dd>", keys);
    if (!f.suggestion.empty()) {
      h += fmt::format("<dt>suggested fix</dt><dd><div class=\"path\">in <code>tandem.yaml</code>, "
                       "table <code>{}</code>, column <code>{}</code>, add:</div><pre "
                       "class=\"yaml\">{}</pre></dd>",
                       Escape(f.table), Escape(f.column), Escape(f.suggestion));
    }
    h += "</dl></div>\n";
  }
  h += "<footer>Written by <b>tandem assess</b>. Severity: <i>rows rejected</i> &mdash; the copy "
       "would keep these rows as rejects (see <span class=\"mono\">tandem rejects</span>); "
       "<i>object fails</i> &mdash; the rows land but a unique index or foreign key cannot be "
       "built; <i>warning</i> &mdash; the rows land with values that are probably wrong. A row is "
       "counted once, under the first problem that rejects it.</footer>\n";
  h += "</main></body></html>\n";
  return h;
}

}  // namespace tandem::assess
