// Text in a MariaDB character set other than UTF-8, decoded by tandem rather than by the
// server: the server's conversion to the connection's utf8mb4 writes '?' for a byte that has
// no Unicode mapping, so a copy would change the value and a verify reading both sides
// through the same conversion would not see it. Such columns are read as their stored bytes
// (CAST(col AS BINARY)) and decoded here. Internal to src/engines/mysql/.
#pragma once

#include <string>
#include <string_view>

#include "tandem/value.h"

namespace tandem::mysql {

// True when the column's bytes are sent as the server converts them (utf8mb4, utf8mb3,
// binary, or no character set), false when tandem decodes them: latin1 exactly as MariaDB
// maps it (Windows-1252, with 0x81, 0x8D, 0x8F, 0x90 and 0x9D as the C1 controls U+0081...),
// every other character set that iconv(3) knows (gbk, cp1251, sjis, ucs2, ...). A character
// set iconv does not know (dec8, swe7, keybcs2) is left to the server.
bool ServerConvertsCharset(std::string_view charset);

// Decodes `raw`, stored in MariaDB character set `charset` (REQUIRES:
// !ServerConvertsCharset(charset)), into Text; bytes without a Unicode mapping make an
// Undecodable value whose reason names the character set and the bytes in hex.
Value DecodeCharset(std::string_view raw, std::string_view charset);

// The reason for bytes that are not valid UTF-8 in a utf8mb4/utf8mb3 column.
Value InvalidUtf8(std::string_view raw);

}  // namespace tandem::mysql
