#include "store/sqlite/sqlite_registry.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace hub::store {
namespace {

constexpr int schema_version = 1;

// parent_module_id is '' on module rows so that (device_id, parent_module_id) references the
// device row (device_id, '') and ON DELETE CASCADE removes a device's modules; it is NULL on
// device rows, which SQLite treats as "no parent". WITHOUT ROWID: the key is the primary key.
constexpr const char* schema_v1 = R"sql(
CREATE TABLE identities (
  device_id            TEXT    NOT NULL,
  module_id            TEXT    NOT NULL,
  parent_module_id     TEXT,
  generation_id        TEXT    NOT NULL,
  version              INTEGER NOT NULL,
  enabled              INTEGER NOT NULL,
  status_reason        TEXT    NOT NULL,
  status_updated_time  TEXT    NOT NULL,
  auth_type            TEXT    NOT NULL,
  primary_key          TEXT    NOT NULL,
  secondary_key        TEXT    NOT NULL,
  primary_thumbprint   TEXT    NOT NULL,
  secondary_thumbprint TEXT    NOT NULL,
  iot_edge             INTEGER NOT NULL,
  managed_by           TEXT    NOT NULL,
  device_scope         TEXT    NOT NULL,
  PRIMARY KEY (device_id, module_id),
  FOREIGN KEY (device_id, parent_module_id)
    REFERENCES identities (device_id, module_id) ON DELETE CASCADE,
  CHECK ((module_id = '' AND parent_module_id IS NULL)
      OR (module_id <> '' AND parent_module_id = ''))
) WITHOUT ROWID;
PRAGMA user_version = 1;
)sql";

constexpr const char* columns =
    "device_id, module_id, generation_id, version, enabled, status_reason, status_updated_time, "
    "auth_type, primary_key, secondary_key, primary_thumbprint, secondary_thumbprint, iot_edge, "
    "managed_by, device_scope";

// Resets and unbinds a cached statement when a use of it ends, whatever the path out.
class stmt_use {
 public:
  explicit stmt_use(sqlite3_stmt* s) noexcept : s_(s) {}
  ~stmt_use() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  stmt_use(const stmt_use&) = delete;
  stmt_use& operator=(const stmt_use&) = delete;

 private:
  sqlite3_stmt* s_;
};

// Not named `bind`: with std::string arguments ADL would pick std::bind, silently.
void bind_text(sqlite3_stmt* s, int i, std::string_view v) noexcept {
  // SQLITE_STATIC: every bound string outlives the step; stmt_use unbinds before it dies.
  // A null data pointer would bind SQL NULL, so an empty view binds "" explicitly.
  sqlite3_bind_text(s, i, v.empty() ? "" : v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
}

void bind_int(sqlite3_stmt* s, int i, std::int64_t v) noexcept {
  sqlite3_bind_int64(s, i, v);
}

std::string column_text(sqlite3_stmt* s, int i) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
  return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s, i))) : std::string();
}

// Binds ?1..?15 in the order of `columns`.
void bind_record(sqlite3_stmt* s, const identity_record& r, std::string_view generation_id,
                 std::uint64_t version) noexcept {
  bind_text(s, 1, r.key.device_id);
  bind_text(s, 2, r.key.module_id);
  bind_text(s, 3, generation_id);
  bind_int(s, 4, static_cast<std::int64_t>(version));
  bind_int(s, 5, std::int64_t{r.enabled ? 1 : 0});
  bind_text(s, 6, r.status_reason);
  bind_text(s, 7, r.status_updated_time);
  bind_text(s, 8, r.auth_type);
  bind_text(s, 9, r.primary_key);
  bind_text(s, 10, r.secondary_key);
  bind_text(s, 11, r.primary_thumbprint);
  bind_text(s, 12, r.secondary_thumbprint);
  bind_int(s, 13, std::int64_t{r.iot_edge ? 1 : 0});
  bind_text(s, 14, r.managed_by);
  bind_text(s, 15, r.device_scope);
}

// The file holds every device's keys. SQLite would create it 0644 (less the umask), and its
// -wal/-shm files copy the database's mode, so the database is created (or tightened) 0600
// before SQLite opens it.
void make_private(const std::filesystem::path& file) {
  const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    throw std::runtime_error("registry database " + file.string() +
                             ": cannot open: " + std::strerror(errno));
  struct stat st {};
  const bool loose = ::fstat(fd, &st) == 0 && (st.st_mode & 077) != 0;
  const bool fixed = !loose || ::fchmod(fd, 0600) == 0;
  const int saved = errno;
  ::close(fd);
  if (!fixed)
    throw std::runtime_error("registry database " + file.string() +
                             ": cannot make it private (chmod 600): " + std::strerror(saved));
}

}  // namespace

std::string etag_for_version(std::uint64_t version) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::array<unsigned char, 9> b{};  // 8 bytes + 1 zero pad to make three groups of 3
  for (std::size_t i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(version >> (56 - 8 * i));
  std::string out;
  out.reserve(12);
  for (std::size_t i = 0; i < 9; i += 3) {
    const unsigned v = (unsigned{b[i]} << 16) | (unsigned{b[i + 1]} << 8) | unsigned{b[i + 2]};
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  out.back() = '=';  // 8 bytes = two full groups + 2 bytes: one pad character
  return out;
}

std::unique_ptr<sqlite_registry> sqlite_registry::open(const std::filesystem::path& db_file,
                                                       const sqlite_options& options) {
  const std::string name = db_file.string();
  auto fail = [&](sqlite3* db, const std::string& what) -> std::runtime_error {
    std::string msg = "registry database " + name + ": " + what;
    if (db) {
      msg += ": ";
      msg += sqlite3_errmsg(db);
    }
    return std::runtime_error(msg);
  };

  make_private(db_file);
  for (const char* suffix : {"-wal", "-shm"}) {
    auto side = db_file;
    side += suffix;
    if (std::filesystem::exists(side)) make_private(side);
  }

  sqlite3* raw = nullptr;
  const int rc =
      sqlite3_open_v2(name.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::runtime_error e = fail(raw, "cannot open");
    sqlite3_close_v2(raw);
    throw e;
  }
  // From here the object owns the handle, so every throw below closes it.
  std::unique_ptr<sqlite_registry> self(new sqlite_registry(raw));
  sqlite3* db = self->db_;
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, static_cast<int>(options.busy_timeout.count()));

  // Reading a page first turns a non-database file into a clear error here, not at first use.
  int version = -1;
  {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, nullptr) != SQLITE_OK)
      throw fail(db, "cannot read schema version");
    if (sqlite3_step(s) == SQLITE_ROW) version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    if (version < 0) throw fail(db, "cannot read schema version");
  }
  if (version > schema_version)
    throw fail(nullptr, "schema version " + std::to_string(version) +
                            " is newer than this hub supports (" + std::to_string(schema_version) +
                            ")");

  {
    sqlite3_stmt* s = nullptr;
    std::string mode;
    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &s, nullptr) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
      mode = column_text(s, 0);
    sqlite3_finalize(s);
    if (mode != "wal") throw fail(db, "cannot enable WAL journal mode (got '" + mode + "')");
  }
  // FULL: in WAL mode, NORMAL may lose the last commits on power loss; an acknowledged
  // registry write must not.
  if (!self->exec("PRAGMA synchronous=FULL")) throw fail(db, "cannot set synchronous=FULL");
  if (!self->exec("PRAGMA foreign_keys=ON")) throw fail(db, "cannot enable foreign keys");

  if (version == 0) {
    if (!self->exec("BEGIN IMMEDIATE")) throw fail(db, "cannot create schema");
    if (!self->exec(schema_v1)) {
      std::runtime_error e = fail(db, "cannot create schema");
      self->exec("ROLLBACK");
      throw e;
    }
    if (!self->exec("COMMIT")) {
      std::runtime_error e = fail(db, "cannot create schema");
      self->exec("ROLLBACK");
      throw e;
    }
  }

  self->prepare_statements();
  return self;
}

sqlite_registry::sqlite_registry(sqlite3* db) : db_(db), rng_(std::random_device{}()) {}

sqlite_registry::~sqlite_registry() {
  for (sqlite3_stmt* s : {select_version_, insert_, update_, delete_, select_all_, begin_, commit_})
    sqlite3_finalize(s);
  sqlite3_close_v2(db_);
}

bool sqlite_registry::exec(const char* sql) noexcept {
  return sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) == SQLITE_OK;
}

void sqlite_registry::prepare_statements() {
  const std::string cols = columns;
  const std::pair<sqlite3_stmt**, std::string> all[] = {
      {&select_version_,
       "SELECT version, generation_id FROM identities WHERE device_id = ?1 AND module_id = ?2"},
      {&insert_, "INSERT INTO identities (" + cols +
                     ", parent_module_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
                     "?12, ?13, ?14, ?15, CASE WHEN ?2 = '' THEN NULL ELSE '' END)"},
      {&update_,
       "UPDATE identities SET generation_id = ?3, version = ?4, enabled = ?5, status_reason = ?6, "
       "status_updated_time = ?7, auth_type = ?8, primary_key = ?9, secondary_key = ?10, "
       "primary_thumbprint = ?11, secondary_thumbprint = ?12, iot_edge = ?13, managed_by = ?14, "
       "device_scope = ?15 WHERE device_id = ?1 AND module_id = ?2"},
      {&delete_, "DELETE FROM identities WHERE device_id = ?1 AND module_id = ?2"},
      {&select_all_, "SELECT " + cols + " FROM identities ORDER BY device_id, module_id"},
      {&begin_, "BEGIN IMMEDIATE"},
      {&commit_, "COMMIT"},
  };
  for (const auto& [slot, sql] : all) {
    if (sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                           SQLITE_PREPARE_PERSISTENT, slot, nullptr) != SQLITE_OK)
      throw std::runtime_error(std::string("registry database: cannot prepare statement: ") +
                               sqlite3_errmsg(db_));
  }
}

std::string sqlite_registry::new_generation_id() {
  // IoT Hub's generation ids are 18 decimal digits (`637...`); ours need only be unlikely to
  // repeat for one id, so no leading zero and 17 random digits after it.
  std::uniform_int_distribution<int> first(1, 9), rest(0, 9);
  std::string id(18, '0');
  id[0] = static_cast<char>('0' + first(rng_));
  for (std::size_t i = 1; i < id.size(); ++i) id[i] = static_cast<char>('0' + rest(rng_));
  return id;
}

std::vector<identity_record> sqlite_registry::load_all() {
  std::vector<identity_record> out;
  stmt_use use(select_all_);
  for (;;) {
    const int rc = sqlite3_step(select_all_);
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW)
      throw std::runtime_error(std::string("registry database: cannot load identities: ") +
                               sqlite3_errmsg(db_));
    identity_record r;
    sqlite3_stmt* s = select_all_;
    r.key.device_id = column_text(s, 0);
    r.key.module_id = column_text(s, 1);
    r.generation_id = column_text(s, 2);
    r.version = static_cast<std::uint64_t>(sqlite3_column_int64(s, 3));
    r.etag = etag_for_version(r.version);
    r.enabled = sqlite3_column_int(s, 4) != 0;
    r.status_reason = column_text(s, 5);
    r.status_updated_time = column_text(s, 6);
    r.auth_type = column_text(s, 7);
    r.primary_key = column_text(s, 8);
    r.secondary_key = column_text(s, 9);
    r.primary_thumbprint = column_text(s, 10);
    r.secondary_thumbprint = column_text(s, 11);
    r.iot_edge = sqlite3_column_int(s, 12) != 0;
    r.managed_by = column_text(s, 13);
    r.device_scope = column_text(s, 14);
    out.push_back(std::move(r));
  }
  return out;
}

write_result sqlite_registry::put(identity_record& rec, std::string_view if_match) {
  identity_record staged = rec;  // `rec` changes only once the commit is durable
  write_result r = write_result::storage_error;
  {
    stmt_use use(begin_);
    if (sqlite3_step(begin_) != SQLITE_DONE) {
      last_error_ = sqlite3_errmsg(db_);
      return write_result::storage_error;
    }
  }
  r = put_in_tx(staged, if_match);
  if (r == write_result::ok) {
    stmt_use use(commit_);
    if (sqlite3_step(commit_) != SQLITE_DONE) {
      last_error_ = sqlite3_errmsg(db_);
      r = write_result::storage_error;
    }
  }
  // A failed statement or COMMIT may leave the transaction open (or SQLite may already have
  // rolled it back itself): end it either way so the next write starts clean.
  if (!sqlite3_get_autocommit(db_)) exec("ROLLBACK");
  if (r == write_result::ok) rec = std::move(staged);
  return r;
}

write_result sqlite_registry::put_in_tx(identity_record& rec, std::string_view if_match) {
  const auto storage_error = [&] {
    last_error_ = sqlite3_errmsg(db_);
    return write_result::storage_error;
  };
  bool exists = false;
  std::uint64_t version = 0;
  std::string generation_id;
  {
    stmt_use use(select_version_);
    bind_text(select_version_, 1, rec.key.device_id);
    bind_text(select_version_, 2, rec.key.module_id);
    const int rc = sqlite3_step(select_version_);
    if (rc == SQLITE_ROW) {
      exists = true;
      version = static_cast<std::uint64_t>(sqlite3_column_int64(select_version_, 0));
      generation_id = column_text(select_version_, 1);
    } else if (rc != SQLITE_DONE) {
      return storage_error();
    }
  }

  if (if_match.empty()) {
    if (exists) return write_result::already_exists;
    if (rec.key.is_module()) {
      // The foreign key would refuse the insert too, but as a constraint error; ask first so
      // the answer is the documented not_found.
      stmt_use use(select_version_);
      bind_text(select_version_, 1, rec.key.device_id);
      bind_text(select_version_, 2, "");
      const int rc = sqlite3_step(select_version_);
      if (rc == SQLITE_DONE) return write_result::not_found;
      if (rc != SQLITE_ROW) return storage_error();
    }
    rec.generation_id = new_generation_id();
    rec.version = 1;
    stmt_use use(insert_);
    bind_record(insert_, rec, rec.generation_id, rec.version);
    if (sqlite3_step(insert_) != SQLITE_DONE) return storage_error();
  } else {
    if (!exists) return write_result::not_found;
    if (if_match != "*" && if_match != etag_for_version(version))
      return write_result::precondition_failed;
    rec.generation_id = std::move(generation_id);
    rec.version = version + 1;
    stmt_use use(update_);
    bind_record(update_, rec, rec.generation_id, rec.version);
    if (sqlite3_step(update_) != SQLITE_DONE) return storage_error();
  }
  rec.etag = etag_for_version(rec.version);
  return write_result::ok;
}

write_result sqlite_registry::remove(const identity_key& key, std::string_view if_match) {
  {
    stmt_use use(begin_);
    if (sqlite3_step(begin_) != SQLITE_DONE) {
      last_error_ = sqlite3_errmsg(db_);
      return write_result::storage_error;
    }
  }
  write_result r = remove_in_tx(key, if_match);
  if (r == write_result::ok) {
    stmt_use use(commit_);
    if (sqlite3_step(commit_) != SQLITE_DONE) {
      last_error_ = sqlite3_errmsg(db_);
      r = write_result::storage_error;
    }
  }
  if (!sqlite3_get_autocommit(db_)) exec("ROLLBACK");
  return r;
}

write_result sqlite_registry::remove_in_tx(const identity_key& key, std::string_view if_match) {
  std::uint64_t version = 0;
  {
    stmt_use use(select_version_);
    bind_text(select_version_, 1, key.device_id);
    bind_text(select_version_, 2, key.module_id);
    const int rc = sqlite3_step(select_version_);
    if (rc == SQLITE_DONE) return write_result::not_found;
    if (rc != SQLITE_ROW) {
      last_error_ = sqlite3_errmsg(db_);
      return write_result::storage_error;
    }
    version = static_cast<std::uint64_t>(sqlite3_column_int64(select_version_, 0));
  }
  if (!if_match.empty() && if_match != "*" && if_match != etag_for_version(version))
    return write_result::precondition_failed;
  stmt_use use(delete_);
  bind_text(delete_, 1, key.device_id);
  bind_text(delete_, 2, key.module_id);
  if (sqlite3_step(delete_) != SQLITE_DONE) {
    last_error_ = sqlite3_errmsg(db_);
    return write_result::storage_error;
  }
  return write_result::ok;
}

}  // namespace hub::store
