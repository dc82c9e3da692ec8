// Issue 11, item 9: one URI parser for every engine and for redaction, so whatever a password
// holds ('/', '@', ':', '%'), it is parsed, sent and hidden the same way.
#include <gtest/gtest.h>

#include "core/uri.h"
#include "tandem/engine.h"

namespace tandem {
namespace {

TEST(Uri, PercentEncodedPasswordIsDecoded) {
  auto u = ParseUri("mysql://app:p%2Fw%40d@127.0.0.1:3306/db");
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_EQ(u->scheme, "mysql");
  EXPECT_EQ(u->user, "app");
  EXPECT_EQ(u->password, "p/w@d");
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 3306u);
  EXPECT_EQ(u->database, "db");
}

TEST(Uri, RawSlashAtAndColonInThePassword) {
  auto u = ParseUri("mysql://app:a/b@c:d%25e@db.example:3307/shop?ssl-mode=REQUIRED");
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_EQ(u->user, "app");
  EXPECT_EQ(u->password, "a/b@c:d%e");
  EXPECT_EQ(u->host, "db.example");
  EXPECT_EQ(u->port, 3307u);
  EXPECT_EQ(u->database, "shop");
  EXPECT_EQ(u->ParamValue("SSL-MODE"), "REQUIRED");
}

TEST(Uri, PercentEncodedUserAndEmptyPassword) {
  auto u = ParseUri("postgres://me%40corp:@h/db");
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_EQ(u->user, "me@corp");
  EXPECT_EQ(u->password, "");
}

TEST(Uri, NoPassword) {
  auto u = ParseUri("postgres://tandem@localhost/postgres");
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_EQ(u->user, "tandem");
  EXPECT_FALSE(u->password);
  EXPECT_FALSE(u->port);
  u = ParseUri("postgres:///postgres");
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_EQ(u->user, "");
  EXPECT_EQ(u->host, "");
  EXPECT_EQ(u->database, "postgres");
}

TEST(Uri, Ipv6Host) {
  auto u = ParseUri("postgres://u:pw@[::1]:5433/db");
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 5433u);
  u = ParseUri("mysql://u@[fe80::1%25eth0]/db");
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_EQ(u->host, "fe80::1%eth0");
  EXPECT_FALSE(u->port);
  EXPECT_FALSE(ParseUri("postgres://u@[::1/db"));
  EXPECT_FALSE(ParseUri("postgres://u@::1/db"));
}

TEST(Uri, SqlitePaths) {
  auto u = ParseUri("sqlite:///abs/dir@x/old.db");
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_EQ(u->scheme, "sqlite");
  EXPECT_EQ(u->database, "/abs/dir@x/old.db");
  EXPECT_FALSE(u->password);
  u = ParseUri("sqlite:rel/a:b.db");
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_EQ(u->database, "rel/a:b.db");
  EXPECT_EQ(SqlitePath("sqlite:rel/x.db", "/base"), "/base/rel/x.db");
  EXPECT_EQ(SqlitePath("sqlite:///abs/x.db", "/base"), "/abs/x.db");
  EXPECT_EQ(RedactUri("sqlite:///abs/u:p@x.db"), "sqlite:///abs/u:p@x.db");
}

TEST(Uri, BadInputIsAnErrorThatQuotesNoSecret) {
  auto u = ParseUri("mysql://app:s3cr%zzet@h/db");
  ASSERT_FALSE(u);
  EXPECT_EQ(u.error().message.find("s3cr"), std::string::npos) << u.error().message;
  EXPECT_FALSE(ParseUri("mysql://app@h:notaport/db"));
  EXPECT_FALSE(ParseUri("mysql:app@h/db"));
  EXPECT_FALSE(ParseUri("no scheme here"));
}

TEST(Uri, RedactHidesEveryPasswordTheParserAccepts) {
  EXPECT_EQ(RedactUri("mysql://app:p%2Fw%40d@127.0.0.1:3306/db"), "mysql://app:***@127.0.0.1:3306/db");
  EXPECT_EQ(RedactUri("mysql://app:a/b@c:d@h/db"), "mysql://app:***@h/db");
  EXPECT_EQ(RedactUri("postgres://u:pw@[::1]:5433/db?sslmode=require&password=two"),
            "postgres://u:***@[::1]:5433/db?sslmode=require&password=***");
  EXPECT_EQ(RedactUri("postgres://u@h/db"), "postgres://u@h/db");
  // Unparseable: nothing after the scheme is shown.
  EXPECT_EQ(RedactUri("mysql://app:s3cr%zzet@h/db"), "mysql://***");
  EXPECT_EQ(RedactUri("mysql:app:s3cret@h/db"), "mysql:***");
  EXPECT_EQ(RedactUri("app:s3cret@h/db"), "app:***");
  EXPECT_EQ(RedactUri("s3cret@h/db"), "***");
}

TEST(Uri, StripRemovesThePasswordAndKeepsTheRest) {
  bool removed = false;
  EXPECT_EQ(StripPassword("mysql://app:p%2Fw%40d@127.0.0.1:3306/db", &removed),
            "mysql://app@127.0.0.1:3306/db");
  EXPECT_TRUE(removed);
  EXPECT_EQ(StripPassword("mysql://app:a/b@c:d@h/db", &removed), "mysql://app@h/db");
  EXPECT_TRUE(removed);
  EXPECT_EQ(StripPassword("postgres://u@h/db?password=x&sslmode=require", &removed),
            "postgres://u@h/db?sslmode=require");
  EXPECT_EQ(StripPassword("postgres://u@h/db?sslmode=require&password=x", &removed),
            "postgres://u@h/db?sslmode=require");
  EXPECT_EQ(StripPassword("postgres://u@h/db?password=x", &removed), "postgres://u@h/db");
  EXPECT_TRUE(removed);
  EXPECT_EQ(StripPassword("postgres://u@h/db", &removed), "postgres://u@h/db");
  EXPECT_FALSE(removed);
  EXPECT_EQ(StripPassword("sqlite:old.db", &removed), "sqlite:old.db");
  EXPECT_FALSE(removed);
}

}  // namespace
}  // namespace tandem
