//! The real Zipkin server as a process: its executable jar started on a
//! held loopback port, with the settings a test gives it (its storage,
//! say), and waited for until it is healthy. [`crate::Zipkin`] runs one
//! this way; [`crate::zipkin_cluster`] runs several over one store.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use crate::{Program, RefusingPort, Service, process::find_on_path};

/// How long the real server may take to start answering (a JVM, on a
/// small machine busy with the test).
const SERVER_START_LIMIT: Duration = Duration::from_secs(60);

/// The real server `jar` as `name`, on `port` of loopback only, with
/// `env` (its storage, say), once it is healthy.
pub(crate) async fn start_server(
    name: &str,
    jar: &Path,
    port: &RefusingPort,
    env: &[(String, String)],
) -> Service {
    assert!(
        jar.is_file(),
        "ZIPKIN_SERVER_JAR={}: no such file (bash ci/zipkin-server.sh fetches it)",
        jar.display()
    );
    let args = [
        // Started often by the tests: the quick compiler only, and a
        // heap far above what a test stores.
        "-XX:TieredStopAtLevel=1".to_owned(),
        "-Xmx512m".to_owned(),
        "-jar".to_owned(),
        jar.display().to_string(),
        format!("--armeria.ports[0].port={}", port.addr.port()),
        "--armeria.ports[0].ip=127.0.0.1".to_owned(),
        "--armeria.ports[0].protocols[0]=http".to_owned(),
    ];
    let program = Program::System {
        path: find_on_path("java").expect("java is on PATH: the real Zipkin needs Java 17"),
        args: args.to_vec(),
    };
    let server = Service::start_within(name, &program, env, SERVER_START_LIMIT).await;
    assert_eq!(server.addr(), port.addr, "{name} listens on its held port");
    wait_until_healthy(&server).await;
    server
}

/// Waits until a server that listens answers `/health`: it listens a
/// moment before its storage is up.
pub(crate) async fn wait_until_healthy(server: &Service) {
    let health = format!("{}/health", server.url);
    assert!(
        answers_200(&health, SERVER_START_LIMIT).await,
        "{} was not healthy within {SERVER_START_LIMIT:?}: {:#?}",
        server.name,
        server.logs()
    );
}

/// Waits until `url` answers `200`, at most `limit`; gives whether it did.
async fn answers_200(url: &str, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        let up = crate::http().get(url).send().await;
        if up.is_ok_and(|answer| answer.status() == 200) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
