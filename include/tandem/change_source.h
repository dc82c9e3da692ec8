// The ChangeSource seam: change capture, one implementation per capture method (DESIGN.md
// "The seams: Engine and ChangeSource"). Triggers exist on every engine; PostgreSQL logical
// decoding and the MariaDB binlog are to come behind the same calls, so nothing above
// src/engines/ may depend on how a Position is spelt.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/engine.h"

namespace tandem {

// A point in a change source's history. Opaque above the engines: the trigger sources store
// their sequence number as decimal text, a log-based source would store an LSN or binlog
// coordinates. Compare positions only through ChangeSource::Covers. The default (empty text)
// is the beginning: before every change the source has recorded.
struct Position {
  std::string text;
  friend bool operator==(const Position&, const Position&) = default;
};

// One captured change: a key of a table was inserted, updated or deleted at `position`.
struct Change {
  Position position;
  std::string table;
  char op = 'U';  // 'I', 'U', 'D'
  Row key;
  int64_t at_micros = 0;  // when the change was recorded (UTC, µs since epoch); 0 if unknown
};

// What one Read returns.
struct ChangeBatch {
  std::vector<Change> changes;  // in position order
  // Everything at or before `upto` has been returned, by this Read or an earlier one: a
  // checkpoint may move here once `changes` are applied. It can lie past the last change
  // (history that is proven to hold nothing more, e.g. a gap left by rolled-back
  // transactions) and is never before the Read's `after`.
  Position upto;
};

// A table to capture, with the key columns its changes carry.
struct CaptureTable {
  std::string table;
  std::vector<std::string> key;
};

// A privilege that the role tandem connects as lacks, and the statement that grants it.
struct MissingGrant {
  std::string what;   // "CREATE on schema public", with why tandem needs it
  std::string grant;  // the statement to run, e.g. GRANT CREATE ON SCHEMA "public" TO "tandem";
};

// Change capture on one database. Works through the Engine it was opened on (see
// OpenChangeSource) and, like it, is not thread-safe.
class ChangeSource {
 public:
  virtual ~ChangeSource() = default;

  // The capture method: "triggers".
  virtual std::string_view method() const = 0;

  // Starts recording changes to `tables` (idempotent; re-installing a table replaces its key).
  // On failure nothing of the call is left half-installed where the engine allows it
  // (PostgreSQL, SQLite); MariaDB DDL commits as it goes, and a retry completes it.
  // REQUIRES: every table exists and has the key columns given.
  virtual Status Install(const std::vector<CaptureTable>& tables) = 0;

  // Up to `limit` changes after `after`, in order. Never skips a change a later call could
  // still see: the read stops before a change that may still commit (a gap in trigger
  // sequence numbers) until it commits or is proven dead. failed_precondition when capture
  // is not installed or cannot prove gaps dead (the message says what to grant).
  // REQUIRES: `after` came from this source's history (a Change, ChangeBatch::upto, Last()
  // or the default Position).
  virtual Result<ChangeBatch> Read(const Position& after, size_t limit) = 0;

  // The position of the newest change recorded so far, including those of transactions
  // still open or rolled back: a Read has caught up with "now" once its upto covers this.
  // The default Position when capture is not installed.
  virtual Result<Position> Last() = 0;

  // How many recorded changes exist after `after` (committed change rows, not a distance of
  // sequence numbers): the stream's lag. 0 when capture is not installed.
  virtual Result<int64_t> Pending(const Position& after) = 0;

  // Whether `a` is at or after `b`, i.e. a reader at `a` has seen everything up to `b`.
  // invalid_argument when either is not a position of this source.
  virtual Result<bool> Covers(const Position& a, const Position& b) const = 0;

  // Forgets the changes at or before `upto` (applied ones). A no-op without capture.
  virtual Status Prune(const Position& upto) = 0;

  // Removes every capture object (idempotent). The database's own objects stay.
  virtual Status Remove() = 0;

  // Marks the writes of the Engine this source was opened on as tandem's own, so that this
  // capture method does not record them (no echo between the forward and reverse streams).
  // Trigger capture uses a session setting the triggers check; it lasts for the session and
  // survives the engine's transactions.
  virtual Status SuppressOwnWrites(bool suppressed) = 0;

  // What the role this source connects as lacks to install and remove capture on `tables`
  // and to read and write their rows (tables that do not exist yet are created by tandem and
  // need nothing). Empty when nothing is missing, and on engines without roles (SQLite).
  // The application's own roles need nothing: capture runs with tandem's privileges.
  virtual Result<std::vector<MissingGrant>> MissingGrants(const std::vector<std::string>& tables) {
    (void)tables;
    return std::vector<MissingGrant>{};
  }
};

// Opens the change source of `method` on `engine` (one of the engines OpenEngine returns).
// The source uses the engine's connection and must not outlive it. invalid_argument for an
// unknown method or an engine that is not one of tandem's own.
Result<std::unique_ptr<ChangeSource>> OpenChangeSource(Engine& engine,
                                                       std::string_view method = "triggers");

}  // namespace tandem
