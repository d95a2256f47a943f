#include "store/sqlite/sqlite_registry.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <stdexcept>

namespace hub::store {
namespace {

namespace fs = std::filesystem;

class sqlite_registry_test : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sqlite_registry_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    file_ = dir_ / "registry.db";
  }
  void TearDown() override { fs::remove_all(dir_); }

  static identity_record device(std::string id) {
    identity_record r;
    r.key.device_id = std::move(id);
    r.primary_key = "cHJpbWFyeWtleXByaW1hcnlrZXk=";
    r.secondary_key = "c2Vjb25kYXJ5a2V5c2Vjb25kYXJ5";
    r.status_updated_time = "0001-01-01T00:00:00Z";
    return r;
  }
  static identity_record module(std::string dev, std::string mod) {
    identity_record r = device(std::move(dev));
    r.key.module_id = std::move(mod);
    r.managed_by = "iotedge";
    return r;
  }
  static const identity_record* find(const std::vector<identity_record>& all,
                                     const identity_key& k) {
    auto it = std::find_if(all.begin(), all.end(), [&](const auto& r) { return r.key == k; });
    return it == all.end() ? nullptr : &*it;
  }

  fs::path dir_;
  fs::path file_;
};

TEST(etag_for_version, is_base64_of_big_endian_u64) {
  EXPECT_EQ(etag_for_version(1), "AAAAAAAAAAE=");
  EXPECT_EQ(etag_for_version(2), "AAAAAAAAAAI=");
  EXPECT_EQ(etag_for_version(256), "AAAAAAAAAQA=");
  EXPECT_EQ(etag_for_version(0xFFFFFFFFFFFFFFFFULL), "//////////8=");
}

TEST_F(sqlite_registry_test, create_then_load_all) {
  auto reg = sqlite_registry::open(file_);
  identity_record r = device("dev1");
  r.status_reason = "because";
  r.iot_edge = true;
  r.device_scope = "ms-azure-iot-edge://dev1-1";
  ASSERT_EQ(reg->put(r, ""), write_result::ok);
  EXPECT_EQ(r.version, 1u);
  EXPECT_EQ(r.etag, "AAAAAAAAAAE=");
  ASSERT_EQ(r.generation_id.size(), 18u);
  EXPECT_NE(r.generation_id[0], '0');
  EXPECT_TRUE(std::all_of(r.generation_id.begin(), r.generation_id.end(),
                          [](char c) { return c >= '0' && c <= '9'; }));

  const auto all = reg->load_all();
  ASSERT_EQ(all.size(), 1u);
  const identity_record& got = all[0];
  EXPECT_EQ(got.key, r.key);
  EXPECT_EQ(got.generation_id, r.generation_id);
  EXPECT_EQ(got.etag, r.etag);
  EXPECT_EQ(got.version, 1u);
  EXPECT_TRUE(got.enabled);
  EXPECT_EQ(got.status_reason, "because");
  EXPECT_EQ(got.status_updated_time, "0001-01-01T00:00:00Z");
  EXPECT_EQ(got.auth_type, "sas");
  EXPECT_EQ(got.primary_key, r.primary_key);
  EXPECT_EQ(got.secondary_key, r.secondary_key);
  EXPECT_TRUE(got.iot_edge);
  EXPECT_EQ(got.device_scope, r.device_scope);
}

TEST_F(sqlite_registry_test, create_existing_is_already_exists) {
  auto reg = sqlite_registry::open(file_);
  identity_record r = device("dev1");
  ASSERT_EQ(reg->put(r, ""), write_result::ok);
  identity_record again = device("dev1");
  again.primary_key = "changed";
  EXPECT_EQ(reg->put(again, ""), write_result::already_exists);
  EXPECT_EQ(again.etag, "");  // untouched on failure
  EXPECT_EQ(reg->load_all().at(0).primary_key, r.primary_key);
}

TEST_F(sqlite_registry_test, ids_are_case_sensitive) {
  auto reg = sqlite_registry::open(file_);
  identity_record a = device("Dev"), b = device("dev");
  ASSERT_EQ(reg->put(a, ""), write_result::ok);
  ASSERT_EQ(reg->put(b, ""), write_result::ok);
  EXPECT_EQ(reg->load_all().size(), 2u);
}

TEST_F(sqlite_registry_test, update_with_star) {
  auto reg = sqlite_registry::open(file_);
  identity_record r = device("dev1");
  ASSERT_EQ(reg->put(r, ""), write_result::ok);
  const std::string gen = r.generation_id;

  identity_record u = device("dev1");
  u.enabled = false;
  u.status_reason = "off";
  u.generation_id = "999";  // ignored: the stored generation is kept
  ASSERT_EQ(reg->put(u, "*"), write_result::ok);
  EXPECT_EQ(u.version, 2u);
  EXPECT_EQ(u.etag, "AAAAAAAAAAI=");
  EXPECT_EQ(u.generation_id, gen);

  const auto all = reg->load_all();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_FALSE(all[0].enabled);
  EXPECT_EQ(all[0].status_reason, "off");
  EXPECT_EQ(all[0].etag, "AAAAAAAAAAI=");
  EXPECT_EQ(all[0].generation_id, gen);
}

TEST_F(sqlite_registry_test, update_star_of_missing_is_not_found) {
  auto reg = sqlite_registry::open(file_);
  identity_record r = device("ghost");
  EXPECT_EQ(reg->put(r, "*"), write_result::not_found);
  EXPECT_EQ(reg->put(r, "AAAAAAAAAAE="), write_result::not_found);
  EXPECT_TRUE(reg->load_all().empty());
}

TEST_F(sqlite_registry_test, update_with_matching_etag_and_mismatch) {
  auto reg = sqlite_registry::open(file_);
  identity_record r = device("dev1");
  ASSERT_EQ(reg->put(r, ""), write_result::ok);
  const std::string first = r.etag;

  identity_record u = r;
  u.status_reason = "v2";
  ASSERT_EQ(reg->put(u, first), write_result::ok);
  EXPECT_NE(u.etag, first);

  identity_record stale = r;
  stale.status_reason = "stale";
  EXPECT_EQ(reg->put(stale, first), write_result::precondition_failed);
  EXPECT_EQ(stale.etag, first);  // untouched
  EXPECT_EQ(reg->load_all().at(0).status_reason, "v2");

  identity_record fresh = r;
  fresh.status_reason = "v3";
  EXPECT_EQ(reg->put(fresh, u.etag), write_result::ok);
  EXPECT_EQ(fresh.version, 3u);
}

TEST_F(sqlite_registry_test, etag_changes_on_every_update) {
  auto reg = sqlite_registry::open(file_);
  identity_record r = device("dev1");
  ASSERT_EQ(reg->put(r, ""), write_result::ok);
  std::vector<std::string> seen{r.etag};
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(reg->put(r, "*"), write_result::ok);
    EXPECT_EQ(std::find(seen.begin(), seen.end(), r.etag), seen.end());
    seen.push_back(r.etag);
  }
  EXPECT_EQ(reg->load_all().at(0).etag, seen.back());
}

TEST_F(sqlite_registry_test, module_without_device_is_not_found) {
  auto reg = sqlite_registry::open(file_);
  identity_record m = module("nodev", "mod1");
  EXPECT_EQ(reg->put(m, ""), write_result::not_found);
  EXPECT_EQ(reg->put(m, "*"), write_result::not_found);
  EXPECT_TRUE(reg->load_all().empty());
}

TEST_F(sqlite_registry_test, module_create_update_and_fields) {
  auto reg = sqlite_registry::open(file_);
  identity_record d = device("dev1");
  ASSERT_EQ(reg->put(d, ""), write_result::ok);
  identity_record m = module("dev1", "mod1");
  ASSERT_EQ(reg->put(m, ""), write_result::ok);
  EXPECT_EQ(m.etag, "AAAAAAAAAAE=");
  EXPECT_EQ(reg->put(m, ""), write_result::already_exists);
  ASSERT_EQ(reg->put(m, m.etag), write_result::ok);

  const auto all = reg->load_all();
  ASSERT_EQ(all.size(), 2u);
  const identity_record* got = find(all, {"dev1", "mod1"});
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->managed_by, "iotedge");
  EXPECT_EQ(got->version, 2u);
  EXPECT_NE(got->generation_id, find(all, {"dev1", ""})->generation_id);
}

TEST_F(sqlite_registry_test, delete_device_cascades_to_modules) {
  auto reg = sqlite_registry::open(file_);
  identity_record d1 = device("dev1"), d2 = device("dev2");
  identity_record m1 = module("dev1", "a"), m2 = module("dev1", "b"), m3 = module("dev2", "a");
  for (auto* r : {&d1, &d2, &m1, &m2, &m3}) ASSERT_EQ(reg->put(*r, ""), write_result::ok);

  ASSERT_EQ(reg->remove({"dev1", ""}, "*"), write_result::ok);
  const auto all = reg->load_all();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_NE(find(all, {"dev2", ""}), nullptr);
  EXPECT_NE(find(all, {"dev2", "a"}), nullptr);

  // The modules went with their device: recreating it starts with no modules.
  ASSERT_EQ(reg->put(d1, ""), write_result::ok);
  EXPECT_EQ(reg->load_all().size(), 3u);
}

TEST_F(sqlite_registry_test, delete_module_only) {
  auto reg = sqlite_registry::open(file_);
  identity_record d = device("dev1"), m = module("dev1", "mod1");
  ASSERT_EQ(reg->put(d, ""), write_result::ok);
  ASSERT_EQ(reg->put(m, ""), write_result::ok);
  ASSERT_EQ(reg->remove(m.key, m.etag), write_result::ok);
  const auto all = reg->load_all();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].key, d.key);
}

TEST_F(sqlite_registry_test, delete_if_match_semantics) {
  auto reg = sqlite_registry::open(file_);
  identity_record d = device("dev1");
  ASSERT_EQ(reg->put(d, ""), write_result::ok);
  EXPECT_EQ(reg->remove({"missing", ""}, "*"), write_result::not_found);
  EXPECT_EQ(reg->remove({"dev1", "nomod"}, ""), write_result::not_found);
  EXPECT_EQ(reg->remove(d.key, "AAAAAAAAAAI="), write_result::precondition_failed);
  EXPECT_EQ(reg->load_all().size(), 1u);
  EXPECT_EQ(reg->remove(d.key, d.etag), write_result::ok);
  EXPECT_EQ(reg->remove(d.key, "*"), write_result::not_found);

  identity_record e = device("dev2");
  ASSERT_EQ(reg->put(e, ""), write_result::ok);
  EXPECT_EQ(reg->remove(e.key, ""), write_result::ok);  // no If-Match: unconditional
  EXPECT_TRUE(reg->load_all().empty());
}

TEST_F(sqlite_registry_test, reopen_persists) {
  std::string gen;
  {
    auto reg = sqlite_registry::open(file_);
    identity_record d = device("dev1"), m = module("dev1", "mod1");
    ASSERT_EQ(reg->put(d, ""), write_result::ok);
    ASSERT_EQ(reg->put(d, "*"), write_result::ok);
    ASSERT_EQ(reg->put(m, ""), write_result::ok);
    gen = d.generation_id;
  }
  auto reg = sqlite_registry::open(file_);
  const auto all = reg->load_all();
  ASSERT_EQ(all.size(), 2u);
  const identity_record* d = find(all, {"dev1", ""});
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->generation_id, gen);
  EXPECT_EQ(d->etag, "AAAAAAAAAAI=");
  // The reopened store keeps enforcing the rules, including the cascade.
  identity_record again = device("dev1");
  EXPECT_EQ(reg->put(again, ""), write_result::already_exists);
  ASSERT_EQ(reg->remove({"dev1", ""}, "*"), write_result::ok);
  EXPECT_TRUE(reg->load_all().empty());
}

TEST_F(sqlite_registry_test, pragmas_and_schema_version) {
  { auto reg = sqlite_registry::open(file_); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file_.c_str(), &db), SQLITE_OK);
  auto scalar = [&](const char* sql) {
    sqlite3_stmt* s = nullptr;
    std::string v;
    if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
      v = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    return v;
  };
  EXPECT_EQ(scalar("PRAGMA journal_mode"), "wal");  // persistent
  EXPECT_EQ(scalar("PRAGMA user_version"), "1");
  sqlite3_close(db);
}

TEST_F(sqlite_registry_test, newer_schema_is_refused) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  try {
    sqlite_registry::open(file_);
    FAIL() << "expected a throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("schema version 99"), std::string::npos) << e.what();
  }
}

TEST_F(sqlite_registry_test, not_a_database_throws) {
  std::ofstream(file_) << std::string(4096, 'x');
  EXPECT_THROW(sqlite_registry::open(file_), std::runtime_error);
}

TEST_F(sqlite_registry_test, unopenable_path_throws) {
  EXPECT_THROW(sqlite_registry::open(dir_ / "no" / "such" / "dir" / "r.db"), std::runtime_error);
}

// Another connection holding the write lock stands in for an I/O failure: the write must
// fail as storage_error, write nothing, leave `rec` alone, and the store must work afterwards.
TEST_F(sqlite_registry_test, locked_database_is_storage_error) {
  auto reg = sqlite_registry::open(file_, sqlite_options{std::chrono::milliseconds(20)});
  identity_record d = device("dev1");
  ASSERT_EQ(reg->put(d, ""), write_result::ok);

  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(file_.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);

  identity_record e = device("dev2");
  EXPECT_EQ(reg->put(e, ""), write_result::storage_error);
  EXPECT_TRUE(e.etag.empty());
  EXPECT_FALSE(reg->last_error().empty());
  EXPECT_EQ(reg->remove(d.key, "*"), write_result::storage_error);

  ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);

  EXPECT_EQ(reg->load_all().size(), 1u);
  EXPECT_EQ(reg->put(e, ""), write_result::ok);
  EXPECT_EQ(reg->load_all().size(), 2u);
}

}  // namespace
}  // namespace hub::store
