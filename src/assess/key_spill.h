// The duplicate and foreign-key checks of `assess` on tables larger than memory.
//
// Every row's mapped key values are reduced to a 128-bit hash (XXH3 over a kind-tagged
// encoding, so 5, '5' and NULL never meet) and appended, with the row's place in a key log, to
// one of kPartitions buffers chosen by the hash; a full buffer is appended to the key set's one
// spill file as a block, and the blocks of each partition are listed in memory (16 bytes a
// 16 KB block). A check then loads one partition at a time (a 256th of the entries: 24 bytes
// an entry, so 94 MB for a billion rows), sorts it and walks it: equal hashes are equal values,
// and a child's hash missing from its parent's partition of the same number is an orphan.
// Memory is the write buffers (16 KB a partition), the kept buffers (below) and, while a check
// runs, one partition a thread, whatever the table size.
// The file is open only while a block is written or a partition read (a schema of many keys
// must not run out of file descriptors), and one file a key set, not one a partition: creating
// 256 files a key set cost 6% of an assessment in the file system (measured). Two different
// values sharing a 128-bit hash (odds about 2^-100 for a billion rows) would be reported as a
// duplicate: a false alarm, never a missed problem.
//
// Up to a budget shared by an assessment's key sets (KeptMemory), full buffers stay in memory
// instead of going to the file: the checks of a table of a few million rows then never touch
// the disk (measured: writing 48 MB of entries for 1,000,000 rows, block by block under the
// lock the jobs share, was 5% of an assessment's CPU), while a larger one spills what is past
// it.
//
// The key log keeps each row's source key in a compact binary form, written once per row and
// read back only for the sample keys of a finding.
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/error.h"
#include "tandem/value.h"

namespace tandem::assess {

struct KeyHash {
  uint64_t hi = 0, lo = 0;
  auto operator<=>(const KeyHash&) const = default;
};

// Appends the kind-tagged bytes of `v` (what KeyHash and the key log are built on).
void AppendKeyBytes(const Value& v, std::string& out);

// The source keys of the rows, in scan order; a row's place is its byte offset, so places
// also order rows as they were read.
class KeyLog {
 public:
  static Result<std::unique_ptr<KeyLog>> Create(const std::string& path);
  ~KeyLog();
  // The place of the key made of `row`'s values at `positions`, appended.
  Result<uint64_t> Append(const Row& row, const std::vector<int>& positions);
  // The key at `place` (from Append). REQUIRES: Flush() since the last Append.
  Result<Row> Read(uint64_t place);
  Status Flush();

 private:
  KeyLog() = default;
  std::string path_;
  std::FILE* file_ = nullptr;
  std::string buffer_;
  uint64_t size_ = 0;
};

// The memory the key sets of one assessment keep entries in instead of their spill files, up
// to a budget, for any thread: 2 MB blocks handed out in pieces. Not asked for as transparent
// huge pages: with the kernel's usual `defrag=madvise`, a fault in such a block may compact
// memory first, and runs stalled for 50-100 ms (docs/decisions.md, "Assess").
class KeptMemory {
 public:
  explicit KeptMemory(size_t budget) : budget_(budget) {}
  ~KeptMemory();
  KeptMemory(const KeptMemory&) = delete;
  KeptMemory& operator=(const KeptMemory&) = delete;
  // `bytes` (at most a block) that live as long as this; nullptr past the budget.
  char* Take(size_t bytes);

 private:
  std::mutex mu_;
  size_t budget_;
  std::vector<void*> blocks_;
  char* next_ = nullptr;  // the free part of the last block
  size_t left_ = 0;
};

// One key set's or foreign key's entries, spilled by hash.
class KeySpill {
 public:
  static constexpr int kPartitions = 256;
  struct Entry {
    KeyHash hash;
    uint64_t place = 0;  // in the KeyLog
    auto operator<=>(const Entry&) const = default;
  };

  // The spill file `path` (created empty now: an unwritable directory fails here, before the
  // scan); full buffers are kept in `kept` (if any) while it has room.
  static Result<std::unique_ptr<KeySpill>> Create(const std::string& path,
                                                  KeptMemory* kept = nullptr);
  KeySpill(const KeySpill&) = delete;
  KeySpill& operator=(const KeySpill&) = delete;

  Status Add(const KeyHash& hash, uint64_t place);
  // Keeps or writes out every buffer, and frees it (a partly filled one kept takes only its
  // entries' bytes).
  Status Flush();
  // Partition `p`'s entries, unsorted. REQUIRES: Flush() since the last Add. Safe on several
  // threads at once (each call opens the file itself).
  Result<std::vector<Entry>> Load(int p) const;
  int64_t entries() const { return entries_; }
  // Bytes of entries written to the file (the rest are in memory).
  uint64_t spilled_bytes() const { return size_; }

 private:
  KeySpill() = default;
  Status Write(int p);
  Status Unstage(int p);
  // Entries are first staged, 32 a partition in one array (192 KB for all 256: adding an
  // entry stays in the CPU's cache, where appending to 256 scattered 16 KB buffers missed it
  // and was 10% of an assessment's CPU, measured), then kept or buffered for the file 32 at a
  // time.
  static constexpr size_t kEntryBytes = 24, kStageEntries = 32;
  std::vector<char> stage_;
  std::array<uint32_t, kPartitions> staged_{};
  bool spilling_ = false;
  struct Block {
    uint64_t offset = 0, bytes = 0;
  };
  std::string path_;
  uint64_t size_ = 0;  // of the file
  std::vector<std::string> buffers_;
  std::vector<std::vector<Block>> blocks_;  // by partition, in the order written
  std::vector<std::vector<std::string_view>> kept_;  // by partition: buffers kept in memory
  KeptMemory* kept_memory_ = nullptr;
  int64_t entries_ = 0;
};

}  // namespace tandem::assess
