//! One service process: our binary, a peer (the py_zipkin originals,
//! OpenTelemetry-Python or zipkin-js), or a program of the system
//! (chromedriver, the real Zipkin); its port read from the kernel, its log
//! kept, stopped by SIGTERM or killed when dropped.

use std::{
    collections::HashSet,
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex, OnceLock},
    thread,
    time::{Duration, Instant},
};

use crate::SpanAccount;

/// How long a service may take to start listening.
const START_LIMIT: Duration = Duration::from_secs(30);
/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(10);

/// What runs a service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Program {
    /// A binary of this workspace, by name.
    Rust(&'static str),
    /// An example of this workspace, by name (`telemetry`'s quickstart).
    Example(&'static str),
    /// A script of the Python originals (`interop/python/`), run by the
    /// interpreter named in `INTEROP_PYTHON` (`ci/interop.sh` makes it).
    Python(&'static str),
    /// A script of the OpenTelemetry-Python peer (`interop/otel-python/`),
    /// run by the interpreter named in `INTEROP_OTEL_PYTHON` (its own
    /// virtualenv, which `ci/interop.sh` makes too).
    OtelPython(&'static str),
    /// A script of the zipkin-js peer (`interop/zipkin-js/`), run by the
    /// `node` on `PATH` with the packages that `ci/interop.sh` installs
    /// (`npm ci`) in the directory named in `INTEROP_ZIPKIN_JS`.
    ZipkinJs(&'static str),
    /// A program of the system, by path, with its arguments. It runs in a
    /// process group of its own, which is killed whole when it is dropped:
    /// chromedriver's browser outlives chromedriver otherwise.
    System { path: PathBuf, args: Vec<String> },
}

impl Program {
    /// The command, with none of this process's environment: what it needs
    /// of its own is set here, the service's settings are added by
    /// [`spawn`].
    fn command(&self) -> Command {
        match self {
            Program::Rust(binary) => bare(binaries().join(binary)),
            Program::Example(example) => bare(binaries().join("examples").join(example)),
            Program::Python(script) => python_command("INTEROP_PYTHON", "interop/python", script),
            Program::OtelPython(script) => {
                python_command("INTEROP_OTEL_PYTHON", "interop/otel-python", script)
            }
            Program::ZipkinJs(script) => node_command(script),
            Program::System { path, args } => {
                use std::os::unix::process::CommandExt;
                let mut command = bare(path);
                command.args(args).process_group(0);
                command
            }
        }
    }
}

/// A command for `program` that inherits nothing of this process's
/// environment.
fn bare(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(program);
    command.env_clear();
    command
}

/// `script` of `dir`, run by the interpreter that the variable `python`
/// names (a virtualenv's, made by `ci/interop.sh`), its output unbuffered so
/// that every line reaches the log as it is printed.
fn python_command(python: &str, dir: &str, script: &str) -> Command {
    let interpreter = std::env::var_os(python).unwrap_or_else(|| {
        panic!(
            "{python} names the Python of the virtualenv for {dir}/: \
             run these tests with `bash ci/interop.sh`"
        )
    });
    let mut command = bare(interpreter);
    command
        .arg(workspace().join(dir).join(script))
        .env("PYTHONUNBUFFERED", "1");
    command
}

/// `script` of `interop/zipkin-js/`, run by the `node` on `PATH`, finding
/// its packages in the `node_modules` of the directory that
/// `INTEROP_ZIPKIN_JS` names (`ci/interop.sh` installs them there with
/// `npm ci`, from the peer's package-lock.json).
fn node_command(script: &str) -> Command {
    let packages = std::env::var_os("INTEROP_ZIPKIN_JS").unwrap_or_else(|| {
        panic!(
            "INTEROP_ZIPKIN_JS names the directory where the packages of \
             interop/zipkin-js/ are installed: run these tests with `bash ci/interop.sh`"
        )
    });
    let node_modules = PathBuf::from(packages).join("node_modules");
    assert!(
        node_modules.is_dir(),
        "INTEROP_ZIPKIN_JS: no {} (`bash ci/interop.sh` installs it)",
        node_modules.display()
    );
    let node = find_on_path("node").expect("node is on PATH (the zipkin-js peer needs Node 20)");
    let mut command = bare(node);
    command
        .arg(workspace().join("interop/zipkin-js").join(script))
        .env("NODE_PATH", node_modules);
    command
}

/// The absolute path of `program` on this process's `PATH` (a service
/// starts with an empty environment, so it is named in full).
pub(crate) fn find_on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

/// The workspace's root directory.
pub fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// The directory holding the service binaries (and `examples/`), built once
/// per test binary (a no-op when `cargo test` has them up to date already);
/// or, when `E2E_BINARIES` names one, that directory as it is (to measure
/// binaries built from another commit).
pub fn binaries() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os("E2E_BINARIES") {
            return PathBuf::from(dir);
        }
        let mut build = Command::new(env!("CARGO"));
        build.current_dir(workspace()).args([
            "build",
            "--quiet",
            "-p",
            "api_01",
            "-p",
            "api_02",
            "-p",
            "api_03",
            "-p",
            "telemetry",
            "--bins",
            "--example",
            "quickstart",
        ]);
        if !cfg!(debug_assertions) {
            build.arg("--release");
        }
        let status = build.status().expect("cargo can be run");
        assert!(status.success(), "building the services failed");
        // This test runs from <target>/<profile>/deps/.
        let test_exe = std::env::current_exe().unwrap();
        test_exe.parent().unwrap().parent().unwrap().to_path_buf()
    })
}

/// Starts our binary `name` with `vars` set, expecting it to refuse them:
/// it must exit with an error within [`crate::EXIT_LIMIT`] (a service that
/// took them would serve on, and is killed then). Gives what it wrote to
/// stderr, where the refusal names the variable.
pub fn refused_at_start(name: &str, vars: &[(&str, &str)]) -> String {
    let mut service = std::process::Command::new(binaries().join(name))
        .envs(vars.iter().copied())
        .env("PORT", "0")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("{name} runs: {error}"));
    let deadline = Instant::now() + crate::EXIT_LIMIT;
    while service.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = service.kill();
    let output = service.wait_with_output().unwrap();
    assert!(
        output.status.code().is_some_and(|code| code != 0),
        "{name} with {vars:?}: {output:?}"
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// One running service process.
pub struct Service {
    pub name: String,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// What it runs, and how, to start it again ([`Service::restart`]).
    program: Program,
    env: Vec<(String, String)>,
    open_files: Option<u64>,
    child: Child,
    /// How long it may take to listen, each time it starts.
    start_limit: Duration,
    /// Set for a [`Program::System`]: the process group to kill.
    group: Option<u32>,
    /// Every line it printed, in every life.
    logs: Arc<Mutex<Vec<String>>>,
    /// The threads that read its stdout and stderr: done once it has exited
    /// and they have read the last line.
    readers: Vec<thread::JoinHandle<()>>,
}

impl Service {
    /// Starts `program` as the service `name` with `env` (and nothing else
    /// of this process's environment), on a port the OS picks unless `env`
    /// sets `PORT`, and waits until it listens. Fails at once, with its
    /// log, if it exits first.
    pub async fn start(name: &str, program: &Program, env: &[(String, String)]) -> Service {
        Self::start_with_open_files(name, program, env, None).await
    }

    /// [`Service::start`] for a program that may take up to `limit` to
    /// listen (a JVM).
    pub async fn start_within(
        name: &str,
        program: &Program,
        env: &[(String, String)],
        limit: Duration,
    ) -> Service {
        Self::start_with(name, program, env, None, limit).await
    }

    /// [`Service::start`], with the process's open-file limit, soft and
    /// hard, set to `open_files` (for that process only), so that a test of
    /// what happens at the limit is fast, and does not depend on the
    /// machine's own limit.
    pub async fn start_with_open_files(
        name: &str,
        program: &Program,
        env: &[(String, String)],
        open_files: Option<u64>,
    ) -> Service {
        Self::start_with(name, program, env, open_files, START_LIMIT).await
    }

    async fn start_with(
        name: &str,
        program: &Program,
        env: &[(String, String)],
        open_files: Option<u64>,
        start_limit: Duration,
    ) -> Service {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (child, readers) = spawn(name, program, env, open_files, &logs);
        let group = matches!(program, Program::System { .. }).then(|| child.id());
        let mut service = Service {
            name: name.to_owned(),
            url: String::new(),
            program: program.clone(),
            env: env.to_vec(),
            open_files,
            child,
            start_limit,
            group,
            logs,
            readers,
        };
        let port = service.wait_until_listening().await;
        service.url = format!("http://127.0.0.1:{port}");
        service
    }

    /// Starts it again, once it has exited, as it was started the first
    /// time: so on a port of its own choosing only if the first `env` set
    /// `PORT` (a held port: [`crate::StackBuilder::restartable`]). Its log
    /// goes on, after a line that says so.
    pub async fn restart(&mut self) {
        assert!(
            self.child.try_wait().unwrap().is_some(),
            "{} is still running",
            self.name
        );
        self.read_to_the_end();
        self.logs.lock().unwrap().push("=== restarted".to_owned());
        let (child, readers) = spawn(
            &self.name,
            &self.program,
            &self.env,
            self.open_files,
            &self.logs,
        );
        self.child = child;
        self.readers = readers;
        let port = self.wait_until_listening().await;
        assert_eq!(
            self.addr().port(),
            port,
            "{} came back on another port",
            self.name
        );
    }

    /// Kills it with SIGKILL, as `kill -9` does, and waits for it to exit.
    pub async fn kill(&mut self) {
        let _ = self.child.kill();
        self.wait_for_exit(crate::EXIT_LIMIT).await;
    }

    /// Whether it runs (has not exited).
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Its resident memory, in KiB (`VmRSS`), while it runs.
    pub fn running_rss_kib(&mut self) -> Option<u64> {
        if self.child.try_wait().ok()?.is_some() {
            return None;
        }
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.split_whitespace().next()?.parse().ok())
    }

    /// Waits until the process listens, and gives its port.
    async fn wait_until_listening(&mut self) -> u16 {
        let deadline = Instant::now() + self.start_limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.read_to_the_end();
                panic!(
                    "{} exited before listening ({status}): {:#?}",
                    self.name,
                    self.logs()
                );
            }
            if let Some(port) = listening_port(self.child.id()) {
                return port;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not listen within {:?}: {:#?}",
                self.name,
                self.start_limit,
                self.logs()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.url
            .trim_start_matches("http://")
            .parse()
            .expect("the URL holds an address")
    }

    /// What the service has printed so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// How many lines printed so far contain `text`.
    pub fn count_logs(&self, text: &str) -> usize {
        self.logs
            .lock()
            .unwrap()
            .iter()
            .filter(|line| line.contains(text))
            .count()
    }

    /// Waits until the service has printed `count` lines containing `text`.
    pub async fn wait_for_log(&self, text: &str, count: usize, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while self.count_logs(text) < count {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(POLL).await;
        }
        true
    }

    /// Waits until the service has printed `count` lines containing
    /// `text`, and fails the test with its log if it does not in time.
    pub async fn expect_log(&self, text: &str, count: usize) {
        let printed = self.wait_for_log(text, count, crate::SPANS_LIMIT).await;
        assert!(
            printed,
            "{} printed {count} × {text:?}: {:#?}",
            self.name,
            self.logs()
        );
    }

    /// What the service said of its spans as it stopped (the last time).
    /// `None` before it has stopped (or with telemetry off).
    pub fn span_account(&self) -> Option<SpanAccount> {
        self.span_accounts().pop()
    }

    /// The account of each of its lives that stopped cleanly, in order.
    pub fn span_accounts(&self) -> Vec<SpanAccount> {
        let logs = self.logs.lock().unwrap();
        logs.iter()
            .filter_map(|line| SpanAccount::parse(line))
            .collect()
    }

    /// Sends SIGTERM, as `docker stop` does.
    pub fn sigterm(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill can be run");
        assert!(sent.success(), "could not signal {}", self.name);
    }

    /// Sends SIGTERM and waits for the process to exit, at most `limit`.
    pub async fn terminate(&mut self, limit: Duration) -> ExitStatus {
        self.sigterm();
        self.wait_for_exit(limit).await
    }

    /// Waits for the process to exit, at most `limit`; its log is then
    /// complete.
    pub async fn wait_for_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.read_to_the_end();
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {limit:?}: {:#?}",
                self.name,
                self.logs()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Once the process has exited: waits until its last line is read (its
    /// pipes are closed, so the readers end).
    fn read_to_the_end(&mut self) {
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(group) = self.group {
            // The group may be gone already; that is not worth a line.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{group}")])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts one life of a service, its output read into `logs`.
fn spawn(
    name: &str,
    program: &Program,
    env: &[(String, String)],
    open_files: Option<u64>,
    logs: &Arc<Mutex<Vec<String>>>,
) -> (Child, Vec<thread::JoinHandle<()>>) {
    let mut command = program.command();
    if let Some(limit) = open_files {
        use std::os::unix::process::CommandExt;
        // SAFETY: between fork and exec only setrlimit runs, which is
        // async-signal-safe and allocates nothing.
        unsafe {
            command.pre_exec(move || rlimit::setrlimit(rlimit::Resource::NOFILE, limit, limit));
        }
    }
    // `command` inherits nothing of this process's environment already:
    // clearing it here would drop what the program itself needs.
    command
        .env("PORT", "0")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {name} ({program:?}): {error}"));
    let readers = vec![
        keep_lines(child.stdout.take().unwrap(), logs),
        keep_lines(child.stderr.take().unwrap(), logs),
    ];
    (child, readers)
}

fn keep_lines(
    stream: impl Read + Send + 'static,
    logs: &Arc<Mutex<Vec<String>>>,
) -> thread::JoinHandle<()> {
    let logs = logs.clone();
    thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            logs.lock().unwrap().push(line);
        }
    })
}

/// The TCP port process `pid` listens on, read from the kernel's socket
/// tables: the sockets `pid` holds (`/proc/<pid>/fd`) that are listening
/// (state `0A` in `/proc/<pid>/net/tcp{,6}`). Linux only, like the tests.
fn listening_port(pid: u32) -> Option<u16> {
    let sockets: HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()?
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_str()?;
            Some(
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_owned(),
            )
        })
        .collect();
    ["tcp", "tcp6"].into_iter().find_map(|table| {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).ok()?;
        text.lines().skip(1).find_map(|line| {
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (local, state, inode) = (fields.get(1)?, fields.get(3)?, fields.get(9)?);
            if *state != "0A" || !sockets.contains(*inode) {
                return None;
            }
            u16::from_str_radix(local.rsplit(':').next()?, 16).ok()
        })
    })
}
