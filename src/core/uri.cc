// URI helpers every layer needs without linking the engines (the state store opens its own
// SQLite file from a sqlite: URI), and the one URI parser and redactor.
#include "core/uri.h"

#include <algorithm>
#include <charconv>
#include <filesystem>

#include "core/text.h"
#include "tandem/engine.h"

namespace tandem {

namespace {

bool IsSchemeChar(char c, bool first) {
  bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  if (first) return alpha;
  return alpha || (c >= '0' && c <= '9') || c == '+' || c == '.' || c == '-';
}

// The scheme of `uri` (up to the first ':'), or nullopt when it has none.
std::optional<std::string_view> SchemeOf(std::string_view uri) {
  size_t colon = uri.find(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  for (size_t i = 0; i < colon; ++i) {
    if (!IsSchemeChar(uri[i], i == 0)) return std::nullopt;
  }
  return uri.substr(0, colon);
}

// Schemes whose remainder is a file path, not an authority.
bool IsFileScheme(std::string_view scheme) { return scheme == "sqlite" || scheme == "file"; }

}  // namespace

std::optional<std::string> PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    int v = 0;
    auto r = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
    if (r.ec != std::errc() || r.ptr != s.data() + i + 3) return std::nullopt;
    out += static_cast<char>(v);
    i += 2;
  }
  return out;
}

std::optional<std::string> Uri::ParamValue(std::string_view key) const {
  std::string want = AsciiLower(key);
  for (const auto& p : params) {
    if (AsciiLower(p.key) == want) return p.value;
  }
  return std::nullopt;
}

Result<Uri> ParseUri(std::string_view uri) {
  Uri out;
  auto scheme = SchemeOf(uri);
  if (!scheme) return Fail(Code::kInvalidArgument, "not a URI: expected scheme:... at the start");
  out.scheme = AsciiLower(*scheme);
  size_t pos = scheme->size() + 1;
  if (IsFileScheme(out.scheme)) {
    std::string_view path = uri.substr(pos);
    if (path.starts_with("//")) path.remove_prefix(2);  // sqlite:///abs -> /abs
    out.database = std::string(path);
    return out;
  }
  if (uri.substr(pos, 2) != "//") {
    return Fail(Code::kInvalidArgument, "{} URI: expected {}://", out.scheme, out.scheme);
  }
  pos += 2;
  std::string_view rest = uri.substr(pos);

  // The user info ends at the last '@': a password may hold '@' and '/' unescaped.
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = rest.substr(0, at);
    std::string_view user = userinfo;
    if (size_t colon = userinfo.find(':'); colon != std::string_view::npos) {
      user = userinfo.substr(0, colon);
      auto p = PercentDecode(userinfo.substr(colon + 1));
      if (!p) {
        return Fail(Code::kInvalidArgument,
                    "{} URI: bad %-escape in the password (write '%' as %25)", out.scheme);
      }
      out.password = std::move(*p);
      out.password_span = Uri::Span{pos + colon + 1, pos + at};
    }
    auto u = PercentDecode(user);
    if (!u) return Fail(Code::kInvalidArgument, "{} URI: bad %-escape in the user name", out.scheme);
    out.user = std::move(*u);
    pos += at + 1;
    rest = rest.substr(at + 1);
  }

  std::string_view query;
  size_t query_pos = std::string_view::npos;
  if (size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    query_pos = pos + q + 1;
    rest = rest.substr(0, q);
  }
  std::string_view hostport = rest, path;
  if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
    hostport = rest.substr(0, slash);
    path = rest.substr(slash + 1);
  }

  std::string_view host = hostport, port;
  if (hostport.starts_with('[')) {  // [::1]:5432
    size_t close = hostport.find(']');
    if (close == std::string_view::npos) {
      return Fail(Code::kInvalidArgument, "{} URI: unclosed '[' in the host", out.scheme);
    }
    host = hostport.substr(1, close - 1);
    std::string_view after = hostport.substr(close + 1);
    if (after.starts_with(':')) {
      port = after.substr(1);
    } else if (!after.empty()) {
      return Fail(Code::kInvalidArgument, "{} URI: unexpected text after ']' in the host",
                  out.scheme);
    }
  } else if (std::count(hostport.begin(), hostport.end(), ':') > 1) {
    return Fail(Code::kInvalidArgument, "{} URI: an IPv6 host must be written in brackets, [::1]",
                out.scheme);
  } else if (hostport.find(',') != std::string_view::npos) {
    return Fail(Code::kInvalidArgument, "{} URI: several hosts are not supported", out.scheme);
  } else if (size_t colon = hostport.find(':'); colon != std::string_view::npos) {
    host = hostport.substr(0, colon);
    port = hostport.substr(colon + 1);
  }
  auto h = PercentDecode(host);
  if (!h) return Fail(Code::kInvalidArgument, "{} URI: bad %-escape in the host", out.scheme);
  out.host = std::move(*h);
  if (!port.empty()) {
    unsigned p = 0;
    auto r = std::from_chars(port.data(), port.data() + port.size(), p);
    if (r.ec != std::errc() || r.ptr != port.data() + port.size() || p == 0 || p > 65535) {
      return Fail(Code::kInvalidArgument, "{} URI: bad port '{}' (expected 1 to 65535)",
                  out.scheme, port);
    }
    out.port = p;
  }
  auto db = PercentDecode(path);
  if (!db) return Fail(Code::kInvalidArgument, "{} URI: bad %-escape in the database", out.scheme);
  out.database = std::move(*db);

  size_t kv_pos = query_pos;
  while (kv_pos != std::string_view::npos && kv_pos <= uri.size()) {
    size_t amp = query.find('&');
    std::string_view kv = query.substr(0, amp);
    size_t this_pos = kv_pos;
    if (amp == std::string_view::npos) {
      query = {};
      kv_pos = std::string_view::npos;
    } else {
      query = query.substr(amp + 1);
      kv_pos += amp + 1;
    }
    if (kv.empty()) continue;
    size_t eq = kv.find('=');
    auto key = PercentDecode(kv.substr(0, eq));
    auto value = PercentDecode(eq == std::string_view::npos ? "" : kv.substr(eq + 1));
    if (!key || !value) {
      return Fail(Code::kInvalidArgument, "{} URI: bad %-escape in a parameter", out.scheme);
    }
    if (AsciiLower(*key) == "password") {
      out.password_params.push_back(Uri::Span{this_pos, this_pos + kv.size()});
    }
    out.params.push_back(Uri::Param{std::move(*key), std::move(*value)});
  }
  return out;
}

std::optional<std::string> SqlitePath(const std::string& uri, const std::string& base_dir) {
  if (!uri.starts_with("sqlite:")) return std::nullopt;
  auto parsed = ParseUri(uri);
  if (!parsed || parsed->database.empty()) return std::nullopt;
  std::filesystem::path p(parsed->database);
  if (p.is_relative()) p = std::filesystem::path(base_dir) / p;
  return p.lexically_normal().string();
}

std::string RedactUri(const std::string& uri) {
  auto parsed = ParseUri(uri);
  if (!parsed) {
    // Whatever it holds cannot be told apart from a password: show only the scheme.
    auto scheme = SchemeOf(uri);
    if (!scheme) return "***";
    bool slashes = uri.substr(scheme->size() + 1).starts_with("//");
    return std::string(*scheme) + (slashes ? "://***" : ":***");
  }
  std::vector<Uri::Span> hide;  // the secret values only
  if (parsed->password_span && parsed->password_span->end > parsed->password_span->begin) {
    hide.push_back(*parsed->password_span);
  }
  for (const auto& s : parsed->password_params) {
    size_t eq = uri.find('=', s.begin);
    if (eq != std::string::npos && eq < s.end) hide.push_back({eq + 1, s.end});
    else hide.push_back(s);
  }
  std::string out = uri;
  std::sort(hide.begin(), hide.end(), [](auto& a, auto& b) { return a.begin > b.begin; });
  for (const auto& s : hide) out.replace(s.begin, s.end - s.begin, "***");
  return out;
}

std::string StripPassword(const std::string& uri, bool* removed) {
  auto parsed = ParseUri(uri);
  if (!parsed) {
    std::string out = RedactUri(uri);
    if (removed) *removed = out != uri;
    return out;
  }
  std::vector<Uri::Span> cut;
  if (parsed->password_span) {
    cut.push_back({parsed->password_span->begin - 1, parsed->password_span->end});  // with ':'
  }
  for (const auto& s : parsed->password_params) {
    // Take the separator with it: "?password=x&a=1" -> "?a=1", "?a=1&password=x" -> "?a=1",
    // "?password=x" -> "".
    if (uri[s.begin - 1] == '&') {
      cut.push_back({s.begin - 1, s.end});
    } else if (s.end < uri.size() && uri[s.end] == '&') {
      cut.push_back({s.begin, s.end + 1});
    } else {
      cut.push_back({s.begin - 1, s.end});  // the '?' too
    }
  }
  std::string out = uri;
  std::sort(cut.begin(), cut.end(), [](auto& a, auto& b) { return a.begin > b.begin; });
  for (const auto& s : cut) out.erase(s.begin, s.end - s.begin);
  if (removed) *removed = !cut.empty();
  return out;
}

}  // namespace tandem
