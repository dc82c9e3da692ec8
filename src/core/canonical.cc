#include "core/canonical.h"

#include <bit>
#include <cmath>
#include <cstring>

#include <nlohmann/json.hpp>
#include <xxhash.h>

#include "core/text.h"

namespace tandem {

namespace {

// Big-endian, appended at once (a byte at a time was a tenth of verify's CPU).
void PutU64(uint64_t x, std::string& out) {
  if constexpr (std::endian::native == std::endian::little) x = __builtin_bswap64(x);
  char b[8];
  std::memcpy(b, &x, 8);
  out.append(b, 8);
}

void PutBytes(std::string_view s, std::string& out) {
  PutU64(s.size(), out);
  out.append(s);
}

constexpr char kUncastTag = 'X';

}  // namespace

void AppendCanonical(const Value& raw, const PortableType& type, std::string& out) {
  // Most values are in their type already: used as they are, not copied by a cast.
  Result<Value> cast = Value::Null();
  bool as_is = raw.is_null() || CastKeepsAsIs(raw, type);
  if (!as_is) {
    cast = CastTo(raw, type);
    if (!cast) {
      out += kUncastTag;
      out += static_cast<char>(raw.kind());
      PutBytes(raw.ToString(), out);
      return;
    }
  }
  AppendCanonicalCast(as_is ? raw : *cast, type, out);
}

void AppendCanonicalCast(const Value& v, const PortableType& type, std::string& out) {
  out += static_cast<char>('A' + static_cast<int>(v.kind()));
  switch (v.kind()) {
    case Kind::kNull: break;
    case Kind::kBool: out += v.as_bool() ? '1' : '0'; break;
    case Kind::kInt:
    case Kind::kDate:
    case Kind::kTime:
    case Kind::kTimestamp:
    case Kind::kTimestampTz: PutU64(static_cast<uint64_t>(v.as_int()), out); break;
    case Kind::kFloat: {
      double d = v.as_float();
      if (std::isnan(d)) d = std::numeric_limits<double>::quiet_NaN();  // one NaN
      PutU64(std::bit_cast<uint64_t>(d), out);
      break;
    }
    case Kind::kDecimal:
      // With a fixed scale the cast already padded; unbounded decimals compare by value.
      PutBytes(type.scale >= 0 ? v.as_str() : StripDecimalZeros(v.as_str()), out);
      break;
    case Kind::kJson: {
      // Key order and whitespace are not data; numbers keep their written form (15 vs 15.0).
      auto doc = nlohmann::json::parse(v.as_str(), nullptr, false);
      PutBytes(doc.is_discarded() ? v.as_str() : doc.dump(), out);
      break;
    }
    case Kind::kText:
    case Kind::kBytes:
    case Kind::kUuid:
    case Kind::kUndecodable: PutBytes(v.as_str(), out); break;  // (never cast: see CastTo)
  }
}

uint64_t HashRow(const Row& row, const std::vector<PortableType>& types, std::string& scratch) {
  scratch.clear();
  for (size_t i = 0; i < row.size(); ++i) AppendCanonical(row[i], types[i], scratch);
  return XXH3_64bits(scratch.data(), scratch.size());
}

uint64_t HashRow(const Row& row, const std::vector<PortableType>& types,
                 const std::vector<char>& cast, std::string& scratch) {
  scratch.clear();
  for (size_t i = 0; i < row.size(); ++i) {
    if (cast[i]) {
      AppendCanonicalCast(row[i], types[i], scratch);
    } else {
      AppendCanonical(row[i], types[i], scratch);
    }
  }
  return XXH3_64bits(scratch.data(), scratch.size());
}

uint64_t HashRow(const Row& row, const std::vector<PortableType>& types) {
  std::string buf;
  buf.reserve(256);
  return HashRow(row, types, buf);
}

bool CanonicalEqual(const Value& a, const Value& b, const PortableType& type) {
  std::string x, y;
  AppendCanonical(a, type, x);
  AppendCanonical(b, type, y);
  return x == y;
}

}  // namespace tandem
