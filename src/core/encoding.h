// Text encodings: decoding bytes of a named encoding into UTF-8 (iconv from glibc, and the
// exact tables of latin1 and cp1252), encoding back, and spotting text that is not what it
// claims (mojibake, control characters). Shared by the MariaDB engine (columns in a
// character set other than UTF-8), the mapping's `decode` / `fix_mojibake` steps and
// `tandem assess`. Internal (not part of include/tandem/).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "tandem/error.h"

namespace tandem {

// The encoding names a mapping may write (`decode: NAME`), case-insensitive:
//   latin1 (also iso-8859-1): ISO-8859-1, every byte is the code point of the same number
//     (0x80-0x9F are the C1 controls U+0080-U+009F);
//   cp1252 (also windows-1252): Windows-1252; 0x80 is U+20AC (euro), 0x91-0x94 the curly
//     quotes; the five bytes Windows leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) do not
//     decode (kInvalidEncoding);
//   mariadb_latin1: what MariaDB calls latin1: Windows-1252 with those five bytes as the C1
//     controls of the same number (every byte decodes);
//   utf-8 (also utf8): validated only;
//   any other name iconv(3) knows (cp1251, iso-8859-15, gbk, shift_jis, utf-16le, ...).
// Returns the canonical name ("latin1", "cp1252", "mariadb_latin1", "utf-8", or the iconv
// name as written), or nullopt when no decoder exists for it.
std::optional<std::string> CanonicalEncoding(std::string_view name);

// Decodes `bytes` in `encoding` (a name CanonicalEncoding accepts) into valid UTF-8.
// Failure: kInvalidArgument with Problem::kInvalidEncoding, the message naming the encoding,
// the offending bytes in hex and their offset ("cp1252 bytes 0x81 (at byte 3 of 10) have no
// Unicode mapping"); kInvalidArgument (Problem::kNone) for an unknown encoding.
// Thread-safe (one iconv handle per encoding and thread).
Result<std::string> DecodeToUtf8(std::string_view bytes, std::string_view encoding);

// Lower level, for an engine that knows the iconv(3) name of its character set: decodes
// `bytes` with iconv; the message of a failure starts with `label` ("gbk bytes 0xA2A0 (at
// byte 1 of 4) have no Unicode mapping"). An iconv_name iconv does not know: kInvalidArgument.
Result<std::string> DecodeWithIconv(std::string_view bytes, std::string_view iconv_name,
                                    std::string_view label);

// The inverse: `utf8` (REQUIRES: valid UTF-8) as bytes of `encoding`. Fails with
// Problem::kInvalidEncoding naming the first character that has no byte in the encoding.
// For every encoding above, EncodeFromUtf8(DecodeToUtf8(b)) == b (the round trip is exact),
// except mariadb_latin1, which is exact as well (its table is a bijection).
Result<std::string> EncodeFromUtf8(std::string_view utf8, std::string_view encoding);

// Mojibake: UTF-8 text that was read as cp1252 (or latin1) somewhere and written back as
// UTF-8, so "é" (C3 A9) became "Ã©". Each character of the text is taken back to the byte
// cp1252 gives it (U+0080-U+009F and U+00A0-U+00FF to the byte of the same number, the
// cp1252 specials such as U+20AC, U+2019 to 0x80, 0x92...).
//
// LooksLikeMojibake: true when some run of those bytes is a complete, valid multi-byte UTF-8
// sequence (a lead byte 0xC2-0xF4 followed by the continuation bytes it needs), e.g. "Ã©",
// "â€™". Correct text with an "Ã" followed by a letter ("SÃO PAULO", "Ãgua") is not.
// REQUIRES: valid UTF-8 (invalid input returns false).
bool LooksLikeMojibake(std::string_view utf8);

// RepairMojibake: the repaired text when the repair is unambiguous: *every* character has a
// cp1252/latin1 byte, those bytes are valid UTF-8 as a whole, and they hold at least one
// multi-byte sequence (so the repaired text differs). Otherwise nullopt: plain ASCII, correct
// UTF-8 ("SÃO PAULO"), or text mixing correct accents with mojibake ("é and Ã©") whose
// repair would be a guess. One level only: doubly-encoded text is repaired once.
// REQUIRES: valid UTF-8 (invalid input returns nullopt).
std::optional<std::string> RepairMojibake(std::string_view utf8);

// The byte offset of the first NUL or other C0 control character (0x00-0x1F except tab 0x09,
// line feed 0x0A and carriage return 0x0D) in `s`, or nullopt when there is none. DEL (0x7F)
// and the C1 controls are not counted. Works on any bytes (UTF-8 continuation bytes are never
// below 0x80).
std::optional<size_t> FindControlCharacter(std::string_view s);

// Bytes as "0xC3A9" for messages (at most `max` bytes, then "...").
std::string HexBytes(std::string_view bytes, size_t max = 16);

}  // namespace tandem
