package pgtest_test

import (
	"context"
	"database/sql"
	"net/url"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/berthhq/berth/internal/testutil/pgtest"
)

func TestStart(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Start(t)

	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := t.Context()

	var one int
	if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}

	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	var dbName, encoding string
	if err := db.QueryRowContext(ctx,
		"SELECT current_database(), pg_encoding_to_char(encoding) FROM pg_database WHERE datname = current_database()",
	).Scan(&dbName, &encoding); err != nil {
		t.Fatal(err)
	}
	if want := u.Path[1:]; dbName != want || encoding != "UTF8" {
		t.Errorf("connected to database %q with encoding %q, want %q with UTF8", dbName, encoding, want)
	}

	if _, err := db.ExecContext(ctx, "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO items VALUES (1, $1), (2, $2)", "ünïcödé", "plain"); err != nil {
		t.Fatal(err)
	}
	var name string
	if err := db.QueryRowContext(ctx, "SELECT name FROM items WHERE id = $1", 1).Scan(&name); err != nil {
		t.Fatal(err)
	}
	if name != "ünïcödé" {
		t.Errorf("read back %q, want %q", name, "ünïcödé")
	}
}

// TestStartIsolated checks that servers started side by side are distinct,
// which is what lets tests use them without coordinating.
func TestStartIsolated(t *testing.T) {
	t.Parallel()
	const n = 3
	dsns := make(map[string]bool)
	dbs := make([]*sql.DB, n)
	for i := range n {
		dsn := pgtest.Start(t)
		if dsns[dsn] {
			t.Fatalf("Start returned %s twice", dsn)
		}
		dsns[dsn] = true
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs[i] = db
	}
	ctx := context.Background()
	if _, err := dbs[0].ExecContext(ctx, "CREATE TABLE only_here (x int)"); err != nil {
		t.Fatal(err)
	}
	for _, db := range dbs[1:] {
		var exists bool
		if err := db.QueryRowContext(ctx, "SELECT to_regclass('only_here') IS NOT NULL").Scan(&exists); err != nil {
			t.Fatal(err)
		}
		if exists {
			t.Error("a table created on one server is visible on another")
		}
	}
}

// TestRestart: a server stopped refuses connections, and once started
// again answers at the same DSN with what was committed before.
func TestRestart(t *testing.T) {
	t.Parallel()
	s := pgtest.StartServer(t)
	db, err := sql.Open("pgx", s.DSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := t.Context()
	if _, err := db.ExecContext(ctx, "CREATE TABLE kept (v TEXT); INSERT INTO kept VALUES ('before')"); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := db.PingContext(ctx); err == nil {
		t.Fatal("a stopped server answered")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	var v string
	if err := db.QueryRowContext(ctx, "SELECT v FROM kept").Scan(&v); err != nil || v != "before" {
		t.Fatalf("after the restart: %q, %v", v, err)
	}
}
