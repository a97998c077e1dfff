# Postgres metadata store (DATABASE_URL=postgres://...). include()d from
# src/store/CMakeLists.txt, so variables set here land in that scope.
#
# libpq directly (through the small RAII wrapper in pg.h) rather than libpqxx: the
# Debian libpqxx (6.4) predates C++20 and fights it; we need a dozen calls of libpq.
find_package(PostgreSQL REQUIRED)

# Migrations are compiled in like the SQLite ones (see ../CMakeLists.txt), so a
# deployed binary never depends on files next to it. Adding, removing or editing a
# .sql file re-runs the configure step.
cmake_path(SET rend_pg_migrations_dir NORMALIZE "${CMAKE_CURRENT_LIST_DIR}/../../../migrations/postgres")
file(GLOB rend_pg_migrations CONFIGURE_DEPENDS ${rend_pg_migrations_dir}/*.sql)
list(SORT rend_pg_migrations COMPARE NATURAL)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${rend_pg_migrations})
if(NOT rend_pg_migrations)
  message(FATAL_ERROR "no migrations found in ${rend_pg_migrations_dir}")
endif()

set(REND_POSTGRES_MIGRATION_ENTRIES "")
set(rend_pg_seen_versions "")
foreach(migration IN LISTS rend_pg_migrations)
  get_filename_component(name ${migration} NAME_WLE)
  if(NOT name MATCHES "^([0-9]+)_[a-z0-9_]+$")
    message(FATAL_ERROR "migration ${migration}: name must look like 0002_add_thing.sql")
  endif()
  # Leading zeros would otherwise make the C++ literal octal.
  string(REGEX REPLACE "^0+([0-9])" "\\1" version "${CMAKE_MATCH_1}")
  if(version IN_LIST rend_pg_seen_versions)
    message(FATAL_ERROR "migration ${migration}: version ${version} is used twice")
  endif()
  list(APPEND rend_pg_seen_versions ${version})
  file(READ ${migration} sql)
  if(sql MATCHES "\\)rend_sql\"")
    message(FATAL_ERROR "migration ${migration} contains the raw-string delimiter )rend_sql\"")
  endif()
  string(APPEND REND_POSTGRES_MIGRATION_ENTRIES "    {${version}, \"${name}\", R\"rend_sql(${sql})rend_sql\"},\n")
endforeach()
configure_file(${CMAKE_CURRENT_LIST_DIR}/migrations.cpp.in ${CMAKE_CURRENT_BINARY_DIR}/postgres_migrations.cpp @ONLY)

rend_library(rend_store_postgres
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/pg.cpp
    ${CMAKE_CURRENT_LIST_DIR}/metadata_store.cpp
    ${CMAKE_CURRENT_BINARY_DIR}/postgres_migrations.cpp
  DEPS rend_store_base PostgreSQL::PostgreSQL)

list(APPEND REND_STORE_BACKENDS rend_store_postgres)
list(APPEND REND_STORE_BACKEND_TESTS
  ${CMAKE_CURRENT_LIST_DIR}/test_support.cpp
  ${CMAKE_CURRENT_LIST_DIR}/metadata_store_test.cpp)
