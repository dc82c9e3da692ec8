// Encodings, mojibake and control characters (src/core/encoding.h, IsPlainAscii of
// src/core/text.h).
#include "core/encoding.h"
#include "core/text.h"

#include <gtest/gtest.h>

namespace tandem {
namespace {

std::string Decode(std::string_view bytes, std::string_view enc) {
  auto r = DecodeToUtf8(bytes, enc);
  return r ? *r : "ERROR: " + r.error().message;
}

TEST(Encoding, Cp1252AndLatin1DifferInTheirHighControls) {
  // 0x80: the euro sign in cp1252, the C1 control U+0080 in latin1.
  EXPECT_EQ(Decode("\x80", "cp1252"), "\xE2\x82\xAC");
  EXPECT_EQ(Decode("\x80", "latin1"), "\xC2\x80");
  // 0x91-0x94: curly quotes in cp1252.
  EXPECT_EQ(Decode("\x91\x92\x93\x94", "cp1252"), "\u2018\u2019\u201C\u201D");
  EXPECT_EQ(Decode("\x91\x92\x93\x94", "latin1"), "\u0091\u0092\u0093\u0094");
  // Above 0x9F both are ISO-8859-1.
  EXPECT_EQ(Decode("caf\xE9", "cp1252"), "caf\u00E9");
  EXPECT_EQ(Decode("caf\xE9", "latin1"), "caf\u00E9");
  EXPECT_EQ(Decode("caf\xE9", "windows-1252"), "caf\u00E9");
  EXPECT_EQ(Decode("caf\xE9", "ISO-8859-1"), "caf\u00E9");
}

TEST(Encoding, Cp1252UndefinedBytesAreRefused) {
  for (char b : {'\x81', '\x8D', '\x8F', '\x90', '\x9D'}) {
    std::string in = std::string("ab") + b;
    auto r = DecodeToUtf8(in, "cp1252");
    ASSERT_FALSE(r) << HexBytes(in);
    EXPECT_EQ(r.error().problem, Problem::kInvalidEncoding);
    EXPECT_EQ(r.error().message,
              fmt::format("cp1252 bytes {} (at byte 2 of 3) have no Unicode mapping",
                          HexBytes(std::string(1, b))));
    // latin1 and MariaDB's latin1 decode every byte.
    EXPECT_TRUE(DecodeToUtf8(in, "latin1"));
    EXPECT_EQ(Decode(in, "mariadb_latin1"), Decode(in, "latin1"));
  }
  // MariaDB's latin1 is cp1252 elsewhere.
  EXPECT_EQ(Decode("\x80\x93", "mariadb_latin1"), "\u20AC\u201C");
}

TEST(Encoding, RoundTripsAreExact) {
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  for (const char* enc : {"latin1", "mariadb_latin1"}) {
    auto text = DecodeToUtf8(all, enc);
    ASSERT_TRUE(text) << enc;
    auto back = EncodeFromUtf8(*text, enc);
    ASSERT_TRUE(back) << enc;
    EXPECT_EQ(*back, all) << enc;
  }
  auto euro = EncodeFromUtf8("\u20AC \u201Chi\u201D", "cp1252");
  ASSERT_TRUE(euro);
  EXPECT_EQ(*euro, "\x80 \x93hi\x94");
  auto no = EncodeFromUtf8("\u20AC", "latin1");
  ASSERT_FALSE(no);
  EXPECT_EQ(no.error().problem, Problem::kInvalidEncoding);
  EXPECT_NE(no.error().message.find("U+20AC"), std::string::npos);
  // Through iconv.
  EXPECT_EQ(Decode("\xCF\xF0\xE8", "CP1251"), "\u041F\u0440\u0438");
  auto back = EncodeFromUtf8("\u041F\u0440\u0438", "CP1251");
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, "\xCF\xF0\xE8");
}

TEST(Encoding, NamesAreChecked) {
  EXPECT_EQ(CanonicalEncoding("LATIN1"), "latin1");
  EXPECT_EQ(CanonicalEncoding("Windows-1252"), "cp1252");
  EXPECT_EQ(CanonicalEncoding("utf8"), "utf-8");
  EXPECT_EQ(CanonicalEncoding("ISO-8859-15"), "ISO-8859-15");
  EXPECT_FALSE(CanonicalEncoding("klingon-1"));
  EXPECT_FALSE(CanonicalEncoding(""));
  auto r = DecodeToUtf8("x", "klingon-1");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().problem, Problem::kNone);
  EXPECT_EQ(r.error().message, "unknown encoding 'klingon-1'");
  auto bad = DecodeToUtf8("a\xFF", "utf-8");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().problem, Problem::kInvalidEncoding);
}

TEST(Mojibake, RepairsWhatCp1252OrLatin1Mangled) {
  struct Case {
    std::string good;
  };
  for (std::string good : {"caf\u00E9", "Fran\u00E7ois M\u00FCller", "l\u2019h\u00F4tel",
                           "\u20AC 5", "na\u00EFve \u201Cquotes\u201D", "\u65E5\u672C",
                           "S\u00C3O PAULO", "\u00E0 la"}) {
    // Mangle: the UTF-8 bytes read as cp1252 (as MariaDB's latin1 reads them) and written
    // back as UTF-8.
    auto mangled = DecodeToUtf8(good, "mariadb_latin1");
    ASSERT_TRUE(mangled);
    EXPECT_TRUE(LooksLikeMojibake(*mangled)) << *mangled;
    auto fixed = RepairMojibake(*mangled);
    ASSERT_TRUE(fixed) << *mangled;
    EXPECT_EQ(*fixed, good);
  }
  // Read as true latin1: the bytes 0x80-0x9F became C1 controls.
  auto latin = DecodeToUtf8("l\u2019h\u00F4tel", "latin1");
  ASSERT_TRUE(latin);
  EXPECT_EQ(RepairMojibake(*latin), "l\u2019h\u00F4tel");
  EXPECT_EQ(RepairMojibake("\u00C3\u00A9"), "\u00E9");  // Ã© -> é
}

// LooksLikeMojibake skips text without a lead character followed by a character that
// cp1252/latin1 reads as a continuation byte: every mangled character must still be seen,
// whichever table mangled it (every code point of two bytes, and of three bytes whose middle
// byte cp1252 reads as one of its 0x80-0x9F characters).
TEST(Mojibake, EveryMangledCharacterIsSeen) {
  auto utf8 = [](uint32_t cp) {
    std::string s;
    if (cp < 0x800) {
      s += static_cast<char>(0xC0 | (cp >> 6));
    } else {
      s += static_cast<char>(0xE0 | (cp >> 12));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    }
    s += static_cast<char>(0x80 | (cp & 0x3F));
    return s;
  };
  int seen = 0;
  for (uint32_t cp = 0x80; cp < 0x10000; ++cp) {
    if (cp >= 0xD800 && cp < 0xE000) continue;
    std::string good = "x" + utf8(cp) + "y";
    for (const char* table : {"mariadb_latin1", "latin1"}) {
      auto mangled = DecodeToUtf8(good, table);
      ASSERT_TRUE(mangled) << cp;
      // What RepairMojibake can take back is mojibake by definition: it must be seen.
      if (RepairMojibake(*mangled) == good) {
        EXPECT_TRUE(LooksLikeMojibake(*mangled)) << std::hex << cp << " " << table;
        ++seen;
      }
    }
  }
  EXPECT_GT(seen, 60000);  // nearly every code point, through both tables
}

TEST(Mojibake, LeavesCorrectTextAlone) {
  for (std::string ok : {"", "plain ascii", "caf\u00E9", "S\u00C3O PAULO", "\u00C3gua",
                         "JO\u00C3O", "\u00C3\u00C3", "\u65E5\u672C", "\u00C2 la carte",
                         "\u00C3 \u00A9"}) {
    EXPECT_FALSE(LooksLikeMojibake(ok)) << ok;
    EXPECT_FALSE(RepairMojibake(ok)) << ok;
  }
}

TEST(Mojibake, AmbiguousTextIsNotRepaired) {
  // Correct accents next to mojibake: repairing would garble "é" (0xE9 alone is not UTF-8).
  std::string mixed = "\u00E9t\u00E9 / \u00C3\u00A9t\u00C3\u00A9";
  EXPECT_TRUE(LooksLikeMojibake(mixed));
  EXPECT_FALSE(RepairMojibake(mixed));
  // A character with no cp1252 byte (a real euro sign is fine, a CJK one is not).
  std::string cjk = "\u65E5 \u00C3\u00A9";
  EXPECT_TRUE(LooksLikeMojibake(cjk));
  EXPECT_FALSE(RepairMojibake(cjk));
  // Invalid UTF-8 is never looked at.
  EXPECT_FALSE(LooksLikeMojibake("\xC3\xA9\xFF"));
  EXPECT_FALSE(RepairMojibake("\xC3\x83\xC2\xA9\xFF"));
}

TEST(ControlCharacters, NulAndC0ButNotWhitespace) {
  EXPECT_FALSE(FindControlCharacter("tab\there\nnew\r\n"));
  EXPECT_FALSE(FindControlCharacter("caf\u00E9 \x7F"));  // DEL is not C0
  EXPECT_EQ(FindControlCharacter(std::string("ab\0c", 4)), 2u);
  EXPECT_EQ(FindControlCharacter("x\x1B[0m"), 1u);
  EXPECT_EQ(FindControlCharacter("\x01"), 0u);
  EXPECT_EQ(FindControlCharacter("ok\x1F"), 2u);
  // Eight bytes at a time: every position in long text, beside bytes that sit next to the
  // threshold (0x1F/0x20), high bytes (UTF-8) and the allowed tab, newline and CR.
  for (size_t len = 1; len <= 40; ++len) {
    for (size_t at = 0; at < len; ++at) {
      for (unsigned char bad : {0x00, 0x01, 0x1B, 0x1F}) {
        std::string s;
        for (size_t i = 0; i < len; ++i) s += "\x20\x7F\xC3\xA9\t\n\r!"[i % 8];
        s[at] = static_cast<char>(bad);
        EXPECT_EQ(FindControlCharacter(s), at) << "len " << len << " at " << at << " byte " << int(bad);
      }
    }
    std::string clean;
    for (size_t i = 0; i < len; ++i) clean += "\x20\xFF\x80\t\n\r~a"[i % 8];
    EXPECT_FALSE(FindControlCharacter(clean)) << "len " << len;
  }
}

// assess skips the control and mojibake checks of text that IsPlainAscii passes: it must pass
// exactly the text whose every byte is 0x20-0x7F, at every position of a word and its tail.
TEST(ControlCharacters, PlainAsciiIsExactlyBytesFrom0x20To0x7F) {
  EXPECT_TRUE(IsPlainAscii(""));
  EXPECT_TRUE(IsPlainAscii("plain text, with ~ and \x7F"));
  for (size_t len = 1; len <= 72; ++len) {
    std::string s;
    for (size_t i = 0; i < len; ++i) s += static_cast<char>(0x20 + (i * 7) % 0x60);
    ASSERT_TRUE(IsPlainAscii(s)) << "len " << len;
    for (size_t at = 0; at < len; ++at) {
      for (int b = 0; b < 256; ++b) {
        std::string t = s;
        t[at] = static_cast<char>(b);
        EXPECT_EQ(IsPlainAscii(t), b >= 0x20 && b < 0x80)
            << "len " << len << " at " << at << " byte " << b;
      }
    }
  }
}

// The first byte that is not UTF-8, found past the ASCII fast paths (32 and 8 bytes a step):
// a lone continuation byte or a cut sequence at every position, after ASCII and after a
// valid multi-byte character.
TEST(Utf8, FirstInvalidByteAtEveryPosition) {
  for (size_t len = 1; len <= 72; ++len) {
    std::string s(len, 'a');
    ASSERT_EQ(FirstInvalidUtf8(s), len);
    for (size_t at = 0; at < len; ++at) {
      for (std::string_view bad : {"\x80", "\xC3", "\xE2\x82", "\xFF", "\xC0\xAF"}) {
        std::string t = s.substr(0, at) + std::string(bad) + s.substr(at);
        EXPECT_EQ(FirstInvalidUtf8(t), at) << "len " << len << " at " << at;
        std::string u = s.substr(0, at) + "\xC3\xA9" + std::string(bad) + s.substr(at);
        EXPECT_EQ(FirstInvalidUtf8(u), at + 2) << "after é, len " << len << " at " << at;
      }
      std::string ok = s.substr(0, at) + "\xE2\x82\xAC" + s.substr(at);  // €
      EXPECT_EQ(FirstInvalidUtf8(ok), ok.size()) << "len " << len << " at " << at;
    }
  }
}

// IsCleanUtf8 is IsValidUtf8 that also refuses a NUL byte: a NUL at every position (in the
// 32- and 8-byte steps and the tail, after ASCII and after a multi-byte character), and the
// invalid bytes of the test above.
TEST(Utf8, CleanRefusesNulAndInvalidBytesAtEveryPosition) {
  for (size_t len = 1; len <= 72; ++len) {
    std::string s(len, 'a');
    ASSERT_TRUE(IsCleanUtf8(s));
    for (size_t at = 0; at < len; ++at) {
      std::string nul = s;
      nul[at] = '\0';
      EXPECT_FALSE(IsCleanUtf8(nul)) << "len " << len << " at " << at;
      EXPECT_TRUE(IsValidUtf8(nul)) << "len " << len << " at " << at;
      std::string after = s.substr(0, at) + "\xC3\xA9" + std::string(1, '\0') + s.substr(at);
      EXPECT_FALSE(IsCleanUtf8(after)) << "after é, len " << len << " at " << at;
      for (std::string_view bad : {"\x80", "\xC3", "\xE2\x82", "\xFF", "\xC0\xAF"}) {
        std::string t = s.substr(0, at) + std::string(bad) + s.substr(at);
        EXPECT_FALSE(IsCleanUtf8(t)) << "len " << len << " at " << at;
      }
      // Bytes 0x01 and 0x7F next to where the NUL test's borrow would run: still clean.
      std::string edge = s;
      edge[at] = at % 2 ? '\x01' : '\x7f';
      EXPECT_TRUE(IsCleanUtf8(edge)) << "len " << len << " at " << at;
      std::string ok = s.substr(0, at) + "\xE2\x82\xAC\xF0\x9F\x98\x80" + s.substr(at);
      EXPECT_TRUE(IsCleanUtf8(ok)) << "len " << len << " at " << at;
    }
  }
}

}  // namespace
}  // namespace tandem
