/*
 * EXPLAIN QUERY PLAN and timing with the exact SQLite newsread links (libsqlite3-sys's bundled
 * amalgamation), for profiling feed queries from outside the app. Build (about a minute):
 *   S=$(find ~/.cargo/registry/src -maxdepth 2 -type d -name 'libsqlite3-sys-*' | sort | tail -1)/sqlite3
 *   gcc -O2 -I"$S" -DSQLITE_ENABLE_STAT4 -DSQLITE_THREADSAFE=1 -DSQLITE_DEFAULT_FOREIGN_KEYS=1 \
 *       bench/tools/sqlite-plan.c "$S/sqlite3.c" -o /tmp/sqlite-plan -lpthread -lm -ldl
 * Use: /tmp/sqlite-plan DB REPEATS 'SQL' ['SQL' ...]   (an SQL starting with ! is just executed,
 * e.g. '!ANALYZE'). Prints the plan, rows, ms per run and SQLite's full-scan/sort/VM-step counters.
 * Work on a copy of the database: '!...' statements change it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sqlite3.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int print_row(void *unused, int n, char **values, char **names) {
    (void)unused;
    (void)names;
    for (int i = 0; i < n; i++) printf("%s%s", i ? " | " : "  ", values[i] ? values[i] : "NULL");
    printf("\n");
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s DB REPEATS SQL...\n", argv[0]);
        return 2;
    }
    sqlite3 *db;
    if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        fprintf(stderr, "cannot open %s\n", argv[1]);
        return 1;
    }
    int reps = atoi(argv[2]) > 0 ? atoi(argv[2]) : 1;
    for (int i = 3; i < argc; i++) {
        const char *sql = argv[i];
        char *err = NULL;
        if (sql[0] == '!') {
            if (sqlite3_exec(db, sql + 1, print_row, NULL, &err) != SQLITE_OK) fprintf(stderr, "%s\n", err);
            continue;
        }
        printf("== %s\n", sql);
        char *eqp = sqlite3_mprintf("EXPLAIN QUERY PLAN %s", sql);
        if (sqlite3_exec(db, eqp, print_row, NULL, &err) != SQLITE_OK) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        sqlite3_free(eqp);
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
            fprintf(stderr, "%s\n", sqlite3_errmsg(db));
            return 1;
        }
        int rows = 0;
        double t0 = now();
        for (int r = 0; r < reps; r++) {
            rows = 0;
            while (sqlite3_step(st) == SQLITE_ROW) rows++;
            sqlite3_reset(st);
        }
        double ms = (now() - t0) * 1e3 / reps;
        printf("  rows %d, %.3f ms/query, fullscan_steps %d, sorts %d, vm_steps %d\n", rows, ms,
               sqlite3_stmt_status(st, SQLITE_STMTSTATUS_FULLSCAN_STEP, 0) / reps,
               sqlite3_stmt_status(st, SQLITE_STMTSTATUS_SORT, 0) / reps,
               sqlite3_stmt_status(st, SQLITE_STMTSTATUS_VM_STEP, 0) / reps);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return 0;
}
