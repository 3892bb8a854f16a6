//! A real `redis-server` for tests: started on a free loopback port with
//! nothing written to disk, stopped (killed and reaped) when dropped.
//!
//! Where the binary is missing, [`RedisServer::start`] prints one line and
//! returns `None` so the test can skip, except under CI (`CI` set), where
//! a missing server fails the test: CI installs it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server`.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    tls: Option<Tls>,
}

/// A TLS server's self-signed certificate, and the files it reads.
#[derive(Debug)]
struct Tls {
    certificate_pem: String,
    dir: std::path::PathBuf,
}

impl Drop for Tls {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const BINARY: &str = "redis-server";

impl RedisServer {
    /// Starts a server on a free port; `None` (with one printed line) when
    /// `redis-server` is not installed and this is not CI.
    pub fn start() -> Option<RedisServer> {
        RedisServer::start_with(None)
    }

    /// Starts a server that speaks TLS only (`rediss://`), with a
    /// self-signed certificate for `127.0.0.1` and `localhost`; see
    /// [`RedisServer::certificate_pem`].
    pub fn start_tls() -> Option<RedisServer> {
        let certified =
            rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
                .expect("a self-signed certificate");
        let dir = std::env::temp_dir().join(format!(
            "llm-layers-redis-tls-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("a directory for the certificate");
        std::fs::write(dir.join("cert.pem"), certified.cert.pem()).expect("cert.pem written");
        std::fs::write(dir.join("key.pem"), certified.key_pair.serialize_pem())
            .expect("key.pem written");
        RedisServer::start_with(Some(Tls {
            certificate_pem: certified.cert.pem(),
            dir,
        }))
    }

    fn start_with(mut tls: Option<Tls>) -> Option<RedisServer> {
        if !installed() {
            assert!(
                std::env::var_os("CI").is_none(),
                "{BINARY} is not installed, and CI must run the Redis tests (apt-get install -y redis-server)"
            );
            println!("skipped: {BINARY} is not installed (apt-get install -y redis-server)");
            return None;
        }
        for _ in 0..5 {
            let port = free_port();
            let mut server = RedisServer {
                child: None,
                port,
                tls: tls.take(),
            };
            if server.launch() {
                return Some(server);
            }
            tls = server.tls.take();
        }
        panic!("{BINARY} did not start on a free port after five tries");
    }

    /// `redis://127.0.0.1:PORT/0`, or `rediss://` for a TLS server.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://127.0.0.1:{}/0", self.port)
    }

    /// A TLS server's certificate (PEM), for clients to trust.
    pub fn certificate_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(|tls| tls.certificate_pem.as_str())
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (its data is gone) and waits until it has exited.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again, empty, on the same port.
    pub fn restart(&mut self) {
        self.stop();
        assert!(
            self.launch(),
            "{BINARY} did not restart on port {}",
            self.port
        );
    }

    /// Sends one command in Redis's inline form and returns the raw reply
    /// (for tests that poke at the server behind the store's back; not
    /// for a TLS server).
    pub fn command(&self, inline: &str) -> String {
        let mut stream = TcpStream::connect(self.address()).expect("redis-server accepts");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("a read timeout");
        stream
            .write_all(format!("{inline}\r\n").as_bytes())
            .expect("the command is sent");
        let mut reply = vec![0u8; 64 * 1024];
        let read = stream.read(&mut reply).expect("redis-server replies");
        String::from_utf8_lossy(&reply[..read]).into_owned()
    }

    fn address(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn launch(&mut self) -> bool {
        let port = self.port.to_string();
        let mut command = Command::new(BINARY);
        match &self.tls {
            None => command.args(["--port", &port]),
            Some(tls) => command
                .args([
                    "--port",
                    "0",
                    "--tls-port",
                    &port,
                    "--tls-auth-clients",
                    "no",
                ])
                .arg("--tls-cert-file")
                .arg(tls.dir.join("cert.pem"))
                .arg("--tls-key-file")
                .arg(tls.dir.join("key.pem")),
        };
        let child = command
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--protected-mode", "no", "--loglevel", "warning"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(child) = child else { return false };
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.answers_ping() {
                return true;
            }
            if let Some(Ok(Some(_))) = self.child.as_mut().map(Child::try_wait) {
                break; // exited: the port was taken
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop();
        false
    }

    fn answers_ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect_timeout(&self.address(), Duration::from_secs(1))
        else {
            return false;
        };
        if self.tls.is_some() {
            // Listening is all a plain-text client can check.
            return true;
        }
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let mut reply = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn installed() -> bool {
    Command::new(BINARY)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free loopback port")
}
