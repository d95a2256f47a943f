#pragma once
// The embedded registry store: one SQLite file in WAL mode with synchronous=FULL, so a put or
// remove that returned ok survives kill -9 and power loss.
//
// Schema (PRAGMA user_version = 1): one `identities` table keyed (device_id, module_id), with
// module_id '' for devices. Module rows reference their device row and are cascade-deleted
// with it. The etag is not stored: it is derived from the row's version counter (base64 of the
// 8-byte big-endian version, so a new identity has etag `AAAAAAAAAAE=`).
//
// The database file (and its -wal/-shm files) is created or tightened to mode 0600: it holds
// every identity's keys.
//
// Errors: open() throws std::runtime_error (startup only). put/remove never throw on storage
// failures (disk full, I/O error, lock timeout, corruption): they roll back and answer
// write_result::storage_error, and nothing was written. load_all() throws std::runtime_error
// if the table cannot be read (it runs at startup).
//
// Thread safety: none. One thread at a time (registry_store contract).

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "store/registry_store.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace hub::store {

struct sqlite_options {
  /// How long a write waits for a lock held by another connection before storage_error.
  std::chrono::milliseconds busy_timeout{5000};
};

/// The etag of a row at `version`: base64 of the 8-byte big-endian version.
std::string etag_for_version(std::uint64_t version);

class sqlite_registry final : public registry_store {
 public:
  /// Opens (creating if needed) the database file and brings its schema to the current
  /// version. Throws std::runtime_error naming the file and the SQLite error on failure,
  /// including a schema newer than this build understands.
  static std::unique_ptr<sqlite_registry> open(const std::filesystem::path& db_file,
                                               const sqlite_options& options = {});

  ~sqlite_registry() override;
  sqlite_registry(const sqlite_registry&) = delete;
  sqlite_registry& operator=(const sqlite_registry&) = delete;

  // registry_store
  std::vector<identity_record> load_all() override;
  /// As registry_store::put. On create: version 1 and a fresh generation_id (18 decimal digits).
  /// On update: the stored generation_id is kept (whatever `rec` carried) and the version bumps.
  /// A module whose device row is absent → not_found. An etag If-Match on a missing id → not_found.
  write_result put(identity_record& rec, std::string_view if_match) override;
  /// As registry_store::remove. `if_match` "" or "*" deletes unconditionally.
  write_result remove(const identity_key& key, std::string_view if_match) override;

  /// The SQLite message of the last failed write, for the caller's log ("" if none yet).
  std::string last_error() const override { return last_error_; }

 private:
  explicit sqlite_registry(sqlite3* db);

  void prepare_statements();
  bool exec(const char* sql) noexcept;
  write_result put_in_tx(identity_record& rec, std::string_view if_match);
  write_result remove_in_tx(const identity_key& key, std::string_view if_match);
  std::string new_generation_id();

  sqlite3* db_ = nullptr;
  sqlite3_stmt* select_version_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  sqlite3_stmt* update_ = nullptr;
  sqlite3_stmt* delete_ = nullptr;
  sqlite3_stmt* select_all_ = nullptr;
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
  std::mt19937_64 rng_;
  std::string last_error_;
};

}  // namespace hub::store
