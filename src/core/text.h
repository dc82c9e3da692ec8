// Text and number helpers shared inside tandem (not part of the public face).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tandem {

bool IsValidUtf8(std::string_view s);
// Offset of the first byte that breaks UTF-8, or s.size() when valid.
size_t FirstInvalidUtf8(std::string_view s);
// Valid UTF-8 holding no NUL byte: text that may be marked checked (Value::MarkTextChecked).
// As fast as IsValidUtf8.
bool IsCleanUtf8(std::string_view s);
// Every byte is 0x20-0x7F: ASCII without control characters (so also valid UTF-8, and neither
// a control character nor mojibake is in it). 32 bytes at a time.
bool IsPlainAscii(std::string_view s);
// Number of code points; REQUIRES: IsValidUtf8(s).
size_t Utf8Length(std::string_view s);
std::string AsciiLower(std::string_view s);
std::string AsciiUpper(std::string_view s);
// Trims ASCII and Unicode-agnostic whitespace (space, \t, \n, \r, \f, \v) at both ends.
std::string_view TrimSpace(std::string_view s);

// Wraps `s` in `quote`, doubling every `quote` inside: the SQL way to quote an identifier
// ("a""b", `a``b`) or a string literal ('O''Brien').
std::string QuoteDoubling(std::string_view s, char quote);

// Compares two normalised decimal literals numerically: -1, 0 or 1.
int CompareDecimal(std::string_view a, std::string_view b);
// "1.500" -> "1.5", "2.000" -> "2", "-0" -> "0".
std::string StripDecimalZeros(std::string_view d);

}  // namespace tandem
