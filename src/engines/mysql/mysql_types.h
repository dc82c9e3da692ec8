// How MariaDB column types map to portable types and back, and how values cross the text
// protocol. Pure functions: no connection (text escaping is passed in). Internal to
// src/engines/mysql/.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "tandem/schema.h"
#include "tandem/value.h"

namespace tandem::mysql {

// One row of information_schema.COLUMNS, as much of it as tandem uses.
struct ColumnInfo {
  std::string name;
  std::string data_type;    // DATA_TYPE, lower case: "int", "varchar", "longtext"...
  std::string column_type;  // COLUMN_TYPE: "int(10) unsigned", "enum('a','b')"...
  bool nullable = true;
  std::optional<std::string> default_value;  // COLUMN_DEFAULT as the server shows it
  std::string extra;                         // EXTRA: "auto_increment", "VIRTUAL GENERATED"...
  std::string comment;                       // COLUMN_COMMENT ("tandem:<type>" when tandem made it)
  int64_t char_max_length = -1;              // CHARACTER_MAXIMUM_LENGTH
  int64_t numeric_precision = -1;
  int64_t numeric_scale = -1;
  int64_t datetime_precision = -1;  // DATETIME_PRECISION: fraction digits of time/datetime/timestamp
  bool json_check = false;  // MariaDB JSON: a longtext with a json_valid(`col`) check
  std::string collation;    // COLLATION_NAME; empty for non-text columns
  std::string charset;      // CHARACTER_SET_NAME; empty for non-text columns
};

// How a column's values travel. Most types come as the text the server prints; a few need
// care (BIT comes as raw big-endian bytes; TIMESTAMP is captured as UNIX seconds).
enum class Wire : uint8_t {
  kText,       // decode the printed text by the portable kind
  kBit,        // raw big-endian bytes
  kTimestamp,  // a MariaDB TIMESTAMP: printed in the session time zone (+00:00)
};

struct ColumnCodec {
  PortableType type;
  Wire wire = Wire::kText;
  bool is_bytes = false;  // binary/varbinary/blob: captured as HEX()
  // A text column in a character set that tandem decodes itself (see mysql_charset.h): read
  // as CAST(col AS BINARY), captured as HEX(). Empty: the server sends UTF-8.
  std::string charset;
};

// Portable reading of a MariaDB column:
//   tinyint(1)/bool -> bool; tinyint, smallint -> int 2; smallint unsigned, mediumint, int ->
//   int 4; int unsigned, bigint -> int 8; bigint unsigned -> decimal(20,0) (values above
//   int64 max); decimal(p,s); float/double -> float; char/varchar(n) -> varchar(n); text types,
//   enum, set, inet -> text; binary/varbinary/blob, geometry -> bytes; date; time; datetime ->
//   timestamp; timestamp -> timestamptz (stored as UTC); json -> json; bit(n) -> int (bit(64):
//   decimal(20,0)); year -> int 2; uuid -> uuid. A "tandem:<type>" comment (written by
//   CreateTable) wins, so what tandem created reads back as what it was asked to create.
ColumnCodec CodecFor(const ColumnInfo& c);
Column ColumnFor(const ColumnInfo& c);

// Decodes one field as printed by the text protocol. Never fails: a value that cannot be its
// column's kind comes back as Text so the mapping can reject or map it. That covers zero dates
// ('0000-00-00', '2024-00-10'), TIME beyond 24h or negative, and tinyint(1) other than 0/1
// (an Int). Text bytes without a Unicode mapping (in the codec's charset, or invalid UTF-8)
// come back Undecodable, which every cast refuses.
Value DecodeText(std::string_view raw, const ColumnCodec& codec);
// The same as `out = DecodeText(raw, codec)`, keeping `out`'s string buffer where it can.
void DecodeTextInto(std::string_view raw, const ColumnCodec& codec, Value& out);
// Decodes one key element written by the capture triggers (see CaptureKeyExpr).
Value DecodeCaptured(std::string_view raw, const ColumnCodec& codec);

// Appends `s` as a quoted, escaped string literal (the connection's escaping).
using QuoteFn = std::function<void(std::string& out, std::string_view s)>;

// Appends `v` as a SQL literal: numbers bare (decimals of more than 65 digits quoted, as the
// server would read them as DOUBLE), text and JSON quoted by `quote`, bytes as X'hex',
// dates and times quoted ISO text (timestamptz as its UTC wall time), uuid as 8-4-4-4-12 text.
// Fails with kInvalidArgument for NaN, infinities and -0.0, which a MariaDB DOUBLE cannot hold.
Status AppendLiteral(std::string& out, const Value& v, const QuoteFn& quote);

// The MariaDB column type for a portable type (CreateTable), and the comment that records
// what tandem meant when MariaDB cannot say it by type alone (empty when it can).
struct MysqlColumnType {
  std::string sql;      // "bigint", "varchar(64)", "datetime(6)"...
  std::string comment;  // "tandem:timestamptz", or ""
};
struct TypeOptions {
  bool uuid_type = true;     // the server has a native UUID type (MariaDB 10.7+)
  bool in_key = false;       // part of a primary or unique key: must be indexable
  int key_text_chars = 768;  // varchar length for an unbounded text key column
  bool varchar_fits = true;  // false: the row-size budget is spent; use longtext
};
MysqlColumnType MysqlTypeFor(const PortableType& t, const TypeOptions& opt);

}  // namespace tandem::mysql
