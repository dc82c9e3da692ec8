// The canonical encoding of values typed by a target column, and row hashes built on it.
// Copy and verify share this one equality rule (DESIGN.md "Values and canonical form").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tandem/value.h"

namespace tandem {

// Appends the canonical bytes of `v` as a value of `type`: the value is cast to the type first
// (so 15, 15.0 and '15' typed integer encode alike), then encoded with a kind tag, so NULL,
// '' and 0 never collide. A value that does not cast encodes as its raw form with a distinct
// tag (and so differs from every castable value).
void AppendCanonical(const Value& v, const PortableType& type, std::string& out);
// The same for a value that is already what CastTo(v, type) returns (casts are idempotent):
// no cast and no check. For the values a mapping's Apply made (TableTransform::cast_outputs).
void AppendCanonicalCast(const Value& v, const PortableType& type, std::string& out);

// XXH3-64 over the canonical encodings of every field.
uint64_t HashRow(const Row& row, const std::vector<PortableType>& types);
// The same, encoding into `scratch` (cleared first): a caller hashing many rows keeps one
// buffer instead of allocating one per row.
uint64_t HashRow(const Row& row, const std::vector<PortableType>& types, std::string& scratch);
// The same where `cast[i]` says value i is already cast to types[i] (AppendCanonicalCast).
uint64_t HashRow(const Row& row, const std::vector<PortableType>& types,
                 const std::vector<char>& cast, std::string& scratch);

// True when the two values encode alike as `type`.
bool CanonicalEqual(const Value& a, const Value& b, const PortableType& type);

}  // namespace tandem
