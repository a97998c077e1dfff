#pragma once
// MetadataStore on PostgreSQL (DATABASE_URL=postgres://... or postgresql://...), for
// deployments that run several API/worker processes or hosts on one database.
//
// Tables live in schema `rend` (migrations/postgres/*.sql, compiled in). Behaviour
// matches the SQLite store (the reference): same unix-ms BIGINT timestamps, same
// cursor and tier encodings (store/codec.h), same job attempt limit. Concurrency
// comes from the database rather than a process mutex: a small connection pool, row
// locks (claim_job uses FOR UPDATE SKIP LOCKED), and an advisory lock in migrate().
#include <memory>
#include <string>

#include "store/metadata.h"

namespace rend::store::postgres {

// Parses the URL (throws std::invalid_argument for a non-postgres URL, without
// echoing it) but does not connect: connections are opened on first use, so Rend
// can start, report unhealthy and recover while Postgres is down. Call migrate() at
// startup. Errors never include the password; they name host:port/dbname.
std::unique_ptr<MetadataStore> open_postgres_metadata_store(const std::string& database_url);

}  // namespace rend::store::postgres
