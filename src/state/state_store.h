// The state store: where a migration keeps its phase, chunk checkpoints, change-stream
// positions, rejects and reports, so every command can resume after kill -9.
// Default: a SQLite file next to tandem.yaml.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <string>
#include <vector>

#include "engines/sqlite/database.h"
#include "tandem/change_source.h"
#include "tandem/engine.h"

namespace tandem::state {

enum class ChunkStatus { kPending, kCopying, kDone };

struct Chunk {
  std::string table;  // source table
  int index = 0;
  KeyRange range;     // in source key terms
  ChunkStatus status = ChunkStatus::kPending;
  int64_t rows_read = 0, rows_written = 0, rows_rejected = 0;
};

struct Reject {
  std::string table;  // source table
  int chunk = -1;     // the chunk that found it; -1 for the change stream
  Row key;            // source key
  std::string reason;
  std::string row_json;  // the whole source row, readable JSON object
  std::string at;
  // The mapping rule or target that refused the row ("on_null: reject", "cast to varchar(20)",
  // "target") and the kind of problem (ProblemName: "null_violation", "refused_by_target"...).
  // Empty in rows stored by a tandem before 0.2 (the reason says it in words).
  std::string rule;
  std::string kind;
  int64_t id = 0;  // the store's row id (set when read back)
};

struct TableTotals {
  std::string table;
  int chunks = 0, chunks_done = 0;
  int64_t read = 0, written = 0, rejected = 0;
};

// A source table whose changes a stream holds (kept, not applied) because its columns changed
// under the migration (capture::ChangeStream).
struct Hold {
  std::string stream, table;
  std::string body;  // JSON: {"message", "changes": [{"what", "column", ...}], "since"}
  std::string at;
  int64_t held_keys = 0;  // changed keys kept for it
};

class StateStore {
 public:
  // Opens (creating) the store at `uri` (sqlite:PATH, relative to `base_dir`).
  static Result<StateStore> Open(const std::string& uri, const std::string& base_dir);

  // Key/value facts: phase, backfill times, last verify...
  Status Put(std::string_view key, std::string_view value);
  Result<std::optional<std::string>> Get(std::string_view key);
  // Put(key, value) and Log(kind, json) in one transaction: both or neither.
  Status PutAndLog(std::string_view key, std::string_view value, std::string_view kind,
                   std::string_view json);

  // Chunk plan of a table: stored once, then read back on resume.
  Result<std::vector<Chunk>> Chunks(std::string_view table);
  Status SaveChunkPlan(std::string_view table, const std::vector<Chunk>& chunks);
  Status MarkCopying(std::string_view table, int index);
  // Marks the chunk done with its counts and replaces the chunk's rejects, atomically.
  Status FinishChunk(const Chunk& chunk, const std::vector<Reject>& rejects);
  Result<std::vector<TableTotals>> Totals();
  // Forgets the chunk plan and rejects of every table (a fresh backfill).
  Status ResetBackfill();

  // Rejects found by the change stream for a key replace the earlier ones for that key;
  // a key that lands clears its stream rejects.
  Status PutStreamReject(const Reject& reject);
  Status ClearStreamReject(std::string_view table, const Row& key);
  Result<std::vector<Reject>> Rejects(std::string_view table, int limit);
  // Up to `limit` rejects of `table` with an id above `after_id`, by id: a page of a walk
  // through every reject (export, retry) that edits made meanwhile do not disturb.
  Result<std::vector<Reject>> RejectsAfter(std::string_view table, int64_t after_id, int limit);
  // The rejects stored for one source key (a chunk's and the stream's), by id.
  Result<std::vector<Reject>> RejectsOfKey(std::string_view table, const Row& key);
  // Replaces what a reject says (reason, rule, kind, row) after a retry refused it again.
  Status UpdateReject(const Reject& reject);
  Result<int64_t> RejectCount(std::string_view table);

  // Change-stream checkpoints by name ("forward", "reverse"), stored as the opaque text the
  // change source gave. A stream never checkpointed is at the default Position (the start).
  Status PutPosition(std::string_view stream, const tandem::Position& position);
  Result<tandem::Position> Position(std::string_view stream);

  // Forgets one table's chunk plan and chunk rejects (a re-backfill of that table); its stream
  // rejects stay.
  Status ResetTableBackfill(std::string_view table);

  // Held tables (Hold). PutHold replaces the table's hold; ClearHold ends it. Holds("") lists
  // every stream's.
  Status PutHold(std::string_view stream, std::string_view table, std::string_view body);
  Status ClearHold(std::string_view stream, std::string_view table);
  Result<std::vector<Hold>> Holds(std::string_view stream);
  // Moves the stream's checkpoint and keeps the keys of the changes it passes without applying
  // them (table, source key), in one transaction: a held change is never behind the
  // checkpoint without its key kept here. A key kept twice is kept once.
  Status PutPositionHolding(std::string_view stream, const tandem::Position& position,
                            const std::vector<std::pair<std::string, Row>>& held);
  Result<std::vector<std::string>> TablesWithHeldKeys(std::string_view stream);
  Result<std::vector<Row>> HeldKeys(std::string_view stream, std::string_view table, int limit);
  // Forgets held keys once applied (or made moot by a copy of their range).
  Status ReleaseHeldKeys(std::string_view stream, std::string_view table, const std::vector<Row>& keys);

  // Differences of the last verify past what it keeps in memory (one JSON object each, as in
  // its report), by source table. Cleared when a verify starts.
  Status ClearVerifySpill();
  Status SpillVerifyDifferences(std::string_view table, const std::vector<std::string>& bodies);
  Result<std::vector<std::string>> VerifySpill(std::string_view table, int limit);

  // Appends one event (phase change, switch, verify result) to the history.
  Status Log(std::string_view kind, std::string_view json);

  // For its path only: every read and write goes through the methods above.
  sqlite::Database& db() { return db_; }

 private:
  explicit StateStore(sqlite::Database db)
      : db_(std::move(db)), mu_(std::make_unique<std::recursive_mutex>()) {}
  sqlite::Database db_;
  // Serializes every method: the jobs of a parallel backfill and the change stream share one
  // store (one SQLite connection, whose transactions must not interleave). Recursive, as a
  // method may call another. Held only while a method runs, never while waiting for a job.
  std::unique_ptr<std::recursive_mutex> mu_;
};

std::string_view ChunkStatusName(ChunkStatus s);

}  // namespace tandem::state
