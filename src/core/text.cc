#include "core/text.h"

#include <cstdint>
#include <cstring>

namespace tandem {

namespace {

// Offset of the first byte that breaks UTF-8 (or, with kNoNul, is NUL), or s.size().
template <bool kNoNul>
size_t FirstBadByte(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size(), i = 0;
  while (i < n) {
    // ASCII 32 then eight bytes at a time: most text is mostly ASCII, and this runs on every
    // text value a copy reads (it was the largest item of a MariaDB source's client profile).
    // A word has a NUL byte when (w - 0x01 in each byte) & ~w has a high bit set.
    auto bad = [](uint64_t w) {
      return kNoNul ? w | ((w - 0x0101010101010101ull) & ~w) : w;
    };
    while (i + 32 <= n) {
      uint64_t w[4];
      std::memcpy(w, p + i, 32);
      if ((bad(w[0]) | bad(w[1]) | bad(w[2]) | bad(w[3])) & 0x8080808080808080ull) break;
      i += 32;
    }
    while (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      if (bad(w) & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i >= n) break;
    unsigned char c = p[i];
    if (c < 0x80) {
      // ASCII up to the byte that stopped the word steps (or the tail's end), a byte a step
      // without going back to them: a name like "Zoë Müller" stops them every few bytes.
      do {
        if (kNoNul && p[i] == 0) return i;
        ++i;
      } while (i < n && p[i] < 0x80);
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) len = 2, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0) len = 4, cp = c & 0x07;
    else return i;
    if (i + len > n) return i;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
      return i;
    }
    i += len;
  }
  return n;
}

}  // namespace

size_t FirstInvalidUtf8(std::string_view s) { return FirstBadByte<false>(s); }

bool IsValidUtf8(std::string_view s) { return FirstBadByte<false>(s) == s.size(); }

bool IsCleanUtf8(std::string_view s) { return FirstBadByte<true>(s) == s.size(); }

bool IsPlainAscii(std::string_view s) {
  size_t i = 0;
  // A word has a byte of 0x80 or more when its high bits are set, and one below 0x20 when
  // (w - 0x20 in each byte) & ~w has a high bit set. Four words a step, then one.
  auto bad = [](uint64_t w) { return w | ((w - 0x2020202020202020ull) & ~w); };
  for (; i + 32 <= s.size(); i += 32) {
    uint64_t w[4];
    std::memcpy(w, s.data() + i, 32);
    if ((bad(w[0]) | bad(w[1]) | bad(w[2]) | bad(w[3])) & 0x8080808080808080ull) return false;
  }
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    if (bad(w) & 0x8080808080808080ull) return false;
  }
  for (; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c >= 0x80) return false;
  }
  return true;
}

size_t Utf8Length(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string QuoteDoubling(std::string_view s, char quote) {
  std::string out;
  out.reserve(s.size() + 2);
  out += quote;
  for (char c : s) {
    if (c == quote) out += quote;
    out += c;
  }
  out += quote;
  return out;
}

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string AsciiUpper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

std::string_view TrimSpace(std::string_view s) {
  constexpr std::string_view kSpace = " \t\n\r\f\v";
  size_t b = s.find_first_not_of(kSpace);
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(kSpace);
  return s.substr(b, e - b + 1);
}

}  // namespace tandem
