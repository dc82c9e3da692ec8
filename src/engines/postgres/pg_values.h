// Conversions between tandem Values and PostgreSQL's text forms, and between PostgreSQL types
// and portable types. Pure functions: no libpq, no server; unit-tested in
// tests/unit/pg_dialect_test.cc.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/value.h"

namespace tandem::pg {

// Built-in type OIDs (pg_type.oid), fixed across PostgreSQL versions.
using TypeOid = unsigned int;
inline constexpr TypeOid kBoolOid = 16;
inline constexpr TypeOid kByteaOid = 17;
inline constexpr TypeOid kCharOid = 18;
inline constexpr TypeOid kNameOid = 19;
inline constexpr TypeOid kInt8Oid = 20;
inline constexpr TypeOid kInt2Oid = 21;
inline constexpr TypeOid kInt4Oid = 23;
inline constexpr TypeOid kTextOid = 25;
inline constexpr TypeOid kOidOid = 26;
inline constexpr TypeOid kJsonOid = 114;
inline constexpr TypeOid kFloat4Oid = 700;
inline constexpr TypeOid kFloat8Oid = 701;
inline constexpr TypeOid kBpcharOid = 1042;
inline constexpr TypeOid kVarcharOid = 1043;
inline constexpr TypeOid kDateOid = 1082;
inline constexpr TypeOid kTimeOid = 1083;
inline constexpr TypeOid kTimestampOid = 1114;
inline constexpr TypeOid kTimestampTzOid = 1184;
inline constexpr TypeOid kNumericOid = 1700;
inline constexpr TypeOid kUuidOid = 2950;
inline constexpr TypeOid kJsonbOid = 3802;

// The portable type of a column whose (domain-resolved) base type is `oid` with `typmod`
// (pg_attribute.atttypmod). Enums, arrays, ranges, intervals, network and geometric types
// and every other type without a portable counterpart read as unbounded text, in their
// PostgreSQL text form.
PortableType PortableFromPg(TypeOid oid, int typmod);

// The PostgreSQL column type tandem creates for a portable type. json maps to `json` (not
// jsonb) so a document is stored exactly as written: jsonb would reorder keys and drop
// duplicates, and verification would then see a difference the source does not have.
std::string PgTypeFor(const PortableType& type);

// Decodes a value from PostgreSQL's text output for a column of type `oid`, as produced in a
// session with TimeZone=UTC, DateStyle=ISO, bytea_output=hex, extra_float_digits=3. Also
// accepts the forms jsonb_array_elements_text() gives for a key element (true/false,
// 2024-01-02T03:04:05, +hh:mm offsets, escape-format bytea). A value tandem cannot represent
// as the column's kind (timestamp 'infinity', time '24:00:00') comes back as Text with the
// server's words, so a later cast turns it into a reject with a reason rather than failing the
// whole scan. numeric NaN and ±Infinity come back as Float.
Value DecodeText(TypeOid oid, std::string_view text);

// The same as `out = DecodeText(oid, text)`, keeping `out`'s string buffer where it can.
void DecodeTextInto(TypeOid oid, std::string_view text, Value& out);

// The text PostgreSQL parses back into the same value, for a bound parameter. Null -> nullopt.
// Dates before year 1 use the "BC" suffix PostgreSQL expects.
std::optional<std::string> ParamText(const Value& v);

// Appends `v` as one field of COPY ... FROM STDIN text format (\N for NULL, backslash,
// tab, newline and carriage return escaped).
void AppendCopyField(const Value& v, std::string& out);
// Appends `s` with COPY text escaping.
void AppendCopyEscaped(std::string_view s, std::string& out);

// Splits one row of COPY ... TO STDOUT text format into its fields, undoing COPY's escapes;
// a field of \N is NULL (nullopt). `fields` and `storage` are reused between calls; the
// string_views point into `storage` or `line`. False when the line is malformed.
bool SplitCopyRow(std::string_view line, std::vector<std::optional<std::string_view>>& fields,
                  std::string& storage);

// COPY ... FROM STDIN (FORMAT binary): the header, each tuple's field count, the fields, the
// trailer. AppendBinaryField appends `v` in the binary form of a column of type `oid` and
// returns false, appending nothing, when it cannot: a type or kind it does not know, or a
// value out of the column type's range (the text path then lets the server decide, in its
// own words). Typmods (varchar(n), numeric(p,s)) are applied by the server either way.
void AppendBinaryCopyHeader(std::string& out);
void AppendBinaryTupleStart(std::string& out, size_t fields);
bool AppendBinaryField(TypeOid oid, const Value& v, std::string& out);
// One row (a tuple: its field count, then each field for its column's type in `types`). False,
// `out` left as it was, when a value has no binary form.
bool AppendBinaryRow(const std::vector<TypeOid>& types, const Row& row, std::string& out);
void AppendBinaryCopyTrailer(std::string& out);

// COPY ... TO STDOUT (FORMAT binary). BinaryDecodable tells whether a column type has a
// binary reader here; DecodeBinaryInto reads one field of such a column into `out` with
// exactly the result DecodeText gives for the same value's text form (false when the bytes
// are malformed). SplitBinaryCopyRow splits one CopyData message (the first one also carries
// the file header, the last one only the trailer, which sets `trailer`).
bool BinaryDecodable(TypeOid oid);
bool DecodeBinaryInto(TypeOid oid, std::string_view bytes, Value& out);
bool SplitBinaryCopyRow(std::string_view msg, bool& header_seen,
                        std::vector<std::optional<std::string_view>>& fields, bool& trailer);

// True when `v` holds text that PostgreSQL cannot store: text and json may not contain NUL.
bool HasNulByte(const Value& v);

// Date and timestamp text in the form PostgreSQL reads: "0044-03-15 BC", "2024-01-02".
std::string DateText(int32_t days);
std::string TimestampText(int64_t micros, bool with_zone);

}  // namespace tandem::pg
