//! Zipkin as it scales: several real Zipkin servers, stateless, over one
//! shared store (MariaDB, with Zipkin's own MySQL schema), behind one
//! balancer (nginx) that is the only address the services know. This is
//! how a [`Zipkin`](crate::Zipkin) made with
//! [`Zipkin::cluster`](crate::Zipkin::cluster) runs: the balancer listens
//! on the Zipkin's held port, so the tests ask Zipkin's API through it, as
//! they ask a single server.
//!
//! Every part is real software from Debian's packages or Maven Central:
//! `mariadbd` and `nginx` (`ci/zipkin-cluster.sh` installs them), the
//! Zipkin server's executable jar, and the schema that jar carries
//! (`mysql.sql`, in its `zipkin-storage-mysql-v1` library). A server
//! killed here loses nothing the store holds; the balancer sends the
//! uploads to the servers that are up, and answers `502` when none is.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use crate::{
    Link, Links, Program, RefusingPort, Service,
    process::find_on_path,
    zipkin_server::{start_server, wait_until_healthy},
};

/// How long MariaDB may take to start (it recovers its log first).
const DATABASE_START_LIMIT: Duration = Duration::from_secs(60);
/// The database and account Zipkin uses.
const DATABASE: &str = "zipkin";
const USER: &str = "zipkin";
const PASSWORD: &str = "zipkin";

/// The header in which the balancer names the server that answered.
pub const SERVER_HEADER: &str = "x-zipkin-server";

/// Zipkin servers over one MariaDB, behind one balancer.
pub struct ZipkinServers {
    /// Each server on a port held for the whole test, so that a killed one
    /// is met with connection refused, never another program.
    servers: Vec<(RefusingPort, Service)>,
    balancer: Balancer,
    pub database: MariaDb,
    /// Each kill: which server (its address), and when.
    kills: Vec<(String, Instant)>,
}

impl ZipkinServers {
    /// `count` servers of `jar` over a new database, and the balancer in
    /// front of them on `front`; every server healthy.
    pub async fn start(jar: &Path, count: usize, front: &RefusingPort) -> ZipkinServers {
        let database = MariaDb::start(jar).await;
        let mut servers = Vec::new();
        for number in 1..=count {
            let port = RefusingPort::new();
            let name = format!("zipkin-{number}");
            let server = start_server(&name, jar, &port, &database.storage_env()).await;
            servers.push((port, server));
        }
        let upstreams: Vec<SocketAddr> = servers.iter().map(|(port, _)| port.addr).collect();
        let balancer = Balancer::start(front, &upstreams).await;
        ZipkinServers {
            servers,
            balancer,
            database,
            kills: Vec::new(),
        }
    }

    pub fn count(&self) -> usize {
        self.servers.len()
    }

    /// Kills server `index` with SIGKILL.
    pub async fn kill(&mut self, index: usize) {
        let (port, server) = &mut self.servers[index];
        server.kill().await;
        self.kills.push((port.addr.to_string(), Instant::now()));
    }

    /// Each kill so far: the server's address (as the balancer names it),
    /// and when.
    pub fn kills(&self) -> &[(String, Instant)] {
        &self.kills
    }

    /// Starts server `index` again, once killed, and waits until it is
    /// healthy.
    pub async fn start_again(&mut self, index: usize) {
        let server = &mut self.servers[index].1;
        server.restart().await;
        wait_until_healthy(server).await;
    }

    /// Kills every server that runs.
    pub async fn kill_all(&mut self) {
        for index in 0..self.count() {
            if self.servers[index].1.is_running() {
                self.kill(index).await;
            }
        }
    }

    /// Starts every server that was killed, side by side, as a cluster
    /// that lost them all would, and waits until each is healthy.
    pub async fn start_all(&mut self) {
        let mut starting = tokio::task::JoinSet::new();
        for (index, (port, mut server)) in std::mem::take(&mut self.servers).into_iter().enumerate()
        {
            starting.spawn(async move {
                if !server.is_running() {
                    server.restart().await;
                    wait_until_healthy(&server).await;
                }
                (index, port, server)
            });
        }
        let mut servers = starting.join_all().await;
        servers.sort_by_key(|(index, _, _)| *index);
        self.servers = servers
            .into_iter()
            .map(|(_, port, server)| (port, server))
            .collect();
    }

    /// What every server and the balancer logged, by name.
    pub fn logs(&self) -> Vec<(String, Vec<String>)> {
        let servers = self.servers.iter().map(|(_, server)| server);
        servers
            .chain([&self.balancer.service])
            .map(|service| (service.name.clone(), service.logs()))
            .collect()
    }
}

/// A program of Debian's packages: on `PATH`, or in `/usr/sbin`, which a
/// user's `PATH` may lack.
fn system_program(name: &str) -> PathBuf {
    find_on_path(name)
        .or_else(|| Some(Path::new("/usr/sbin").join(name)).filter(|path| path.is_file()))
        .unwrap_or_else(|| {
            panic!("{name} is not installed: bash ci/zipkin-cluster.sh installs it (Debian)")
        })
}

/// A directory of its own under the system's temporary one, removed when
/// dropped.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new(what: &str) -> ScratchDir {
        let dir = std::env::temp_dir().join(format!(
            "e2e-{what}-{}-{}",
            std::process::id(),
            RefusingPort::new().addr.port()
        ));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        ScratchDir(dir)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `command` to its end, and fails with its output unless it
/// succeeded.
fn run(command: &mut Command, what: &str) -> String {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("{what}: {error}"));
    assert!(
        output.status.success(),
        "{what}: {}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The user this process runs as: `mariadbd` must be told, when it is
/// root, and is then the same user.
fn current_user() -> String {
    run(Command::new("id").arg("-un"), "id -un")
        .trim()
        .to_owned()
}

/// MariaDB on a held loopback port, its data in a scratch directory, with
/// Zipkin's schema loaded and an account for Zipkin.
pub struct MariaDb {
    pub service: Service,
    port: RefusingPort,
    // Last: the data goes once the server is killed.
    dir: ScratchDir,
}

impl MariaDb {
    /// A new, empty database: `mariadb-install-db`, `mariadbd`, then Zipkin's
    /// schema from `zipkin_jar` (the server's executable jar).
    pub async fn start(zipkin_jar: &Path) -> MariaDb {
        let dir = ScratchDir::new("mariadb");
        let data = dir.0.join("data");
        let user = current_user();
        run(
            Command::new(system_program("mariadb-install-db"))
                .arg("--no-defaults")
                .arg(format!("--datadir={}", data.display()))
                .arg(format!("--user={user}"))
                .arg("--auth-root-authentication-method=socket")
                .arg("--skip-test-db"),
            "mariadb-install-db",
        );
        let port = RefusingPort::new();
        let args = vec![
            "--no-defaults".to_owned(),
            format!("--datadir={}", data.display()),
            format!("--socket={}", dir.0.join("socket").display()),
            format!("--pid-file={}", dir.0.join("pid").display()),
            format!("--port={}", port.addr.port()),
            "--bind-address=127.0.0.1".to_owned(),
            "--skip-name-resolve".to_owned(),
            format!("--user={user}"),
            // Zipkin commits every statement on its own: with each commit
            // flushed to disk, this machine's disk holds MariaDB far below
            // the load's spans a second. Once a second is what is lost to
            // a crash of the machine, which no test here makes.
            "--innodb-flush-log-at-trx-commit=2".to_owned(),
        ];
        let program = Program::System {
            path: system_program("mariadbd"),
            args,
        };
        let service = Service::start_within("mariadb", &program, &[], DATABASE_START_LIMIT).await;
        let database = MariaDb { service, port, dir };
        database.sql(&format!(
            "CREATE DATABASE {DATABASE}; \
             CREATE USER '{USER}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'; \
             GRANT ALL ON {DATABASE}.* TO '{USER}'@'127.0.0.1';"
        ));
        database.sql_in_zipkin(&zipkin_schema(zipkin_jar));
        database
    }

    /// Runs `statements` as the database's root, over its socket, and
    /// gives what they print (tab-separated, no header).
    pub fn sql(&self, statements: &str) -> String {
        self.client(None, statements)
    }

    /// Runs `statements` in Zipkin's database.
    pub fn sql_in_zipkin(&self, statements: &str) -> String {
        self.client(Some(DATABASE), statements)
    }

    fn client(&self, database: Option<&str>, statements: &str) -> String {
        let mut command = Command::new(system_program("mariadb"));
        command
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.dir.0.join("socket").display()))
            .arg("--batch")
            .arg("--skip-column-names")
            .arg("--execute")
            .arg(statements);
        command.args(database);
        run(&mut command, "the mariadb client")
    }

    /// How Zipkin (and its dependencies job) reach it: the variables of
    /// Zipkin's MySQL storage.
    pub fn storage_env(&self) -> Vec<(String, String)> {
        [
            ("STORAGE_TYPE", "mysql".to_owned()),
            ("MYSQL_HOST", "127.0.0.1".to_owned()),
            ("MYSQL_TCP_PORT", self.port.addr.port().to_string()),
            ("MYSQL_DB", DATABASE.to_owned()),
            ("MYSQL_USER", USER.to_owned()),
            ("MYSQL_PASS", PASSWORD.to_owned()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
    }
}

/// What Spark 3.4 needs opened on Java 17 (`spark-submit` adds the same;
/// the job run as a plain program must be given them).
const SPARK_OPENS: [&str; 13] = [
    "java.lang",
    "java.lang.invoke",
    "java.lang.reflect",
    "java.io",
    "java.net",
    "java.nio",
    "java.util",
    "java.util.concurrent",
    "java.util.concurrent.atomic",
    "sun.nio.ch",
    "sun.nio.cs",
    "sun.security.action",
    "sun.util.calendar",
];

impl MariaDb {
    /// Runs Zipkin's dependencies job once over this database, for today
    /// (UTC), and gives its log: the job's code from Maven Central, found
    /// through `ZIPKIN_DEPENDENCIES_CLASSPATH` (`bash
    /// ci/zipkin-dependencies.sh` prints it), run by its main in
    /// `ci/zipkin-dependencies/`.
    pub fn run_dependencies_job(&self) -> String {
        let classpath = std::env::var("ZIPKIN_DEPENDENCIES_CLASSPATH").unwrap_or_else(|_| {
            panic!(
                "this test needs Zipkin's dependencies job: run it with \
                 ZIPKIN_DEPENDENCIES_CLASSPATH=\"$(bash ci/zipkin-dependencies.sh)\""
            )
        });
        let main = crate::workspace().join("ci/zipkin-dependencies/DependenciesJob.java");
        let mut command = Command::new(find_on_path("java").expect("java is on PATH"));
        command
            .env_clear()
            .args(SPARK_OPENS.map(|package| format!("--add-opens=java.base/{package}=ALL-UNNAMED")))
            .arg("-cp")
            .arg(classpath)
            .arg(main)
            .envs(self.storage_env())
            // Spark's scratch files, in the database's directory.
            .env("SPARK_LOCAL_DIRS", &self.dir.0);
        let output = command.output().expect("java runs");
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            output.status.success(),
            "the dependencies job: {}\n{log}",
            output.status
        );
        log
    }

    /// The links the dependencies job wrote, all days together.
    pub fn job_links(&self) -> Links {
        let rows = self.sql_in_zipkin(
            "SELECT parent, child, SUM(call_count), SUM(error_count) \
             FROM zipkin_dependencies GROUP BY parent, child",
        );
        rows.lines()
            .map(|row| {
                let fields: Vec<&str> = row.split('\t').collect();
                let count = |index: usize| fields[index].parse().expect("a count");
                let link = Link {
                    call_count: count(2),
                    error_count: count(3),
                };
                ((fields[0].to_owned(), fields[1].to_owned()), link)
            })
            .collect()
    }
}

/// Zipkin's MySQL schema, as the server's jar carries it: `mysql.sql` in
/// its `zipkin-storage-mysql-v1` library.
fn zipkin_schema(zipkin_jar: &Path) -> String {
    let listing = run(
        Command::new(system_program("unzip"))
            .arg("-Z1")
            .arg(zipkin_jar),
        "unzip -Z1 (the Zipkin jar's listing)",
    );
    let library = listing
        .lines()
        .find(|name| name.contains("/zipkin-storage-mysql-v1-") && name.ends_with(".jar"))
        .expect("the Zipkin jar carries its MySQL storage");
    let dir = ScratchDir::new("zipkin-schema");
    run(
        Command::new(system_program("unzip"))
            .arg("-q")
            .arg(zipkin_jar)
            .arg(library)
            .arg("-d")
            .arg(&dir.0),
        "unzip (the MySQL storage library)",
    );
    run(
        Command::new(system_program("unzip"))
            .arg("-p")
            .arg(dir.0.join(library))
            .arg("mysql.sql"),
        "unzip -p mysql.sql",
    )
}

/// nginx on a held loopback port, sending each request to one of
/// `upstreams`, and to the next one when a server refuses the connection
/// or fails before it answers.
pub struct Balancer {
    pub service: Service,
    // Last: its config goes once nginx is killed.
    _dir: ScratchDir,
}

impl Balancer {
    pub async fn start(port: &RefusingPort, upstreams: &[SocketAddr]) -> Balancer {
        let dir = ScratchDir::new("nginx");
        let config = dir.0.join("nginx.conf");
        std::fs::write(&config, nginx_config(&dir.0, port.addr, upstreams))
            .expect("nginx's config in its scratch directory");
        let program = Program::System {
            path: system_program("nginx"),
            args: vec![
                "-c".to_owned(),
                config.display().to_string(),
                "-e".to_owned(),
                "stderr".to_owned(),
            ],
        };
        let service = Service::start("zipkin-balancer", &program, &[]).await;
        Balancer { service, _dir: dir }
    }
}

/// The balancer's config: what `docs/beyond-one-machine.md` shows.
///
/// A POST that reached a server which then died is not sent again by
/// nginx (it is not idempotent); the balancer answers `502`, and the
/// services' exporters try that batch again, as they do any transient
/// failure. A refused connection, where nothing was sent, goes on to the
/// next server.
fn nginx_config(dir: &Path, listen: SocketAddr, upstreams: &[SocketAddr]) -> String {
    let servers: String = upstreams
        .iter()
        .map(|addr| format!("    server {addr} max_fails=1 fail_timeout=2s;\n"))
        .collect();
    let dir = dir.display();
    format!(
        "daemon off;\n\
         worker_processes 1;\n\
         pid {dir}/nginx.pid;\n\
         error_log stderr warn;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n\
         \x20 access_log off;\n\
         \x20 client_body_temp_path {dir}/body;\n\
         \x20 proxy_temp_path {dir}/proxy;\n\
         \x20 fastcgi_temp_path {dir}/fastcgi;\n\
         \x20 uwsgi_temp_path {dir}/uwsgi;\n\
         \x20 scgi_temp_path {dir}/scgi;\n\
         \x20 upstream zipkin {{\n\
         {servers}\
         \x20   keepalive 16;\n\
         \x20 }}\n\
         \x20 server {{\n\
         \x20   listen {listen};\n\
         \x20   client_max_body_size 16m;\n\
         \x20   location / {{\n\
         \x20     proxy_pass http://zipkin;\n\
         \x20     proxy_http_version 1.1;\n\
         \x20     proxy_set_header Connection \"\";\n\
         \x20     proxy_connect_timeout 1s;\n\
         \x20     proxy_next_upstream error timeout http_502 http_503 http_504;\n\
         \x20     add_header X-Zipkin-Server $upstream_addr always;\n\
         \x20   }}\n\
         \x20 }}\n\
         }}\n"
    )
}
