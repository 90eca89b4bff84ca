// Package devdb runs the embedded default database: a private, throwaway PostgreSQL
// cluster under .data/postgres that listens only on a unix socket inside that folder,
// so it never collides with another server. `make run` and `make test` use it when
// DATABASE_URL is unset.
package devdb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// socketPathMax keeps the socket path under the kernel's 108-byte limit.
const socketPathMax = 100

// port only names the socket file (.s.PGSQL.<port>); nothing listens on TCP.
const port = "5432"

// Cluster is one local PostgreSQL data directory.
type Cluster struct {
	Dir    string // data directory, also the socket directory
	binDir string
	asUser string // run the server binaries as this user (when we are root)
	link   string // .data/postgres; a symlink to Dir when Dir had to live elsewhere
}

// Find locates the PostgreSQL binaries and the cluster folder under root (the
// project directory). It fails with install instructions when no binaries exist.
func Find(root string) (*Cluster, error) {
	bin, err := findBinDir()
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(filepath.Join(root, ".data", "postgres"))
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: abs, binDir: bin, link: abs}
	if os.Geteuid() == 0 {
		// initdb refuses to run as root; the postgres user owns the cluster and must
		// reach it, which a private checkout (mode 0700 parents) may forbid. Then the
		// cluster lives in /tmp, named after the project path, and .data/postgres
		// points at it.
		c.asUser = "postgres"
		if _, err := user.Lookup(c.asUser); err != nil {
			return nil, fmt.Errorf("running as root needs a 'postgres' user to own the database cluster: %w", err)
		}
		if !c.reachable(filepath.Dir(abs)) || len(abs)+len("/.s.PGSQL."+port) > socketPathMax {
			c.Dir = filepath.Join(os.TempDir(), "tally-devdb-"+shortHash(abs))
		}
	} else if len(abs)+len("/.s.PGSQL."+port) > socketPathMax {
		c.Dir = filepath.Join(os.TempDir(), "tally-devdb-"+shortHash(abs))
	}
	return c, nil
}

func shortHash(s string) string {
	var h uint32 = 2166136261
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return fmt.Sprintf("%08x", h)
}

// reachable reports whether c.asUser can enter dir (checked with the user's own
// rights, not ours).
func (c *Cluster) reachable(dir string) bool {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false
	}
	cmd := exec.Command("runuser", "-u", c.asUser, "--", "test", "-x", dir, "-a", "-w", dir)
	if err := cmd.Run(); err != nil {
		// .data itself is ours; let the postgres user write to it when its parents
		// are reachable.
		_ = os.Chmod(dir, 0o777)
		return exec.Command("runuser", "-u", c.asUser, "--", "test", "-x", dir, "-a", "-w", dir).Run() == nil
	}
	return true
}

func findBinDir() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(p), "initdb")); err == nil {
			return filepath.Dir(p), nil
		}
	}
	var candidates []string
	for _, pattern := range []string{
		"/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/usr/local/pgsql/bin",
		"/opt/homebrew/opt/postgresql*/bin", "/usr/local/opt/postgresql*/bin",
		"/Applications/Postgres.app/Contents/Versions/*/bin",
	} {
		m, _ := filepath.Glob(pattern)
		candidates = append(candidates, m...)
	}
	// Newest version first (lexical order is good enough for 1x versions).
	for i := len(candidates) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(candidates[i], "initdb")); err == nil {
			return candidates[i], nil
		}
	}
	hint := "Debian/Ubuntu: sudo apt-get install postgresql; Fedora: sudo dnf install postgresql-server; macOS: brew install postgresql@16"
	if runtime.GOOS == "darwin" {
		hint = "macOS: brew install postgresql@16"
	}
	return "", errors.New("no PostgreSQL binaries (initdb, pg_ctl) found on PATH or under /usr/lib/postgresql/*/bin; install them (" + hint + ") or set DATABASE_URL to an existing server")
}

func (c *Cluster) cmd(name string, args ...string) *exec.Cmd {
	bin := filepath.Join(c.binDir, name)
	if c.asUser != "" {
		return exec.Command("runuser", append([]string{"-u", c.asUser, "--", bin}, args...)...)
	}
	return exec.Command(bin, args...)
}

func run(cmd *exec.Cmd) error {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, out.String())
	}
	return nil
}

// Start creates the cluster on first use, starts it when it is not running, and
// makes sure the named databases exist. It returns the URL of the first database.
func (c *Cluster) Start(databases ...string) (string, error) {
	if err := c.initOnce(); err != nil {
		return "", err
	}
	if !c.running() {
		logFile := filepath.Join(c.Dir, "server.log")
		opts := fmt.Sprintf("-c listen_addresses='' -c unix_socket_directories='%s' -c port=%s -c max_connections=200 -c shared_buffers=128MB -c fsync=on", c.Dir, port)
		if err := run(c.cmd("pg_ctl", "-D", c.Dir, "-l", logFile, "-o", opts, "-w", "-t", "60", "start")); err != nil {
			return "", fmt.Errorf("start embedded PostgreSQL: %w", err)
		}
	}
	for _, db := range databases {
		if err := c.createDatabase(db); err != nil {
			return "", err
		}
	}
	name := "postgres"
	if len(databases) > 0 {
		name = databases[0]
	}
	return c.URL(name), nil
}

// URL returns the connection URL of one database of the cluster.
func (c *Cluster) URL(database string) string {
	q := url.Values{"host": {c.Dir}, "port": {port}, "user": {"postgres"}, "sslmode": {"disable"}}
	return "postgres:///" + database + "?" + q.Encode()
}

// Stop shuts the cluster down cleanly (fast mode: running transactions roll back).
func (c *Cluster) Stop() error {
	if !c.running() {
		return nil
	}
	return run(c.cmd("pg_ctl", "-D", c.Dir, "-m", "fast", "-w", "stop"))
}

func (c *Cluster) running() bool {
	return c.cmd("pg_ctl", "-D", c.Dir, "status").Run() == nil
}

func (c *Cluster) initOnce() error {
	if _, err := os.Stat(filepath.Join(c.Dir, "PG_VERSION")); err == nil {
		return nil
	}
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return err
	}
	if c.asUser != "" {
		if err := run(exec.Command("chown", c.asUser+":", c.Dir)); err != nil {
			return err
		}
	}
	if err := run(c.cmd("initdb", "-D", c.Dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C")); err != nil {
		return fmt.Errorf("create embedded PostgreSQL cluster: %w", err)
	}
	if c.link != c.Dir {
		// Point .data/postgres at the cluster that had to live elsewhere.
		_ = os.MkdirAll(filepath.Dir(c.link), 0o755)
		_ = os.Remove(c.link)
		_ = os.Symlink(c.Dir, c.link)
	}
	return nil
}

func (c *Cluster) createDatabase(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var conn *pgx.Conn
	var err error
	for { // the server may still be finishing its start
		if conn, err = pgx.Connect(ctx, c.URL("postgres")); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("connect to embedded PostgreSQL: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pg *pgconn.PgError
	if errors.As(err, &pg) && pg.Code == "42P04" { // created concurrently by another process
		return nil
	}
	return err
}
